/** Elementwise ops: unary, binary with broadcasting, variadic, and those that keep their input's shape. */
import { isDType, type DType } from '../dtype.js';
import { dtypeFromOnnx } from '../dtype.js';
import { broadcast, fail, knownOf, MAX_KNOWN, numel, registerOp, same, strides, tensor, type Known, type OpContext, type ValueInfo } from './registry.js';

const UNARY_FOLD: Record<string, ((x: number) => number) | undefined> = {
  Identity: (x) => x,
  Neg: (x) => -x,
  Abs: Math.abs,
  Floor: Math.floor,
  Ceil: Math.ceil,
  Sqrt: Math.sqrt,
  Exp: Math.exp,
  Log: Math.log,
  Reciprocal: (x) => 1 / x,
  Relu: (x) => Math.max(0, x),
  Sigmoid: (x) => 1 / (1 + Math.exp(-x)),
  Tanh: Math.tanh,
  Sign: Math.sign,
  Round: (x) => {
    const r = Math.round(x);
    return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r; // half to even
  },
  Not: (x) => (x ? 0 : 1),
};

const UNARY_SAME = [
  'Identity', 'Neg', 'Abs', 'Floor', 'Ceil', 'Sqrt', 'Exp', 'Log', 'Reciprocal', 'Relu', 'Sigmoid', 'Tanh',
  'Sign', 'Round', 'Not', 'Sin', 'Cos', 'Tan', 'Asin', 'Acos', 'Atan', 'Sinh', 'Cosh', 'Asinh', 'Acosh', 'Atanh',
  'Erf', 'HardSigmoid', 'HardSwish', 'LeakyRelu', 'Elu', 'Selu', 'Celu', 'Softplus', 'Softsign', 'ThresholdedRelu',
  'Gelu', 'Mish', 'Swish', 'BitwiseNot', 'Shrink', 'Softmax', 'LogSoftmax', 'Hardmax', 'LRN', 'CumSum', 'Trilu',
  'MeanVarianceNormalization', 'InstanceNormalization', 'LpNormalization', 'ReverseSequence', 'ScatterElements',
  'ScatterND', 'Scatter', 'Clip', 'Det', 'Binarizer', 'CumProd', 'RotaryEmbedding', 'TensorScatter',
];

function foldUnary(ctx: OpContext, f: (x: number) => number): Known | undefined {
  const k = ctx.known(0);
  return k ? knownOf(k.dtype, [...k.dims], k.data.map(f)) : undefined;
}

registerOp(UNARY_SAME, {
  infer(ctx) {
    const x = ctx.input(0);
    const f = UNARY_FOLD[ctx.node.op];
    const out = same(x);
    if (ctx.node.op === 'Det' && x.shape) out.shape = x.shape.slice(0, -2);
    const k = f && x.dtype !== 'float16' ? foldUnary(ctx, f) : undefined;
    return [k ? { ...out, known: k } : out];
  },
  flops(ctx, outs) {
    const n = outs[0].shape ? numel(outs[0].shape) ?? 0 : 0;
    const per: Record<string, number> = { Softmax: 5, LogSoftmax: 5, LRN: 8, Sigmoid: 4, Tanh: 4, Erf: 8, Gelu: 10, HardSwish: 4, HardSigmoid: 3, InstanceNormalization: 5, Clip: 2 };
    return n * (per[ctx.node.op] ?? 1);
  },
});

const BOOL_OUT = new Set(['Equal', 'Less', 'Greater', 'LessOrEqual', 'GreaterOrEqual', 'And', 'Or', 'Xor', 'IsNaN', 'IsInf']);

const BINARY_FOLD: Record<string, ((a: number, b: number) => number) | undefined> = {
  Add: (a, b) => a + b,
  Sub: (a, b) => a - b,
  Mul: (a, b) => a * b,
  Div: (a, b) => a / b,
  Pow: (a, b) => a ** b,
  Max: Math.max,
  Min: Math.min,
  Sum: (a, b) => a + b,
  Equal: (a, b) => +(a === b),
  Less: (a, b) => +(a < b),
  Greater: (a, b) => +(a > b),
  LessOrEqual: (a, b) => +(a <= b),
  GreaterOrEqual: (a, b) => +(a >= b),
  And: (a, b) => +(a && b),
  Or: (a, b) => +(a || b),
  Xor: (a, b) => +(!!a !== !!b),
  Mod: (a, b) => a - b * Math.floor(a / b),
};

/** Evaluates a broadcasting n-ary op on known inputs. */
function foldBroadcast(dtype: DType, outDims: number[], inputs: Known[], f: (...xs: number[]) => number): Known | undefined {
  const n = outDims.reduce((a, b) => a * b, 1);
  if (!(n <= MAX_KNOWN)) return undefined; // folded values stay small
  const outStr = strides(outDims);
  const inStr = inputs.map((k) => {
    const s = strides(k.dims);
    const off = outDims.length - k.dims.length;
    return outDims.map((_, i) => (i < off || k.dims[i - off] === 1 ? 0 : s[i - off]));
  });
  const data = new Array<number>(n);
  for (let flat = 0; flat < n; flat++) {
    const args = inputs.map((k, j) => {
      let idx = 0;
      let rem = flat;
      for (let d = 0; d < outDims.length; d++) {
        const c = Math.floor(rem / outStr[d]);
        rem -= c * outStr[d];
        idx += c * inStr[j][d];
      }
      return k.data[idx];
    });
    data[flat] = f(...args);
  }
  const isInt = dtype.startsWith('int') || dtype.startsWith('uint');
  return knownOf(dtype, outDims, isInt ? data.map((v) => (dtype === 'int64' || dtype === 'int32' ? Math.trunc(v) : v)) : data);
}

function broadcastInfer(ctx: OpContext, inputs: number[], dtype: DType | null, f?: (...xs: number[]) => number): ValueInfo {
  const shape = broadcast(ctx, inputs.map((i) => ctx.shape(i)));
  if (f && dtype && shape.every((d) => typeof d === 'number')) {
    const ks = inputs.map((i) => ctx.known(i));
    if (ks.every((k): k is Known => k !== undefined)) {
      const isInt = dtype.startsWith('int') || dtype.startsWith('uint');
      let g = f;
      if (ctx.node.op === 'Div' && isInt) g = (a: number, b: number) => Math.trunc(a / b);
      // Mod: fmod=1 takes the dividend's sign (C fmod, JavaScript's %); fmod=0 the divisor's.
      if (ctx.node.op === 'Mod' && ctx.int('fmod', 0) === 1) g = (a: number, b: number) => a % b;
      const k = foldBroadcast(dtype, shape as number[], ks, g);
      if (k) return tensor(dtype, shape, k);
    }
  }
  return tensor(dtype, shape);
}

registerOp(['Add', 'Sub', 'Mul', 'Div', 'Pow', 'Mod', 'BitShift', 'BitwiseAnd', 'BitwiseOr', 'BitwiseXor', 'PRelu', ...BOOL_OUT].filter((o) => o !== 'IsNaN' && o !== 'IsInf'), {
  infer(ctx) {
    const dtype = BOOL_OUT.has(ctx.node.op) ? 'bool' : ctx.input(0).dtype;
    const a = ctx.shape(0), b = ctx.shape(1);
    // PRelu broadcasts the slope to X (per channel before opset 7, unidirectionally after): X's shape.
    // Before opset 7, binary ops broadcast B to A only with broadcast=1 (aligned at `axis`): A's shape.
    const legacy = ctx.node.op === 'PRelu' || ctx.opset < 7;
    if (legacy && JSON.stringify(a) !== JSON.stringify(b)) return [tensor(dtype, [...a])];
    return [broadcastInfer(ctx, [0, 1], dtype, BINARY_FOLD[ctx.node.op])];
  },
});

registerOp(['IsNaN', 'IsInf', 'RegexFullMatch'], {
  infer: (ctx) => [tensor('bool', [...ctx.shape(0)])],
});

registerOp('StringConcat', {
  infer: (ctx) => [broadcastInfer(ctx, [0, 1], 'string')],
});

registerOp(['Sum', 'Max', 'Min', 'Mean'], {
  infer(ctx) {
    const idx = ctx.inputs.map((_, i) => i).filter((i) => ctx.has(i));
    const f = BINARY_FOLD[ctx.node.op];
    const fold = ctx.node.op === 'Mean' ? (...xs: number[]) => xs.reduce((a, b) => a + b) / xs.length : f && ((...xs: number[]) => xs.reduce((a, b) => f(a, b)));
    return [broadcastInfer(ctx, idx, ctx.input(0).dtype, fold)];
  },
  flops: (ctx, outs) => (numel(outs[0].shape ?? []) ?? 0) * Math.max(1, ctx.inputs.length - 1),
});

registerOp('Where', {
  infer: (ctx) => [broadcastInfer(ctx, [0, 1, 2], ctx.input(1).dtype, (c, a, b) => (c ? a : b))],
});

registerOp(['Cast', 'CastLike'], {
  infer(ctx) {
    const x = ctx.input(0);
    let dtype: DType | null;
    if (ctx.node.op === 'CastLike') dtype = ctx.input(1).dtype;
    else {
      const to = ctx.int('to');
      if (to === undefined) fail(ctx, "no 'to' attribute");
      dtype = dtypeFromOnnx(to, `Cast '${ctx.node.name}'`);
    }
    const k = ctx.known(0);
    let known: Known | undefined;
    if (k && dtype && isDType(dtype)) {
      const conv = (v: number) => {
        if (dtype === 'bool') return v ? 1 : 0;
        if (dtype!.startsWith('int') || dtype!.startsWith('uint')) return Math.trunc(v);
        return v;
      };
      if (dtype !== 'float16' && dtype !== 'bfloat16' && dtype !== 'string') known = knownOf(dtype, [...k.dims], k.data.map(conv));
    }
    return [tensor(dtype, x.shape && [...x.shape], known)];
  },
});

registerOp('Dropout', {
  infer(ctx) {
    const x = ctx.input(0);
    const k = ctx.known(0);
    // The mask is bool from opset 10; before, it has the input's type (T).
    const maskType = ctx.opset >= 10 ? 'bool' : x.dtype;
    return [k ? { ...same(x), known: k } : same(x), tensor(maskType, x.shape && [...x.shape])];
  },
});

registerOp(['BatchNormalization'], {
  infer(ctx) {
    const x = ctx.input(0);
    const c = ctx.shape(1);
    return [same(x), tensor(x.dtype, c), tensor(x.dtype, c), tensor(x.dtype, c), tensor(x.dtype, c)];
  },
  flops: (_ctx, outs) => 2 * (numel(outs[0].shape ?? []) ?? 0),
});

registerOp('LayerNormalization', {
  infer(ctx) {
    const x = ctx.input(0);
    const shape = ctx.shape(0);
    const axis = ctx.int('axis', -1);
    const a = axis < 0 ? axis + shape.length : axis;
    const stat = shape.map((d, i) => (i < a ? d : 1));
    const statType = (ctx.int('stash_type', 1) === 1 ? 'float32' : x.dtype) as DType;
    return [same(x), tensor(statType, stat), tensor(statType, stat)];
  },
  flops: (_ctx, outs) => 8 * (numel(outs[0].shape ?? []) ?? 0),
});

registerOp(['GroupNormalization', 'RMSNormalization'], {
  infer: (ctx) => [same(ctx.input(0))],
  flops: (_ctx, outs) => 8 * (numel(outs[0].shape ?? []) ?? 0),
});
