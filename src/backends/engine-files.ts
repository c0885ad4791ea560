/**
 * How the WebAssembly engines (onnxruntime-web, tfjs-backend-wasm) find their .wasm files and start,
 * under Node: read from node_modules on disk, never fetched. The browser bundle takes
 * engine-files.browser.ts instead (files fetched from URLs the page serves, threads when the page is
 * cross-origin isolated).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import type { env as OrtWebEnv } from 'onnxruntime-web';

/**
 * Threads of onnxruntime-web's wasm engine under Node: one. Its main entry runs with two as well (worker
 * threads), but the runtime runs partitions on different backends concurrently and onnxruntime-node's
 * CPU EP has its own thread pool: on a 2-core host a second wasm thread only competes with it.
 */
const WASM_THREADS = 1;

/** onnxruntime-web: one thread, no proxy worker, the .wasm read from the package on disk. */
export function configureOrtWeb(env: typeof OrtWebEnv): void {
  const bytes = readFileSync(createRequire(import.meta.url).resolve('onnxruntime-web/ort-wasm-simd-threaded.wasm'));
  env.wasm.numThreads = WASM_THREADS;
  env.wasm.proxy = false;
  env.wasm.wasmBinary = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Where tfjs-backend-wasm's .wasm files are: its package's dist directory, as a file path. */
export function tfjsWasmPath(): string {
  return `${dirname(createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm'))}/`;
}

/**
 * Runs `load` (an engine's Emscripten start-up) and then removes the process-wide 'uncaughtException'
 * and 'unhandledRejection' listeners it installed: they rethrow, turning any unhandled rejection
 * anywhere in the process into a crash.
 */
export async function withoutNewProcessListeners<T>(load: () => Promise<T>): Promise<T> {
  const before = { u: process.listeners('uncaughtException'), r: process.listeners('unhandledRejection') };
  try {
    return await load();
  } finally {
    for (const l of process.listeners('uncaughtException')) if (!before.u.includes(l)) process.removeListener('uncaughtException', l);
    for (const l of process.listeners('unhandledRejection')) if (!before.r.includes(l)) process.removeListener('unhandledRejection', l);
  }
}
