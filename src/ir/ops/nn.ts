/** Compute-heavy ops: convolutions, pooling, matrix products, recurrent cells, resizing, control flow. */
import { TesseraError } from '../../errors.js';
import type { Dim, Shape } from '../graph.js';
import { fail, numel, registerOp, tensor, type OpContext, type ValueInfo } from './registry.js';

function spatialOut(ctx: OpContext, inSpatial: Dim[], kernel: number[], opts: { ceil?: boolean } = {}): Dim[] {
  const n = kernel.length;
  const strides = ctx.ints('strides') ?? new Array(n).fill(1);
  const dil = ctx.ints('dilations') ?? new Array(n).fill(1);
  const pads = ctx.ints('pads') ?? new Array(2 * n).fill(0);
  const autoPad = ctx.str('auto_pad', 'NOTSET');
  return inSpatial.map((d, i) => {
    if (typeof d !== 'number') return d;
    const eff = (kernel[i] - 1) * dil[i] + 1;
    if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') return Math.ceil(d / strides[i]);
    if (autoPad === 'VALID') return Math.trunc((d - eff) / strides[i]) + 1;
    const span = d + pads[i] + pads[i + n] - eff;
    if (opts.ceil) {
      let out = Math.ceil(span / strides[i]) + 1;
      if ((out - 1) * strides[i] >= d + pads[i]) out--; // the last window must start inside the input or left pad
      return out;
    }
    return Math.trunc(span / strides[i]) + 1; // C++ integer division, as onnxruntime computes it
  });
}

function checkRank(ctx: OpContext, s: Shape, min: number): void {
  if (s.length < min) {
    throw new TesseraError('SHAPE_INFERENCE', `${ctx.node.op} '${ctx.node.name}': input of rank ${s.length} ([${s.join(',')}]), needs at least ${min}`);
  }
}

/** The output shape of a convolution reading X at input `xi` and W at input `wi`. */
function convShape(ctx: OpContext, xi: number, wi: number): Shape {
  const x = ctx.shape(xi);
  const w = ctx.shape(wi);
  checkRank(ctx, x, 3);
  const kernel = ctx.ints('kernel_shape') ?? w.slice(2);
  if (!kernel.every((k): k is number => typeof k === 'number')) fail(ctx, 'symbolic kernel shape');
  return [x[0], w[0], ...spatialOut(ctx, x.slice(2), kernel)];
}

function convFlops(ctx: OpContext, outs: readonly ValueInfo[], wi: number): number {
  const perOut = numel(ctx.shape(wi).slice(1)) ?? 0; // (Cin/group) * prod(kernel)
  return 2 * (numel(outs[0].shape!) ?? 0) * perOut;
}

registerOp(['Conv', 'DeformConv'], {
  infer: (ctx) => [tensor(ctx.input(0).dtype, convShape(ctx, 0, 1))],
  flops: (ctx, outs) => convFlops(ctx, outs, 1),
});

registerOp('ConvInteger', {
  infer: (ctx) => [tensor('int32', convShape(ctx, 0, 1))],
  flops: (ctx, outs) => convFlops(ctx, outs, 1),
});

// QLinearConv(x, x_scale, x_zero_point, w, w_scale, w_zero_point, y_scale, y_zero_point, B)
registerOp('QLinearConv', {
  infer: (ctx) => [tensor(ctx.input(7).dtype, convShape(ctx, 0, 3))],
  flops: (ctx, outs) => convFlops(ctx, outs, 3),
});

registerOp('ConvTranspose', {
  infer(ctx) {
    const x = ctx.shape(0);
    const w = ctx.shape(1);
    checkRank(ctx, x, 3);
    const n = x.length - 2;
    const kernel = ctx.ints('kernel_shape') ?? (w.slice(2) as number[]);
    const strides = ctx.ints('strides') ?? new Array(n).fill(1);
    const dil = ctx.ints('dilations') ?? new Array(n).fill(1);
    const pads = ctx.ints('pads') ?? new Array(2 * n).fill(0);
    const outPad = ctx.ints('output_padding') ?? new Array(n).fill(0);
    const outShape = ctx.ints('output_shape');
    const autoPad = ctx.str('auto_pad', 'NOTSET');
    const group = ctx.int('group', 1);
    const cout = typeof w[1] === 'number' ? w[1] * group : w[1];
    const spatial = x.slice(2).map((d, i) => {
      if (outShape) return outShape[outShape.length - n + i];
      if (typeof d !== 'number') return d;
      if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') return d * strides[i];
      return strides[i] * (d - 1) + outPad[i] + (kernel[i] - 1) * dil[i] + 1 - pads[i] - pads[i + n];
    });
    return [tensor(ctx.input(0).dtype, [x[0], cout, ...spatial])];
  },
  flops(ctx) {
    const w = ctx.shape(1);
    return 2 * (numel(ctx.shape(0)) ?? 0) * ((numel(w.slice(1)) ?? 0));
  },
});

registerOp(['MaxPool', 'AveragePool', 'LpPool'], {
  infer(ctx) {
    const x = ctx.shape(0);
    checkRank(ctx, x, 3);
    const kernel = ctx.ints('kernel_shape') ?? fail(ctx, 'no kernel_shape');
    const out = [x[0], x[1], ...spatialOut(ctx, x.slice(2), kernel, { ceil: ctx.int('ceil_mode', 0) === 1 })];
    const res: ValueInfo[] = [tensor(ctx.input(0).dtype, out)];
    if (ctx.node.outputs.length > 1) res.push(tensor('int64', [...out]));
    return res;
  },
  flops(ctx, outs) {
    const k = ctx.ints('kernel_shape') ?? [];
    return (numel(outs[0].shape!) ?? 0) * k.reduce((a, b) => a * b, 1);
  },
});

registerOp(['GlobalAveragePool', 'GlobalMaxPool', 'GlobalLpPool'], {
  infer(ctx) {
    const x = ctx.shape(0);
    checkRank(ctx, x, 3);
    return [tensor(ctx.input(0).dtype, [x[0], x[1], ...x.slice(2).map(() => 1)])];
  },
  flops: (ctx) => numel(ctx.shape(0)) ?? 0,
});

/** numpy.matmul's output shape for A at input `ai` and B at input `bi`. */
function matmulShape(ctx: OpContext, ai: number, bi: number): Shape {
  let a = [...ctx.shape(ai)];
  let b = [...ctx.shape(bi)];
  const aVec = a.length === 1, bVec = b.length === 1;
  if (aVec) a = [1, a[0]];
  if (bVec) b = [b[0], 1];
  const ka = a[a.length - 1], kb = b[b.length - 2];
  const bad = () => new TesseraError('SHAPE_INFERENCE', `${ctx.node.op} '${ctx.node.name}': shapes [${ctx.shape(ai).join(',')}] and [${ctx.shape(bi).join(',')}] do not multiply`);
  if (typeof ka === 'number' && typeof kb === 'number' && ka !== kb) throw bad();
  const batchA = a.slice(0, -2), batchB = b.slice(0, -2);
  const rank = Math.max(batchA.length, batchB.length);
  const batch: Dim[] = [];
  for (let i = 0; i < rank; i++) {
    const x = batchA[batchA.length - rank + i] ?? 1;
    const y = batchB[batchB.length - rank + i] ?? 1;
    if (typeof x === 'number' && typeof y === 'number' && x !== y && x !== 1 && y !== 1) throw bad();
    batch.push(x === 1 ? y : x);
  }
  const out = [...batch];
  if (!aVec) out.push(a[a.length - 2]);
  if (!bVec) out.push(b[b.length - 1]);
  return out;
}

function matmulFlops(ctx: OpContext, outs: readonly ValueInfo[], ai: number): number {
  const a = ctx.shape(ai);
  const k = a[a.length - 1];
  return 2 * (numel(outs[0].shape!) ?? 0) * (typeof k === 'number' ? k : 0);
}

registerOp('MatMul', {
  infer: (ctx) => [tensor(ctx.input(0).dtype, matmulShape(ctx, 0, 1))],
  flops: (ctx, outs) => matmulFlops(ctx, outs, 0),
});

registerOp('MatMulInteger', {
  infer: (ctx) => [tensor('int32', matmulShape(ctx, 0, 1))],
  flops: (ctx, outs) => matmulFlops(ctx, outs, 0),
});

// QLinearMatMul(a, a_scale, a_zero_point, b, b_scale, b_zero_point, y_scale, y_zero_point)
registerOp('QLinearMatMul', {
  infer: (ctx) => [tensor(ctx.input(7).dtype, matmulShape(ctx, 0, 3))],
  flops: (ctx, outs) => matmulFlops(ctx, outs, 0),
});

registerOp('Gemm', {
  infer(ctx) {
    const a = ctx.shape(0);
    const b = ctx.shape(1);
    const m = ctx.int('transA', 0) ? a[1] : a[0];
    const n = ctx.int('transB', 0) ? b[0] : b[1];
    return [tensor(ctx.input(0).dtype, [m, n])];
  },
  flops(ctx, outs) {
    const a = ctx.shape(0);
    const k = ctx.int('transA', 0) ? a[0] : a[1];
    return 2 * (numel(outs[0].shape!) ?? 0) * (typeof k === 'number' ? k : 0);
  },
});

registerOp(['LSTM', 'GRU', 'RNN'], {
  infer(ctx) {
    const x = ctx.shape(0);
    const hidden = ctx.int('hidden_size') ?? (ctx.shape(2)[2] as number);
    const dirs = ctx.str('direction', 'forward') === 'bidirectional' ? 2 : 1;
    const layout = ctx.int('layout', 0);
    const [seq, batch] = layout ? [x[1], x[0]] : [x[0], x[1]];
    const dt = ctx.input(0).dtype;
    const y = layout ? [batch, seq, dirs, hidden] : [seq, dirs, batch, hidden];
    const state = layout ? [batch, dirs, hidden] : [dirs, batch, hidden];
    const outs = [tensor(dt, y), tensor(dt, state)];
    if (ctx.node.op === 'LSTM') outs.push(tensor(dt, [...state]));
    return outs;
  },
  flops(ctx) {
    const x = ctx.shape(0);
    const w = ctx.shape(1); // [dirs, gates*hidden, input]
    const r = ctx.shape(2); // [dirs, gates*hidden, hidden]
    const steps = (numel(x.slice(0, 2)) ?? 0);
    const perStep = 2 * ((numel(w) ?? 0) + (numel(r) ?? 0));
    return steps * perStep;
  },
});

registerOp(['Resize', 'Upsample'], {
  infer(ctx) {
    const x = ctx.shape(0);
    const policy = ctx.str('keep_aspect_ratio_policy', 'stretch');
    if (policy !== 'stretch') fail(ctx, `keep_aspect_ratio_policy ${policy}`);
    const axes = ctx.ints('axes')?.map((a) => (a < 0 ? a + x.length : a)) ?? x.map((_, i) => i);
    const scalesIndex = ctx.node.op === 'Upsample' || ctx.opset < 11 ? 1 : 2;
    const sizes = ctx.node.op === 'Resize' && ctx.opset >= 11 && ctx.has(3) ? ctx.known(3) : undefined;
    const out = [...x];
    if (sizes && sizes.data.length) {
      axes.forEach((a, j) => (out[a] = sizes.data[j]));
    } else {
      const scales = ctx.node.op === 'Upsample' && ctx.opset < 9 ? ctx.attr('scales') : undefined;
      const sc = scales?.type === 'floats' ? scales.value : ctx.known(scalesIndex)?.data;
      if (!sc) fail(ctx, 'scales/sizes not known at compile time');
      axes.forEach((a, j) => {
        const d = x[a];
        if (typeof d === 'number') out[a] = Math.floor(d * sc[j] + 1e-6);
      });
    }
    return [tensor(ctx.input(0).dtype, out)];
  },
  flops: (_ctx, outs) => 4 * (numel(outs[0].shape!) ?? 0),
});

function mergeBranches(ctx: OpContext, a: ValueInfo[], b: ValueInfo[]): ValueInfo[] {
  return a.map((x, i) => {
    const y = b[i];
    if (!x.shape || !y?.shape || x.shape.length !== y.shape.length) fail(ctx, `branches disagree on the rank of output ${i}`);
    const shape = x.shape.map((d, j) => (d === y.shape![j] ? d : `${ctx.node.name}_out${i}_d${j}`));
    return tensor(x.dtype ?? y.dtype, shape);
  });
}

registerOp('If', {
  infer(ctx) {
    const cond = ctx.known(0);
    if (cond) return ctx.subgraph(cond.data[0] ? 'then_branch' : 'else_branch');
    // A branch whose shapes provably fail cannot be taken with these inputs without an error at run
    // time: the outputs are those of the branches that can run.
    const feasible: ValueInfo[][] = [];
    let lastError: unknown;
    for (const b of ['then_branch', 'else_branch']) {
      try {
        feasible.push(ctx.subgraph(b));
      } catch (err) {
        if (!(err instanceof TesseraError)) throw err;
        lastError = err;
      }
    }
    if (feasible.length === 0) throw lastError;
    const out = feasible.length === 1 ? feasible[0] : mergeBranches(ctx, feasible[0], feasible[1]);
    if (!out.every((o) => o.shape!.every((d) => typeof d === 'number'))) fail(ctx, 'branches give different shapes');
    return out;
  },
});

/** Attention (opset 23): Q, K, V as [batch, heads, seq, head_size] or [batch, seq, heads * head_size]. */
registerOp('Attention', {
  infer(ctx) {
    const q = ctx.shape(0), k = ctx.shape(1), v = ctx.shape(2);
    const num = (d: Dim, what: string): number => (typeof d === 'number' ? d : fail(ctx, `symbolic ${what}`));
    const heads = (name: string) => ctx.int(name) ?? fail(ctx, `3-D input without '${name}'`);
    if (![3, 4].includes(q.length) || k.length !== q.length || v.length !== q.length) fail(ctx, `Q, K, V of ranks ${q.length}, ${k.length}, ${v.length}`);
    const four = q.length === 4;
    const batch = q[0];
    const qHeads = four ? num(q[1], 'heads') : heads('q_num_heads');
    const qSeq = four ? q[2] : q[1];
    const kvHeads = four ? num(k[1], 'heads') : heads('kv_num_heads');
    const kvSeq = four ? k[2] : k[1];
    const kHead = four ? k[3] : num(k[2], 'hidden size') / kvHeads;
    const vHead = four ? v[3] : num(v[2], 'hidden size') / kvHeads;
    const past = ctx.has(4) ? ctx.shape(4)[2] : 0;
    const total: Dim = typeof past === 'number' && typeof kvSeq === 'number' ? past + kvSeq : `${past}+${kvSeq}`;
    const y = four ? [batch, qHeads, qSeq, vHead] : [batch, qSeq, typeof vHead === 'number' ? qHeads * vHead : fail(ctx, 'symbolic head size')];
    return [
      tensor(ctx.input(0).dtype, y),
      tensor(ctx.input(1).dtype, [batch, kvHeads, total, kHead]),
      tensor(ctx.input(2).dtype, [batch, kvHeads, total, vHead]),
      tensor(ctx.input(0).dtype, [batch, qHeads, qSeq, total]),
    ];
  },
  flops(ctx, outs) {
    const qk = outs[3].shape ? numel(outs[3].shape) ?? 0 : 0;
    const y = outs[0].shape ? numel(outs[0].shape) ?? 0 : 0;
    const q = ctx.shape(0);
    const d = q[q.length - 1];
    return 2 * qk * (typeof d === 'number' ? d : 0) + 2 * y * (typeof outs[3].shape?.[3] === 'number' ? (outs[3].shape[3] as number) : 0);
  },
});

// Losses: one value per sample with reduction 'none', a scalar otherwise.
registerOp('NegativeLogLikelihoodLoss', {
  infer: (ctx) => [tensor(ctx.input(0).dtype, ctx.str('reduction', 'mean') === 'none' ? [...ctx.shape(1)] : [])],
});

registerOp('SoftmaxCrossEntropyLoss', {
  infer: (ctx) => [
    tensor(ctx.input(0).dtype, ctx.str('reduction', 'mean') === 'none' ? [...ctx.shape(1)] : []),
    tensor(ctx.input(0).dtype, [...ctx.shape(0)]),
  ],
});

/** GridSample: X [N, C, D1..Dr] sampled at grid [N, D1'..Dr', r] gives [N, C, D1'..Dr']. */
registerOp('GridSample', {
  infer(ctx) {
    const x = ctx.shape(0), g = ctx.shape(1);
    return [tensor(ctx.input(0).dtype, [x[0], x[1], ...g.slice(1, -1)])];
  },
  flops: (_ctx, outs) => 8 * (numel(outs[0].shape!) ?? 0),
});

/** AffineGrid: theta [N, r, r+1] and size [N, C, D1..Dr] give a grid [N, D1..Dr, r]. */
registerOp('AffineGrid', {
  infer(ctx) {
    const size = ctx.known(1);
    if (!size) fail(ctx, 'size is not a compile-time constant');
    const [n, , ...spatial] = size.data;
    return [tensor(ctx.input(0).dtype, [n, ...spatial, spatial.length])];
  },
});
