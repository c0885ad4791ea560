/**
 * `onnxruntime-node` in the browser bundle is onnxruntime-web: the same onnxruntime-common API
 * (InferenceSession, Tensor, env), so the adapter written for onnxruntime-node (src/backends/ort.ts: lean
 * sessions, preallocated outputs) runs unchanged in a page: `ort:cpu` on onnxruntime-web's wasm (CPU)
 * execution provider, `ort:webgpu` on its WebGPU one. One copy of the Tensor class serves the whole
 * bundle. What onnxruntime-node has and onnxruntime-web lacks is added here, and one difference is
 * made good: onnxruntime-node writes a run's outputs into the tensors given for them (ort.ts hands
 * planned arena views over that way), onnxruntime-web does not (`writingIntoGiven`).
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
    return (ort.InferenceSession.create as (...a: unknown[]) => ReturnType<typeof ort.InferenceSession.create>)(...args).then(writingIntoGiven);
  },
};

type Session = ort.InferenceSession;

/**
 * A session whose runs leave every output in the tensor given for it, as onnxruntime-node's do:
 * onnxruntime-web (1.30, wasm and WebGPU EPs alike) returns a pre-allocated output tensor as given but
 * does not write it (seen with wakeword-hello-deepa: zeros for 0.998). So the outputs are fetched by
 * name and copied into the given tensors.
 */
function writingIntoGiven(session: Session): Session {
  const run = session.run.bind(session) as (feeds: unknown, fetches?: unknown, options?: unknown) => Promise<ort.InferenceSession.ReturnType>;
  (session as { run: unknown }).run = async (feeds: unknown, fetches?: unknown, options?: unknown) => {
    if (!fetches || typeof fetches !== 'object' || Array.isArray(fetches)) return run(feeds, fetches, options);
    const given = fetches as Record<string, ort.Tensor | null>;
    const res = await run(feeds, Object.keys(given), options);
    for (const [name, into] of Object.entries(given)) {
      const got = res[name];
      if (!into || !got) continue;
      if (got.type !== into.type || got.size !== into.size) throw new Error(`output '${name}' is ${got.type}[${got.dims.join(',')}], the tensor given for it ${into.type}[${into.dims.join(',')}]`);
      const a = got.data as Uint8Array, b = into.data as Uint8Array;
      new Uint8Array(b.buffer, b.byteOffset, b.byteLength).set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
      (res as Record<string, ort.Tensor>)[name] = into;
    }
    return res;
  };
  return session;
}
