/**
 * `onnxruntime-node` in the browser bundle is onnxruntime-web: the same onnxruntime-common API
 * (InferenceSession, Tensor, env), so the adapter written for onnxruntime-node (src/backends/ort.ts: lean
 * sessions, preallocated outputs) runs unchanged in a page: `ort:cpu` on onnxruntime-web's wasm (CPU)
 * execution provider, `ort:webgpu` on its WebGPU one. One copy of the Tensor class serves the whole
 * bundle. What onnxruntime-node has and onnxruntime-web lacks is added here.
 */
import * as ort from 'onnxruntime-web';
import { configureOrtWeb } from '../backends/engine-files.browser.js';

export * from 'onnxruntime-web';

let configured = false;

/** onnxruntime-node's list of execution providers: onnxruntime-web has its wasm (CPU) one always, WebGPU where the browser has it. */
export function listSupportedBackends(): { name: string; bundled: boolean }[] {
  return [{ name: 'cpu', bundled: true }, { name: 'wasm', bundled: true }, ...('gpu' in (globalThis.navigator ?? {}) ? [{ name: 'webgpu', bundled: true }] : [])];
}

/** InferenceSession.create with the engine's files and threads configured first (engine-files.browser.ts). */
export const InferenceSession = {
  ...ort.InferenceSession,
  create(...args: Parameters<typeof ort.InferenceSession.create>) {
    if (!configured) {
      configureOrtWeb(ort.env);
      ort.env.logLevel = 'error';
      configured = true;
    }
    return (ort.InferenceSession.create as (...a: unknown[]) => ReturnType<typeof ort.InferenceSession.create>)(...args);
  },
};
