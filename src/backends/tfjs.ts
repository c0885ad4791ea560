/**
 * The TensorFlow.js adapter: a partition (a standalone ONNX model) is imported with Tessera's own
 * importer and run node by node with tfjs ops (the kernels in tfjs-ops.ts). Values computed only
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
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { asTesseraError, TesseraError } from '../errors.js';
import type { DType } from '../ir/dtype.js';
import { opsetOf, topoOrder, type Attribute, type Graph, type Node } from '../ir/graph.js';
import { importOnnx } from '../ir/onnx-import.js';
import { bytesToNumbers } from '../ir/tensor-data.js';
import { weightBytes, weightElementCount } from '../ir/weight.js';
import type { Backend, Executable, Subgraph, Support } from './backend.js';
import { Tensor, tensorFromWeight, type TensorMap } from './tensor.js';
import { canon, KERNELS, toTf, type KernelContext, type Val } from './tfjs-ops.js';

// ---------------------------------------------------------------------------------------------
// the capability table

/** Limits on one attribute: any value, a set of values, or a set every element of a list must be in. */
export type AttrLimit =
  | { any: true; default?: number | string }
  | { oneOf: readonly (number | string)[]; default?: number | string }
  | { each: readonly number[] };

export interface OpCapability {
  /** Default-domain opset versions whose definition the kernel follows (inclusive). */
  opsets: readonly [number, number];
  /** dtypes every input and output may have, unless `inputs` / `outputs` say otherwise for a position. */
  dtypes: readonly DType[];
  inputs?: Readonly<Record<number, readonly DType[]>>;
  outputs?: Readonly<Record<number, readonly DType[]>>;
  /** Outputs it produces; a node asking for more (MaxPool's Indices, Dropout's mask) is refused. */
  maxOutputs?: number;
  /** Ranks of input 0 it takes. */
  ranks?: readonly number[];
  /** The attributes it understands, with the values it takes; a node with any other attribute is refused. */
  attrs?: Readonly<Record<string, AttrLimit>>;
  /** Attribute combinations: when every `when` attribute has that value (defaults included), `require` must hold. */
  combos?: readonly { when: Readonly<Record<string, number | string>>; require: Readonly<Record<string, readonly (number | string)[]>>; why: string }[];
  /** Inputs that must be absent, or constants with these values (Dropout's training_mode). */
  constInputs?: Readonly<Record<number, { values: readonly number[]; why: string }>>;
}

const F: readonly DType[] = ['float32'];
const I: readonly DType[] = ['int32', 'int64'];
const FI: readonly DType[] = ['float32', 'int32', 'int64'];
const FIB: readonly DType[] = ['float32', 'int32', 'int64', 'bool'];
const B: readonly DType[] = ['bool'];
const ANY = { any: true } as const;
const LATEST = 26; // the newest opset in the ONNX 1.20 node tests

const unaryF = (from = 6): OpCapability => ({ opsets: [from, LATEST], dtypes: F });
const binary = (dtypes: readonly DType[], from = 7): OpCapability => ({ opsets: [from, LATEST], dtypes });
const compare = (dtypes: readonly DType[]): OpCapability => ({ opsets: [7, LATEST], dtypes, outputs: { 0: B } });
const reduce = (dtypes: readonly DType[]): OpCapability => ({ opsets: [1, LATEST], dtypes, inputs: { 1: I }, attrs: { axes: ANY, keepdims: ANY, noop_with_empty_axes: ANY } });
const AUTO_PAD = { oneOf: ['NOTSET', 'SAME_UPPER', 'SAME_LOWER', 'VALID'] } as const;

/**
 * What the tfjs kernels take, as data (op → opsets, dtypes, attribute limits); `supports()` answers
 * from it and nothing else. The rule the tests hold it to: every ONNX node conformance test this
 * table accepts (and onnxruntime's CPU EP passes) passes on tfjs, within rtol 1e-3 / atol 1e-4.
 * Entries were narrowed by running them (`npx tsx bench/conformance.ts --backend tfjs`).
 */
export const TFJS_CAPABILITIES: Readonly<Record<string, OpCapability>> = {
  // elementwise, unary (float32)
  Relu: unaryF(),
  LeakyRelu: { ...unaryF(), attrs: { alpha: ANY } },
  Sigmoid: unaryF(),
  Tanh: unaryF(),
  Exp: unaryF(),
  Log: unaryF(),
  Sqrt: unaryF(),
  Reciprocal: unaryF(),
  Floor: unaryF(),
  Ceil: unaryF(),
  Round: unaryF(11),
  Sin: unaryF(7),
  Cos: unaryF(7),
  Tan: unaryF(7),
  Asin: unaryF(7),
  Acos: unaryF(7),
  Atan: unaryF(7),
  Sinh: unaryF(9),
  Cosh: unaryF(9),
  Asinh: unaryF(9),
  Acosh: unaryF(9),
  Atanh: unaryF(9),
  Erf: unaryF(9),
  Softplus: unaryF(1),
  Softsign: unaryF(1),
  Elu: { ...unaryF(), attrs: { alpha: ANY } },
  Selu: { ...unaryF(), attrs: { alpha: ANY, gamma: ANY } },
  Celu: { ...unaryF(12), attrs: { alpha: ANY } },
  HardSigmoid: { ...unaryF(), attrs: { alpha: ANY, beta: ANY } },
  HardSwish: unaryF(14),
  ThresholdedRelu: { ...unaryF(10), attrs: { alpha: ANY } },
  Mish: unaryF(18),
  Gelu: { ...unaryF(20), attrs: { approximate: { oneOf: ['none', 'tanh'] } } },
  Abs: { opsets: [6, LATEST], dtypes: FI },
  Neg: { opsets: [6, LATEST], dtypes: FI },
  Sign: { opsets: [9, LATEST], dtypes: FI },
  Not: { opsets: [1, LATEST], dtypes: B },
  IsNaN: { opsets: [9, LATEST], dtypes: F, outputs: { 0: B } },
  IsInf: { opsets: [10, LATEST], dtypes: F, outputs: { 0: B }, attrs: { detect_negative: { oneOf: [1] }, detect_positive: { oneOf: [1] } } },
  Clip: { opsets: [6, LATEST], dtypes: FI, attrs: { min: ANY, max: ANY } },
  Identity: { opsets: [1, LATEST], dtypes: FIB },
  Dropout: {
    opsets: [7, LATEST], dtypes: F, outputs: { 1: ['float32', 'bool'] }, inputs: { 1: F, 2: B }, attrs: { ratio: ANY, seed: ANY },
    constInputs: { 2: { values: [0], why: 'training_mode must be absent or false (inference only)' } },
  },
  // elementwise, binary and variadic
  Add: binary(FI),
  Sub: binary(FI),
  Mul: binary(FI),
  Div: binary(FI), // integer division truncates toward zero (tfjs's floors: corrected)
  Pow: { opsets: [7, LATEST], dtypes: F },
  Max: binary(FI, 8),
  Min: binary(FI, 8),
  Sum: binary(FI, 8),
  Mean: binary(F, 8),
  PRelu: binary(F),
  Equal: compare(FIB),
  Greater: compare(FI),
  Less: compare(FI),
  GreaterOrEqual: compare(FI),
  LessOrEqual: compare(FI),
  And: binary(B),
  Or: binary(B),
  Xor: binary(B),
  Mod: { opsets: [10, LATEST], dtypes: I, attrs: { fmod: { oneOf: [0] } } },
  Where: { opsets: [9, LATEST], dtypes: FIB, inputs: { 0: B } },
  // convolution, pooling, normalization
  Conv: { opsets: [1, LATEST], dtypes: F, ranks: [3, 4], attrs: { auto_pad: AUTO_PAD, dilations: ANY, group: ANY, kernel_shape: ANY, pads: ANY, strides: ANY } },
  ConvTranspose: {
    opsets: [1, LATEST], dtypes: F, ranks: [3, 4],
    attrs: { auto_pad: AUTO_PAD, dilations: { each: [1] }, group: ANY, kernel_shape: ANY, output_padding: ANY, output_shape: ANY, pads: ANY, strides: ANY },
  },
  MaxPool: {
    opsets: [1, LATEST], dtypes: F, ranks: [3, 4], maxOutputs: 1,
    attrs: { auto_pad: AUTO_PAD, ceil_mode: ANY, dilations: { each: [1] }, kernel_shape: ANY, pads: ANY, storage_order: ANY, strides: ANY },
  },
  AveragePool: {
    opsets: [1, LATEST], dtypes: F, ranks: [3, 4],
    attrs: { auto_pad: AUTO_PAD, ceil_mode: ANY, count_include_pad: ANY, dilations: { each: [1] }, kernel_shape: ANY, pads: ANY, strides: ANY },
  },
  GlobalAveragePool: { opsets: [1, LATEST], dtypes: F },
  GlobalMaxPool: { opsets: [1, LATEST], dtypes: F },
  BatchNormalization: { opsets: [7, LATEST], dtypes: F, maxOutputs: 1, attrs: { epsilon: ANY, momentum: ANY, spatial: { oneOf: [1] }, training_mode: { oneOf: [0] } } },
  InstanceNormalization: { opsets: [6, LATEST], dtypes: F, attrs: { epsilon: ANY } },
  LayerNormalization: { opsets: [17, LATEST], dtypes: F, attrs: { axis: ANY, epsilon: ANY, stash_type: { oneOf: [1] } } },
  RMSNormalization: { opsets: [23, LATEST], dtypes: F, attrs: { axis: ANY, epsilon: ANY, stash_type: { oneOf: [1] } } },
  LpNormalization: { opsets: [1, LATEST], dtypes: F, attrs: { axis: ANY, p: { oneOf: [1, 2] } } },
  LRN: { opsets: [1, LATEST], dtypes: F, ranks: [4], attrs: { alpha: ANY, beta: ANY, bias: ANY, size: ANY } },
  // matrix products
  MatMul: { opsets: [1, LATEST], dtypes: F },
  Gemm: { opsets: [7, LATEST], dtypes: F, attrs: { alpha: ANY, beta: ANY, transA: ANY, transB: ANY } },
  // shape and data movement
  Reshape: { opsets: [5, LATEST], dtypes: FIB, inputs: { 1: I }, attrs: { allowzero: ANY } },
  Flatten: { opsets: [1, LATEST], dtypes: FIB, attrs: { axis: ANY } },
  Squeeze: { opsets: [1, LATEST], dtypes: FIB, inputs: { 1: I }, attrs: { axes: ANY } },
  Unsqueeze: { opsets: [1, LATEST], dtypes: FIB, inputs: { 1: I }, attrs: { axes: ANY } },
  Transpose: { opsets: [1, LATEST], dtypes: FIB, attrs: { perm: ANY } },
  Concat: { opsets: [4, LATEST], dtypes: FIB, attrs: { axis: ANY } },
  Split: { opsets: [2, LATEST], dtypes: FIB, inputs: { 1: I }, attrs: { axis: ANY, split: ANY, num_outputs: ANY } },
  Slice: { opsets: [1, LATEST], dtypes: FIB, inputs: { 1: I, 2: I, 3: I, 4: I }, attrs: { axes: ANY, ends: ANY, starts: ANY } },
  Gather: { opsets: [1, LATEST], dtypes: FIB, inputs: { 1: I }, attrs: { axis: ANY } },
  Expand: { opsets: [8, LATEST], dtypes: FIB, inputs: { 1: I } },
  Tile: { opsets: [6, LATEST], dtypes: FIB, inputs: { 1: I } },
  Pad: { opsets: [2, LATEST], dtypes: FI, inputs: { 1: I, 3: I }, attrs: { mode: { oneOf: ['constant', 'reflect'], default: 'constant' }, pads: ANY, value: ANY } },
  DepthToSpace: { opsets: [1, LATEST], dtypes: FIB, ranks: [4], attrs: { blocksize: ANY, mode: { oneOf: ['DCR'] } } },
  Resize: {
    opsets: [11, LATEST], dtypes: F, inputs: { 3: I },
    attrs: {
      mode: { oneOf: ['nearest', 'linear'], default: 'nearest' },
      coordinate_transformation_mode: { oneOf: ['half_pixel', 'half_pixel_symmetric', 'pytorch_half_pixel', 'align_corners', 'asymmetric'], default: 'half_pixel' },
      nearest_mode: { oneOf: ['round_prefer_floor', 'round_prefer_ceil', 'floor', 'ceil'], default: 'round_prefer_floor' },
      cubic_coeff_a: ANY, exclude_outside: { oneOf: [0] }, extrapolation_value: ANY, antialias: { oneOf: [0] }, axes: ANY,
      keep_aspect_ratio_policy: { oneOf: ['stretch'] },
    },
  },
  Upsample: { opsets: [7, 9], dtypes: F, attrs: { mode: { oneOf: ['nearest', 'linear'] }, scales: ANY } },
  // reductions, softmax, arg
  ReduceMean: reduce(F),
  ReduceSum: reduce(FI),
  ReduceMax: reduce(FI),
  ReduceMin: reduce(FI),
  ReduceProd: reduce(FI),
  ReduceL1: reduce(F),
  ReduceL2: reduce(F),
  ReduceSumSquare: reduce(F),
  ReduceLogSum: reduce(F),
  ReduceLogSumExp: reduce(F),
  Softmax: { opsets: [1, LATEST], dtypes: F, attrs: { axis: ANY } },
  LogSoftmax: { opsets: [1, LATEST], dtypes: F, attrs: { axis: ANY } },
  ArgMax: { opsets: [1, LATEST], dtypes: FI, outputs: { 0: ['int64'] }, attrs: { axis: ANY, keepdims: ANY, select_last_index: ANY } },
  ArgMin: { opsets: [1, LATEST], dtypes: FI, outputs: { 0: ['int64'] }, attrs: { axis: ANY, keepdims: ANY, select_last_index: ANY } },
  CumSum: { opsets: [11, LATEST], dtypes: FI, inputs: { 1: I }, attrs: { exclusive: ANY, reverse: ANY } },
  // constants and shapes
  Constant: { opsets: [1, LATEST], dtypes: FIB, attrs: { value: ANY, value_float: ANY, value_floats: ANY, value_int: ANY, value_ints: ANY } },
  ConstantOfShape: { opsets: [9, LATEST], dtypes: FIB, inputs: { 0: I }, attrs: { value: ANY } },
  Shape: { opsets: [1, LATEST], dtypes: FIB, outputs: { 0: ['int64'] }, attrs: { start: ANY, end: ANY } },
  Size: { opsets: [1, LATEST], dtypes: FIB, outputs: { 0: ['int64'] } },
  Cast: { opsets: [6, LATEST], dtypes: FIB, attrs: { to: { oneOf: [1, 6, 7, 9] }, saturate: ANY } },
  CastLike: { opsets: [15, LATEST], dtypes: FIB, attrs: { saturate: ANY } },
  Trilu: { opsets: [14, LATEST], dtypes: FIB, inputs: { 1: I }, attrs: { upper: ANY } },
  Shrink: { opsets: [9, LATEST], dtypes: F, attrs: { bias: ANY, lambd: ANY } },
  Range: { opsets: [11, LATEST], dtypes: FI },
};

// ---------------------------------------------------------------------------------------------
// supports(): from the table only

function attrValue(a: Attribute): number | string | number[] | undefined {
  if (a.type === 'int' || a.type === 'float' || a.type === 'string') return a.value;
  if (a.type === 'ints' || a.type === 'floats') return a.value;
  return undefined;
}

/** A constant input's numbers (an initializer, or a value inference folded), if known. */
function constNumbers(graph: Graph, name: string): number[] | undefined {
  const known = (graph as Graph & { known?: ReadonlyMap<string, { data: number[] }> }).known?.get(name);
  if (known) return known.data;
  const v = graph.values.get(name);
  const w = v?.role === 'initializer' ? v.initializer : undefined;
  if (!w || w.source.kind === 'strings') return undefined;
  return bytesToNumbers(w.dtype, weightBytes(w), weightElementCount(w));
}

export function tfjsSupports(node: Node, graph: Graph, table: Readonly<Record<string, OpCapability>> = TFJS_CAPABILITIES): Support {
  const no = (why: string): Support => ({ ok: false, reason: `tfjs: ${node.op}: ${why}` });
  if (node.domain !== '' && node.domain !== 'ai.onnx') return { ok: false, reason: `tfjs: domain '${node.domain}' has no tfjs mapping` };
  const cap = table[node.op];
  if (!cap) return no('no tfjs mapping');
  const opset = opsetOf(graph, '');
  if (opset < cap.opsets[0] || opset > cap.opsets[1]) return no(`mapped for opsets ${cap.opsets[0]}–${cap.opsets[1]}, the model imports ${opset}`);
  for (const [name, a] of Object.entries(node.attrs)) {
    const limit = cap.attrs?.[name];
    if (!limit) return no(`attribute '${name}' is not mapped`);
    const value = attrValue(a);
    if ('oneOf' in limit && !limit.oneOf.includes(value as number | string)) return no(`${name}=${JSON.stringify(value)} (takes ${limit.oneOf.join(', ')})`);
    if ('each' in limit && !(Array.isArray(value) && value.every((x) => limit.each.includes(x)))) return no(`${name}=${JSON.stringify(value)} (takes only ${limit.each.join(', ')})`);
  }
  for (const c of cap.combos ?? []) {
    const val = (k: string) => {
      const a = node.attrs[k];
      if (a) return attrValue(a);
      const l = cap.attrs?.[k];
      return l && 'default' in l ? l.default : undefined;
    };
    if (!Object.entries(c.when).every(([k, v]) => val(k) === v)) continue;
    for (const [k, allowed] of Object.entries(c.require)) if (!allowed.includes(val(k) as number | string)) return no(`${k}=${JSON.stringify(val(k))}: ${c.why}`);
  }
  const outputs = node.outputs.filter((o) => o !== '').length;
  if (cap.maxOutputs !== undefined && outputs > cap.maxOutputs) return no(`only ${cap.maxOutputs} output(s) are produced (the node asks for ${outputs})`);
  const check = (name: string, allowed: readonly DType[]): Support | null => {
    const v = graph.values.get(name);
    if (!v?.dtype) return no(`value '${name}' is not a tensor of a known type`);
    if (!allowed.includes(v.dtype)) return no(`value '${name}' is ${v.dtype} (takes ${allowed.join(', ')})`);
    return null;
  };
  for (const [i, name] of node.inputs.entries()) {
    if (name === '') continue;
    const bad = check(name, cap.inputs?.[i] ?? cap.dtypes);
    if (bad) return bad;
    const ci = cap.constInputs?.[i];
    if (ci) {
      const nums = constNumbers(graph, name);
      if (!nums || !nums.every((x) => ci.values.includes(x))) return no(ci.why);
    }
  }
  for (const [i, name] of node.outputs.entries()) {
    if (name === '') continue;
    const bad = check(name, cap.outputs?.[i] ?? cap.dtypes);
    if (bad) return bad;
  }
  if (cap.ranks) {
    const shape = graph.values.get(node.inputs[0])?.shape;
    if (!shape) return no('input rank not known');
    if (!cap.ranks.includes(shape.length)) return no(`input rank ${shape.length} (takes ${cap.ranks.join(', ')})`);
  }
  return { ok: true };
}

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
      const require = createRequire(import.meta.url);
      const dist = dirname(require.resolve('@tensorflow/tfjs-backend-wasm'));
      tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
      wasm.setWasmPaths(`${dist}/`);
      const before = { u: process.listeners('uncaughtException'), r: process.listeners('unhandledRejection') };
      let ok = false;
      try {
        ok = await tf.setBackend('wasm');
      } finally {
        for (const l of process.listeners('uncaughtException')) if (!before.u.includes(l)) process.removeListener('uncaughtException', l);
        for (const l of process.listeners('unhandledRejection')) if (!before.r.includes(l)) process.removeListener('unhandledRejection', l);
      }
      if (ok) return done('tfjs-backend-wasm', `tfjs-backend-wasm ${wasm.version_wasm}, one thread, SIMD, .wasm read from node_modules`);
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
