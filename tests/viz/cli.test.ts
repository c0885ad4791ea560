/** `tessera viz` and `tessera trace` as a user runs them: files written, bad input refused with exit 2 and nothing written. */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CORPUS, tempDir, tessera } from '../cli/helpers.js';

const MODEL = join(CORPUS, 'onnx-node/light/light_squeezenet.onnx');
const tmp = tempDir('viz-cli');
const plan = join(tmp.dir, 'plan.json');

beforeAll(() => {
  const r = tessera('compile', MODEL, '--target', 'snapdragon-8-gen-3', '--out', plan);
  expect(r.status, r.stderr).toBe(0);
});
afterAll(() => tmp.cleanup());

describe('tessera viz / trace', () => {
  it('viz writes one HTML page with the plan and the model data inlined', () => {
    const out = join(tmp.dir, 'page.html');
    const r = tessera('viz', plan, '--model', MODEL, '-o', out);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('sha256 matches');
    const html = readFileSync(out, 'utf8');
    expect(html.startsWith('<!doctype html>')).toBe(true);
    expect(html).toContain('"format":"tessera.plan"');
  });

  it('trace writes Trace Event Format JSON with one X event per step', () => {
    const out = join(tmp.dir, 'events.json');
    const r = tessera('trace', plan, '-o', out);
    expect(r.status, r.stderr).toBe(0);
    const steps = JSON.parse(readFileSync(plan, 'utf8')).steps.length;
    const events = JSON.parse(readFileSync(out, 'utf8')).traceEvents as { ph: string }[];
    expect(events.filter((e) => e.ph === 'X').length).toBe(steps);
  });

  it('a file that is not a trace, or a model that is not the plan\'s, is refused (exit 2, nothing written)', () => {
    const bad = join(tmp.dir, 'not-a-trace.json');
    writeFileSync(bad, '{"hello": 1}');
    const out = join(tmp.dir, 'never.json');
    const r = tessera('trace', plan, '--trace', bad, '-o', out);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/not a Tessera trace/);
    expect(existsSync(out)).toBe(false);
    const other = join(CORPUS, 'onnx-node/light/light_bvlc_alexnet.onnx');
    const v = tessera('viz', plan, '--model', other, '-o', join(tmp.dir, 'never.html'));
    expect(v.status).toBe(2);
    expect(v.stderr).toMatch(/PLAN_MISMATCH/);
    expect(existsSync(join(tmp.dir, 'never.html'))).toBe(false);
  });
});
