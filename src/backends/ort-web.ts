/**
 * The onnxruntime-web adapter: a partition (a standalone ONNX model) runs on onnxruntime-web's
 * WebAssembly backend, here under Node — the engine a browser build of Tessera would use.
 *
 * Loading it under Node: its ESM subpaths (`onnxruntime-web/wasm`, `/all`, `/webgpu`) resolve to the
 * browser bundles (`ort.wasm.bundle.min.mjs`, …). With more than one wasm thread they `fetch` their own
 * script to start workers, and fetch of a file: URL fails under Node ("no available backend found.
 * ERR: [wasm] TypeError: fetch failed", seen with 1.30.0 on Node 20); with one thread they happen to
 * load. Its main entry, `onnxruntime-web`, resolves through the package's `node` export condition to
 * `dist/ort.node.min.mjs`, which registers the wasm backend and imports `ort-wasm-simd-threaded.mjs`
 * from its own directory with Node's loader (two threads work there too); that is what we import. To
 * be sure nothing is fetched, the .wasm binary (shipped inside the npm package) is read from disk and
 * handed over as `env.wasm.wasmBinary` before the first session is created (engine-files.ts; the browser
 * bundle fetches it from the page's server instead, engine-files.browser.ts).
 *
 * Its `Tensor` is not ours: onnxruntime-web imports onnxruntime-common as ESM while onnxruntime-node
 * loads it as CommonJS, so the two are separate copies of the class (`instanceof` fails across them).
 * Tensors are converted at the boundary (type, data, dims) in both directions.
 */
import { createHash } from 'node:crypto';
import * as ortWeb from 'onnxruntime-web';
import { asTesseraError, TesseraError } from '../errors.js';
import type { Graph, Node } from '../ir/graph.js';
import type { Backend, Executable, Subgraph, Support } from './backend.js';
import { configureOrtWeb } from './engine-files.js';
import { Tensor, type TensorMap } from './tensor.js';
import { WASM_CAPABILITIES, wasmSupports, type WasmCapabilities } from './wasm-capabilities.js';

let initialized: Promise<void> | undefined;

/** Configures onnxruntime-web once (engine-files.ts: its .wasm and threads, under Node and in a browser). */
function init(): Promise<void> {
  initialized ??= (async () => {
    configureOrtWeb(ortWeb.env);
    ortWeb.env.logLevel = 'error';
  })();
  return initialized;
}

function toWeb(t: Tensor): ortWeb.Tensor {
  return new ortWeb.Tensor(t.type as 'float32', t.data as Float32Array, [...t.dims]);
}

function fromWeb(t: ortWeb.Tensor): Tensor {
  return new Tensor(t.type as 'float32', t.data as Float32Array, [...t.dims]);
}

/** Copies an output into a preallocated tensor (an arena view): same type and element count. */
function copyInto(src: ortWeb.Tensor, dst: Tensor, name: string, where: string): Tensor {
  if (src.type !== dst.type || src.size !== dst.size) {
    throw new TesseraError('BACKEND_FAILED', `onnxruntime-web (wasm) running ${where}: output '${name}' is ${src.type}[${src.dims.join(',')}], but the buffer given for it is ${dst.type}[${dst.dims.join(',')}]`);
  }
  if (src.type === 'string') {
    const d = dst.data as string[];
    (src.data as string[]).forEach((s, i) => (d[i] = s));
    return dst;
  }
  const s = src.data as Exclude<ortWeb.Tensor['data'], string[]>;
  const d = dst.data as Exclude<Tensor['data'], string[]>;
  new Uint8Array(d.buffer, d.byteOffset, d.byteLength).set(new Uint8Array(s.buffer, s.byteOffset, s.byteLength));
  return dst;
}

export class OrtWebBackend implements Backend {
  readonly id = 'ort-web:wasm';
  private readonly cache = new Map<string, { session: Promise<ortWeb.InferenceSession>; users: number }>();
  private probe: Promise<boolean> | undefined;

  constructor(readonly capabilities: WasmCapabilities = WASM_CAPABILITIES) {}

  available(): Promise<boolean> {
    this.probe ??= (async () => {
      try {
        await init();
        return typeof WebAssembly === 'object' && ortWeb.env.versions.web !== undefined;
      } catch {
        return false;
      }
    })();
    return this.probe;
  }

  supports(node: Node, graph: Graph): Support {
    return wasmSupports(node, graph, this.capabilities);
  }

  async compile(part: Subgraph): Promise<Executable> {
    await init();
    const key = createHash('sha256').update(part.onnx).digest('hex');
    let entry = this.cache.get(key);
    if (!entry) {
      const session = ortWeb.InferenceSession.create(part.onnx, { executionProviders: ['wasm'], logSeverityLevel: 4 }).catch((err: unknown) => {
        throw asTesseraError(err, 'BACKEND_FAILED', `onnxruntime-web (wasm) could not load ${part.name}`);
      });
      entry = { session, users: 0 };
      this.cache.set(key, entry);
      session.catch(() => this.cache.delete(key));
    }
    entry.users++;
    const session = await entry.session;
    let disposed = false;
    return {
      inputs: part.inputs,
      outputs: part.outputs,
      run: async (feeds, into) => {
        let res: ortWeb.InferenceSession.ReturnType;
        try {
          const webFeeds: Record<string, ortWeb.Tensor> = {};
          for (const [k, t] of Object.entries(feeds)) webFeeds[k] = toWeb(t);
          res = await session.run(webFeeds, [...part.outputs]);
        } catch (err) {
          throw asTesseraError(err, 'BACKEND_FAILED', `onnxruntime-web (wasm) failed running ${part.name}`);
        }
        const out: TensorMap = {};
        for (const name of part.outputs) {
          const t = res[name];
          out[name] = into?.[name] ? copyInto(t, into[name], name, part.name) : fromWeb(t);
        }
        return out;
      },
      dispose: async () => {
        if (disposed) return;
        disposed = true;
        if (--entry!.users === 0) {
          this.cache.delete(key);
          await session.release();
        }
      },
    };
  }
}
