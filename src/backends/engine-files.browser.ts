/// <reference lib="dom" />
/**
 * engine-files.ts in the browser bundle: the engines fetch their .wasm files from URLs (set by the
 * page through `setWasmPaths`, default: `ort/` and `tfjs/` beside the bundle), and onnxruntime-web runs
 * on worker threads when the page is cross-origin isolated (SharedArrayBuffer needs it), one otherwise.
 */
import type { env as OrtWebEnv } from 'onnxruntime-web';

const paths = {
  ort: new URL('./ort/', import.meta.url).href,
  tfjs: new URL('./tfjs/', import.meta.url).href,
};

/** Where onnxruntime-web's and tfjs-backend-wasm's files are served (URL prefixes ending in '/'); before the first session. */
export function setWasmPaths(next: Partial<typeof paths>): void {
  Object.assign(paths, next);
}

/** The threads onnxruntime-web runs on in this page. */
export function ortWebThreads(): number {
  return globalThis.crossOriginIsolated ? Math.max(1, Math.min(4, globalThis.navigator?.hardwareConcurrency ?? 1)) : 1;
}

export function configureOrtWeb(env: typeof OrtWebEnv): void {
  env.wasm.wasmPaths = paths.ort;
  env.wasm.numThreads = ortWebThreads();
  env.wasm.proxy = false;
}

export function tfjsWasmPath(): string {
  return paths.tfjs;
}

export function withoutNewProcessListeners<T>(load: () => Promise<T>): Promise<T> {
  return load();
}
