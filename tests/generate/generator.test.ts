/**
 * The Generator against onnxruntime running the same graph step by step with its own past/present
 * handling (bench/models/ort-generate.ts: present fed back as past, a new tensor each step) — the
 * independent reference. Models: the generated tiny and ~100M decoders, and a GPT-2-like variant the
 * project's builder did not make (variant-decoder.ts).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { presetDecoder, PRESETS, writeDecoder } from '../../bench/models/decoder.js';
import { ortForward, ortGreedy, seededPrompt, type OrtGeneration } from '../../bench/models/ort-generate.js';
import { Generator } from '../../src/index.js';
import { tessera } from '../cli/helpers.js';
import { VARIANT, writeVariant } from './variant-decoder.js';

const tmp = mkdtempSync(join(tmpdir(), 'tessera-generate-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const TINY = join(tmp, 'tiny', 'model.onnx');
const VAR = join(tmp, 'variant.onnx');
beforeAll(() => {
  writeDecoder(PRESETS.tiny, join(tmp, 'tiny'));
  writeVariant(VARIANT, VAR);
});

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

async function reference(model: string, prompt: number[], steps: number): Promise<OrtGeneration & { session: ort.InferenceSession }> {
  const session = await ort.InferenceSession.create(model, { logSeverityLevel: 3 });
  return { ...(await ortGreedy(session, prompt, steps)), session };
}

/** Greedy generation with the Generator, each step's logits copied. */
async function tesseraGreedy(g: Generator, prompt: number[], steps: number) {
  const tokens = [await g.prefill(prompt)];
  const logits = [g.lastLogits.slice()];
  while (tokens.length < steps) {
    tokens.push(await g.next());
    logits.push(g.lastLogits.slice());
  }
  return { tokens, logits };
}

async function matchesOnnxruntime(model: string, vocab: number, options: { prefillChunk?: number; seed?: number } = {}) {
  const prompt = seededPrompt(64, vocab, options.seed ?? 1);
  const want = await reference(model, prompt, 32);
  const g = await Generator.create(model, { maxLength: 100, prefillChunk: options.prefillChunk });
  try {
    const got = await tesseraGreedy(g, prompt, 32);
    expect(got.tokens).toEqual(want.tokens);
    for (let i = 0; i < 32; i++) expect(maxAbsDiff(got.logits[i], want.logits[i]), `step ${i}`).toBeLessThan(1e-4);
    // The cache is Tessera's buffers, written in place: rows 0 … 94 of every head hold what onnxruntime's
    // present holds after a forward over the same 95 tokens; the rows beyond were never written.
    const seq = [...prompt, ...want.tokens.slice(0, 31)];
    const full = await ortForward(want.session, seq);
    const { kvHeads: H, headDim: D, layers } = g.signature;
    for (let l = 0; l < layers; l++) {
      for (const kv of ['key', 'value'] as const) {
        const mine = g.kvOf(l)[kv], theirs = full.present[`present.${l}.${kv}`].data as Float32Array;
        for (let h = 0; h < H; h++) {
          expect(maxAbsDiff(mine.subarray(h * 100 * D, (h * 100 + 95) * D), theirs.subarray(h * 95 * D, (h + 1) * 95 * D))).toBeLessThan(1e-4);
          expect(mine.subarray((h * 100 + 95) * D, (h + 1) * 100 * D).every((x) => x === 0)).toBe(true);
        }
      }
    }
    expect(g.stats.decodeKvCopyBytes).toBe(0);
    const decode = g.stats.events.filter((e) => e.phase === 'decode');
    expect(decode).toHaveLength(31);
    expect(decode.every((e) => e.kvCopyBytes === 0)).toBe(true);
    return g;
  } finally {
    await g.release();
    await want.session.release();
  }
}

describe('Generator: 32 greedy steps after a 64-token prompt match onnxruntime step by step', () => {
  it('tiny generated decoder (GQA, position_ids)', async () => {
    await matchesOnnxruntime(TINY, PRESETS.tiny.vocab);
  });

  it('tiny, one session at a time: prefill released before decode opens, the same tokens; again after reset', async () => {
    const prompt = seededPrompt(64, PRESETS.tiny.vocab, 6);
    const want = await reference(TINY, prompt, 32);
    const g = await Generator.create(TINY, { maxLength: 100, oneSessionAtATime: true });
    try {
      for (let run = 0; run < 2; run++) {
        g.reset();
        const got = await tesseraGreedy(g, prompt, 32);
        expect(got.tokens).toEqual(want.tokens);
        for (let i = 0; i < 32; i++) expect(maxAbsDiff(got.logits[i], want.logits[i])).toBeLessThan(1e-4);
        expect(g.stats.sessionOpenMs).toHaveLength(run === 0 ? 1 : 2); // decode's (prefill's opened at create); after reset prefill's again, then decode's
      }
    } finally {
      await g.release();
      await want.session.release();
    }
  });

  it('tiny, prefill in chunks of 20 (later chunks read the cache)', async () => {
    const g = await matchesOnnxruntime(TINY, PRESETS.tiny.vocab, { prefillChunk: 20, seed: 3 });
    expect(g.stats.events.filter((e) => e.phase === 'prefill').map((e) => e.tokens)).toEqual([20, 20, 20, 4]);
    expect(g.stats.prefillKvCopyBytes).toBeGreaterThan(0);
  });

  it('a decoder the project did not generate: GPT-2-like, MHA, no position_ids, causal mask from the past shape, Concat on axis −2', async () => {
    await matchesOnnxruntime(VAR, VARIANT.vocab, { seed: 2 });
  });

  it('~100M-parameter generated decoder', async () => {
    await matchesOnnxruntime(presetDecoder('100m').modelPath, PRESETS['100m'].vocab);
  }, 300_000);
});

describe('Generator: sampling and stop conditions', () => {
  const prompt = seededPrompt(10, PRESETS.tiny.vocab, 5);
  const run = async (options: ConstructorParameters<typeof Object>[0], steps = 12) => {
    const g = await Generator.create(TINY, { maxLength: 64, ...options });
    try {
      return { tokens: await g.generate(prompt, steps), stop: g.done };
    } finally {
      await g.release();
    }
  };

  it('seeded sampling repeats with its seed, differs with another; top-k 1 is greedy', async () => {
    const greedy = (await reference(TINY, prompt, 12)).tokens;
    const a = await run({ sampling: { temperature: 1.5, seed: 7 } });
    const b = await run({ sampling: { temperature: 1.5, seed: 7 } });
    const c = await run({ sampling: { temperature: 1.5, seed: 8 } });
    expect(a.tokens).toEqual(b.tokens);
    expect(c.tokens).not.toEqual(a.tokens);
    expect(a.tokens).not.toEqual(greedy);
    expect((await run({ sampling: { temperature: 1.5, topK: 1, seed: 9 } })).tokens).toEqual(greedy);
  });

  it('stops after an eos token, after max steps, and when the cache is full', async () => {
    const greedy = (await reference(TINY, prompt, 12)).tokens;
    const eos = await run({ eosTokenIds: [greedy[3]] });
    expect(eos.tokens).toEqual(greedy.slice(0, greedy.indexOf(greedy[3]) + 1));
    expect(eos.stop).toBe('eos');
    const steps = await run({ maxSteps: 5 });
    expect(steps).toEqual({ tokens: greedy.slice(0, 5), stop: 'max-steps' });
    const full = await run({ maxLength: 13 }); // 10 prompt positions + 3 decode writes
    expect(full).toEqual({ tokens: greedy.slice(0, 4), stop: 'max-length' });
  });
});

describe('Generator: bad inputs', () => {
  const variant = (b: NonNullable<typeof VARIANT.break>) => {
    const path = join(tmp, `${b}.onnx`);
    writeVariant({ ...VARIANT, break: b }, path);
    return path;
  };

  it('refuses a model without a logits output, with mismatched past/present names, or whose present is not a Concat over past', async () => {
    await expect(Generator.create(variant('no-logits'))).rejects.toMatchObject({ code: 'BAD_MODEL', message: expect.stringContaining("no output 'logits'") });
    await expect(Generator.create(variant('mismatched-past'))).rejects.toMatchObject({ code: 'BAD_MODEL', message: expect.stringContaining("no matching output 'present.2.value'") });
    await expect(Generator.create(variant('present-not-concat'))).rejects.toMatchObject({ code: 'BAD_MODEL', message: expect.stringContaining("'present.1.key' must be Concat('past_key_values.1.key', new, axis 2)") });
  });

  it('refuses a budget the weights do not fit, a cache length over the budget, and a prompt longer than the cache', async () => {
    await expect(Generator.create(TINY, { memoryBudget: 1e6 })).rejects.toMatchObject({ code: 'LIMIT_EXCEEDED', message: expect.stringContaining('the weights alone do not fit') });
    await expect(Generator.create(TINY, { memoryBudget: 40e6, maxLength: 100_000 })).rejects.toMatchObject({ code: 'LIMIT_EXCEEDED', message: expect.stringMatching(/max length 100000 does not fit .* at most \d+ positions/) });
    const g = await Generator.create(TINY, { maxLength: 8 });
    await expect(g.prefill(seededPrompt(8, 256))).rejects.toMatchObject({ code: 'LIMIT_EXCEEDED' });
    await expect(g.prefill([3, 256])).rejects.toMatchObject({ code: 'BAD_ARGUMENT', message: expect.stringContaining('0 … 255') });
    await g.release();
  });

  it('chooses the max length from the budget: what is left after weights and working memory, per position', async () => {
    const g = await Generator.create(TINY, { memoryBudget: 40e6, maxLengthCap: 1e9 });
    const { bytesPerPosition, workingBytes } = g.stats.budget;
    expect(bytesPerPosition).toBe(2 * 2 * 2 * 16 * 4); // layers × key/value × kv heads × head size × float32
    expect(g.maxLength).toBe(Math.floor((40e6 - g.stats.weightBytes - workingBytes) / (2 * bytesPerPosition)));
    await g.release();
  });
});

describe('tessera generate', () => {
  it('prints the greedy tokens onnxruntime gives, with time to first token, tokens/s and peak RSS as JSON', async () => {
    const r = tessera('generate', TINY, '--prompt-length', '16', '--seed', '4', '--steps', '6', '--json');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(Object.keys(out).sort()).toEqual(['peakRssBytes', 'tokens', 'tokensPerS', 'ttftMs']);
    expect(out.tokens).toEqual((await reference(TINY, seededPrompt(16, 256, 4), 6)).tokens);
    expect(out.ttftMs).toBeGreaterThan(0);
    expect(out.tokensPerS).toBeGreaterThan(0);
    expect(out.peakRssBytes).toBeGreaterThan(1e6);
    const text = tessera('generate', TINY, '--prompt-tokens', '17,4,99', '--steps', '3');
    expect(text.status).toBe(0);
    expect(text.stdout).toContain(`tokens: ${(await reference(TINY, [17, 4, 99], 3)).tokens.join(',')}`);
    expect(text.stdout).toMatch(/KV copies: decode 0 bytes per step/);
    // the trace: a prefill in chunks of 8, then decode steps, none copying the cache
    const trace = join(tmp, 'generate.trace.json');
    expect(tessera('generate', TINY, '--prompt-length', '20', '--prefill-chunk', '8', '--steps', '4', '--trace', trace).status).toBe(0);
    const { readFileSync } = await import('node:fs');
    const events = JSON.parse(readFileSync(trace, 'utf8')).traceEvents as { cat: string; args: { tokens: number; kvCopyBytes: number } }[];
    expect(events.map((e) => [e.cat, e.args.tokens])).toEqual([['prefill', 8], ['prefill', 8], ['prefill', 4], ['decode', 1], ['decode', 1], ['decode', 1]]);
    expect(events.filter((e) => e.cat === 'decode').every((e) => e.args.kvCopyBytes === 0)).toBe(true);
  });

  it('exits 2 with the reason on a budget too small or a bad prompt', () => {
    // (a budget below the weights streams them, src/generate/streamed.ts; one below a node's weights is refused)
    const small = tessera('generate', TINY, '--prompt-tokens', '1,2', '--steps', '3', '--memory-budget', '10KB');
    expect(small.status).toBe(2);
    expect(small.stderr).toContain('BUDGET_INFEASIBLE');
    const both = tessera('generate', TINY, '--prompt-tokens', '1,2', '--prompt-length', '4', '--steps', '3');
    expect(both.status).toBe(2);
    expect(both.stderr).toContain('one of them');
  });
});

describe('tessera compile --decode', () => {
  it('compiles a decode and a prefill plan and predicts both; the roofline is bytes over the profile bandwidth, FLOPs over its peak', async () => {
    const r = tessera('compile', TINY, '--target', 'snapdragon-8-gen-3', '--decode', '--max-length', '256', '--prefill-chunk', '32', '--json');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const { prediction: p, int4, anchors } = JSON.parse(r.stdout);
    expect(p.decode.tokens).toBe(1);
    expect(p.prefill.tokens).toBe(32);
    expect(p.decode.tokensPerS).toBeCloseTo(1e6 / p.decode.latencyUs, 6);
    expect(p.prefill.tokensPerS).toBeCloseTo(32e6 / p.prefill.latencyUs, 6);
    expect(p.decode.processors.reduce((a: number, x: { nodes: number }) => a + x.nodes, 0)).toBeGreaterThan(50);
    // independent arithmetic: the target file's largest bandwidth, the config's parameters (+ rotary tables) in float32
    const { readFileSync } = await import('node:fs');
    const target = JSON.parse(readFileSync(new URL('../../src/targets/builtin/snapdragon-8-gen-3.json', import.meta.url), 'utf8'));
    const bw = Math.max(...target.processors.map((x: { bandwidthGBs: { value: number } }) => x.bandwidthGBs.value));
    const { parameterCount } = await import('../../bench/models/decoder.js');
    const c = PRESETS.tiny;
    const weights = 4 * (parameterCount(c) + 2 * c.maxPositions * c.headDim);
    expect(p.roofline.weightBytes / weights).toBeGreaterThan(0.999);
    expect(p.roofline.weightBytes / weights).toBeLessThan(1.001);
    expect(p.roofline.kvBytes).toBe(2 * c.layers * c.kvHeads * c.headDim * 4 * 256);
    expect(p.roofline.decodeTokensPerS).toBeCloseTo((bw * 1e9) / (p.roofline.weightBytes + p.roofline.kvBytes), 3);
    // a Llama-3.2-1B-shaped INT4 decoder: 1.236 B × 0.5625 bytes + fp16 KV at 256 tokens, over the same bandwidth
    expect(int4.roofline.decodeTokensPerS).toBeCloseTo((bw * 1e9) / (1.236e9 * 0.5625 + 2 * 16 * 8 * 64 * 2 * 256), 3);
    expect(anchors.map((a: { decode: number }) => a.decode)).toEqual([50.2, 23.5, 38.8]);
  }, 120_000);
});
