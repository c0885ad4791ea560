/**
 * The resident prediction's per-node term against the process: `tessera run --plan` of a plan that runs
 * the model as it is (one partition, the model's own bytes on the CPU EP) drops the compile — graph,
 * plan, partitions — before the engine allocates (runtime/run-model.ts), so what a node adds to the
 * process is the engine's own structures, not Tessera's (passes/resident.ts: PLAN_NODE_BYTES is not
 * counted). Measured as a difference of peak RSS between two generated models of the same ops and
 * weights, one 2400 nodes longer, each run in its own process. The engine's per-node figure (25 KB) is
 * fitted on the corpus's nodes; these tiny nodes cost the engine 10–14 KB each (+23–35 MB measured,
 * +60 MB predicted: 1.7–2.6×), so the bound is loose: under 3.5× (the smaller model's peak moves 128–137 MB over runs: the least of 3 runs each). While the prediction also counted
 * Tessera's graph and plan (70 KB a node), it was 4.9–7.3× the measured difference (+168 MB predicted).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../src/ir/builder.js';
import { tessera, tesseraPeakRss } from './helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'tessera-per-node-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const MB = 1e6;

/** A chain of `n` small Conv, Mul pairs over [1, 8, 4, 4] (each Conv its own 8×8 weight, each Mul squaring the Conv's output: nothing the engine fuses away), little memory each. */
function chain(n: number): string {
  const b = new GraphBuilder(`chain${n}`, { opset: 17 });
  b.input('x', 'float32', [1, 8, 4, 4]);
  let v = 'x';
  for (let i = 0; i < n; i++) {
    b.initializer(`w${i}`, Float32Array.from({ length: 64 }, (_, k) => Math.sin(i * 64 + k) / 8), [8, 8, 1, 1]);
    const c = b.node('Conv', [v, `w${i}`], `c${i}`, { kernel_shape: [1, 1] });
    v = b.node('Mul', [c, c], `m${i}`);
  }
  b.output(v, 'float32');
  const path = join(tmp, `chain${n}.onnx`);
  writeFileSync(path, b.toBytes());
  return path;
}

describe('resident prediction per node, plan run as the model', () => {
  it('predicts the peak RSS a longer model adds, without Tessera\'s graph and plan', () => {
    const figures: Record<number, { predicted: number; measured: number[] }> = {};
    for (const n of [50, 1250]) {
      const model = chain(n), plan = join(tmp, `chain${n}.plan.json`);
      const c = tessera('compile', model, '--target', 'host', '--out', plan);
      expect(c.status, c.stderr).toBe(0);
      const measured: number[] = [];
      for (let r = 0; r < 3; r++) {
        const run = tesseraPeakRss('run', model, '--plan', plan, '--check');
        expect(run.status, run.stderr).toBe(0);
        expect(run.stdout).toMatch(/1 partition/);
        measured.push(run.peakRssBytes);
      }
      figures[n] = { predicted: JSON.parse(readFileSync(plan, 'utf8')).resident.peakBytes, measured };
    }
    const predicted = figures[1250].predicted - figures[50].predicted;
    const measured = Math.min(...figures[1250].measured) - Math.min(...figures[50].measured);
    const said = `predicted +${(predicted / MB).toFixed(1)} MB, measured +${(measured / MB).toFixed(1)} MB (peaks ${JSON.stringify(figures)})`;
    expect(predicted / measured, said).toBeLessThan(3.5);
    expect(predicted / measured, said).toBeGreaterThan(0.5);
  }, 300_000);
});
