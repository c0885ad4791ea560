/**
 * The memory options through the CLI: `tessera compile --objective memory|latency` records and prints the
 * predicted peak resident bytes by category (the memory plan never predicted above the latency plan);
 * `tessera run --memory` prints the measured peak beside it; `tessera run --memory-budget` streams the
 * weights of a generated decoder and `--check` compares with onnxruntime running the whole model; a bad
 * objective or budget is a clear error.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PRESETS, writeDecoder } from '../../bench/models/decoder.js';
import { CORPUS, tessera } from './helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'tessera-memory-cli-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const rec = join(CORPUS, 'models/ppocr-v4-rec.onnx');

describe('tessera compile/run: objective, predicted and measured resident memory, budget', () => {
  it('compile --objective latency|memory: the plan records its objective and prediction; memory predicts no more than latency', () => {
    const peaks: Record<string, number> = {};
    for (const objective of ['latency', 'memory']) {
      const out = join(tmp, `rec-${objective}.json`);
      const r = tessera('compile', rec, '--target', 'host', '--input-shape', 'x=1x3x48x320', '--objective', objective, '--out', out);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`objective ${objective}: predicted peak resident [\\d.]+ [KM]?B = engine floor`));
      const plan = JSON.parse(readFileSync(out, 'utf8'));
      expect(plan.resident.objective).toBe(objective);
      const { floorBytes, sessionBytes, weightBytes, arenaBytes, workspaceBytes, peakBytes } = plan.resident;
      expect(peakBytes).toBe(floorBytes + sessionBytes + weightBytes + arenaBytes + workspaceBytes);
      peaks[objective] = peakBytes;
    }
    expect(peaks.memory).toBeLessThanOrEqual(peaks.latency);
  }, 180_000);

  it('run --memory prints the measured peak beside the prediction', () => {
    const r = tessera('run', rec, '--input-shape', 'x=1x3x48x320', '--memory');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/memory: measured peak resident [\d.]+ MB \(this process, getrusage\) vs predicted [\d.]+ MB/);
  }, 120_000);

  it('run --memory-budget streams the decoder\'s weights and matches onnxruntime whole (--check)', () => {
    const c = { ...PRESETS.tiny, layers: 2 };
    const dir = join(tmp, 'decoder');
    writeDecoder(c, dir);
    const shapes = ['input_ids=1x8', 'attention_mask=1x8', 'position_ids=1x8'];
    for (let l = 0; l < c.layers; l++) for (const kv of ['key', 'value']) shapes.push(`past_key_values.${l}.${kv}=1x${c.kvHeads}x0x${c.headDim}`);
    const trace = join(tmp, 'streamed-trace.json');
    const r = tessera('run', join(dir, 'model.onnx'), ...shapes.flatMap((s) => ['--input-shape', s]), '--memory-budget', '150KB', '--check', '--trace', trace);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/weights streamed under a 146.5 KB budget/);
    expect(r.stdout).toMatch(/all outputs pass/);
    // --trace: the weight reads on a storage lane beside the sessions' runs (Chrome Trace Event Format)
    const events = JSON.parse(readFileSync(trace, 'utf8')).traceEvents as { ph: string; cat?: string; args?: { bytes?: number } }[];
    const reads = events.filter((e) => e.ph === 'X' && e.cat === 'storage'), runs = events.filter((e) => e.ph === 'X' && e.cat === 'compute');
    expect(runs.length).toBeGreaterThan(1);
    expect(reads.length).toBe(runs.length);
    expect(reads.every((e) => e.args!.bytes! >= 0)).toBe(true);
  }, 120_000);

  it('refuses a bad objective and a budget that is not a size', () => {
    const a = tessera('compile', rec, '--target', 'host', '--objective', 'speed');
    expect(a.status).not.toBe(0);
    expect(a.stderr).toMatch(/--objective/);
    const b = tessera('run', rec, '--memory-budget', 'lots');
    expect(b.status).not.toBe(0);
    expect(b.stderr).toMatch(/--memory-budget 'lots'/);
  }, 120_000);
});
