/**
 * A forward pass under a memory budget with weights streamed from disk (src/runtime/stream.ts), against
 * onnxruntime running the whole model: the generated decoder (tiny preset, GQA) cut into groups whose
 * weights fit a budget gives the same logits and presents; the groups hold every node once, in file
 * order, each within the budget's weight share; a budget no node fits is refused naming the smallest
 * feasible one, and that one is accepted. Prefetch 'auto' decides from the storage's read bandwidth and
 * the predicted compute (given figures, not timed). A repeated block (the decoder's layer) is found with one
 * instance per layer, lowered once with its weights as inputs, each instance fed its own layer's
 * weights; the embedding lookup reads only the gathered rows.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import { PRESETS, writeDecoder } from '../../bench/models/decoder.js';
import { seededPrompt } from '../../bench/models/ort-generate.js';
import type { TensorMap } from '../../src/backends/tensor.js';
import { findRepeatedBlocks } from '../../src/compiler/repeats.js';
import { decidePrefetch, planStream } from '../../src/compiler/stream.js';
import { TesseraError } from '../../src/errors.js';
import { GraphBuilder } from '../../src/ir/builder.js';
import { inferShapes } from '../../src/ir/infer.js';
import { importOnnx, importOnnxFile } from '../../src/ir/onnx-import.js';
import { staticInfo } from '../../src/ir/static.js';
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
    await model.release();
  }, 120_000);

  it('finds the decoder\'s layer as a repeated block: one instance per layer, each one layer\'s nodes, its weights fed', async () => {
    const graph = await inferShapes(importOnnxFile(written.modelPath), { inputShapes: shapes() });
    const st = staticInfo(graph);
    const blocks = findRepeatedBlocks(graph, st)!;
    expect(blocks).not.toBeNull();
    expect(blocks.instances.length).toBe(C.layers);
    const layerOf = (i: number) => /^model\.layers\.(\d+)\./.exec(graph.nodes[i].name)?.[1];
    // every run-time node of a layer is in its instance, and an instance holds nodes of one layer (a block may start inside one: then two adjacent)
    for (let l = 0; l < C.layers; l++) {
      const inst = blocks.instances[l];
      expect(inst.length).toBe(blocks.instances[0].length);
      const layers = new Set(inst.map(layerOf));
      expect(layers.has(String(l))).toBe(true);
    }
    // the fed weights are the layer's own (7 projections and 2 norms), each mapped to the same weight of the other layers
    expect(blocks.fed.size).toBe(9);
    for (const w of blocks.fed) {
      const rest = w.replace(/^model\.layers\.\d+\./, '');
      blocks.maps.forEach((m, k) => expect(m.get(w)).toMatch(new RegExp(`^model\\.layers\\.\\d+\\.${rest.replace(/\./g, '\\.')}$`)));
      expect(new Set(blocks.maps.map((m) => m.get(w))).size).toBe(C.layers);
    }
  });

  it('a chain of MatMul+Relu layers is one block repeated; a layer with another attribute or weight shape ends the repetition', async () => {
    const chain = (layers: { perm?: boolean; width?: number }[]) => {
      const b = new GraphBuilder('chain');
      let x = b.input('x', 'float32', [2, 8]);
      let width = 8;
      layers.forEach((l, i) => {
        const w = l.width ?? 8;
        b.initializer(`w${i}`, Float32Array.from({ length: width * w }, (_, j) => ((j * 7 + i) % 5) / 5 - 0.4), [width, w]);
        const y = b.node('MatMul', [x, `w${i}`], `mm${i}`);
        x = l.perm ? b.node('LeakyRelu', [y], `act${i}`, { alpha: 0.2 }) : b.node('LeakyRelu', [y], `act${i}`, { alpha: 0.1 });
        width = w;
      });
      b.output(x, 'float32');
      return b.toBytes();
    };
    const blocksOf = async (bytes: Uint8Array) => {
      const graph = await inferShapes(importOnnx(bytes));
      return findRepeatedBlocks(graph, staticInfo(graph));
    };
    const same = await blocksOf(chain([{}, {}, {}, {}]));
    expect(same?.instances.map((inst) => inst.length)).toEqual([2, 2, 2, 2]);
    expect([...same!.fed]).toEqual(['w0']);
    expect(same!.maps.map((m) => m.get('w0'))).toEqual(['w0', 'w1', 'w2', 'w3']);
    // the third layer differs (another alpha): the longest repetition is the first two, or none
    const other = await blocksOf(chain([{}, {}, { perm: true }, {}]));
    expect(other === null || other.instances.length === 2).toBe(true);
    // a wider layer has another weight shape: not an instance
    const wide = await blocksOf(chain([{}, {}, {}, { width: 16 }]));
    expect(wide?.instances.length).toBe(3);
  });

  it('runs every instance of a block on one session, fed its own weights, with onnxruntime\'s outputs; without sharing or prefetch the same', async () => {
    const ref = await whole();
    const budget = 400_000;
    const model = await StreamedModel.open(written.modelPath, { budgetBytes: budget, inputShapes: shapes() });
    const sessionGroups = model.groups.filter((g) => g.session >= 0);
    expect(model.sessionCount).toBeLessThan(sessionGroups.length);
    // instances of a segment: same session, each fed the weights of its own layer, and no weight fed twice
    const bySession = new Map<number, typeof sessionGroups>();
    for (const g of sessionGroups) bySession.set(g.session, [...(bySession.get(g.session) ?? []), g]);
    const shared = [...bySession.values()].filter((gs) => gs.length > 1);
    expect(shared.length).toBeGreaterThan(0);
    for (const gs of shared) {
      expect(gs.length).toBe(C.layers);
      gs.forEach((g) => {
        for (const w of g.fed) expect(w.weight.startsWith('model.layers.')).toBe(true);
        expect(new Set(g.fed.map((w) => w.weight.split('.')[2])).size).toBe(1);
      });
      expect(new Set(gs.map((g) => g.fed[0].weight.split('.')[2])).size).toBe(C.layers);
    }
    const fedNames = sessionGroups.flatMap((g) => g.fed.map((w) => w.weight));
    expect(new Set(fedNames).size).toBe(fedNames.length);
    // the embedding lookup is done by reading rows: no session, and a run reads its rows, not the table
    const gather = model.groups.find((g) => g.gather?.table.weight === 'model.embed_tokens.weight');
    expect(gather?.session).toBe(-1);
    const out = await model.run(feeds());
    for (const name of Object.keys(ref)) expect(maxAbs(out[name].data as Float32Array, ref[name].data), name).toBeLessThan(1e-4);
    const fedBytes = sessionGroups.reduce((a, g) => a + g.fed.reduce((b, w) => b + w.bytes, 0), 0);
    const gathered = model.groups.filter((g) => g.gather).reduce((a, g) => a + n * g.gather!.rowBytes, 0);
    expect(model.stats.readBytes).toBe(fedBytes + gathered);
    expect(model.stats.sessionsCreated).toBe(model.sessionCount);
    // a second run creates no session
    await model.run(feeds());
    expect(model.stats.sessionsCreated).toBe(model.sessionCount);
    await model.release();
    for (const options of [{ shareBlocks: false }, { prefetch: false }]) {
      const m = await StreamedModel.open(written.modelPath, { budgetBytes: budget, inputShapes: shapes(), ...options });
      if (options.shareBlocks === false) expect(m.sessionCount).toBe(m.groups.filter((g) => g.session >= 0).length);
      const o = await m.run(feeds());
      expect(maxAbs(o.logits.data as Float32Array, ref.logits.data), JSON.stringify(options)).toBeLessThan(1e-4);
      await m.release();
    }
  }, 120_000);

  it('with prefetch: the same outputs, each group\'s weights read on the storage lane before the group before it runs; without, after it', async () => {
    const ref = await whole();
    for (const prefetch of [true, false]) {
      const model = await StreamedModel.open(written.modelPath, { budgetBytes: 240_000, inputShapes: shapes(), prefetch });
      const out = await model.run(feeds());
      expect(maxAbs(out.logits.data as Float32Array, ref.logits.data)).toBeLessThan(1e-4);
      // the timeline: one read and one run per session group, in order
      const runsOf = model.groups.map((g, k) => (g.session >= 0 ? k : -1)).filter((k) => k >= 0);
      const lane = (l: 'storage' | 'compute') => model.events.filter((e) => e.lane === l);
      expect(lane('compute').map((e) => e.group)).toEqual(runsOf);
      expect(lane('storage').map((e) => e.group).sort((a, b) => a - b)).toEqual(runsOf);
      const read = new Map(lane('storage').map((e) => [e.group, e]));
      const run = new Map(lane('compute').map((e) => [e.group, e]));
      for (let i = 1; i < runsOf.length; i++) {
        const [k, j] = [runsOf[i - 1], runsOf[i]];
        if (prefetch) expect(read.get(j)!.startMs).toBeLessThanOrEqual(run.get(k)!.startMs);
        else expect(read.get(j)!.startMs).toBeGreaterThanOrEqual(run.get(k)!.endMs);
        expect(read.get(j)!.endMs).toBeLessThanOrEqual(run.get(j)!.startMs);
      }
      expect(lane('storage').reduce((a, e) => a + e.bytes!, 0)).toBeGreaterThan(0);
      const trace = model.traceEvents() as { ph: string; tid: number }[];
      expect(trace.filter((e) => e.ph === 'X').length).toBe(model.events.length);
      expect(new Set(trace.map((e) => e.tid))).toEqual(new Set([1, 2]));
      await model.release();
    }
  }, 120_000);

  it('prefetch \'auto\' overlaps reads from a device with compute, not copies out of the page cache; the plan records the figures it decided by', async () => {
    const GB = 1e9;
    // a 64-token forward of 2 GB of weights, 2.5 s of compute: from a 1 GB/s device, reads (2 s) hide behind compute
    const device = decidePrefetch({ readBytes: 2 * GB, firstReadBytes: 0.2 * GB, computeS: 2.5, storageGBs: 1, storageSource: 'test', copyGBs: 6 });
    expect(device.serialS).toBeCloseTo(4.5, 6);
    expect(device.overlappedS).toBeCloseTo(0.2 + Math.max(1.8, 2.5 + 2 / 6), 6);
    expect(device.prefetch).toBe(true);
    // the same from a "storage" as fast as a copy (the page cache): nothing to hide, the copies compete with compute
    expect(decidePrefetch({ ...device, storageGBs: 12 }).prefetch).toBe(false);
    // a decode step (little compute) from the device: read-bound, overlapping the compute with the reads pays
    expect(decidePrefetch({ ...device, computeS: 0.5, firstReadBytes: 0.1 * GB }).prefetch).toBe(true);
    // planStream decides by the storage figure given, and says so; an explicit option wins over it
    const sh = shapes();
    const slow = await planStream(written.modelPath, { budgetBytes: 200_000, inputShapes: sh, storageReadGBs: 0.001 });
    const fast = await planStream(written.modelPath, { budgetBytes: 200_000, inputShapes: sh, storageReadGBs: 1000 });
    expect(slow.prefetchDecision.storageGBs).toBe(0.001);
    expect(slow.prefetchDecision.readBytes).toBeGreaterThan(0);
    expect(slow.prefetchDecision.computeS).toBeGreaterThan(0);
    expect(slow.prefetch).toBe(decidePrefetch(slow.prefetchDecision).prefetch);
    expect(slow.prefetch).toBe(true);
    expect(fast.prefetch).toBe(false);
    expect(slow.prefetchDecision.why).toContain('0.001 GB/s');
    const off = await planStream(written.modelPath, { budgetBytes: 200_000, inputShapes: sh, storageReadGBs: 0.001, prefetch: false });
    expect(off.prefetch).toBe(false);
    expect(off.prefetchDecision.why).toMatch(/as asked/);
  });

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
