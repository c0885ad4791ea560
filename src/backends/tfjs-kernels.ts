/**
 * ONNX ops as TensorFlow.js ops: one kernel per op type, each following the ONNX operator's
 * definition for the opsets the capability table (TFJS_CAPABILITIES in tfjs-capabilities.ts) names. What a kernel
 * cannot match exactly the table refuses; a kernel never guesses.
 *
 * Layout. tfjs's convolutions and pools take NHWC, ONNX models are NCHW. Rather than a transpose
 * around every op, each value carries the permutation it is stored in (`perm`: stored axis j holds
 * logical axis perm[j]; null = stored as ONNX has it). Convs and pools produce NHWC values
 * (perm [0,2,3,1]); elementwise ops, BatchNormalization, Concat, Slice, Split, Pad, reductions with
 * keepdims, Softmax and the global pools work on whatever layout their input has, mapping their axes;
 * Transpose only changes the recorded permutation. Ops that depend on the logical element order
 * (Reshape, Flatten, Gather, MatMul, …) take the canonical form. A value's other forms are made once
 * and remembered on the value (`forms`), so a partition input read by four convs is transposed once,
 * and outputs are turned back to NCHW once, at the end.
 *
 * dtypes: tfjs holds float32, int32 and bool. int64 values live as int32 (clamped to its range) and
 * are widened back at the partition's outputs; `dtype` keeps the ONNX type.
 */
import * as tf from '@tensorflow/tfjs-core';
import { dtypeFromOnnx, type DType } from '../ir/dtype.js';
import type { Attribute, Node } from '../ir/graph.js';
import { TesseraError } from '../errors.js';
import { tensorFromWeight, type Tensor } from './tensor.js';

export interface Val {
  /** The tensor as stored (permuted by `perm`). */
  t: tf.Tensor;
  /** Stored axis j holds logical axis perm[j]; null when stored in ONNX's own order. */
  perm: number[] | null;
  /** The ONNX dtype (int64 values are held as int32). */
  dtype: DType;
  /** Computed once at compile time: kept across runs (its derived forms too). */
  constant: boolean;
  /** Other layouts and host copies of this value, made once. */
  forms?: Map<string, tf.Tensor>;
  host?: number[];
}

export interface KernelContext {
  /** Default-domain opset of the model. */
  readonly opset: number;
  /** Remember a tensor derived from constant inputs across runs (the weight in HWIO order, BatchNormalization's folded scale…). */
  cached(key: string, constant: boolean, make: () => tf.Tensor): tf.Tensor;
}

export type Kernel = (ctx: KernelContext, node: Node, ins: (Val | null)[]) => (Val | null)[];

// ---------------------------------------------------------------------------------------------
// values and layouts

const NHWC = [0, 2, 3, 1];

export function tfDtype(d: DType): 'float32' | 'int32' | 'bool' {
  if (d === 'float32') return 'float32';
  if (d === 'bool') return 'bool';
  if (d === 'int32' || d === 'int64') return 'int32';
  throw new TesseraError('BACKEND_FAILED', `tfjs holds no ${d} tensors`);
}

const I32_MIN = -2147483648, I32_MAX = 2147483647;
const clampI32 = (x: number) => (x < I32_MIN ? I32_MIN : x > I32_MAX ? I32_MAX : x);

/** An onnxruntime tensor as a tfjs tensor (copied into the engine); int64 clamped to int32. */
export function toTf(t: Tensor): Val {
  const dims = [...t.dims];
  const d = t.type as DType;
  let out: tf.Tensor;
  switch (d) {
    case 'float32': out = tf.tensor(t.data as Float32Array, dims, 'float32'); break;
    case 'int32': out = tf.tensor(t.data as Int32Array, dims, 'int32'); break;
    case 'int64': {
      const src = t.data as BigInt64Array;
      const a = new Int32Array(src.length);
      for (let i = 0; i < src.length; i++) {
        const x = src[i];
        a[i] = x > 2147483647n ? I32_MAX : x < -2147483648n ? I32_MIN : Number(x);
      }
      out = tf.tensor(a, dims, 'int32');
      break;
    }
    case 'bool': out = tf.tensor(t.data as Uint8Array, dims, 'bool'); break;
    default: throw new TesseraError('BACKEND_FAILED', `tfjs cannot take a ${d} tensor`);
  }
  return { t: out, perm: null, dtype: d, constant: false };
}

const isIdentity = (p: readonly number[]) => p.every((a, i) => a === i);
const norm = (p: number[] | null): number[] | null => (p && !isIdentity(p) ? p : null);
export const invert = (p: readonly number[]) => {
  const q: number[] = [];
  p.forEach((a, j) => (q[a] = j));
  return q;
};

function form(v: Val, key: string, make: () => tf.Tensor): tf.Tensor {
  v.forms ??= new Map();
  let t = v.forms.get(key);
  if (!t) {
    t = make();
    if (v.constant) tf.keep(t);
    v.forms.set(key, t);
  }
  return t;
}

/** The tensor in ONNX's own axis order. */
export function canon(v: Val): tf.Tensor {
  if (!v.perm) return v.t;
  const p = v.perm;
  return form(v, 'canon', () => tf.transpose(v.t, invert(p)));
}

/** The tensor stored in layout `target` (stored axis j = logical axis target[j]). */
export function inLayout(v: Val, target: readonly number[]): tf.Tensor {
  const s = v.perm ?? v.t.shape.map((_, i) => i);
  if (s.every((a, i) => a === target[i])) return v.t;
  if (isIdentity(target)) return canon(v);
  const invS = invert(s);
  return form(v, `perm:${target.join(',')}`, () => tf.transpose(v.t, target.map((a) => invS[a])));
}

/** The logical (ONNX) shape. */
export function logicalShape(v: Val): number[] {
  if (!v.perm) return [...v.t.shape];
  const out: number[] = [];
  v.perm.forEach((a, j) => (out[a] = v.t.shape[j]));
  return out;
}

/** Stored axis of a logical axis. */
const storedAxis = (v: Val, a: number) => (v.perm ? v.perm.indexOf(a) : a);

/** The contents as numbers (shapes, indices, scales): read once per value. */
export function host(v: Val): number[] {
  v.host ??= Array.from(canon(v).dataSync() as ArrayLike<number>, Number);
  return v.host;
}

const make = (t: tf.Tensor, dtype: DType, perm: number[] | null = null): Val => ({ t, perm: norm(perm), dtype, constant: false });

/**
 * tf.where for every dtype: tfjs-backend-wasm 4.22's Select kernel reads and writes float32 only, so
 * it returns garbage for int32 and bool operands; those are blended arithmetically / logically here.
 */
export function select(c: tf.Tensor, a: tf.Tensor, b: tf.Tensor): tf.Tensor {
  if (a.dtype === 'float32') return tf.where(c, a, b);
  if (a.dtype === 'bool') return tf.logicalOr(tf.logicalAnd(c, a), tf.logicalAnd(tf.logicalNot(c), b));
  const ci = tf.cast(c, 'int32');
  return tf.add(tf.mul(a, ci), tf.mul(b, tf.sub(tf.scalar(1, 'int32'), ci)));
}

/** Inputs of an elementwise op in one layout: that of a permuted input of the highest rank, if any. */
function aligned(vals: Val[]): { ts: tf.Tensor[]; perm: number[] | null } {
  const rank = Math.max(...vals.map((v) => v.t.rank));
  const lead = vals.find((v) => v.perm && v.t.rank === rank);
  if (!lead) return { ts: vals.map(canon), perm: null };
  const p = lead.perm!;
  const key = `bcast:${rank}:${p.join(',')}`;
  const ts = vals.map((v) => {
    if (v.perm && v.t.rank === rank && v.perm.every((a, i) => a === p[i])) return v.t;
    if (v.t.rank === 0) return v.t;
    return form(v, key, () => {
      const c = canon(v);
      const e = c.rank < rank ? tf.reshape(c, [...new Array<number>(rank - c.rank).fill(1), ...c.shape]) : c;
      return tf.transpose(e, p);
    });
  });
  return { ts, perm: p };
}

// ---------------------------------------------------------------------------------------------
// attributes

function attr(node: Node, name: string): Attribute | undefined {
  return node.attrs[name];
}
export function attrInt(node: Node, name: string, def: number): number {
  const a = attr(node, name);
  return a && a.type === 'int' ? a.value : def;
}
export function attrFloat(node: Node, name: string, def: number): number {
  const a = attr(node, name);
  return a && (a.type === 'float' || a.type === 'int') ? a.value : def;
}
export function attrInts(node: Node, name: string): number[] | undefined {
  const a = attr(node, name);
  return a && a.type === 'ints' ? [...a.value] : undefined;
}
export function attrFloats(node: Node, name: string): number[] | undefined {
  const a = attr(node, name);
  return a && a.type === 'floats' ? [...a.value] : undefined;
}
export function attrString(node: Node, name: string, def: string): string {
  const a = attr(node, name);
  return a && a.type === 'string' ? a.value : def;
}

const fail = (node: Node, why: string): never => {
  throw new TesseraError('BACKEND_FAILED', `tfjs: ${node.op} '${node.name}': ${why}`);
};
const normAxis = (a: number, rank: number) => (a < 0 ? a + rank : a);
const prod = (xs: readonly number[]) => xs.reduce((a, b) => a * b, 1);

/** An optional input's host numbers, or an attribute's, depending on the opset that moved it. */
function intsFrom(node: Node, ins: (Val | null)[], index: number, attrName: string): number[] | undefined {
  const v = ins[index];
  if (v) return host(v);
  return attrInts(node, attrName);
}

// ---------------------------------------------------------------------------------------------
// elementwise

function unary(f: (x: tf.Tensor, node: Node) => tf.Tensor, outDtype?: DType): Kernel {
  return (_ctx, node, [x]) => [make(f(x!.t, node), outDtype ?? x!.dtype, x!.perm)];
}

function binary(f: (a: tf.Tensor, b: tf.Tensor) => tf.Tensor, outDtype?: DType): Kernel {
  return (_ctx, _node, ins) => {
    const vals = ins.filter((v): v is Val => v !== null);
    const { ts, perm } = aligned(vals);
    let acc = ts[0];
    for (let i = 1; i < ts.length; i++) acc = f(acc, ts[i]);
    return [make(acc, outDtype ?? vals[0].dtype, perm)];
  };
}

const scalarLike = (x: tf.Tensor, n: number) => tf.scalar(n, x.dtype as 'float32');

function clip(_ctx: KernelContext, node: Node, ins: (Val | null)[]): (Val | null)[] {
  const x = ins[0]!;
  let lo: number, hi: number;
  if (_ctx.opset >= 11) {
    lo = ins[1] ? host(ins[1])[0] : -Infinity;
    hi = ins[2] ? host(ins[2])[0] : Infinity;
  } else {
    lo = attrFloat(node, 'min', -3.4028234663852886e38);
    hi = attrFloat(node, 'max', 3.4028234663852886e38);
  }
  let t = x.t;
  if (lo > -Infinity) t = tf.maximum(t, scalarLike(t, lo));
  if (hi < Infinity) t = tf.minimum(t, scalarLike(t, hi));
  if (t === x.t) t = tf.clone(t);
  return [make(t, x.dtype, x.perm)];
}

const elu = (x: tf.Tensor, alpha: number) => tf.where(tf.greater(x, 0), x, tf.mul(alpha, tf.sub(tf.exp(x), 1)));

// ---------------------------------------------------------------------------------------------
// convolution and pooling

interface Spatial {
  kernel: number[];
  strides: number[];
  dilations: number[];
  /** [begin, end] per spatial axis. */
  pads: [number, number][];
}

/** ONNX's pads (auto_pad, pads, ceil_mode) as explicit begin/end padding per spatial axis. */
function spatial(node: Node, inShape: number[], kernel: number[], ceil = false): Spatial {
  const n = kernel.length;
  const strides = attrInts(node, 'strides') ?? new Array<number>(n).fill(1);
  const dilations = attrInts(node, 'dilations') ?? new Array<number>(n).fill(1);
  const autoPad = attrString(node, 'auto_pad', 'NOTSET');
  const given = attrInts(node, 'pads') ?? new Array<number>(2 * n).fill(0);
  const pads: [number, number][] = [];
  for (let i = 0; i < n; i++) {
    const size = inShape[i];
    const dk = (kernel[i] - 1) * dilations[i] + 1;
    if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') {
      const out = Math.ceil(size / strides[i]);
      const total = Math.max(0, (out - 1) * strides[i] + dk - size);
      const small = Math.floor(total / 2);
      pads.push(autoPad === 'SAME_UPPER' ? [small, total - small] : [total - small, small]);
    } else if (autoPad === 'VALID') {
      pads.push([0, 0]);
    } else {
      pads.push([given[i], given[i + n]]);
    }
    if (ceil) {
      const [b, e] = pads[i];
      const span = size + b + e - dk;
      let out = Math.ceil(span / strides[i]) + 1;
      if ((out - 1) * strides[i] >= size + b) out--; // the last window must start inside the input or its begin padding
      const extra = Math.max(0, (out - 1) * strides[i] + dk - (size + b + e));
      pads[i] = [b, e + extra];
    }
  }
  return { kernel, strides, dilations, pads };
}

type Pad4 = [[number, number], [number, number], [number, number], [number, number]];
const explicit = (p: [number, number][]): Pad4 => [[0, 0], p[0], p[1], [0, 0]];

/**
 * A 2-D convolution in NHWC. tfjs refuses strides and dilations both above 1: such a convolution
 * runs with stride 1 and its output is subsampled (the same numbers, more work).
 */
function conv2dNhwc(x: tf.Tensor4D, filter: tf.Tensor4D, sp: Spatial, depthwise: boolean, bias?: tf.Tensor): tf.Tensor4D {
  const both = sp.strides.some((s) => s > 1) && sp.dilations.some((d) => d > 1);
  const strides: [number, number] = both ? [1, 1] : [sp.strides[0], sp.strides[1]];
  const dilations: [number, number] = [sp.dilations[0], sp.dilations[1]];
  let y: tf.Tensor4D;
  if (depthwise) {
    // tfjs's fused depthwise op takes no explicit padding; the plain one does
    y = tf.depthwiseConv2d(x, filter, strides, explicit(sp.pads), 'NHWC', dilations);
    if (bias) y = tf.add(y, bias);
  } else {
    y = tf.fused.conv2d({ x, filter, strides, pad: explicit(sp.pads), dataFormat: 'NHWC', dilations, ...(bias ? { bias } : {}) });
  }
  if (both) y = tf.stridedSlice(y, [0, 0, 0, 0], y.shape, [1, sp.strides[0], sp.strides[1], 1]) as tf.Tensor4D;
  return y;
}

/** Conv: 1-D (as 2-D with height 1) and 2-D, any group count. */
const conv: Kernel = (ctx, node, [x, w, b]) => {
  const xs = logicalShape(x!);
  const ws = logicalShape(w!);
  const group = attrInt(node, 'group', 1);
  const kernel = attrInts(node, 'kernel_shape') ?? ws.slice(2);
  const oneD = xs.length === 3;
  const inSp = xs.slice(2);
  let sp = spatial(node, inSp, kernel);
  let input: tf.Tensor4D;
  let key = '';
  if (oneD) {
    sp = { kernel: [1, sp.kernel[0]], strides: [1, sp.strides[0]], dilations: [1, sp.dilations[0]], pads: [[0, 0], sp.pads[0]] };
    input = tf.transpose(tf.reshape(canon(x!), [xs[0], xs[1], 1, xs[2]]), NHWC) as tf.Tensor4D;
    key = '1d:';
  } else {
    input = inLayout(x!, NHWC) as tf.Tensor4D;
  }
  const C = xs[1], M = ws[0];
  const kH = sp.kernel[0], kW = sp.kernel[1];
  const wConst = w!.constant;
  const hwio = () => ctx.cached(`${node.name}:${key}hwio`, wConst, () => tf.transpose(tf.reshape(canon(w!), [M, ws[1], kH, kW]), [2, 3, 1, 0]));
  const bias = b ? canon(b) : undefined;
  let y: tf.Tensor4D;
  if (group === 1) {
    y = conv2dNhwc(input, hwio() as tf.Tensor4D, sp, false, bias);
  } else if (group === C && ws[1] === 1) {
    const mult = M / C;
    const filter = ctx.cached(`${node.name}:${key}dw`, wConst, () => tf.transpose(tf.reshape(canon(w!), [C, mult, kH, kW]), [2, 3, 0, 1]));
    y = conv2dNhwc(input, filter as tf.Tensor4D, sp, true, bias);
  } else {
    const xsG = tf.split(input, group, 3);
    const filter = hwio();
    const fs = tf.split(filter, group, 3);
    const bs = bias ? tf.split(bias, group, 0) : [];
    y = tf.concat(xsG.map((xg, g) => conv2dNhwc(xg as tf.Tensor4D, fs[g] as tf.Tensor4D, sp, false, bs[g])), 3) as tf.Tensor4D;
  }
  if (oneD) {
    const out = tf.reshape(tf.transpose(y, [0, 3, 1, 2]), [xs[0], M, y.shape[2]]);
    return [make(out, x!.dtype)];
  }
  return [make(y, x!.dtype, NHWC)];
};

/**
 * ConvTranspose, 1-D and 2-D, dilations 1: tfjs's conv2dTranspose gives the full (unpadded) result,
 * output_padding adds zero rows at the end, pads (given, from auto_pad, or from output_shape as ONNX
 * defines them) are cropped, then the bias is added.
 */
const convTranspose: Kernel = (ctx, node, [x, w, b]) => {
  const xs = logicalShape(x!);
  const ws = logicalShape(w!);
  const group = attrInt(node, 'group', 1);
  const oneD = xs.length === 3;
  const n = xs.length - 2;
  const kernel = attrInts(node, 'kernel_shape') ?? ws.slice(2);
  const strides = attrInts(node, 'strides') ?? new Array<number>(n).fill(1);
  const outPad = attrInts(node, 'output_padding') ?? new Array<number>(n).fill(0);
  const autoPad = attrString(node, 'auto_pad', 'NOTSET');
  const outputShape = attrInts(node, 'output_shape');
  const given = attrInts(node, 'pads') ?? new Array<number>(2 * n).fill(0);
  const pads: [number, number][] = [];
  for (let i = 0; i < n; i++) {
    const full = strides[i] * (xs[i + 2] - 1) + outPad[i] + kernel[i];
    if (outputShape || autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') {
      const want = outputShape ? outputShape[outputShape.length - n + i] : xs[i + 2] * strides[i];
      const total = full - want;
      const half = Math.floor(total / 2);
      // an output_shape larger than the full result is zeros appended at the end (as onnxruntime)
      pads.push(total < 0 ? [0, total] : autoPad === 'SAME_UPPER' ? [half, total - half] : [total - half, half]);
    } else if (autoPad === 'VALID') pads.push([0, 0]);
    else pads.push([given[i], given[i + n]]);
  }
  const C = xs[1], Mg = ws[1], M = Mg * group;
  const k2 = oneD ? [1, kernel[0]] : kernel, s2 = oneD ? [1, strides[0]] : strides, op2 = oneD ? [0, outPad[0]] : outPad;
  const p2: [number, number][] = oneD ? [[0, 0], pads[0]] : pads;
  const input = oneD ? tf.transpose(tf.reshape(canon(x!), [xs[0], C, 1, xs[2]]), NHWC) as tf.Tensor4D : inLayout(x!, NHWC) as tf.Tensor4D;
  // tf filter [kH, kW, outChannels, inChannels] from ONNX's [C, M/group, kH, kW]
  const filter = ctx.cached(`${node.name}:convT`, w!.constant, () => tf.transpose(tf.reshape(canon(w!), [C, Mg, k2[0], k2[1]]), [2, 3, 1, 0]));
  const [H, W] = [input.shape[1], input.shape[2]];
  const fullShape: [number, number, number, number] = [input.shape[0], s2[0] * (H - 1) + k2[0], s2[1] * (W - 1) + k2[1], Mg];
  const one = (xg: tf.Tensor4D, fg: tf.Tensor4D) => tf.conv2dTranspose(xg, fg, fullShape, [s2[0], s2[1]], 'valid');
  let y: tf.Tensor4D = group === 1 ? one(input, filter as tf.Tensor4D)
    : tf.concat(tf.split(input, group, 3).map((xg, g) => one(xg as tf.Tensor4D, tf.slice(filter, [0, 0, 0, g * (C / group)], [-1, -1, -1, C / group]) as tf.Tensor4D)), 3) as tf.Tensor4D;
  const end = [op2[0] + Math.max(0, -p2[0][1]), op2[1] + Math.max(0, -p2[1][1])];
  if (end.some((p) => p > 0)) y = tf.pad(y, [[0, 0], [0, end[0]], [0, end[1]], [0, 0]]);
  p2.forEach((p, i) => (p2[i] = [p[0], Math.max(0, p[1])]));
  const size = [y.shape[0], y.shape[1] - p2[0][0] - p2[0][1], y.shape[2] - p2[1][0] - p2[1][1], M];
  if (p2.some(([a, c]) => a !== 0 || c !== 0)) y = tf.slice(y, [0, p2[0][0], p2[1][0], 0], size);
  if (b) y = tf.add(y, canon(b));
  if (oneD) return [make(tf.reshape(tf.transpose(y, [0, 3, 1, 2]), [xs[0], M, y.shape[2]]), x!.dtype)];
  return [make(y, x!.dtype, NHWC)];
};

/** MaxPool and AveragePool, 1-D and 2-D. */
function pool(kind: 'max' | 'avg'): Kernel {
  return (_ctx, node, [x]) => {
    const xs = logicalShape(x!);
    const oneD = xs.length === 3;
    const kernel = attrInts(node, 'kernel_shape')!;
    let sp = spatial(node, xs.slice(2), kernel, attrInt(node, 'ceil_mode', 0) === 1);
    let input: tf.Tensor4D;
    if (oneD) {
      sp = { kernel: [1, sp.kernel[0]], strides: [1, sp.strides[0]], dilations: [1, 1], pads: [[0, 0], sp.pads[0]] };
      input = tf.transpose(tf.reshape(canon(x!), [xs[0], xs[1], 1, xs[2]]), NHWC) as tf.Tensor4D;
    } else input = inLayout(x!, NHWC) as tf.Tensor4D;
    const k: [number, number] = [sp.kernel[0], sp.kernel[1]];
    const s: [number, number] = [sp.strides[0], sp.strides[1]];
    let y: tf.Tensor4D;
    if (kind === 'max') {
      // XNNPACK's max pooling ignores padded positions (as ONNX does: they are -inf)
      y = tf.maxPool(input, k, s, explicit(sp.pads));
    } else if (attrInt(node, 'count_include_pad', 0) === 1) {
      // the explicit pads count as zeros; what ceil_mode adds past them does not (as onnxruntime)
      const given = spatial(node, xs.slice(2), kernel).pads;
      const g2: [number, number][] = oneD ? [[0, 0], given[0]] : given;
      const padded = tf.pad(input, [[0, 0], g2[0], g2[1], [0, 0]]);
      y = tf.avgPool(padded, k, s, explicit(sp.pads.map((p, i) => [0, p[1] - g2[i][1]] as [number, number])));
    } else {
      // XNNPACK's average pooling divides by the number of positions inside the input (count_include_pad=0)
      y = tf.avgPool(input, k, s, explicit(sp.pads));
    }
    if (oneD) return [make(tf.reshape(tf.transpose(y, [0, 3, 1, 2]), [xs[0], xs[1], y.shape[2]]), x!.dtype)];
    return [make(y, x!.dtype, NHWC)];
  };
}

function globalPool(kind: 'max' | 'avg'): Kernel {
  return (_ctx, _node, [x]) => {
    const r = x!.t.rank;
    const axes = Array.from({ length: r - 2 }, (_, i) => storedAxis(x!, i + 2));
    const y = kind === 'max' ? tf.max(x!.t, axes, true) : tf.mean(x!.t, axes, true);
    return [make(y, x!.dtype, x!.perm)];
  };
}

/** Per-channel parameters shaped to broadcast along the stored channel axis of a value. */
function perChannel(v: Val, p: tf.Tensor): tf.Tensor {
  const r = v.t.rank;
  const c = storedAxis(v, 1);
  if (c === r - 1) return p;
  const shape = new Array<number>(r).fill(1);
  shape[c] = p.size;
  return tf.reshape(p, shape);
}

const batchNorm: Kernel = (ctx, node, [x, scale, bias, mean, variance]) => {
  const eps = attrFloat(node, 'epsilon', 1e-5);
  const constant = [scale, bias, mean, variance].every((v) => v!.constant);
  // y = x·a + c with a = scale / sqrt(var + eps), c = bias − mean·a (folded once for constant parameters)
  const a = ctx.cached(`${node.name}:a`, constant, () => tf.div(canon(scale!), tf.sqrt(tf.add(canon(variance!), eps))));
  const c = ctx.cached(`${node.name}:c`, constant, () => tf.sub(canon(bias!), tf.mul(canon(mean!), a)));
  const y = tf.add(tf.mul(x!.t, perChannel(x!, a)), perChannel(x!, c));
  return [make(y, x!.dtype, x!.perm)];
};

const instanceNorm: Kernel = (_ctx, node, [x, scale, bias]) => {
  const eps = attrFloat(node, 'epsilon', 1e-5);
  const r = x!.t.rank;
  const axes = Array.from({ length: r - 2 }, (_, i) => storedAxis(x!, i + 2));
  const { mean, variance } = tf.moments(x!.t, axes, true);
  const normed = tf.div(tf.sub(x!.t, mean), tf.sqrt(tf.add(variance, eps)));
  const y = tf.add(tf.mul(normed, perChannel(x!, canon(scale!))), perChannel(x!, canon(bias!)));
  return [make(y, x!.dtype, x!.perm)];
};

const layerNorm: Kernel = (_ctx, node, [x, scale, bias]) => {
  const t = canon(x!);
  const r = t.rank;
  const axis = normAxis(attrInt(node, 'axis', -1), r);
  const eps = attrFloat(node, 'epsilon', 1e-5);
  const axes = Array.from({ length: r - axis }, (_, i) => axis + i);
  const { mean, variance } = tf.moments(t, axes, true);
  const invStd = tf.rsqrt(tf.add(variance, eps));
  let y = tf.mul(tf.sub(t, mean), invStd);
  y = tf.mul(y, canon(scale!));
  if (bias) y = tf.add(y, canon(bias));
  return [make(y, x!.dtype), make(mean, 'float32'), make(invStd, 'float32')];
};

/** LRN: over channels, window [c − ⌊(size−1)/2⌋, c + ⌈(size−1)/2⌉], divisor (bias + alpha/size · Σx²)^beta. */
const lrn: Kernel = (_ctx, node, [x]) => {
  const size = attrInt(node, 'size', 1);
  const alpha = attrFloat(node, 'alpha', 1e-4), beta = attrFloat(node, 'beta', 0.75), bias = attrFloat(node, 'bias', 1);
  const xs = inLayout(x!, NHWC) as tf.Tensor4D;
  let y: tf.Tensor;
  if (size % 2 === 1) {
    y = tf.localResponseNormalization(xs, (size - 1) / 2, bias, alpha / size, beta);
  } else {
    const before = Math.floor((size - 1) / 2), after = Math.ceil((size - 1) / 2);
    const C = xs.shape[3];
    const sq = tf.pad(tf.square(xs), [[0, 0], [0, 0], [0, 0], [before, after]]);
    let sum = tf.slice(sq, [0, 0, 0, 0], [-1, -1, -1, C]);
    for (let i = 1; i < size; i++) sum = tf.add(sum, tf.slice(sq, [0, 0, 0, i], [-1, -1, -1, C]));
    y = tf.div(xs, tf.pow(tf.add(tf.mul(sum, alpha / size), bias), beta));
  }
  return [make(y, x!.dtype, NHWC)];
};

// ---------------------------------------------------------------------------------------------
// matrix products

function broadcastShapes(a: readonly number[], b: readonly number[]): number[] {
  const r = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < r; i++) {
    const x = a[a.length - r + i] ?? 1, y = b[b.length - r + i] ?? 1;
    out.push(x === 1 ? y : x);
  }
  return out;
}

/**
 * numpy matmul. tfjs-backend-wasm 4.22's BatchMatMul broadcasts batch dimensions wrongly
 * ([2,1,3,4]×[3,4,5] gives [2,3,3,5]): batch dimensions are broadcast here first.
 */
function matmul(a0: tf.Tensor, b0: tf.Tensor): tf.Tensor {
  let a = a0, b = b0;
  const aVec = a.rank === 1, bVec = b.rank === 1;
  if (aVec) a = tf.reshape(a, [1, a.shape[0]]);
  if (bVec) b = tf.reshape(b, [b.shape[0], 1]);
  const [M, K] = a.shape.slice(-2), N = b.shape[b.rank - 1];
  let y: tf.Tensor;
  if (a.rank === 2 && b.rank === 2) y = tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D);
  else if (b.rank === 2) {
    y = tf.reshape(tf.matMul(tf.reshape(a, [-1, K]) as tf.Tensor2D, b as tf.Tensor2D), [...a.shape.slice(0, -2), M, N]);
  } else {
    const batch = broadcastShapes(a.shape.slice(0, -2), b.shape.slice(0, -2));
    const B = prod(batch);
    const a3 = tf.reshape(tf.broadcastTo(a, [...batch, M, K]), [B, M, K]) as tf.Tensor3D;
    const b3 = tf.reshape(tf.broadcastTo(b, [...batch, K, N]), [B, K, N]) as tf.Tensor3D;
    y = tf.reshape(tf.matMul(a3, b3), [...batch, M, N]);
  }
  if (aVec) y = tf.squeeze(y, [y.rank - 2]);
  if (bVec) y = tf.squeeze(y, [y.rank - 1]);
  return y;
}

const gemm: Kernel = (_ctx, node, [a, b, c]) => {
  const alpha = attrFloat(node, 'alpha', 1), beta = attrFloat(node, 'beta', 1);
  let y: tf.Tensor = tf.matMul(canon(a!) as tf.Tensor2D, canon(b!) as tf.Tensor2D, attrInt(node, 'transA', 0) === 1, attrInt(node, 'transB', 0) === 1);
  if (alpha !== 1) y = tf.mul(y, alpha);
  if (c && beta !== 0) y = tf.add(y, beta === 1 ? canon(c) : tf.mul(canon(c), beta));
  return [make(y, a!.dtype)];
};

// ---------------------------------------------------------------------------------------------
// shape and data movement

function reshapeTo(x: Val, shape: number[], dtype = x.dtype): Val {
  return make(tf.reshape(canon(x), shape), dtype);
}

const reshape: Kernel = (ctx, node, [x, s]) => {
  const inShape = logicalShape(x!);
  const allowZero = attrInt(node, 'allowzero', 0) === 1;
  const want = ctx.opset >= 5 ? host(s!) : attrInts(node, 'shape')!;
  const shape = want.map((d, i) => (d === 0 && !allowZero ? inShape[i] : d));
  return [reshapeTo(x!, shape)];
};

const flatten: Kernel = (_ctx, node, [x]) => {
  const s = logicalShape(x!);
  const axis = normAxis(attrInt(node, 'axis', 1), s.length);
  return [reshapeTo(x!, [prod(s.slice(0, axis)), prod(s.slice(axis))])];
};

const squeeze: Kernel = (ctx, node, ins) => {
  const s = logicalShape(ins[0]!);
  const given = ctx.opset >= 13 ? (ins[1] ? host(ins[1]) : undefined) : attrInts(node, 'axes');
  const axes = new Set((given ?? s.map((d, i) => (d === 1 ? i : -1)).filter((i) => i >= 0)).map((a) => normAxis(a, s.length)));
  return [reshapeTo(ins[0]!, s.filter((_, i) => !axes.has(i)))];
};

const unsqueeze: Kernel = (ctx, node, ins) => {
  const s = logicalShape(ins[0]!);
  const given = (ctx.opset >= 13 ? host(ins[1]!) : attrInts(node, 'axes')!);
  const r = s.length + given.length;
  const axes = new Set(given.map((a) => normAxis(a, r)));
  const out: number[] = [];
  let k = 0;
  for (let i = 0; i < r; i++) out.push(axes.has(i) ? 1 : s[k++]);
  return [reshapeTo(ins[0]!, out)];
};

/** Transpose changes the recorded permutation only: no data moves. */
const transpose: Kernel = (_ctx, node, [x]) => {
  const r = x!.t.rank;
  const p = attrInts(node, 'perm') ?? Array.from({ length: r }, (_, i) => r - 1 - i);
  const s = x!.perm ?? Array.from({ length: r }, (_, i) => i);
  const pinv = invert(p);
  return [{ t: x!.t, perm: norm(s.map((a) => pinv[a])), dtype: x!.dtype, constant: false }];
};

const concat: Kernel = (_ctx, node, ins) => {
  const all = ins.filter((v): v is Val => v !== null);
  const nonEmpty = all.filter((v) => v.t.size > 0);
  const vals = nonEmpty.length ? nonEmpty : all.slice(0, 1);
  const r = vals[0].t.rank;
  const axis = normAxis(attrInt(node, 'axis', 0), r);
  const lead = vals.find((v) => v.perm);
  const p = lead?.perm ?? null;
  const ts = vals.map((v) => (p ? inLayout(v, p) : canon(v)));
  const y = ts.length === 1 ? tf.clone(ts[0]) : tf.concat(ts, p ? p.indexOf(axis) : axis);
  return [make(y, vals[0].dtype, p)];
};

const split: Kernel = (ctx, node, ins) => {
  const x = ins[0]!;
  const s = logicalShape(x);
  const axis = normAxis(attrInt(node, 'axis', 0), s.length);
  const n = node.outputs.length;
  let sizes = ctx.opset >= 13 ? (ins[1] ? host(ins[1]) : undefined) : attrInts(node, 'split');
  if (!sizes) {
    const numOutputs = attrInt(node, 'num_outputs', n);
    const chunk = Math.ceil(s[axis] / numOutputs);
    sizes = Array.from({ length: numOutputs }, (_, i) => Math.max(0, Math.min(chunk, s[axis] - i * chunk)));
  }
  const parts = tf.split(x.t, sizes, storedAxis(x, axis));
  return parts.map((t) => make(t, x.dtype, x.perm));
};

/** Slice (attributes before opset 10, inputs from 10 on) on the stored tensor, axes mapped. */
const slice: Kernel = (ctx, node, ins) => {
  const x = ins[0]!;
  const s = logicalShape(x);
  const r = s.length;
  const starts = ctx.opset >= 10 ? host(ins[1]!) : attrInts(node, 'starts')!;
  const ends = ctx.opset >= 10 ? host(ins[2]!) : attrInts(node, 'ends')!;
  const axes = (ctx.opset >= 10 ? (ins[3] ? host(ins[3]) : undefined) : attrInts(node, 'axes')) ?? starts.map((_, i) => i);
  const steps = (ctx.opset >= 10 && ins[4] ? host(ins[4]) : undefined) ?? starts.map(() => 1);
  const stored = x.t.shape;
  const begin = stored.map(() => 0), end = [...stored], strides = stored.map(() => 1);
  const reverse: number[] = [];
  axes.forEach((a0, i) => {
    const a = normAxis(a0, r);
    const dim = s[a];
    const j = storedAxis(x, a);
    const step = steps[i];
    let st = starts[i], en = ends[i];
    if (st < 0) st += dim;
    if (en < 0) en += dim;
    if (step > 0) {
      st = Math.min(Math.max(st, 0), dim);
      en = Math.min(Math.max(en, 0), dim);
      begin[j] = st; end[j] = Math.max(en, st); strides[j] = step;
    } else {
      st = Math.min(Math.max(st, 0), dim - 1);
      en = Math.min(Math.max(en, -1), dim - 1);
      reverse.push(j);
      const b = dim - 1 - st, e = dim - 1 - en;
      begin[j] = b; end[j] = Math.max(e, b); strides[j] = -step;
    }
  });
  let t = x.t;
  if (reverse.length) t = tf.reverse(t, reverse);
  const y = tf.stridedSlice(t, begin, end, strides);
  return [make(y.rank === r ? y : tf.reshape(y, begin.map((b, j) => Math.max(0, Math.ceil((end[j] - b) / strides[j])))), x.dtype, x.perm)];
};

const gather: Kernel = (ctx, node, [x, idx]) => {
  const data = canon(x!);
  const axis = normAxis(attrInt(node, 'axis', 0), data.rank);
  const dim = data.shape[axis];
  const indices = ctx.cached(`${node.name}:idx`, idx!.constant, () => {
    const i = canon(idx!);
    return select(tf.less(i, 0), tf.add(i, tf.scalar(dim, 'int32')), i);
  });
  return [make(tf.gather(data, indices, axis), x!.dtype)];
};

const expand: Kernel = (_ctx, _node, [x, shape]) => {
  const t = canon(x!);
  const out = broadcastShapes(t.shape, host(shape!));
  const e = t.rank < out.length ? tf.reshape(t, [...new Array<number>(out.length - t.rank).fill(1), ...t.shape]) : t;
  return [make(tf.broadcastTo(e, out), x!.dtype)];
};

const tile: Kernel = (_ctx, _node, [x, reps]) => [make(tf.tile(canon(x!), host(reps!)), x!.dtype)];

const pad: Kernel = (ctx, node, ins) => {
  const x = ins[0]!;
  const r = x.t.rank;
  const mode = attrString(node, 'mode', 'constant');
  let pads: number[];
  let value = 0;
  let axes = Array.from({ length: r }, (_, i) => i);
  if (ctx.opset >= 11) {
    pads = host(ins[1]!);
    if (ins[2]) value = host(ins[2])[0];
    if (ins[3]) axes = host(ins[3]).map((a) => normAxis(a, r));
  } else {
    pads = attrInts(node, 'pads')!;
    value = attrFloat(node, 'value', 0);
  }
  const n = axes.length;
  // positive pads pad, negative pads crop
  const paddings: [number, number][] = x.t.shape.map(() => [0, 0]);
  const begin = x.t.shape.map(() => 0), size = [...x.t.shape];
  let crop = false;
  axes.forEach((a, i) => {
    const j = storedAxis(x, a);
    const [b, e] = [pads[i], pads[i + n]];
    paddings[j] = [Math.max(b, 0), Math.max(e, 0)];
    begin[j] = Math.max(-b, 0);
    size[j] = x.t.shape[j] + b + e;
    if (b < 0 || e < 0) crop = true;
  });
  let y = mode === 'reflect' ? tf.mirrorPad(x.t, paddings, 'reflect') : tf.pad(x.t, paddings, value);
  if (crop) y = tf.slice(y, begin, size);
  return [make(y, x.dtype, x.perm)];
};

const depthToSpace: Kernel = (_ctx, node, [x]) => {
  const y = tf.depthToSpace(inLayout(x!, NHWC) as tf.Tensor4D, attrInt(node, 'blocksize', 1), 'NHWC');
  return [make(y, x!.dtype, NHWC)];
};

// ---------------------------------------------------------------------------------------------
// reductions, softmax, arg

function reduceAxes(ctx: KernelContext, node: Node, ins: (Val | null)[], inputSince: number): number[] | null {
  const r = ins[0]!.t.rank;
  const given = ctx.opset >= inputSince ? (ins[1] ? host(ins[1]) : undefined) : attrInts(node, 'axes');
  if (!given || given.length === 0) {
    if (attrInt(node, 'noop_with_empty_axes', 0) === 1) return null;
    return Array.from({ length: r }, (_, i) => i);
  }
  return given.map((a) => normAxis(a, r));
}

/** `empty`: what the reduction of no elements is (ONNX: the operation's identity). */
function reduce(f: (x: tf.Tensor, axes: number[], keep: boolean) => tf.Tensor, empty: number, inputSince = 18): Kernel {
  return (ctx, node, ins) => {
    const x = ins[0]!;
    const axes = reduceAxes(ctx, node, ins, inputSince);
    if (!axes) return [make(tf.clone(x.t), x.dtype, x.perm)];
    const keep = attrInt(node, 'keepdims', 1) === 1;
    if (x.t.size === 0) {
      const s = logicalShape(x);
      const shape = keep ? s.map((d, i) => (axes.includes(i) ? 1 : d)) : s.filter((_, i) => !axes.includes(i));
      return [make(tf.fill(shape, empty, tfDtype(x.dtype)), x.dtype)];
    }
    if (keep) return [make(f(x.t, axes.map((a) => storedAxis(x, a)), true), x.dtype, x.perm)];
    return [make(f(canon(x), axes, false), x.dtype)];
  };
}

function softmax(kind: 'softmax' | 'log'): Kernel {
  return (ctx, node, [x]) => {
    const r = x!.t.rank;
    const fn = (t: tf.Tensor) => (kind === 'softmax' ? tf.softmax(t) : tf.logSoftmax(t));
    if (ctx.opset < 13) {
      const s = logicalShape(x!);
      const axis = normAxis(attrInt(node, 'axis', 1), r);
      const flat = tf.reshape(canon(x!), [prod(s.slice(0, axis)), prod(s.slice(axis))]);
      return [make(tf.reshape(fn(flat), s), x!.dtype)];
    }
    const axis = normAxis(attrInt(node, 'axis', -1), r);
    const stored = x!.perm ?? Array.from({ length: r }, (_, i) => i);
    if (stored[r - 1] === axis) return [make(fn(x!.t), x!.dtype, x!.perm)];
    const q = [...stored.filter((a) => a !== axis), axis];
    return [make(fn(inLayout(x!, q)), x!.dtype, q)];
  };
}

function argExt(kind: 'max' | 'min'): Kernel {
  return (_ctx, node, [x]) => {
    const t = canon(x!);
    const axis = normAxis(attrInt(node, 'axis', 0), t.rank);
    const last = attrInt(node, 'select_last_index', 0) === 1;
    const src = last ? tf.reverse(t, [axis]) : t;
    let y = kind === 'max' ? tf.argMax(src, axis) : tf.argMin(src, axis);
    if (last) y = tf.sub(tf.scalar(t.shape[axis] - 1, 'int32'), y);
    if (attrInt(node, 'keepdims', 1) === 1) y = tf.expandDims(y, axis);
    return [make(y, 'int64')];
  };
}

// ---------------------------------------------------------------------------------------------
// resize

/** Where output index x of an axis reads from, in input coordinates (ONNX Resize's coordinate_transformation_mode). */
function sourceCoord(ctm: string, x: number, scale: number, inSize: number, outSize: number): number {
  switch (ctm) {
    case 'half_pixel': return (x + 0.5) / scale - 0.5;
    case 'half_pixel_symmetric': {
      const adjustment = outSize / (scale * inSize);
      const center = inSize / 2;
      return center * (1 - adjustment) + (x + 0.5) / scale - 0.5;
    }
    case 'pytorch_half_pixel': return outSize > 1 ? (x + 0.5) / scale - 0.5 : 0;
    case 'align_corners': return outSize === 1 ? 0 : (x * (inSize - 1)) / (outSize - 1);
    default: return x / scale; // asymmetric
  }
}

function nearestIndex(mode: string, x: number): number {
  switch (mode) {
    case 'floor': return Math.floor(x);
    case 'ceil': return Math.ceil(x);
    case 'round_prefer_ceil': return Math.floor(x + 0.5);
    case 'simple': return Math.floor(x); // Upsample and Resize-10 when upsampling
    default: return x === Math.floor(x) + 0.5 ? Math.floor(x) : Math.round(x); // round_prefer_floor
  }
}

/**
 * Resize (opset 11+) and Upsample (7–9), modes nearest and linear, separable: each resized axis is a
 * gather of source rows computed on the host from ONNX's own coordinate transform (so every
 * coordinate_transformation_mode and nearest_mode is followed exactly, with the scale as given), and
 * for linear a blend of the two neighbours. Works on whatever layout the input is stored in.
 */
const resize: Kernel = (ctx, node, ins) => {
  const x = ins[0]!;
  const s = logicalShape(x);
  const r = s.length;
  let scales: number[];
  let outSizes: number[];
  let axes = Array.from({ length: r }, (_, i) => i);
  if (node.op === 'Upsample') {
    scales = ctx.opset >= 9 ? host(ins[1]!) : attrFloats(node, 'scales')!;
    outSizes = s.map((d, i) => Math.floor(d * scales[i]));
  } else {
    const given = attrInts(node, 'axes');
    if (given) axes = given.map((a) => normAxis(a, r));
    const scalesIn = ins[2], sizesIn = ins[3];
    scales = s.map(() => 1);
    outSizes = [...s];
    if (sizesIn && sizesIn.t.size > 0) {
      const sz = host(sizesIn);
      axes.forEach((a, i) => {
        outSizes[a] = sz[i];
        scales[a] = sz[i] / s[a];
      });
    } else {
      const sc = host(scalesIn!);
      axes.forEach((a, i) => {
        scales[a] = sc[i];
        outSizes[a] = Math.floor(s[a] * sc[i]);
      });
    }
  }
  const mode = attrString(node, 'mode', 'nearest');
  const legacy = node.op === 'Upsample' || ctx.opset < 11;
  const ctm = legacy ? 'asymmetric' : attrString(node, 'coordinate_transformation_mode', 'half_pixel');
  const nearestMode = legacy ? 'simple' : attrString(node, 'nearest_mode', 'round_prefer_floor');
  let t = x.t;
  for (let a = 0; a < r; a++) {
    if (outSizes[a] === s[a] && scales[a] === 1) continue;
    const inSize = s[a], outSize = outSizes[a];
    const j = storedAxis(x, a);
    const clampI = (i: number) => Math.min(Math.max(i, 0), inSize - 1);
    if (mode === 'nearest') {
      const idx = Array.from({ length: outSize }, (_, o) => clampI(nearestIndex(nearestMode, sourceCoord(ctm, o, scales[a], inSize, outSize))));
      t = tf.gather(t, tf.tensor1d(idx, 'int32'), j);
    } else {
      const i0: number[] = [], i1: number[] = [], w: number[] = [];
      for (let o = 0; o < outSize; o++) {
        const c = Math.min(Math.max(sourceCoord(ctm, o, scales[a], inSize, outSize), 0), inSize - 1);
        const f = Math.floor(c);
        i0.push(f);
        i1.push(Math.min(f + 1, inSize - 1));
        w.push(c - f);
      }
      const lo = tf.gather(t, tf.tensor1d(i0, 'int32'), j), hi = tf.gather(t, tf.tensor1d(i1, 'int32'), j);
      const shape = new Array<number>(r).fill(1);
      shape[j] = outSize;
      t = tf.add(lo, tf.mul(tf.sub(hi, lo), tf.tensor(w, shape, 'float32')));
    }
  }
  return [make(t === x.t ? tf.clone(t) : t, x.dtype, x.perm)];
};

// ---------------------------------------------------------------------------------------------
// constants and shapes

const ONNX_TO_TF_FILL: Partial<Record<DType, 'float32' | 'int32' | 'bool'>> = { float32: 'float32', int32: 'int32', int64: 'int32', bool: 'bool' };

const constant: Kernel = (_ctx, node) => {
  const a = Object.entries(node.attrs)[0];
  if (!a) fail(node, 'no value');
  const [name, at] = a;
  if (at.type === 'tensor') return [toTf(tensorFromWeight(at.value))];
  if (name === 'value_float' && at.type === 'float') return [make(tf.scalar(at.value, 'float32'), 'float32')];
  if (name === 'value_floats' && at.type === 'floats') return [make(tf.tensor1d(at.value, 'float32'), 'float32')];
  if (name === 'value_int' && at.type === 'int') return [make(tf.scalar(clampI32(at.value), 'int32'), 'int64')];
  if (name === 'value_ints' && at.type === 'ints') return [make(tf.tensor1d(at.value.map(clampI32), 'int32'), 'int64')];
  return fail(node, `attribute ${name} is not supported`);
};

const constantOfShape: Kernel = (_ctx, node, [shape]) => {
  const dims = host(shape!);
  const a = node.attrs.value;
  let dtype: DType = 'float32', value = 0;
  if (a && a.type === 'tensor') {
    const t = tensorFromWeight(a.value);
    dtype = t.type as DType;
    value = Number((t.data as ArrayLike<number | bigint>)[0]);
  }
  const tdt = ONNX_TO_TF_FILL[dtype] ?? fail(node, `value of type ${dtype}`);
  return [make(tf.fill(dims, dtype === 'int64' ? clampI32(value) : value, tdt), dtype)];
};

const shapeOp: Kernel = (_ctx, node, [x]) => {
  const s = logicalShape(x!);
  const r = s.length;
  const clampAxis = (a: number) => Math.min(Math.max(a < 0 ? a + r : a, 0), r);
  const start = clampAxis(attrInt(node, 'start', 0)), end = clampAxis(attrInt(node, 'end', r));
  return [make(tf.tensor1d(s.slice(start, Math.max(start, end)), 'int32'), 'int64')];
};

const size: Kernel = (_ctx, _node, [x]) => [make(tf.scalar(x!.t.size, 'int32'), 'int64')];

const cast: Kernel = (_ctx, node, [x]) => {
  const to = dtypeFromOnnx(attrInt(node, 'to', 1), node.name);
  const t = tf.cast(x!.t, tfDtype(to));
  return [make(t === x!.t ? tf.clone(t) : t, to, x!.perm)];
};

const range: Kernel = (_ctx, _node, [start, limit, delta]) => {
  const [a, b, d] = [host(start!)[0], host(limit!)[0], host(delta!)[0]];
  const n = Math.max(Math.ceil((b - a) / d), 0);
  const dt = start!.dtype;
  const data = Array.from({ length: n }, (_, i) => a + i * d);
  return [make(tf.tensor1d(data, tfDtype(dt) as 'float32' | 'int32'), dt)];
};

const identity: Kernel = (_ctx, _node, [x]) => [{ t: x!.t, perm: x!.perm, dtype: x!.dtype, constant: false }];

const where: Kernel = (_ctx, _node, [c, a, b]) => {
  const { ts, perm } = aligned([c!, a!, b!]);
  const shape = broadcastShapes(broadcastShapes(ts[0].shape, ts[1].shape), ts[2].shape);
  const [cc, aa, bb] = ts.map((t) => (t.shape.join() === shape.join() ? t : tf.broadcastTo(t.rank < shape.length ? tf.reshape(t, [...new Array<number>(shape.length - t.rank).fill(1), ...t.shape]) : t, shape)));
  return [make(select(cc, aa, bb), a!.dtype, perm)];
};

const cumsum: Kernel = (_ctx, node, [x, axis]) => {
  const t = canon(x!);
  const a = normAxis(host(axis!)[0], t.rank);
  return [make(tf.cumsum(t, a, attrInt(node, 'exclusive', 0) === 1, attrInt(node, 'reverse', 0) === 1), x!.dtype)];
};

/** ONNX integer division truncates toward zero; tfjs's integer div floors. */
function truncDiv(a: tf.Tensor, b: tf.Tensor): tf.Tensor {
  const q = tf.floorDiv(a, b);
  const r = tf.sub(a, tf.mul(q, b));
  const fix = tf.logicalAnd(tf.notEqual(r, 0), tf.notEqual(tf.less(a, 0), tf.less(b, 0)));
  return tf.add(q, tf.cast(fix, 'int32'));
}

/** Trilu: keep the upper (or lower) triangle of the last two axes, from diagonal k. */
const trilu: Kernel = (_ctx, node, [x, k]) => {
  const t = canon(x!);
  const [rows, cols] = t.shape.slice(-2);
  const diag = k ? host(k)[0] : 0;
  const upper = attrInt(node, 'upper', 1) === 1;
  const mask = new Uint8Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) mask[i * cols + j] = (upper ? j - i >= diag : j - i <= diag) ? 1 : 0;
  const m = tf.tensor(mask, [rows, cols], 'bool');
  return [make(select(tf.broadcastTo(m, t.shape), t, tf.zerosLike(t)), x!.dtype)];
};

// ---------------------------------------------------------------------------------------------
// the registry

const mean = (ts: tf.Tensor[]) => tf.div(tf.addN(ts), ts.length);

export const KERNELS: Record<string, Kernel> = {
  // elementwise, unary
  Relu: unary((x) => tf.relu(x)),
  LeakyRelu: unary((x, n) => tf.leakyRelu(x, attrFloat(n, 'alpha', 0.01))),
  Sigmoid: unary((x) => tf.sigmoid(x)),
  Tanh: unary((x) => tf.tanh(x)),
  Exp: unary((x) => tf.exp(x)),
  Log: unary((x) => tf.log(x)),
  Sqrt: unary((x) => tf.sqrt(x)),
  Abs: unary((x) => tf.abs(x)),
  Neg: unary((x) => tf.neg(x)),
  Reciprocal: unary((x) => tf.reciprocal(x)),
  Floor: unary((x) => tf.floor(x)),
  Ceil: unary((x) => tf.ceil(x)),
  Round: unary((x) => tf.round(x)),
  Sin: unary((x) => tf.sin(x)),
  Cos: unary((x) => tf.cos(x)),
  Tan: unary((x) => tf.tan(x)),
  Asin: unary((x) => tf.asin(x)),
  Acos: unary((x) => tf.acos(x)),
  Atan: unary((x) => tf.atan(x)),
  Sinh: unary((x) => tf.sinh(x)),
  Cosh: unary((x) => tf.cosh(x)),
  Asinh: unary((x) => tf.asinh(x)),
  Acosh: unary((x) => tf.acosh(x)),
  Atanh: unary((x) => tf.atanh(x)),
  Erf: unary((x) => tf.erf(x)),
  Sign: unary((x) => tf.sign(x)),
  Softplus: unary((x) => tf.softplus(x)),
  Softsign: unary((x) => tf.div(x, tf.add(tf.abs(x), 1))),
  Elu: unary((x, n) => elu(x, attrFloat(n, 'alpha', 1))),
  Selu: unary((x, n) => tf.mul(attrFloat(n, 'gamma', 1.0507009873554805), tf.where(tf.greater(x, 0), x, tf.mul(attrFloat(n, 'alpha', 1.6732632423543772), tf.sub(tf.exp(x), 1))))),
  Celu: unary((x, n) => {
    const alpha = attrFloat(n, 'alpha', 1);
    return tf.add(tf.relu(x), tf.minimum(0, tf.mul(alpha, tf.sub(tf.exp(tf.div(x, alpha)), 1))));
  }),
  HardSigmoid: unary((x, n) => tf.clipByValue(tf.add(tf.mul(x, attrFloat(n, 'alpha', 0.2)), attrFloat(n, 'beta', 0.5)), 0, 1)),
  HardSwish: unary((x) => tf.mul(x, tf.clipByValue(tf.add(tf.mul(x, 1 / 6), 0.5), 0, 1))),
  ThresholdedRelu: unary((x, n) => tf.where(tf.greater(x, attrFloat(n, 'alpha', 1)), x, tf.zerosLike(x))),
  Mish: unary((x) => tf.mul(x, tf.tanh(tf.softplus(x)))),
  Gelu: unary((x, n) =>
    attrString(n, 'approximate', 'none') === 'tanh'
      ? tf.mul(tf.mul(0.5, x), tf.add(1, tf.tanh(tf.mul(Math.sqrt(2 / Math.PI), tf.add(x, tf.mul(0.044715, tf.pow(x, 3)))))))
      : tf.mul(tf.mul(0.5, x), tf.add(1, tf.erf(tf.div(x, Math.SQRT2))))),
  Not: unary((x) => tf.logicalNot(x)),
  IsNaN: unary((x) => tf.isNaN(x), 'bool'),
  IsInf: unary((x) => tf.isInf(x), 'bool'),
  Clip: clip,
  Identity: identity,
  // inference: the output is the input, the mask all ones (of the input's type before opset 10, bool from 10)
  Dropout: (ctx, _node, [x]) => [{ t: x!.t, perm: x!.perm, dtype: x!.dtype, constant: false }, ctx.opset < 10 ? make(tf.onesLike(x!.t), x!.dtype, x!.perm) : make(tf.cast(tf.onesLike(x!.t), 'bool'), 'bool', x!.perm)],
  // elementwise, binary and variadic (numpy broadcasting)
  Add: binary((a, b) => tf.add(a, b)),
  Sub: binary((a, b) => tf.sub(a, b)),
  Mul: binary((a, b) => tf.mul(a, b)),
  Div: binary((a, b) => (a.dtype === 'int32' ? truncDiv(a, b) : tf.div(a, b))),
  Pow: binary((a, b) => tf.pow(a, b)),
  Max: binary((a, b) => tf.maximum(a, b)),
  Min: binary((a, b) => tf.minimum(a, b)),
  Sum: binary((a, b) => tf.add(a, b)),
  Mean: (_ctx, _node, ins) => {
    const vals = ins.filter((v): v is Val => v !== null);
    const { ts, perm } = aligned(vals);
    const shape = ts.reduce((s, t) => broadcastShapes(s, t.shape), [] as number[]);
    return [make(mean(ts.map((t) => (t.shape.join() === shape.join() ? t : tf.broadcastTo(t.rank < shape.length ? tf.reshape(t, [...new Array<number>(shape.length - t.rank).fill(1), ...t.shape]) : t, shape)))), vals[0].dtype, perm)];
  },
  PRelu: binary((x, slope) => tf.add(tf.relu(x), tf.mul(slope, tf.minimum(x, 0)))),
  Equal: binary((a, b) => tf.equal(a, b), 'bool'),
  Greater: binary((a, b) => tf.greater(a, b), 'bool'),
  Less: binary((a, b) => tf.less(a, b), 'bool'),
  GreaterOrEqual: binary((a, b) => tf.greaterEqual(a, b), 'bool'),
  LessOrEqual: binary((a, b) => tf.lessEqual(a, b), 'bool'),
  And: binary((a, b) => tf.logicalAnd(a, b)),
  Or: binary((a, b) => tf.logicalOr(a, b)),
  Xor: binary((a, b) => tf.logicalXor(a, b)),
  Mod: binary((a, b) => tf.mod(a, b)),
  Where: where,
  // convolution, pooling, normalization
  Conv: conv,
  ConvTranspose: convTranspose,
  MaxPool: pool('max'),
  AveragePool: pool('avg'),
  GlobalAveragePool: globalPool('avg'),
  GlobalMaxPool: globalPool('max'),
  BatchNormalization: batchNorm,
  InstanceNormalization: instanceNorm,
  LayerNormalization: layerNorm,
  LRN: lrn,
  // matrix products
  MatMul: (_ctx, _node, [a, b]) => [make(matmul(canon(a!), canon(b!)), a!.dtype)],
  Gemm: gemm,
  // shape and data movement
  Reshape: reshape,
  Flatten: flatten,
  Squeeze: squeeze,
  Unsqueeze: unsqueeze,
  Transpose: transpose,
  Concat: concat,
  Split: split,
  Slice: slice,
  Gather: gather,
  Expand: expand,
  Tile: tile,
  Pad: pad,
  DepthToSpace: depthToSpace,
  Resize: resize,
  Upsample: resize,
  // reductions
  ReduceMean: reduce((x, a, k) => tf.mean(x, a, k), NaN),
  ReduceSum: reduce((x, a, k) => tf.sum(x, a, k), 0, 13),
  ReduceMax: reduce((x, a, k) => tf.max(x, a, k), -Infinity),
  ReduceMin: reduce((x, a, k) => tf.min(x, a, k), Infinity),
  ReduceProd: reduce((x, a, k) => tf.prod(x, a, k), 1),
  ReduceL1: reduce((x, a, k) => tf.sum(tf.abs(x), a, k), 0),
  ReduceL2: reduce((x, a, k) => tf.sqrt(tf.sum(tf.square(x), a, k)), 0),
  ReduceSumSquare: reduce((x, a, k) => tf.sum(tf.square(x), a, k), 0),
  ReduceLogSum: reduce((x, a, k) => tf.log(tf.sum(x, a, k)), -Infinity),
  ReduceLogSumExp: reduce((x, a, k) => tf.logSumExp(x, a, k), -Infinity),
  Softmax: softmax('softmax'),
  LogSoftmax: softmax('log'),
  ArgMax: argExt('max'),
  ArgMin: argExt('min'),
  CumSum: cumsum,
  // constants and shapes
  Constant: constant,
  ConstantOfShape: constantOfShape,
  Shape: shapeOp,
  Size: size,
  Cast: cast,
  CastLike: (_ctx, _node, [x, like]) => {
    const t = tf.cast(x!.t, tfDtype(like!.dtype));
    return [make(t === x!.t ? tf.clone(t) : t, like!.dtype, x!.perm)];
  },
  Trilu: trilu,
  Shrink: unary((x, n) => {
    const lambd = attrFloat(n, 'lambd', 0.5), bias = attrFloat(n, 'bias', 0);
    return tf.where(tf.less(x, -lambd), tf.add(x, bias), tf.where(tf.greater(x, lambd), tf.sub(x, bias), tf.zerosLike(x)));
  }),
  LpNormalization: (_ctx, node, [x]) => {
    const t = canon(x!);
    const axis = normAxis(attrInt(node, 'axis', -1), t.rank);
    const norm = attrInt(node, 'p', 2) === 1 ? tf.sum(tf.abs(t), axis, true) : tf.sqrt(tf.sum(tf.square(t), axis, true));
    return [make(tf.div(t, tf.where(tf.equal(norm, 0), tf.onesLike(norm), norm)), x!.dtype)]; // a zero norm gives zeros, as onnxruntime
  },
  RMSNormalization: (_ctx, node, [x, scale]) => {
    const t = canon(x!);
    const axis = normAxis(attrInt(node, 'axis', -1), t.rank);
    const axes = Array.from({ length: t.rank - axis }, (_, i) => axis + i);
    const rms = tf.sqrt(tf.add(tf.mean(tf.square(t), axes, true), attrFloat(node, 'epsilon', 1e-5)));
    return [make(tf.mul(tf.div(t, rms), canon(scale!)), x!.dtype)];
  },
  Range: range,
};
