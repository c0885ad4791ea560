/**
 * onnxruntime-node's sessions as Tessera creates and runs them: errors as TesseraErrors naming what ran,
 * outputs written into given tensors without keeping onnxruntime-node's copies (see `runSession`). Its
 * own module, loading nothing but onnxruntime-node: a session that runs a model as it is (nothing to
 * plan) needs nothing else of the adapter (ort.ts).
 */
import { MessageChannel } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import { asTesseraError } from '../errors.js';
import type { TensorMap } from './tensor.js';

export type OrtProvider = 'cpu' | 'webgpu';

/** Session options that change memory use (the rest is onnxruntime's default). */
export type OrtMemoryOptions = Pick<ort.InferenceSession.SessionOptions, 'enableCpuMemArena' | 'enableMemPattern' | 'graphOptimizationLevel' | 'extra'>;

/** Session options that make onnxruntime resolve the external data of a model given as bytes against `dir`. */
export function withExternalDataDir(options: OrtMemoryOptions, dir: string): OrtMemoryOptions {
  const extra = (options.extra ?? {}) as { session?: Record<string, string> };
  return { ...options, extra: { ...extra, session: { ...extra.session, model_external_initializers_file_folder_path: dir } } };
}

/** A session of a model's bytes, or of a model file (onnxruntime then reads its external data itself, by its own rules). */
export async function createSession(model: Uint8Array | string, provider: OrtProvider, where: string, options: OrtMemoryOptions = {}): Promise<ort.InferenceSession> {
  try {
    const opts = { executionProviders: [provider], logSeverityLevel: 4 as const, ...options };
    return await (typeof model === 'string' ? ort.InferenceSession.create(model, opts) : ort.InferenceSession.create(model, opts));
  } catch (err) {
    throw asTesseraError(err, 'BACKEND_FAILED', `onnxruntime (${provider}) could not load ${where}`);
  }
}

/**
 * Runs a session. Outputs given in `into` are written there by onnxruntime and returned as those same
 * tensors; the copies onnxruntime-node makes of them are released at once (see `release`).
 */
export function runSession(session: ort.InferenceSession, feeds: TensorMap, outputs: readonly string[], where: string, into?: TensorMap): Promise<TensorMap> {
  const failed = ortFailure(where);
  return into ? runInto(session, feeds, outputs, into).catch(failed) : runAll(session, feeds, failed);
}

/** What a failed run throws: onnxruntime's message as a BACKEND_FAILED naming what ran. */
export function ortFailure(where: string): (err: unknown) => never {
  return (err) => {
    throw asTesseraError(err, 'BACKEND_FAILED', `onnxruntime failed running ${where}`);
  };
}

/**
 * Every output the session has (a partition's model has exactly its outputs): no fetch list, which
 * onnxruntime-node would check name by name on every run; and the session's own promise with one
 * handler, no async frame (a model of 20 µs feels each layer: ~0.3 µs each here between runs).
 */
export function runAll(session: ort.InferenceSession, feeds: TensorMap, failed: (err: unknown) => never): Promise<TensorMap> {
  return (session.run(feeds) as Promise<TensorMap>).catch(failed);
}

/** A run whose outputs onnxruntime writes into the tensors given (see `runSession`). */
async function runInto(session: ort.InferenceSession, feeds: TensorMap, outputs: readonly string[], into: TensorMap): Promise<TensorMap> {
  const res = (await session.run(feeds, Object.fromEntries(outputs.map((o) => [o, into[o] ?? null])))) as TensorMap;
  const copies = new Set<ArrayBuffer>();
  for (const o of outputs) {
    const given = into[o], got = res[o];
    if (!given || !got || got === given) continue;
    const data = got.data;
    if (ArrayBuffer.isView(data) && data.buffer instanceof ArrayBuffer && data.buffer !== (given.data as ArrayBufferView).buffer) copies.add(data.buffer);
    res[o] = given;
  }
  release([...copies]);
  return res;
}

/**
 * Frees ArrayBuffers nothing refers to any more, now rather than at V8's next garbage collection (which
 * waits for tens of MB of them): transferring them detaches them from this thread, and closing the
 * channel drops the message that took them.
 */
function release(buffers: ArrayBuffer[]): void {
  if (buffers.length === 0) return;
  const { port1, port2 } = new MessageChannel();
  try {
    port1.postMessage(null, buffers);
  } catch {
    // not transferable: left to the garbage collector
  } finally {
    port1.close();
    port2.close();
  }
}
