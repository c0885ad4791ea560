/**
 * A forward pass under a memory budget with weights streamed from disk (src/runtime/stream.ts), against
 * onnxruntime running the whole model: the generated decoder (tiny preset, GQA) cut into groups whose
 * weights fit a budget gives the same logits and presents; the groups hold every node once, in file
 * order, each within the budget's weight share; a budget no node fits is refused naming the smallest
 * feasible one, and that one is accepted.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import { PRESETS, writeDecoder } from '../../bench/models/decoder.js';
import { seededPrompt } from '../../bench/models/ort-generate.js';
import type { TensorMap } from '../../src/backends/tensor.js';
import { TesseraError } from '../../src/errors.js';
import { runStreamed, StreamedModel } from '../../src/runtime/stream.js';

const tmp = mkdtempSync(join(tmpdir(), 'tessera-stream-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const C = { ...PRESETS.tiny, layers: 3 };
const dir = join(tmp, 'tiny');
const written = writeDecoder(C, dir);
const n = 12;
const int64 = (v: number[]) => new ort.Tensor('int64', BigInt64Array.from(v, (x) => BigInt(x)), [1, v.length]);
function feeds(): TensorMap {
  const tokens = seededPrompt(n, C.vocab);
  const f: Record<string, ort.Tensor> = { input_ids: int64(tokens), attention_mask: int64(tokens.map(() => 1)), position_ids: int64(tokens.map((_, i) => i)) };
  for (let l = 0; l < C.layers; l++) for (const kv of ['key', 'value']) f[`past_key_values.${l}.${kv}`] = new ort.Tensor('float32', new Float32Array(0), [1, C.kvHeads, 0, C.headDim]);
  return f as unknown as TensorMap;
}
const shapes = () => Object.fromEntries(Object.entries(feeds()).map(([k, t]) => [k, [...t.dims]]));

async function whole(): Promise<Record<string, ort.Tensor>> {
  const s = await ort.InferenceSession.create(written.modelPath, { logSeverityLevel: 3 });
  try {
    return await s.run(feeds() as unknown as Record<string, ort.Tensor>);
  } finally {
    await s.release();
  }
}

const maxAbs = (a: ort.Tensor['data'], b: ort.Tensor['data']) => {
  const x = a as Float32Array, y = b as Float32Array;
  expect(x.length).toBe(y.length);
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i] - y[i]));
  return m;
};

describe('streamed forward pass under a memory budget', () => {
  it('cuts the decoder into groups within the budget, every run-time node once in file order, and gives onnxruntime\'s outputs', async () => {
    const budget = 200_000;
    const model = await StreamedModel.open(written.modelPath, { budgetBytes: budget, inputShapes: shapes() });
    expect(model.groups.length).toBeGreaterThan(3);
    const nodes = model.groups.flatMap((g) => g.nodes);
    expect(nodes).toEqual([...nodes].sort((a, b) => a - b));
    expect(new Set(nodes).size).toBe(nodes.length);
    for (const g of model.groups) expect(g.weightBytes).toBeLessThanOrEqual(budget);
    const ref = await whole();
    const out = await model.run(feeds());
    for (const name of Object.keys(ref)) expect(maxAbs(out[name].data as Float32Array, ref[name].data), name).toBeLessThan(1e-4);
    // a second run of the same model gives the same
    const again = await model.run(feeds());
    expect(maxAbs(again.logits.data as Float32Array, out.logits.data as Float32Array)).toBe(0);
  }, 120_000);

  it('with prefetch: the same outputs', async () => {
    const ref = await whole();
    const out = await (await StreamedModel.open(written.modelPath, { budgetBytes: 240_000, inputShapes: shapes(), prefetch: true })).run(feeds());
    expect(maxAbs(out.logits.data as Float32Array, ref.logits.data)).toBeLessThan(1e-4);
  }, 120_000);

  it('refuses a budget no node fits with BUDGET_INFEASIBLE naming the smallest feasible budget, which then runs', async () => {
    let err: unknown;
    try {
      await runStreamed(written.modelPath, feeds(), { budgetBytes: 1000 });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TesseraError);
    expect((err as TesseraError).code).toBe('BUDGET_INFEASIBLE');
    const smallest = Number(/\((\d+) bytes\)/.exec((err as Error).message)![1]);
    expect(smallest).toBeGreaterThan(1000);
    const out = await runStreamed(written.modelPath, feeds(), { budgetBytes: smallest });
    expect(maxAbs(out.logits.data as Float32Array, (await whole()).logits.data)).toBeLessThan(1e-4);
  }, 120_000);
});
