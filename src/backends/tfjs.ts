/**
 * The TensorFlow.js adapter: a partition (a standalone ONNX model) is imported with Tessera's own
 * importer and run node by node with tfjs ops (the kernels in tfjs-kernels.ts). Values computed only
 * from weights (the light/ models' ConstantOfShape weights, Constant nodes, shape arithmetic) are
 * folded once at compile time and kept in the engine, with the forms the kernels derive from them
 * (a Conv weight in HWIO order, BatchNormalization's folded scale and shift); a run uploads the
 * partition's inputs, runs the remaining nodes inside one `tf.tidy` (every intermediate tensor is
 * disposed when it ends) and reads the outputs back.
 *
 * Engine: `@tensorflow/tfjs-node` when it can be imported (it cannot be installed here: its install
 * downloads libtensorflow), otherwise `@tensorflow/tfjs-backend-wasm`, otherwise
 * `@tensorflow/tfjs-backend-cpu` (plain JavaScript). `TfjsBackend.engine` says which one runs.
 *
 * Loading tfjs-backend-wasm under Node without any network: the package's Node build
 * (dist/tf-backend-wasm.node.js) would find its .wasm next to itself through `__dirname`, which holds
 * only while it is loaded from node_modules unbundled; `setWasmPaths` is given the package's dist
 * directory as a file path (resolved with require.resolve), so the binary is read from disk with
 * `fs` — never fetched — wherever this module ends up. `WASM_HAS_MULTITHREAD_SUPPORT` is set to
 * false: the threaded build starts worker threads from blob URLs, and on a 2-core host a second
 * thread only competes with onnxruntime's pool (as onnxruntime-web is kept to one thread); the
 * single-threaded SIMD build is used. Its Emscripten glue also installs process-wide
 * 'uncaughtException' and 'unhandledRejection' listeners that rethrow (turning any unhandled
 * rejection anywhere in the process into a crash); they are removed again right after it loads.
 */
import * as tf from '@tensorflow/tfjs-core';
import { asTesseraError, TesseraError } from '../errors.js';
import type { DType } from '../ir/dtype.js';
import { opsetOf, topoOrder, type Graph, type Node } from '../ir/graph.js';
import { importOnnx } from '../ir/onnx-import.js';
import type { Backend, Executable, Subgraph, Support } from './backend.js';
import { tfjsWasmPath, withoutNewProcessListeners } from './engine-files.js';
import { Tensor, tensorFromWeight, type TensorMap } from './tensor.js';
import { TFJS_CAPABILITIES, tfjsSupports, type OpCapability } from './tfjs-capabilities.js';
import { canon, KERNELS, toTf, type KernelContext, type Val } from './tfjs-kernels.js';

// ---------------------------------------------------------------------------------------------
// the engine

export type TfjsEngine = 'tfjs-node' | 'tfjs-backend-wasm' | 'tfjs-backend-cpu';

let engine: Promise<TfjsEngine> | undefined;
let engineName: TfjsEngine | undefined;
let engineNote = '';

/** Picks and initializes the tfjs engine once per process: tfjs-node, else wasm, else cpu. */
export function initTfjs(): Promise<TfjsEngine> {
  engine ??= (async (): Promise<TfjsEngine> => {
    const notes: string[] = [];
    try {
      const name = '@tensorflow/tfjs-node'; // not a dependency: used when the host has it
      await import(name);
      if (await tf.setBackend('tensorflow')) return done('tfjs-node', 'tfjs-node (libtensorflow)');
      notes.push('tfjs-node imported but its backend did not initialize');
    } catch {
      notes.push('@tensorflow/tfjs-node is not installed');
    }
    try {
      const wasm = await import('@tensorflow/tfjs-backend-wasm');
      tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
      wasm.setWasmPaths(tfjsWasmPath());
      const ok = await withoutNewProcessListeners(() => tf.setBackend('wasm'));
      if (ok) return done('tfjs-backend-wasm', `tfjs-backend-wasm ${wasm.version_wasm}, one thread, SIMD, .wasm from ${tfjsWasmPath()}`);
      notes.push('tfjs-backend-wasm did not initialize');
    } catch (err) {
      notes.push(`tfjs-backend-wasm failed: ${err instanceof Error ? err.message : String(err)}`);
    }
    await import('@tensorflow/tfjs-backend-cpu');
    if (!(await tf.setBackend('cpu'))) throw new TesseraError('BACKEND_UNAVAILABLE', `tfjs: no engine initialized (${notes.join('; ')})`);
    return done('tfjs-backend-cpu', `tfjs-backend-cpu (plain JavaScript): ${notes.join('; ')}`);
  })();
  return engine;
}

function done(name: TfjsEngine, note: string): TfjsEngine {
  engineName = name;
  engineNote = note;
  return name;
}

// ---------------------------------------------------------------------------------------------
// compile and run

const ORT_OF: Partial<Record<DType, (n: number) => Tensor['data']>> = {
  float32: (n) => new Float32Array(n),
  int32: (n) => new Int32Array(n),
  int64: (n) => new BigInt64Array(n),
  bool: (n) => new Uint8Array(n),
};

/** A value read back into an onnxruntime tensor of the ONNX dtype (or into a preallocated one). */
function readOut(v: Val, dtype: DType, name: string, where: string, into?: Tensor): Tensor {
  const t = canon(v);
  const src = t.dataSync() as Float32Array | Int32Array | Uint8Array;
  const dims = [...t.shape];
  const out = into ?? new Tensor(dtype as 'float32', ORT_OF[dtype]?.(src.length) as Float32Array ?? fail(where, `output '${name}' is ${dtype}`), dims);
  if (out.type !== dtype || out.size !== src.length) {
    throw new TesseraError('BACKEND_FAILED', `tfjs running ${where}: output '${name}' is ${dtype}[${dims.join(',')}], but the buffer given for it is ${out.type}[${out.dims.join(',')}]`);
  }
  if (dtype === 'int64') {
    const d = out.data as BigInt64Array;
    for (let i = 0; i < src.length; i++) d[i] = BigInt(src[i]);
  } else (out.data as Float32Array | Int32Array | Uint8Array).set(src);
  return out;
}

function fail(where: string, why: string): never {
  throw new TesseraError('BACKEND_FAILED', `tfjs running ${where}: ${why}`);
}

/** Executes the nodes in order, each through its kernel; outputs land in `env`. */
function execNode(ctx: KernelContext, node: Node, env: Map<string, Val>): void {
  const kernel = KERNELS[node.op];
  if (!kernel) throw new TesseraError('BACKEND_FAILED', `tfjs: no kernel for ${node.op} (node '${node.name}')`);
  const ins = node.inputs.map((n) => {
    if (n === '') return null;
    const v = env.get(n);
    if (!v) throw new TesseraError('INTERNAL', `tfjs: value '${n}' read by '${node.name}' was not computed`);
    return v;
  });
  const outs = kernel(ctx, node, ins);
  node.outputs.forEach((o, j) => {
    if (o !== '' && outs[j]) env.set(o, outs[j]!);
  });
}

class TfjsExecutable implements Executable {
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  private disposed = false;

  constructor(
    private readonly part: Subgraph,
    private readonly graph: Graph,
    /** Values known at compile time (weights and what is computed from them only), kept in the engine. */
    private readonly constants: Map<string, Val>,
    private readonly runtime: readonly Node[],
    private readonly ctx: KernelContext,
    private readonly cache: Map<string, tf.Tensor>,
  ) {
    this.inputs = part.inputs;
    this.outputs = part.outputs;
  }

  async run(feeds: TensorMap, into?: TensorMap): Promise<TensorMap> {
    if (this.disposed) throw new TesseraError('BACKEND_FAILED', `tfjs: ${this.part.name} was disposed`);
    const out: TensorMap = {};
    try {
      // synchronous from upload to read-back: concurrent runs cannot interleave inside the engine
      tf.tidy(() => {
        const env = new Map(this.constants);
        for (const name of this.part.inputs) {
          if (env.has(name)) continue;
          const t = feeds[name];
          if (!t) throw new TesseraError('MISSING_FEED', `tfjs: ${this.part.name}: no feed for '${name}'`);
          env.set(name, toTf(t));
        }
        for (const node of this.runtime) execNode(this.ctx, node, env);
        for (const name of this.part.outputs) {
          const v = env.get(name);
          if (!v) throw new TesseraError('INTERNAL', `tfjs: output '${name}' of ${this.part.name} was not computed`);
          const dtype = this.graph.values.get(name)?.dtype ?? v.dtype;
          out[name] = readOut(v, dtype, name, this.part.name, into?.[name]);
        }
      });
    } catch (err) {
      throw asTesseraError(err, 'BACKEND_FAILED', `tfjs (${engineName}) failed running ${this.part.name}`);
    }
    return out;
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    const all = new Set<tf.Tensor>(this.cache.values());
    for (const v of this.constants.values()) {
      all.add(v.t);
      for (const f of v.forms?.values() ?? []) all.add(f);
    }
    for (const t of all) t.dispose();
    this.cache.clear();
    this.constants.clear();
  }
}

export class TfjsBackend implements Backend {
  readonly id = 'tfjs';
  private probe: Promise<boolean> | undefined;

  constructor(readonly capabilities: Readonly<Record<string, OpCapability>> = TFJS_CAPABILITIES) {}

  /** The engine running the ops ('tfjs-backend-wasm' here), once available() or compile() has run. */
  get engine(): TfjsEngine | undefined {
    return engineName;
  }

  /** In words: which engine, and why not a faster one. */
  get detail(): string {
    return engineNote || 'tfjs (engine not initialized yet)';
  }

  available(): Promise<boolean> {
    this.probe ??= initTfjs().then(() => true, () => false);
    return this.probe;
  }

  supports(node: Node, graph: Graph): Support {
    return tfjsSupports(node, graph, this.capabilities);
  }

  async compile(part: Subgraph): Promise<Executable> {
    await initTfjs();
    let graph: Graph;
    try {
      graph = importOnnx(part.onnx); // no path: raw_data must stay views of these bytes, not references into a file
    } catch (err) {
      throw new TesseraError('BACKEND_FAILED', `tfjs could not load ${part.name}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
    const order = topoOrder(graph);
    if (!order) throw new TesseraError('BACKEND_FAILED', `tfjs: ${part.name} has a cycle`);
    for (const node of graph.nodes) {
      if (!KERNELS[node.op] || (node.domain !== '' && node.domain !== 'ai.onnx')) {
        throw new TesseraError('BACKEND_FAILED', `tfjs has no kernel for ${node.domain ? `${node.domain}:` : ''}${node.op} (node '${node.name}' of ${part.name})`);
      }
    }
    const cache = new Map<string, tf.Tensor>();
    const ctx: KernelContext = {
      opset: opsetOf(graph, ''),
      cached(key, constant, make) {
        if (!constant) return make();
        let t = cache.get(key);
        if (!t) {
          t = tf.keep(make());
          cache.set(key, t);
        }
        return t;
      },
    };
    const constants = new Map<string, Val>();
    const runtime: Node[] = [];
    const inputs = new Set(part.inputs);
    try {
      for (const v of graph.values.values()) {
        if (v.role !== 'initializer' || inputs.has(v.name)) continue;
        const val = toTf(tensorFromWeight(v.initializer!));
        val.constant = true;
        constants.set(v.name, val);
      }
      // fold: a node reading only constants runs now, once
      for (const i of order) {
        const node = graph.nodes[i];
        if (node.inputs.every((n) => n === '' || constants.has(n))) {
          tf.tidy(() => {
            const env = new Map(constants);
            execNode(ctx, node, env);
            for (const o of node.outputs) {
              const v = o && env.get(o);
              if (!v) continue;
              tf.keep(v.t);
              constants.set(o, { ...v, constant: true, forms: undefined });
            }
          });
        } else runtime.push(node);
      }
    } catch (err) {
      for (const t of cache.values()) t.dispose();
      for (const v of constants.values()) v.t.dispose();
      throw asTesseraError(err, 'BACKEND_FAILED', `tfjs could not compile ${part.name}`);
    }
    return new TfjsExecutable(part, graph, constants, runtime, ctx, cache);
  }
}
