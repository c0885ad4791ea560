/**
 * `tessera run --plan` of a plan that runs the model as it is (one partition, the whole model on the CPU)
 * opens the engine on the model's path and keeps nothing of the compile reachable while the engine
 * runs: not the plan, not its partitions, whose model bytes are the file's. Measured on a model whose
 * file is 32 MB (one MatMul with an inline weight): the plan's run peaks where the same run without a
 * plan does (which compiles nothing), not a file's size above it, as it did while the partitions were
 * held (run-model.ts, runSessionOf). Outputs are checked against onnxruntime on the file (`--check`).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../src/ir/builder.js';
import { tessera, tesseraPeakRss } from './helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'tessera-plan-resident-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const MB = 1e6;

describe('tessera run --plan of a model run as it is', () => {
  it('holds no copy of the model file while the engine runs', () => {
    const K = 2048, N = 4096; // a 32 MB weight, inline in the file
    const b = new GraphBuilder('wide', { opset: 17 });
    b.input('x', 'float32', [1, K]);
    b.initializer('w', Float32Array.from({ length: K * N }, (_, i) => Math.sin(i) / 64), [K, N]);
    b.output(b.node('Relu', [b.node('MatMul', ['x', 'w'], 'h')], 'y'), 'float32');
    const model = join(tmp, 'wide.onnx'), plan = join(tmp, 'wide.plan.json');
    writeFileSync(model, b.toBytes());
    const c = tessera('compile', model, '--target', 'host', '--out', plan);
    expect(c.status, c.stderr).toBe(0);
    const peaks = { plan: [] as number[], none: [] as number[] };
    for (let r = 0; r < 2; r++) {
      const withPlan = tesseraPeakRss('run', model, '--plan', plan, '--check');
      expect(withPlan.status, withPlan.stderr).toBe(0);
      expect(withPlan.stdout).toMatch(/1 partition/);
      peaks.plan.push(withPlan.peakRssBytes);
      const without = tesseraPeakRss('run', model, '--check');
      expect(without.status, without.stderr).toBe(0);
      peaks.none.push(without.peakRssBytes);
    }
    // held, the file's bytes (32 MB) were resident beside the engine's own copy of the weight
    const excess = Math.min(...peaks.plan) - Math.min(...peaks.none);
    expect(excess / MB, `peaks with the plan ${peaks.plan.map((x) => (x / MB).toFixed(0))} MB, without ${peaks.none.map((x) => (x / MB).toFixed(0))} MB`).toBeLessThan(16);
  }, 240_000);
});
