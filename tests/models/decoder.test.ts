/**
 * The generated Llama-style decoder (bench/models/decoder.ts) and the onnxruntime reference loop
 * (bench/models/ort-generate.ts). References: a brute-force forward in plain TypeScript
 * (llama-reference.ts), and onnxruntime's full forward without a cache against its cached decode.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TensorProto_DataLocation } from 'onnx-buf';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureDecoder, PRESETS, parameterCount, writeDecoder, type DecoderConfig } from '../../bench/models/decoder.js';
import { decoderSignature, ortForward, ortGreedy, seededPrompt } from '../../bench/models/ort-generate.js';
import { inferShapes } from '../../src/ir/infer.js';
import { ExternalDataWriter, exportOnnx } from '../../src/ir/onnx-export.js';
import { decodeModel, importOnnxFile } from '../../src/ir/onnx-import.js';
import { weightBytes } from '../../src/ir/weight.js';
import { tessera } from '../cli/helpers.js';
import { referenceLogits, weightsOf } from './llama-reference.js';

const tmp = mkdtempSync(join(tmpdir(), 'tessera-decoder-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const TINY: DecoderConfig = PRESETS.tiny; // GQA: 4 heads over 2 KV heads, untied head
/** Multi-head attention (every head its own KV), tied head, three layers. */
const MHA: DecoderConfig = { ...PRESETS.tiny, layers: 3, heads: 2, kvHeads: 2, headDim: 32, tied: true, seed: 5 };
/** One KV head for 4 query heads (multi-query), untied: the grouping at its extreme. */
const MQA: DecoderConfig = { ...PRESETS.tiny, kvHeads: 1, seed: 9 };

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

const models = new Map<DecoderConfig, { dir: string; session: ort.InferenceSession }>();
beforeAll(async () => {
  for (const [name, c] of [['tiny', TINY], ['mha', MHA], ['mqa', MQA]] as const) {
    const dir = join(tmp, name);
    writeDecoder(c, dir);
    models.set(c, { dir, session: await ort.InferenceSession.create(join(dir, 'model.onnx'), { logSeverityLevel: 3 }) });
  }
});
afterAll(async () => {
  for (const m of models.values()) await m.session.release();
});
const session = (c: DecoderConfig) => models.get(c)!.session;
const dirOf = (c: DecoderConfig) => models.get(c)!.dir;

describe('generated decoder: files', () => {
  it('writes model.onnx with one model.onnx.data beside it, every large tensor external at a relative, aligned location; tiny is under 1 MB', () => {
    const dir = dirOf(TINY);
    expect(readdirSync(dir).sort()).toEqual(['config.json', 'model.onnx', 'model.onnx.data']); // no temporary files left
    const dataSize = statSync(join(dir, 'model.onnx.data')).size;
    expect(statSync(join(dir, 'model.onnx')).size + dataSize).toBeLessThan(1 << 20);
    const proto = decodeModel(new Uint8Array(readFileSync(join(dir, 'model.onnx'))), 'tiny');
    let external = 0, externalBytes = 0;
    for (const t of proto.graph!.initializer) {
      if (t.dataLocation !== TensorProto_DataLocation.EXTERNAL) {
        expect(t.rawData.length, `${t.name} inline`).toBeLessThan(1024);
        continue;
      }
      const kv = Object.fromEntries(t.externalData.map((e) => [e.key, e.value]));
      expect(kv.location).toBe('model.onnx.data');
      expect(Number(kv.offset) % 4096).toBe(0);
      expect(Number(kv.offset) + Number(kv.length)).toBeLessThanOrEqual(dataSize);
      external++;
      externalBytes += Number(kv.length);
    }
    // 7 projections + 2 norms per layer, embedding, LM head, final norm, two rotary tables
    expect(external).toBe(9 * TINY.layers + 5);
    expect(externalBytes).toBe(4 * (parameterCount(TINY) + 2 * TINY.maxPositions * TINY.headDim));
    const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    expect(config).toMatchObject({ num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, head_dim: 16, vocab_size: 256, tie_word_embeddings: false });
  });

  it('is deterministic in its seed', () => {
    const again = join(tmp, 'again'), other = join(tmp, 'other');
    writeDecoder(TINY, again);
    writeDecoder({ ...TINY, seed: 2 }, other);
    const data = (d: string) => readFileSync(join(d, 'model.onnx.data'));
    expect(data(again).equals(data(dirOf(TINY)))).toBe(true);
    expect(readFileSync(join(again, 'model.onnx')).equals(readFileSync(join(dirOf(TINY), 'model.onnx')))).toBe(true);
    expect(data(other).equals(data(dirOf(TINY)))).toBe(false);
  });

  it('ensureDecoder reuses a finished model made from the same config and rewrites one made from another', () => {
    const dir = join(tmp, 'cache');
    ensureDecoder(TINY, dir);
    const first = statSync(join(dir, 'model.onnx.data')).mtimeMs;
    ensureDecoder(TINY, dir);
    expect(statSync(join(dir, 'model.onnx.data')).mtimeMs).toBe(first);
    const other = ensureDecoder({ ...TINY, seed: 3 }, dir);
    expect(readFileSync(other.dataPath).equals(readFileSync(join(dirOf(TINY), 'model.onnx.data')))).toBe(false);
    expect(JSON.parse(readFileSync(other.configPath, 'utf8')).tessera_seed).toBe(3);
  });

  it('refuses a config it cannot build, with a TesseraError and no files', () => {
    const dir = join(tmp, 'bad');
    expect(() => writeDecoder({ ...TINY, heads: 3 }, dir)).toThrow(expect.objectContaining({ code: 'BAD_ARGUMENT', message: expect.stringContaining('multiple of kvHeads') }));
    expect(() => readdirSync(dir)).toThrow();
  });
});

describe('generated decoder on onnxruntime', () => {
  it('has the Optimum signature with the declared symbolic dims, prefill and decode shapes as declared', async () => {
    const s = session(TINY);
    const L = TINY.layers;
    expect(s.inputNames).toEqual(['input_ids', 'attention_mask', 'position_ids', ...Array.from({ length: L }, (_, l) => [`past_key_values.${l}.key`, `past_key_values.${l}.value`]).flat()]);
    expect(s.outputNames).toEqual(['logits', ...Array.from({ length: L }, (_, l) => [`present.${l}.key`, `present.${l}.value`]).flat()]);
    const shape = (name: string) => [...s.inputMetadata, ...s.outputMetadata].find((m) => m.name === name) as { shape: readonly (number | string)[] };
    expect(shape('input_ids').shape).toEqual(['batch_size', 'sequence_length']);
    expect(shape('attention_mask').shape).toEqual(['batch_size', 'total_sequence_length']);
    expect(shape('position_ids').shape).toEqual(['batch_size', 'sequence_length']);
    expect(shape('past_key_values.1.value').shape).toEqual(['batch_size', 2, 'past_sequence_length', 16]);
    expect(shape('logits').shape).toEqual(['batch_size', 'sequence_length', 256]);
    expect(shape('present.0.key').shape).toEqual(['batch_size', 2, 'total_sequence_length', 16]);
    expect(decoderSignature(s)).toEqual({ layers: 2, kvHeads: 2, headDim: 16, vocab: 256, hasPositionIds: true });

    const prefill = await ortForward(s, [3, 1, 4, 1, 5]);
    expect(prefill.logits.length).toBe(5 * 256);
    for (const t of Object.values(prefill.present)) expect(t.dims).toEqual([1, 2, 5, 16]);
    const step = await ortForward(s, [9], { past: prefill.present });
    expect(step.logits.length).toBe(256);
    for (const t of Object.values(step.present)) expect(t.dims).toEqual([1, 2, 6, 16]);
    // present = past followed by the new token's key/value
    const k0 = prefill.present['present.0.key'].data as Float32Array, k1 = step.present['present.0.key'].data as Float32Array;
    for (let h = 0; h < 2; h++) expect(maxAbsDiff(k1.subarray(h * 6 * 16, h * 6 * 16 + 5 * 16), k0.subarray(h * 5 * 16, (h + 1) * 5 * 16))).toBe(0);
  });

  for (const [name, c] of [['GQA, 4 heads over 2 KV heads, untied', TINY], ['MHA, tied', MHA], ['MQA, 4 heads over 1 KV head', MQA]] as const) {
    it(`${name}: logits equal a brute-force forward written from the Llama definition (RMSNorm, rotary, grouped attention, SwiGLU, head)`, async () => {
      const W = weightsOf(importOnnxFile(join(dirOf(c), 'model.onnx')));
      const tokens = [17, 200, 3, 3, 91, 255, 0, 42];
      for (const positions of [tokens.map((_, i) => i), tokens.map((_, i) => 5 + 3 * i)]) {
        const got = (await ortForward(session(c), tokens, { positions })).logits;
        const want = referenceLogits(c, W, tokens, positions).flatMap((r) => [...r]);
        expect(maxAbsDiff(got, want)).toBeLessThan(1e-4);
      }
    });

    it(`${name}: each cached decode step gives the logits of a full forward without cache at the last position`, async () => {
      const s = session(c);
      const prompt = seededPrompt(7, c.vocab, 3);
      const g = await ortGreedy(s, prompt, 6);
      expect(g.tokens).toHaveLength(6);
      expect(g.decodeMs).toHaveLength(5);
      for (let i = 0; i < g.tokens.length; i++) {
        const seq = [...prompt, ...g.tokens.slice(0, i)];
        const full = (await ortForward(s, seq)).logits;
        expect(maxAbsDiff(g.logits[i], full.subarray((seq.length - 1) * c.vocab)), `step ${i}`).toBeLessThan(1e-4);
      }
    });
  }

  it('rotary: shifting every position id leaves logits unchanged (cached decode included); uneven positions change them', async () => {
    const s = session(TINY);
    const prompt = seededPrompt(6, TINY.vocab, 4);
    const base = await ortGreedy(s, prompt, 5);
    const shifted = await ortGreedy(s, prompt, 5, { positionOffset: 37 });
    expect(shifted.tokens).toEqual(base.tokens);
    for (let i = 0; i < 5; i++) expect(maxAbsDiff(shifted.logits[i], base.logits[i])).toBeLessThan(1e-4);
    // Positions enter: spreading them out (relative distances change) moves the logits well beyond rounding.
    const even = (await ortForward(s, prompt)).logits;
    const spread = (await ortForward(s, prompt, { positions: prompt.map((_, i) => 2 * i) })).logits;
    expect(maxAbsDiff(even, spread)).toBeGreaterThan(1e-2);
  });

  it('attention_mask: left padding masked out gives the logits of the unpadded prompt', async () => {
    const s = session(TINY);
    const prompt = [5, 6, 7, 8, 9];
    const pad = 3;
    const ids = [0, 0, 0, ...prompt];
    const run = await s.run({
      input_ids: new ort.Tensor('int64', BigInt64Array.from(ids, BigInt), [1, ids.length]),
      attention_mask: new ort.Tensor('int64', BigInt64Array.from(ids.map((_, i) => (i < pad ? 0 : 1)), BigInt), [1, ids.length]),
      position_ids: new ort.Tensor('int64', BigInt64Array.from(ids.map((_, i) => Math.max(0, i - pad)), BigInt), [1, ids.length]),
      ...Object.fromEntries(Array.from({ length: TINY.layers }, (_, l) => ['key', 'value'].map((kv) => [`past_key_values.${l}.${kv}`, new ort.Tensor('float32', new Float32Array(0), [1, 2, 0, 16])])).flat()),
    });
    const padded = (run.logits.data as Float32Array).subarray(pad * TINY.vocab);
    const plain = (await ortForward(s, prompt)).logits;
    expect(maxAbsDiff(padded, plain)).toBeLessThan(1e-4);
  });

  it('keeps activations and logits in a sane range through many layers', async () => {
    const deep: DecoderConfig = { ...TINY, layers: 24, seed: 7 };
    const dir = join(tmp, 'deep');
    writeDecoder(deep, dir);
    const graph = importOnnxFile(join(dir, 'model.onnx'));
    const exported = exportOnnx(graph, undefined, { outputs: ['logits', 'model.layers.0.mlp_residual', 'model.layers.23.mlp_residual'] });
    const s = await ort.InferenceSession.create(exported.bytes, { logSeverityLevel: 3 });
    try {
      const tokens = seededPrompt(16, deep.vocab, 1);
      const out = await s.run({
        input_ids: new ort.Tensor('int64', BigInt64Array.from(tokens, BigInt), [1, 16]),
        attention_mask: new ort.Tensor('int64', new BigInt64Array(16).fill(1n), [1, 16]),
        position_ids: new ort.Tensor('int64', BigInt64Array.from(tokens.map((_, i) => i), BigInt), [1, 16]),
        ...Object.fromEntries(Array.from({ length: 24 }, (_, l) => ['key', 'value'].map((kv) => [`past_key_values.${l}.${kv}`, new ort.Tensor('float32', new Float32Array(0), [1, 2, 0, 16])])).flat()),
      });
      const rms = (t: ort.Tensor) => Math.sqrt((t.data as Float32Array).reduce((a, v) => a + v * v, 0) / t.size);
      const first = rms(out['model.layers.0.mlp_residual']), last = rms(out['model.layers.23.mlp_residual']);
      expect(first).toBeGreaterThan(0.5);
      expect(last / first).toBeLessThan(4); // the residual stream grows slowly, not by a factor per layer
      const logits = out.logits.data as Float32Array;
      expect(logits.every(Number.isFinite)).toBe(true);
      expect(rms(out.logits)).toBeGreaterThan(0.3);
      expect(rms(out.logits)).toBeLessThan(3);
    } finally {
      await s.release();
    }
  });
});

describe('generated decoder in Tessera', () => {
  it('reloads through importOnnxFile with every large weight a lazy reference into the data file', () => {
    const dir = dirOf(TINY);
    const graph = importOnnxFile(join(dir, 'model.onnx'));
    const data = readFileSync(join(dir, 'model.onnx.data'));
    const weights = [...graph.values.values()].filter((v) => v.initializer && /^(model\.|lm_head\.|rope\.)/.test(v.name));
    expect(weights.length).toBe(9 * TINY.layers + 5);
    for (const v of weights) {
      const src = v.initializer!.source;
      expect(src.kind).toBe('file');
      if (src.kind !== 'file') continue;
      expect(src.path).toBe(join(dir, 'model.onnx.data'));
      expect(Buffer.from(weightBytes(v.initializer!)).equals(data.subarray(src.offset, src.offset + src.length))).toBe(true);
    }
  });

  it('exports again with external data (ExternalDataWriter) and onnxruntime runs the copy to the same logits', async () => {
    const graph = importOnnxFile(join(dirOf(TINY), 'model.onnx'));
    const path = join(tmp, 'reexport', 'copy.onnx');
    const writer = new ExternalDataWriter(path);
    writer.commit(exportOnnx(graph, undefined, { externalData: writer }).bytes);
    expect(readdirSync(join(tmp, 'reexport')).sort()).toEqual(['copy.onnx', 'copy.onnx.data']);
    expect(statSync(path).size).toBeLessThan(32 * 1024);
    const copy = await ort.InferenceSession.create(path, { logSeverityLevel: 3 });
    try {
      const tokens = [1, 2, 3, 250];
      expect(maxAbsDiff((await ortForward(copy, tokens)).logits, (await ortForward(session(TINY), tokens)).logits)).toBe(0);
    } finally {
      await copy.release();
    }
  });

  it("Tessera's shape inference gives every value a concrete shape with the symbolic dims fixed, prefill and decode", async () => {
    const graph = importOnnxFile(join(dirOf(TINY), 'model.onnx'));
    for (const [past, seq] of [[0, 7], [7, 1]]) {
      const inputShapes: Record<string, number[]> = { input_ids: [1, seq], attention_mask: [1, past + seq], position_ids: [1, seq] };
      for (let l = 0; l < TINY.layers; l++) for (const kv of ['key', 'value']) inputShapes[`past_key_values.${l}.${kv}`] = [1, 2, past, 16];
      const shaped = await inferShapes(graph, { inputShapes }); // no prober: a value no rule infers fails here
      expect(shaped.values.get('logits')!.shape).toEqual([1, seq, 256]);
      expect(shaped.values.get('present.1.value')!.shape).toEqual([1, 2, past + seq, 16]);
      expect(shaped.values.get('model.layers.0.scores')!.shape).toEqual([1, 2, 2, seq, past + seq]);
      const unknown = [...shaped.values.values()].filter((v) => !v.shape || v.shape.some((d) => typeof d !== 'number'));
      expect(unknown.map((v) => v.name)).toEqual([]);
      // The matrix products cost 2 FLOPs per weight per token, plus QKᵀ and PV over the whole context.
      const { layers, hidden: H, heads: nh, kvHeads: nkv, headDim: hd, intermediate: I, vocab: V } = TINY;
      const projections = H * nh * hd * 2 + H * nkv * hd * 2 + 3 * H * I;
      const want = 2 * seq * (layers * projections + V * H) + layers * 2 * (2 * nh * seq * (past + seq) * hd);
      const got = graph.nodes.filter((n) => n.op === 'MatMul' || n.op === 'Gemm').reduce((a, n) => a + shaped.costs[n.index].flops, 0);
      expect(got).toBe(want);
    }
  });

  it('`tessera run --check` runs it, prefill and decode shapes, equal to onnxruntime loading the file itself', () => {
    const model = join(dirOf(TINY), 'model.onnx');
    for (const [past, seq] of [[0, 8], [8, 1]]) {
      const shapes = [`input_ids=1x${seq}`, `attention_mask=1x${past + seq}`, `position_ids=1x${seq}`];
      for (let l = 0; l < TINY.layers; l++) for (const kv of ['key', 'value']) shapes.push(`past_key_values.${l}.${kv}=1x2x${past}x16`);
      const r = tessera('run', model, '--check', '--input-shape', shapes.join(','));
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expect(r.stdout).toContain(`output logits float32 [1,${seq},256]`);
      expect(r.stdout).toContain(`output present.1.value float32 [1,2,${past + seq},16]`);
      expect(r.stdout).toContain('check: all outputs pass');
    }
  });
});
