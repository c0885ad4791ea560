/**
 * WebGPU in the page: Chromium's software WebGPU (SwiftShader behind Dawn). The page reports the
 * adapter as real and software; a plan that gives partitions to the `gpu` processor, bound to
 * onnxruntime-web's WebGPU EP, runs in the page and matches onnxruntime-node on the whole model.
 * The GPU's figures are raised in the target so that placement gives it work (on its own software
 * figures it would get none: SwiftShader is far slower than the CPU).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compareTensors } from '../../src/backends/compare.js';
import type { Target } from '../../src/targets/schema.js';
import { corpusCases, loadCase, runOrt, shapesOf } from '../helpers/models.js';
import { chromiumMissing, fromWire, openExample, runInPage, SOFTWARE_WEBGPU, type ExamplePage } from './page.js';

/** ppocr-v4-rec: convolutions, attention (MatMul, Softmax), LayerNormalization. */
const REC = corpusCases().find((m) => m.name === 'ppocr-v4-rec')!;

describe.skipIf(chromiumMissing)(`WebGPU in the page${chromiumMissing ? ` (skipped: ${chromiumMissing})` : ''}`, () => {
  let p: ExamplePage;
  beforeAll(async () => {
    p = await openExample(SOFTWARE_WEBGPU);
  });
  afterAll(async () => {
    await p?.close();
  });

  it('finds a WebGPU adapter and says it is software', async () => {
    const found = await p.page.evaluate(() => (window as unknown as { example: { backends(): Promise<{ id: string; available: boolean; software: boolean; detail: string }[]> } }).example.backends());
    const gpu = found.find((b) => b.id === 'ort:webgpu')!;
    expect(gpu.available, gpu.detail).toBe(true);
    expect(gpu.software).toBe(true);
    expect(gpu.detail).toMatch(/swiftshader/i);
  });

  it('runs a plan with partitions on WebGPU and matches onnxruntime-node', async () => {
    const target = await p.page.evaluate(() => (window as unknown as { example: { tessera: { browserTarget(): Promise<unknown> } } }).example.tessera.browserTarget()) as Target;
    expect(target.name).toBe('browser');
    const gpu = target.processors.find((q) => q.id === 'gpu')!;
    expect(gpu.backend).toBe('ort:webgpu');
    gpu.peakGflops = { float32: { value: 5000, source: 'test: as if a hardware GPU' } };
    gpu.bandwidthGBs = { value: 500, source: 'test' };
    gpu.launchOverheadUs = { value: 1, source: 'test' };
    target.links = target.links.map((l) => ({ ...l, bandwidthGBs: { value: 100, source: 'test' }, latencyUs: { value: 1, source: 'test' } }));
    const { feeds } = await loadCase(REC);
    const ref = await runOrt(REC.path, feeds);
    const r = await runInPage(p, `/models/${REC.name}.onnx`, feeds, { target, bind: { gpu: 'webgpu' }, inputShapes: shapesOf(feeds) });
    expect(r.processors).toContain('gpu');
    expect(r.fallbacks).toEqual([]);
    const g = r.bindings.find((b) => b.processor === 'gpu')!;
    expect(g).toMatchObject({ backend: 'ort:webgpu', emulated: false });
    expect(g.note).toMatch(/software adapter/);
    const got = fromWire(r.outputs);
    for (const [name, t] of Object.entries(ref)) {
      expect([...got[name].dims], name).toEqual([...t.dims]);
      const c = compareTensors(got[name], t, { rtol: 1e-3, atol: 1e-4 });
      expect(c.ok, `${name}: ${c.reason}`).toBe(true);
    }
  });

  it('logged no console error', () => {
    expect(p.errors).toEqual([]);
  });
});
