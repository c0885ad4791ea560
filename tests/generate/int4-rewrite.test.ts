/**
 * The int4 table rewrite (src/generate/int4-rewrite.ts) against onnxruntime running the quantized graph as
 * written (DequantizeLinear of the whole tied table, then Gather and Gemm): the same logits from a forward,
 * and the Generator (which applies it) gives the same greedy tokens and logits as onnxruntime step by step.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { clone, toBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema } from 'onnx-buf';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PRESETS, writeDecoder } from '../../bench/models/decoder.js';
import { ortGreedy, seededPrompt } from '../../bench/models/ort-generate.js';
import { writeFilesAtomically } from '../../src/atomic.js';
import { fuseInt4Tables } from '../../src/generate/int4-rewrite.js';
import { Generator } from '../../src/index.js';
import { decodeModel, readModelFile } from '../../src/ir/onnx-import.js';
import { quantizeModel } from '../../src/quantize/index.js';

const tmp = mkdtempSync(join(tmpdir(), 'tessera-int4-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const W4 = join(tmp, 'model-w4.onnx');
const TIED = { ...PRESETS.tiny, tied: true };
const CFG = { 'session.qdq_matmulnbits_accuracy_level': '0' };
const opts = { logSeverityLevel: 3, extra: { session: { qdq_matmulnbits_accuracy_level: '0' } } } as ort.InferenceSession.SessionOptions;

beforeAll(async () => {
  const { modelPath } = writeDecoder(TIED, join(tmp, 'tied'));
  const { bytes } = await quantizeModel(modelPath, { scheme: 'w4' });
  // the quantizer's export drops the declared input/output shapes: the float model's put back (as bench/decode does)
  const q = decodeModel(bytes, W4), f = decodeModel(readModelFile(modelPath), modelPath);
  const byName = new Map([...f.graph!.input, ...f.graph!.output].map((v) => [v.name, v]));
  q.graph!.input = q.graph!.input.map((v) => byName.get(v.name) ?? v);
  q.graph!.output = q.graph!.output.map((v) => byName.get(v.name) ?? v);
  writeFilesAtomically([{ path: W4, bytes: toBinary(ModelProtoSchema, q) }]);
});

describe('int4 tied table read quantized (MatMulNBits LM head, GatherBlockQuantized embedding)', () => {
  it('rewrites the Gather and the Gemm of the dequantized table, drops its DequantizeLinear, and gives the same logits as onnxruntime on the graph as written', async () => {
    const model = decodeModel(readModelFile(W4), W4);
    const table = model.graph!.node.find((n) => n.opType === 'DequantizeLinear' && n.output[0].includes('embed'))!;
    expect(table).toBeDefined();
    const fused = clone(ModelProtoSchema, model);
    expect(fuseInt4Tables(fused)).toBe(2);
    const ops = fused.graph!.node.map((n) => n.opType);
    expect(ops).toContain('GatherBlockQuantized');
    const head = fused.graph!.node.find((n) => n.opType === 'MatMulNBits' && n.attribute.some((a) => a.name === 'N' && Number(a.i) === TIED.vocab));
    expect(head).toBeDefined();
    expect(fused.graph!.node.some((n) => n.output[0] === table.output[0])).toBe(false);
    expect(ops.filter((o) => o === 'Gemm')).toHaveLength(0);

    // one forward over a 64-token prompt, empty past: both graphs, onnxruntime
    const ids = seededPrompt(64, TIED.vocab, 3);
    const T = ort.Tensor;
    const feeds: Record<string, ort.Tensor> = {
      input_ids: new T('int64', BigInt64Array.from(ids, BigInt), [1, 64]),
      attention_mask: new T('int64', new BigInt64Array(64).fill(1n), [1, 64]),
      position_ids: new T('int64', BigInt64Array.from(ids.map((_, i) => BigInt(i))), [1, 64]),
    };
    for (let l = 0; l < TIED.layers; l++) for (const kv of ['key', 'value']) feeds[`past_key_values.${l}.${kv}`] = new T('float32', new Float32Array(0), [1, TIED.kvHeads, 0, TIED.headDim]);
    const [a, b] = await Promise.all([model, fused].map((m) => ort.InferenceSession.create(toBinary(ModelProtoSchema, m), opts)));
    const [ra, rb] = [await a.run(feeds), await b.run(feeds)];
    const la = ra.logits.data as Float32Array, lb = rb.logits.data as Float32Array;
    expect(lb.length).toBe(la.length);
    let diff = 0;
    for (let i = 0; i < la.length; i++) diff = Math.max(diff, Math.abs(la[i] - lb[i]));
    expect(diff).toBeLessThan(1e-4);
    expect(Math.max(...la.subarray(0, 1000).map(Math.abs))).toBeGreaterThan(1e-3); // not a zero model
    await a.release();
    await b.release();
  });

  it('the Generator on the int4 decoder: 32 greedy steps after a 64-token prompt equal onnxruntime step by step (logits within 1e-4)', async () => {
    const prompt = seededPrompt(64, TIED.vocab, 1);
    const session = await ort.InferenceSession.create(W4, opts);
    const want = await ortGreedy(session, prompt, 32);
    const g = await Generator.create(W4, { maxLength: 100, ortConfig: CFG });
    const tokens = [await g.prefill(prompt)];
    let diff = 0;
    const check = (i: number) => g.lastLogits.forEach((x, j) => (diff = Math.max(diff, Math.abs(x - want.logits[i][j]))));
    check(0);
    while (tokens.length < 32) {
      tokens.push(await g.next());
      check(tokens.length - 1);
    }
    expect(tokens).toEqual(want.tokens);
    expect(diff).toBeLessThan(1e-4);
    await g.release();
    await session.release();
  });
});
