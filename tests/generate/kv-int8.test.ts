/**
 * The int8 KV cache against onnxruntime running the float32 graph step by step with its own past/present
 * handling (bench/models/ort-generate.ts) — the independent reference. Exact equality cannot hold (the
 * cache is rounded), so each step is teacher-forced (the Generator runs the reference's token) and:
 * - every cached element is within half a quantization step of onnxruntime's present (the step is the
 *   row's scale, max |row| / 127), and the rows never written stay zero;
 * - each step's logits differ from the reference's by at most `layers` half-steps relative to the row's
 *   largest logit (a first-order bound: every layer's attention reads keys and values off by at most half
 *   a step of their row's largest element, and the errors add up through the residual stream);
 * - top-1 agreement with the reference is reported and asserted high.
 * The cache's buffers are about a quarter of the float32 ones: (head_dim + 4) bytes a row against 4 × head_dim.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { presetDecoder, PRESETS, writeDecoder } from '../../bench/models/decoder.js';
import { ortForward, ortGreedy, seededPrompt } from '../../bench/models/ort-generate.js';
import { Generator } from '../../src/index.js';
import { tessera } from '../cli/helpers.js';
import { VARIANT, writeVariant } from './variant-decoder.js';

const tmp = mkdtempSync(join(tmpdir(), 'tessera-kv-int8-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const TINY = join(tmp, 'tiny', 'model.onnx');
const VAR = join(tmp, 'variant.onnx');
beforeAll(() => {
  writeDecoder(PRESETS.tiny, join(tmp, 'tiny'));
  writeVariant(VARIANT, VAR);
});

const HALF_STEP = 0.5 / 127;
const MAX_LENGTH = 100;

async function againstFloatReference(model: string, vocab: number, seed: number, prefillChunk = 128) {
  const prompt = seededPrompt(64, vocab, seed);
  const session = await ort.InferenceSession.create(model, { logSeverityLevel: 3 });
  const want = await ortGreedy(session, prompt, 32);
  const g = await Generator.create(model, { maxLength: MAX_LENGTH, kv: 'int8', prefillChunk });
  try {
    const { layers, kvHeads: H, headDim: D } = g.signature;
    const tokens = [await g.prefill(prompt)];
    const worst = { rel: 0, step: -1 };
    const check = (i: number) => {
      const got = g.lastLogits, ref = want.logits[i];
      let diff = 0, big = 0;
      for (let j = 0; j < ref.length; j++) {
        diff = Math.max(diff, Math.abs(got[j] - ref[j]));
        big = Math.max(big, Math.abs(ref[j]));
      }
      if (diff / big > worst.rel) Object.assign(worst, { rel: diff / big, step: i });
    };
    check(0);
    while (tokens.length < 32) {
      tokens.push(await g.next(want.tokens[tokens.length - 1])); // teacher-forced: the reference's history
      check(tokens.length - 1);
    }
    expect(worst.rel, `largest logit difference relative to the row's largest logit, at step ${worst.step}`).toBeLessThanOrEqual(layers * HALF_STEP);
    const agree = tokens.filter((t, i) => t === want.tokens[i]).length;
    console.log(`${model}: int8 KV, top-1 agreement with onnxruntime float32 ${agree}/32 (teacher-forced); largest logit difference ${worst.rel.toExponential(2)} of the row's largest logit (bound ${(layers * HALF_STEP).toExponential(2)})`);
    expect(agree).toBeGreaterThanOrEqual(30);

    // the cache against onnxruntime's present over the same 95 tokens: within half a step of each row
    const full = await ortForward(session, [...prompt, ...want.tokens.slice(0, 31)]);
    for (let l = 0; l < layers; l++) {
      const q = g.kvInt8Of(l);
      const float = g.kvOf(l);
      for (const kv of ['key', 'value'] as const) {
        const theirs = full.present[`present.${l}.${kv}`].data as Float32Array;
        const scales = kv === 'key' ? q.keyScale : q.valueScale;
        for (let h = 0; h < H; h++) {
          for (let r = 0; r < 95; r++) {
            const row = theirs.subarray((h * 95 + r) * D, (h * 95 + r + 1) * D);
            const step = scales[h * MAX_LENGTH + r];
            const amax = row.reduce((a, x) => Math.max(a, Math.abs(x)), 0);
            // Every row's largest element is quantized to ±127 (the scale is the row's largest |element| / 127).
            const ints = q[kv].subarray((h * MAX_LENGTH + r) * D, (h * MAX_LENGTH + r + 1) * D);
            expect(ints.reduce((a, x) => Math.max(a, Math.abs(x)), 0)).toBe(127);
            // Rows of the first prefill chunk (quantized here after the float prefill) and every row of layer 0
            // (decode's rows quantized in the graph, computed from the token alone before any attention read the
            // cache) are the reference's rows quantized: within half a step, the step the row's largest
            // |element| / 127. Later layers' rows after the first chunk were computed reading the int8 cache
            // below them (a later chunk reads its past dequantized), so they are not the reference's.
            if (r >= Math.min(64, prefillChunk) && l > 0) continue;
            expect(Math.abs(step * 127 - amax)).toBeLessThanOrEqual(1e-6 * amax + 1e-12);
            for (let i = 0; i < D; i++) {
              const d = Math.abs(float[kv][(h * MAX_LENGTH + r) * D + i] - row[i]);
              expect(d, `layer ${l} ${kv} head ${h} row ${r}`).toBeLessThanOrEqual(step / 2 + 1e-6 * amax + 1e-12);
            }
          }
          // never written: zeros, and zero scales
          expect(q[kv].subarray((h * MAX_LENGTH + 95) * D, (h + 1) * MAX_LENGTH * D).every((x) => x === 0)).toBe(true);
          expect(scales.subarray(h * MAX_LENGTH + 95, (h + 1) * MAX_LENGTH).every((x) => x === 0)).toBe(true);
        }
      }
    }
    expect(g.stats.decodeKvCopyBytes).toBe(0);
    expect(g.stats.events.filter((e) => e.phase === 'decode').every((e) => e.kvCopyBytes === 0)).toBe(true);
    return g;
  } finally {
    await g.release();
    await session.release();
  }
}

describe('int8 KV cache: 32 teacher-forced steps after a 64-token prompt against onnxruntime float32', () => {
  it('tiny generated decoder (GQA, position_ids)', async () => {
    await againstFloatReference(TINY, PRESETS.tiny.vocab, 1);
  });

  it('tiny, prefill in chunks of 20 (later chunks read the cache dequantized)', async () => {
    const g = await againstFloatReference(TINY, PRESETS.tiny.vocab, 3, 20);
    expect(g.stats.events.filter((e) => e.phase === 'prefill').map((e) => e.tokens)).toEqual([20, 20, 20, 4]);
  });

  it('a decoder the project did not generate: GPT-2-like, MHA, no position_ids, causal mask from the past shape (fed as int8 views)', async () => {
    await againstFloatReference(VAR, VARIANT.vocab, 2);
  });

  it('~100M-parameter generated decoder', async () => {
    await againstFloatReference(presetDecoder('100m').modelPath, PRESETS['100m'].vocab, 1);
  }, 300_000);

  it('holds (head_dim + 4) / (4 × head_dim) of the float32 cache bytes, measured from the buffers; decode writes into them in place', async () => {
    const f = await Generator.create(TINY, { maxLength: MAX_LENGTH });
    const q = await Generator.create(TINY, { maxLength: MAX_LENGTH, kv: 'int8' });
    try {
      const { layers, headDim: D, kvHeads: H } = q.signature;
      let bytes = 0;
      for (let l = 0; l < layers; l++) {
        const c = q.kvInt8Of(l);
        bytes += c.key.byteLength + c.value.byteLength + c.keyScale.byteLength + c.valueScale.byteLength;
        expect(c.key.buffer).toBe(c.keyScale.buffer); // one buffer a layer
      }
      expect(q.stats.kvBytes).toBe(bytes);
      expect(f.stats.kvBytes).toBe(layers * 2 * H * MAX_LENGTH * D * 4);
      expect(q.stats.kvBytes / f.stats.kvBytes).toBeCloseTo((D + 4) / (4 * D), 12);
      expect(q.stats.budget.bytesPerPosition / f.stats.budget.bytesPerPosition).toBeCloseTo((D + 4) / (4 * D), 12);
      // a decode step writes its row into the buffers held here
      const prompt = seededPrompt(10, PRESETS.tiny.vocab, 5);
      await q.prefill(prompt);
      const held = q.kvInt8Of(0);
      expect(held.keyScale[10]).toBe(0);
      await q.next();
      expect(held.keyScale[10]).toBeGreaterThan(0);
      expect(held.key.subarray(10 * D, 11 * D).some((x) => x !== 0)).toBe(true);
    } finally {
      await f.release();
      await q.release();
    }
  });

  it('a memory budget holds about four times the positions', async () => {
    const budget = 60e6;
    const f = await Generator.create(TINY, { memoryBudget: budget, maxLengthCap: 1e9 });
    const q = await Generator.create(TINY, { memoryBudget: budget, maxLengthCap: 1e9, kv: 'int8' });
    try {
      const D = q.signature.headDim;
      expect(q.maxLength / f.maxLength).toBeCloseTo((4 * D) / (D + 4), 1);
      expect(q.stats.budget.why).toContain('int8');
    } finally {
      await f.release();
      await q.release();
    }
  });
});

describe('tessera generate --kv int8', () => {
  it('generates with an int8 cache and says so; refuses another type', async () => {
    const prompt = seededPrompt(16, PRESETS.tiny.vocab, 4);
    const r = tessera('generate', TINY, '--prompt-length', '16', '--seed', '4', '--steps', '6', '--kv', 'int8');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/KV cache [\d.]+ MB int8 at max length 22/);
    // the tokens are onnxruntime float32's where its top two logits are not within the int8 error
    const session = await ort.InferenceSession.create(TINY, { logSeverityLevel: 3 });
    const want = await ortGreedy(session, prompt, 6);
    await session.release();
    const tokens = /tokens: ([\d,]+)/.exec(r.stdout)![1].split(',').map(Number);
    expect(tokens).toHaveLength(6);
    expect(tokens[0]).toBe(want.tokens[0]); // the prefill reads no quantized row
    const bad = tessera('generate', TINY, '--prompt-length', '4', '--steps', '2', '--kv', 'int4');
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain("--kv 'int4'");
  });
});
