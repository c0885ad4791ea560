/**
 * Symbolic dims at the command line: `tessera compile` and `tessera run` say which symbolic input dims
 * they fixed and to what (given, or 1 by default); a zero dimension is refused unless every reader takes an empty input (a decoder's empty past); an --input-shape that
 * contradicts the --plan being run is refused (the plan's shapes used to win silently).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CORPUS, tempDir, tessera } from './helpers.js';

const DET = join(CORPUS, 'models/ppocr-v4-det.onnx');
const REC = join(CORPUS, 'models/ppocr-v4-rec.onnx');
const tmp = tempDir('shapes');
afterAll(() => tmp.cleanup());

describe('symbolic dims on the command line', () => {
  it('compile without --input-shape says each symbolic dim was set to 1 by default, and how to give sizes', () => {
    const r = tessera('compile', DET, '--target', 'host', '--order-budget-ms', '10');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('symbolic dims fixed: x[0] (p2o.DynamicDimension.0) = 1 by default, x[2] (p2o.DynamicDimension.1) = 1 by default, x[3] (p2o.DynamicDimension.2) = 1 by default');
    expect(r.stdout).toContain('give --input-shape x=…');
  });

  it('compile with --input-shape says the sizes given (JSON too)', () => {
    const r = tessera('compile', DET, '--target', 'host', '--order-budget-ms', '10', '--input-shape', 'x=1x3x64x96', '--json');
    expect(r.status, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout) as { fixedDims: { input: string; axis: number; dim: string; value: number; given: boolean }[] };
    expect(s.fixedDims).toEqual([
      { input: 'x', axis: 0, dim: 'p2o.DynamicDimension.0', value: 1, given: true },
      { input: 'x', axis: 2, dim: 'p2o.DynamicDimension.1', value: 64, given: true },
      { input: 'x', axis: 3, dim: 'p2o.DynamicDimension.2', value: 96, given: true },
    ]);
  });

  it('a zero dimension that leaves nothing to compute (every output empty) is refused (exit 2), and no plan is written', () => {
    // (a zero dim beside other inputs that are not empty, as an LLM's KV cache before the first token, runs: tests/models/decoder)
    const out = join(tmp.dir, 'zero.plan.json');
    const r = tessera('compile', DET, '--target', 'host', '--input-shape', 'x=0x3x64x64', '--out', out);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/BAD_INPUT_SHAPE.*input 'x' has shape \[0,3,64,64\] \(dimension 0 is 0\) and every output is empty \('sigmoid_0\.tmp_0' \[0,1,64,64\]\).*nothing to compute/);
    expect(existsSync(out)).toBe(false);
    const run = tessera('run', REC, '--input-shape', 'x=0x3x48x64');
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/dimension 0 is 0\) and every output is empty/);
  });

  it('run says the sizes it ran with; an --input-shape that contradicts --plan is refused, one that agrees runs', () => {
    const plan = join(tmp.dir, 'rec.plan.json');
    expect(tessera('compile', REC, '--target', 'host', '--order-budget-ms', '10', '--input-shape', 'x=1x3x48x160', '--out', plan).status).toBe(0);
    const wrong = tessera('run', REC, '--plan', plan, '--input-shape', 'x=1x3x48x640');
    expect(wrong.status).toBe(2);
    expect(wrong.stderr).toContain("--input-shape x=1x3x48x640 contradicts the plan");
    expect(wrong.stderr).toContain("compiled for 'x' [1,3,48,160]");
    const right = tessera('run', REC, '--plan', plan, '--input-shape', 'x=1x3x48x160');
    expect(right.status, right.stderr).toBe(0);
    expect(right.stdout).toContain('symbolic dims fixed: x[0] (p2o.DynamicDimension.0) = 1, x[3] (p2o.DynamicDimension.1) = 160');
    const defaulted = tessera('run', REC, '--input-shape', 'x=1x3x48x96', '--json');
    expect(defaulted.status, defaulted.stderr).toBe(0);
    expect((JSON.parse(defaulted.stdout) as { fixedDims: { value: number }[] }).fixedDims.map((d) => d.value)).toEqual([1, 96]);
  });
});
