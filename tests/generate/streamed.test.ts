/**
 * Decode with the weights streamed under a budget smaller than them (src/generate/streamed.ts), against
 * onnxruntime running the same graph step by step with its own past/present handling
 * (bench/models/ort-generate.ts) — the independent reference: the same greedy tokens, logits close.
 * Also through the CLI (`tessera generate --memory-budget` below the weights), and the refusals.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import { layerParameters, PRESETS, writeDecoder } from '../../bench/models/decoder.js';
import { ortGreedy, seededPrompt } from '../../bench/models/ort-generate.js';
import { TesseraError } from '../../src/errors.js';
import { StreamedGenerator } from '../../src/generate/streamed.js';
import { tessera } from '../cli/helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'tessera-streamed-gen-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const C = { ...PRESETS.tiny, layers: 3 };
const written = writeDecoder(C, join(tmp, 'tiny'));
const weightBytes = statSync(written.dataPath).size;
const BUDGET = 300_000;

async function reference(prompt: number[], steps: number) {
  const session = await ort.InferenceSession.create(written.modelPath, { logSeverityLevel: 3 });
  try {
    return await ortGreedy(session, prompt, steps);
  } finally {
    await session.release();
  }
}

const maxAbsDiff = (a: Float32Array, b: Float32Array) => {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

describe('streamed decode under a budget smaller than the weights', () => {
  it('gives onnxruntime\'s greedy tokens and logits step by step, reading the streamed weights every step', async () => {
    expect(weightBytes).toBeGreaterThan(BUDGET);
    const prompt = seededPrompt(9, C.vocab, 3);
    const steps = 8;
    const ref = await reference(prompt, steps);
    const g = await StreamedGenerator.create(written.modelPath, { memoryBudget: BUDGET, maxLength: prompt.length + steps });
    try {
      expect(g.stats.sessions).toBeLessThan(g.stats.groups);
      const tokens = [await g.prefill(prompt)];
      while (tokens.length < steps) tokens.push(await g.next());
      expect(tokens).toEqual(ref.tokens);
      // every decode step reads the streamed weights again: at least every layer's projections and the (untied) LM head; not the whole embedding table
      const projections = C.layers * (layerParameters(C) - 2 * C.hidden) * 4 + C.vocab * C.hidden * 4;
      expect(g.stats.readBytesPerToken).toBeGreaterThanOrEqual(projections);
      expect(g.stats.readBytesPerToken).toBeLessThan(weightBytes - C.vocab * C.hidden * 4 + C.hidden * 4);
      expect(g.stats.decodeMs.length).toBe(steps - 1);
    } finally {
      await g.release();
    }
  }, 120_000);

  it('each step\'s logits within 1e-4 of onnxruntime\'s', async () => {
    const prompt = seededPrompt(5, C.vocab, 7);
    const steps = 5;
    const ref = await reference(prompt, steps);
    const g = await StreamedGenerator.create(written.modelPath, { memoryBudget: BUDGET, maxLength: 16 });
    try {
      const rows: Float32Array[] = [];
      const grab = () => rows.push(new Float32Array(lastLogits));
      let lastLogits = new Float32Array(0);
      const emit = (g as unknown as { emit: (l: Float32Array) => number }).emit.bind(g);
      (g as unknown as { emit: (l: Float32Array) => number }).emit = (l: Float32Array) => ((lastLogits = l.slice(l.length - C.vocab)), grab(), emit(l));
      await g.generate(prompt, steps);
      expect(rows.length).toBe(steps);
      rows.forEach((r, i) => expect(maxAbsDiff(r, ref.logits[i]), `step ${i}`).toBeLessThan(1e-4));
    } finally {
      await g.release();
    }
  }, 120_000);

  it('refuses a budget that cannot hold the cache and one node\'s weights, naming the smallest feasible one', async () => {
    let err: unknown;
    try {
      await StreamedGenerator.create(written.modelPath, { memoryBudget: 60_000, maxLength: 16, promptLength: 4 });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TesseraError);
    expect((err as TesseraError).code).toBe('BUDGET_INFEASIBLE');
    const smallest = Number(/smallest feasible budget at this max length is [^(]+\((\d+) bytes\)/.exec((err as Error).message)![1]);
    const g = await StreamedGenerator.create(written.modelPath, { memoryBudget: smallest, maxLength: 16, promptLength: 4 });
    expect((await g.generate(seededPrompt(4, C.vocab), 3)).length).toBe(3);
    await g.release();
  }, 120_000);

  it('tessera generate --memory-budget below the weights streams them and prints onnxruntime\'s tokens', async () => {
    const prompt = seededPrompt(6, C.vocab, 1);
    const ref = await reference(prompt, 4);
    const r = await tessera('generate', written.modelPath, '--prompt-tokens', prompt.join(','), '--steps', '4', '--memory-budget', String(BUDGET), '--json');
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.tokens).toEqual(ref.tokens);
    expect(out.streamed.readBytesPerToken).toBeGreaterThan(0);
  }, 120_000);
});
