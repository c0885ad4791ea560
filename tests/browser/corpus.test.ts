/**
 * Every corpus model (../shared/corpus/models) runs in headless Chromium through the browser build,
 * served by the example's server on 127.0.0.1, and matches onnxruntime-node running the whole model on
 * the same inputs (fp32 tolerances as tests/scheduler/runtime.test.ts). One browser and one page for the
 * file; no console errors. Skipped, saying why, when chromium is missing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compareTensors } from '../../src/backends/compare.js';
import { corpusCases, loadCase, runOrt, shapesOf } from '../helpers/models.js';
import { chromiumMissing, fromWire, openExample, runInPage, type ExamplePage } from './page.js';

const CASES = corpusCases().filter((m) => m.kind === 'npm');

describe.skipIf(chromiumMissing)(`corpus models in the browser${chromiumMissing ? ` (skipped: ${chromiumMissing})` : ''}`, () => {
  let p: ExamplePage;
  beforeAll(async () => {
    p = await openExample();
  });
  afterAll(async () => {
    await p?.close();
  });

  it('the page finds onnxruntime-web and TensorFlow.js, and says WebGPU is absent with the GPU off', async () => {
    const found = await p.page.evaluate(() => (window as unknown as { example: { backends(): Promise<{ id: string; available: boolean; detail: string }[]> } }).example.backends());
    const by = Object.fromEntries(found.map((b) => [b.id, b]));
    expect(by['ort:cpu'].available).toBe(true);
    expect(by['ort-web:wasm'].available).toBe(true);
    expect(by.tfjs.available, by.tfjs.detail).toBe(true);
    expect(by.tfjs.detail).toMatch(/tfjs-backend-wasm/);
    expect(by['ort:webgpu'].available).toBe(false);
  });

  for (const m of CASES) {
    it(`${m.name} matches onnxruntime-node`, async () => {
      const { feeds } = await loadCase(m);
      const ref = await runOrt(m.path, feeds);
      const r = await runInPage(p, `/models/${m.name}.onnx`, feeds, { inputShapes: shapesOf(feeds), rangeBytes: 1 << 20 });
      const got = fromWire(r.outputs);
      expect(Object.keys(got).sort()).toEqual(Object.keys(ref).sort());
      for (const [name, t] of Object.entries(ref)) {
        expect([...got[name].dims], name).toEqual([...t.dims]);
        const c = compareTensors(got[name], t, { rtol: 1e-3, atol: 1e-4 });
        expect(c.ok, `${m.name} ${name}: ${c.reason}`).toBe(true);
      }
      // the page really ran it: on this page's engines, fetched in ranges, with a measured timeline in the viewer
      expect(r.fallbacks).toEqual([]);
      expect(r.bindings.find((b) => b.processor === 'cpu')).toMatchObject({ backend: 'ort:cpu', emulated: false });
      expect(r.source.how).toMatch(r.source.bytes > 1 << 20 ? /^ranges \(\d+ requests/ : /^ranges \(1 request/);
      expect(r.traceSteps).toBeGreaterThan(0);
      expect(r.viewer.hasTrace).toBe(true);
      const ranged = p.served.log.filter((l) => l.path === `/models/${m.name}.onnx`);
      expect(ranged.every((l) => l.status === 206 && l.range)).toBe(true);
    });
  }

  it('runs on worker threads: the server makes the page cross-origin isolated', async () => {
    const isolated = await p.page.evaluate(() => globalThis.crossOriginIsolated);
    expect(isolated).toBe(true);
  });

  it('logged no console error', () => {
    expect(p.errors).toEqual([]);
  });
});
