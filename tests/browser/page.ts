/**
 * The browser example driven headless: the example's server (examples/browser/server.ts) on 127.0.0.1,
 * Debian's chromium through playwright-core (as tests/viz: no browser download), one page kept open
 * for a whole test file. Tensors cross into and out of the page as { type, dims, b64 }.
 */
import { chromium, type Browser, type Page } from 'playwright-core';
import { Tensor, type TensorMap } from '../../src/backends/tensor.js';
import { startServer, type Served } from '../../examples/browser/server.js';
import { CHROMIUM, chromiumMissing } from '../viz/browser.js';

export { chromiumMissing };

/** Chromium's software WebGPU: SwiftShader's Vulkan behind Dawn (the flags that give an adapter with Debian's chromium 156). */
export const SOFTWARE_WEBGPU = ['--enable-unsafe-webgpu', '--use-webgpu-adapter=swiftshader'];

export interface ExamplePage {
  served: Served;
  browser: Browser;
  page: Page;
  /** Console errors and page errors so far. */
  errors: string[];
  close(): Promise<void>;
}

export async function openExample(gpuFlags: string[] = []): Promise<ExamplePage> {
  const served = await startServer();
  const browser = await chromium.launch({
    executablePath: CHROMIUM, headless: true,
    args: ['--headless', '--no-sandbox', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', ...(gpuFlags.length ? gpuFlags : ['--disable-gpu'])],
  });
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(served.url);
  await page.waitForFunction(() => (window as unknown as { exampleReady?: boolean }).exampleReady, null, { timeout: 60_000 });
  return { served, browser, page, errors, close: async () => (await browser.close(), await served.close()) };
}

export interface Wire { type: string; dims: number[]; b64: string }

export function toWire(feeds: TensorMap): Record<string, Wire> {
  const out: Record<string, Wire> = {};
  for (const [k, t] of Object.entries(feeds)) {
    const d = t.data as Float32Array;
    out[k] = { type: t.type, dims: [...t.dims], b64: Buffer.from(d.buffer, d.byteOffset, d.byteLength).toString('base64') };
  }
  return out;
}

const ARRAYS: Record<string, { new (b: ArrayBuffer, o: number, n: number): Tensor['data'] & { BYTES_PER_ELEMENT?: number }; BYTES_PER_ELEMENT: number }> = {
  float32: Float32Array, int32: Int32Array, int64: BigInt64Array, uint8: Uint8Array, bool: Uint8Array, int8: Int8Array, float64: Float64Array,
} as never;

export function fromWire(w: Record<string, Wire>): TensorMap {
  const out: TensorMap = {};
  for (const [k, v] of Object.entries(w)) {
    const bytes = Buffer.from(v.b64, 'base64');
    const copy = new Uint8Array(bytes).buffer;
    const A = ARRAYS[v.type];
    out[k] = new Tensor(v.type as 'float32', new A(copy, 0, copy.byteLength / A.BYTES_PER_ELEMENT) as Float32Array, v.dims);
  }
  return out;
}

/** What the page's `example.run` gives back. */
export interface PageRun {
  outputs: Record<string, Wire>;
  bindings: { processor: string; backend: string; emulated: boolean; note: string }[];
  fallbacks: unknown[];
  processors: string[];
  threads: number;
  crossOriginIsolated: boolean;
  source: { name: string; how: string; bytes: number };
  traceSteps: number;
  viewer: { bytes: number; hasTrace: boolean };
}

/** Runs a model in the page (a URL the server serves) on the given feeds, with session options. */
export function runInPage(p: ExamplePage, url: string, feeds: TensorMap, options: Record<string, unknown> = {}): Promise<PageRun> {
  return p.page.evaluate(([u, f, o]) => (window as unknown as { example: { run(u: string, f: unknown, o: unknown): Promise<PageRun> } }).example.run(u, f, o), [url, toWire(feeds), options] as const);
}
