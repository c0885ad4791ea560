/**
 * Weights held once: partitions run by onnxruntime-node reference the weights in the model's own files
 * (external data relative to the model's directory) instead of carrying copies, so `tessera run` of an
 * MLP with 134.6 MB of float32 weights in external data grows the process, over the same run of the MLP
 * with tiny weights, by what onnxruntime's own process grows by (~1.27× the weights: its prepacked
 * copies) — it grew by 3.5× the weights when each partition carried copies. Outputs are checked against
 * onnxruntime running the original model (`--check`).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MLP_DEFAULT, writeMlp } from '../../bench/models/mlp.js';
import { compile } from '../../src/compiler/index.js';
import { measure } from '../../bench/memory/measure.js';
import { writeOrtWholeScript, writeRawTensors } from '../../bench/memory/ort-whole.js';
import { randomTensor } from '../../src/backends/tensor.js';
import { tessera, tesseraPeakRss } from './helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'tessera-weights-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('weights resident once', () => {
  it('lowered partitions reference the weights in the model files (a few KB each, no weight bytes) and run to onnxruntime\'s outputs', async () => {
    const { modelPath, weightBytes } = writeMlp(join(tmp, 'small'), { ...MLP_DEFAULT, hidden: 256 });
    const c = await compile(modelPath, 'host');
    const parts = c.partitions!;
    expect(parts.length).toBeGreaterThan(0);
    for (const p of parts) {
      expect(p.externalDataDir).toBe(join(tmp, 'small'));
      expect(p.onnx.byteLength).toBeLessThan(weightBytes / 4);
    }
    const r = tessera('run', modelPath, '--check');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/all outputs pass/);
  }, 120_000);

  it('tessera run of an MLP with 134.6 MB of float32 weights grows the process by what onnxruntime\'s own process grows by (within 15% of the weights), not several times the weights', () => {
    const big = writeMlp(join(tmp, 'big'));
    const tiny = writeMlp(join(tmp, 'tiny'), { ...MLP_DEFAULT, hidden: 64 });
    expect(big.weightBytes).toBeGreaterThan(134e6);
    const a = tesseraPeakRss('run', big.modelPath);
    const b = tesseraPeakRss('run', tiny.modelPath);
    expect(a.status, a.stderr).toBe(0);
    expect(b.status, b.stderr).toBe(0);
    // the reference: onnxruntime-node running each model whole in a plain node process (its prepacked copies included)
    const script = writeOrtWholeScript(join(tmp, 'ort'));
    const ortPeak = (model: string, hidden: number) => {
      const inputs = join(tmp, `in-${hidden}`);
      writeRawTensors(inputs, { x: randomTensor('float32', [1, hidden], 1) });
      const m = measure(process.execPath, [script, model, inputs]);
      expect(m.status, m.stderr).toBe(0);
      return m.peakRssBytes;
    };
    const ortGrown = ortPeak(big.modelPath, MLP_DEFAULT.hidden) - ortPeak(tiny.modelPath, 64);
    const grown = a.peakRssBytes - b.peakRssBytes;
    expect(ortGrown).toBeGreaterThan(big.weightBytes); // the reference holds the weights (and more)
    expect(grown).toBeLessThan(ortGrown + 0.15 * big.weightBytes);
  }, 180_000);
});
