/**
 * Calibration in the page: the micro-benchmarks of `tessera calibrate` run on this page's engines,
 * their fitted target is kept in IndexedDB for this device, found again after a reload, and is the
 * target a session created afterwards places by. (TensorFlow.js and WebGPU are left out here to keep
 * the run short; `calibrate()` measures them by default.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Target } from '../../src/targets/schema.js';
import { chromiumMissing, openExample, type ExamplePage } from './page.js';

type Api = {
  calibrate(o: unknown): Promise<{ device: string; target: Target; measurements: { provider: string; bench: string; medianUs: number }[] }>;
  clearCalibration(): Promise<void>;
  storedCalibration(): Promise<{ device: string; target: Target } | undefined>;
  browserTarget(): Promise<Target>;
  InferenceSession: { create(u: string, o: unknown): Promise<{ target: Target; plan: { estimate: { source: string } }; release(): Promise<void> }> };
};
declare const window: { example: { tessera: Api } };

describe.skipIf(chromiumMissing)(`calibration in the page${chromiumMissing ? ` (skipped: ${chromiumMissing})` : ''}`, () => {
  let p: ExamplePage;
  beforeAll(async () => {
    p = await openExample();
  });
  afterAll(async () => {
    await p?.close();
  });

  it('the browser target is uncalibrated before calibration', async () => {
    const t = await p.page.evaluate(async () => {
      await window.example.tessera.clearCalibration();
      return window.example.tessera.browserTarget();
    });
    expect(t.name).toBe('browser');
    expect(t.processors[0].peakGflops.float32!.source).toMatch(/uncalibrated browser default/);
  });

  let calibrated: Target;
  it('calibrates, keeps the result for this device, and finds it again after a reload', async () => {
    const c = await p.page.evaluate(() => window.example.tessera.calibrate({ minMs: 30, budgetMs: 15_000, tfjs: false, gpu: false }));
    expect(c.measurements.length).toBeGreaterThan(50);
    expect(c.measurements.every((m) => m.provider === 'cpu' && Number.isFinite(m.medianUs) && m.medianUs >= 0)).toBe(true);
    // differences of two timings: an overhead may come out 0 on a busy machine, an op's own time not
    expect(c.measurements.filter((m) => /^(conv|matmul|gemm)/.test(m.bench)).every((m) => m.medianUs > 0)).toBe(true);
    expect(c.device).toMatch(/cores/);
    calibrated = c.target;
    expect(calibrated.name).toBe('browser');
    expect(calibrated.processors[0].peakGflops.float32!.source).toMatch(/^measured/);
    await p.page.reload();
    await p.page.waitForFunction(() => (window as unknown as { exampleReady?: boolean }).exampleReady);
    const stored = await p.page.evaluate(() => window.example.tessera.storedCalibration());
    expect(stored?.device).toBe(c.device);
    expect(stored?.target).toEqual(calibrated);
    expect(await p.page.evaluate(() => window.example.tessera.browserTarget())).toEqual(calibrated);
  });

  it('a session created afterwards places by the measured figures', async () => {
    const t = await p.page.evaluate(async () => {
      const s = await window.example.tessera.InferenceSession.create('/models/wakeword-hello-deepa.onnx', {});
      const target = s.target;
      await s.release();
      return target;
    });
    const cpu = t.processors.find((q) => q.id === 'cpu')!;
    expect(cpu.peakGflops).toEqual(calibrated.processors[0].peakGflops);
    expect(cpu.launchOverheadUs).toEqual(calibrated.processors[0].launchOverheadUs);
  });

  it('logged no console error', () => {
    expect(p.errors).toEqual([]);
  });
});
