/** Ops that move data without arithmetic: shape queries, reshapes, slicing, gathering, constants. */
import { TesseraError } from '../../errors.js';
import type { DType } from '../dtype.js';
import type { Dim, Shape } from '../graph.js';
import { bytesToNumbers, canDecode } from '../tensor-data.js';
import { weightBytes, weightElementCount } from '../weight.js';
import { dtypeFromOnnx } from '../dtype.js';
import { fail, knownOf, MAX_KNOWN, normAxis, numel, registerOp, same, strides, tensor, type Known, type OpContext, type ValueInfo } from './registry.js';

/** The contents of an int input (shape, axes, pads, …) that must be known at compile time. */
function ints(ctx: OpContext, i: number, what: string): number[] {
  const k = ctx.known(i);
  if (!k) fail(ctx, `${what} (input ${i}) is not a compile-time constant`);
  return [...k.data];
}

function optInts(ctx: OpContext, i: number, what: string): number[] | undefined {
  return ctx.has(i) ? ints(ctx, i, what) : undefined;
}

function concreteShape(ctx: OpContext, i: number): number[] {
  const s = ctx.shape(i);
  if (!s.every((d) => typeof d === 'number')) fail(ctx, `input ${i} has symbolic shape [${s.join(',')}]`);
  return s as number[];
}

/** Gathers elements of a known tensor at the given multi-indices (row-major over `outDims`). */
function take(k: Known, outDims: number[], index: (out: number[]) => number[]): Known | undefined {
  const n = outDims.reduce((a, b) => a * b, 1);
  if (!(n <= MAX_KNOWN)) return undefined; // folded values stay small (an Expand or Tile of a constant can be huge)
  const ks = strides(k.dims);
  const os = strides(outDims);
  const data = new Array<number>(n);
  const pos = new Array<number>(outDims.length);
  for (let flat = 0; flat < n; flat++) {
    let rem = flat;
    for (let d = 0; d < outDims.length; d++) {
      pos[d] = Math.floor(rem / os[d]);
      rem -= pos[d] * os[d];
    }
    const src = index(pos);
    let idx = 0;
    for (let d = 0; d < src.length; d++) idx += src[d] * ks[d];
    data[flat] = k.data[idx];
  }
  return knownOf(k.dtype, outDims, data);
}

registerOp('Shape', {
  infer(ctx) {
    const s = ctx.shape(0);
    const r = s.length;
    const clampAxis = (a: number) => Math.min(Math.max(a < 0 ? a + r : a, 0), r);
    const start = clampAxis(ctx.int('start', 0));
    const end = clampAxis(ctx.int('end', r));
    const dims = s.slice(start, Math.max(start, end));
    const known = dims.every((d) => typeof d === 'number') ? knownOf('int64', [dims.length], dims as number[]) : undefined;
    return [tensor('int64', [dims.length], known)];
  },
  flops: () => 0,
});

registerOp('Size', {
  infer(ctx) {
    const n = numel(ctx.shape(0));
    return [tensor('int64', [], n === null ? undefined : knownOf('int64', [], [n]))];
  },
  flops: () => 0,
});

function withData(x: ValueInfo, k: Known | undefined, shape: Shape): ValueInfo {
  return tensor(x.dtype, shape, k ? knownOf(k.dtype, shape as number[], [...k.data]) : undefined);
}

registerOp('Reshape', {
  infer(ctx) {
    const x = ctx.input(0);
    const inShape = ctx.shape(0);
    const target = ctx.opset < 5 ? ctx.ints('shape') ?? fail(ctx, 'no shape attribute') : ints(ctx, 1, 'shape');
    const allowzero = ctx.int('allowzero', 0);
    const out: Dim[] = target.map((d, i) => (d === 0 && !allowzero ? inShape[i] : d));
    const minus = out.indexOf(-1);
    if (minus >= 0) {
      const total = numel(inShape);
      const rest = numel(out.filter((_, i) => i !== minus));
      if (total === null || rest === null) fail(ctx, 'cannot resolve -1 with symbolic dims');
      out[minus] = rest === 0 ? 0 : total / rest;
    }
    const a = numel(inShape), b = numel(out);
    if (a !== null && b !== null && a !== b) {
      throw new TesseraError('SHAPE_INFERENCE', `Reshape '${ctx.node.name}': cannot reshape [${inShape.join(',')}] (${a} elements) to [${target.join(',')}]`);
    }
    return [withData(x, ctx.known(0), out)];
  },
  flops: () => 0,
});

registerOp('Flatten', {
  infer(ctx) {
    const s = ctx.shape(0);
    const axis = ctx.int('axis', 1);
    const a = axis < 0 ? axis + s.length : axis;
    const left = numel(s.slice(0, a));
    const right = numel(s.slice(a));
    if (left === null || right === null) fail(ctx, 'symbolic dims');
    return [withData(ctx.input(0), ctx.known(0), [left, right])];
  },
  flops: () => 0,
});

function axesOf(ctx: OpContext, attrBefore: number, inputIndex: number): number[] | undefined {
  return ctx.opset < attrBefore ? ctx.ints('axes') : optInts(ctx, inputIndex, 'axes');
}

registerOp('Squeeze', {
  infer(ctx) {
    const s = ctx.shape(0);
    const axes = axesOf(ctx, 13, 1)?.map((a) => normAxis(ctx, a, s.length));
    const out = s.filter((d, i) => (axes ? !axes.includes(i) : d !== 1));
    return [withData(ctx.input(0), ctx.known(0), out)];
  },
  flops: () => 0,
});

registerOp('Unsqueeze', {
  infer(ctx) {
    const s = ctx.shape(0);
    const axes = axesOf(ctx, 13, 1);
    if (!axes) fail(ctx, 'no axes');
    const rank = s.length + axes.length;
    const norm = axes.map((a) => normAxis(ctx, a, rank)).sort((a, b) => a - b);
    const out: Dim[] = [];
    let j = 0;
    for (let i = 0; i < rank; i++) out.push(norm.includes(i) ? 1 : s[j++]);
    return [withData(ctx.input(0), ctx.known(0), out)];
  },
  flops: () => 0,
});

registerOp('Transpose', {
  infer(ctx) {
    const s = ctx.shape(0);
    const perm = ctx.ints('perm') ?? s.map((_, i) => s.length - 1 - i);
    const out = perm.map((p) => s[p]);
    const k = ctx.known(0);
    const known = k && take(k, out as number[], (pos) => {
      const src = new Array<number>(perm.length);
      perm.forEach((p, i) => (src[p] = pos[i]));
      return src;
    });
    return [tensor(ctx.input(0).dtype, out, known)];
  },
});

registerOp('Concat', {
  infer(ctx) {
    const idx = ctx.inputs.map((_, i) => i).filter((i) => ctx.has(i));
    const shapes = idx.map((i) => ctx.shape(i));
    // Concat-1 defaults to axis 1; from opset 4 the axis is required.
    const axis = normAxis(ctx, ctx.int('axis', ctx.opset < 4 ? 1 : 0), shapes[0].length);
    const out = [...shapes[0]];
    let total: Dim = 0;
    for (const s of shapes) {
      const d = s[axis];
      total = typeof total === 'number' && typeof d === 'number' ? total + d : `${total}+${d}`;
    }
    out[axis] = total;
    const ks = idx.map((i) => ctx.known(i));
    let known: Known | undefined;
    if (ks.every((k) => k) && out.every((d) => typeof d === 'number')) {
      // concatenate along axis: outer blocks of the known tensors, interleaved
      const outer = (out as number[]).slice(0, axis).reduce((a, b) => a * b, 1);
      const data: number[] = [];
      for (let o = 0; o < outer; o++) {
        for (const k of ks as Known[]) {
          const block = k.dims.slice(axis).reduce((a, b) => a * b, 1);
          data.push(...k.data.slice(o * block, (o + 1) * block));
        }
      }
      known = knownOf(ctx.input(idx[0]).dtype as DType, out as number[], data);
    }
    return [tensor(ctx.input(idx[0]).dtype, out, known)];
  },
  flops: () => 0,
});

registerOp('Split', {
  infer(ctx) {
    const s = ctx.shape(0);
    const axis = normAxis(ctx, ctx.int('axis', 0), s.length);
    const n = ctx.node.outputs.length;
    // Split-1 took the sizes from an optional second input or the attribute; 2-12 the attribute; 13+ the input.
    let split = ctx.opset >= 13 || (ctx.opset < 2 && ctx.has(1)) ? optInts(ctx, 1, 'split') : ctx.ints('split');
    const d = s[axis];
    if (!split) {
      if (typeof d !== 'number') fail(ctx, 'symbolic split axis');
      const parts = ctx.int('num_outputs', n);
      const chunk = Math.ceil(d / parts);
      split = Array.from({ length: n }, (_, i) => Math.max(0, Math.min(chunk, d - i * chunk)));
    }
    return split.map((len) => tensor(ctx.input(0).dtype, s.map((x, i) => (i === axis ? len : x))));
  },
  flops: () => 0,
});

/** Resolves Slice's starts/ends/axes/steps into per-dim (start, count, step). */
registerOp('Slice', {
  infer(ctx) {
    const s = ctx.shape(0);
    let starts: number[], ends: number[], axes: number[] | undefined, steps: number[] | undefined;
    if (ctx.opset < 10) {
      starts = ctx.ints('starts') ?? fail(ctx, 'no starts');
      ends = ctx.ints('ends') ?? fail(ctx, 'no ends');
      axes = ctx.ints('axes');
    } else {
      starts = ints(ctx, 1, 'starts');
      ends = ints(ctx, 2, 'ends');
      axes = optInts(ctx, 3, 'axes');
      steps = optInts(ctx, 4, 'steps');
    }
    const out = [...s];
    const begin = s.map(() => 0);
    const step = s.map(() => 1);
    starts.forEach((st, j) => {
      const axis = normAxis(ctx, axes ? axes[j] : j, s.length);
      const dim = s[axis];
      if (typeof dim !== 'number') fail(ctx, 'slicing a symbolic dim');
      const sp = steps ? steps[j] : 1;
      if (sp === 0) throw new TesseraError('SHAPE_INFERENCE', `Slice '${ctx.node.name}': step 0`);
      let b = st < 0 ? st + dim : st;
      let e = ends[j] < 0 ? ends[j] + dim : ends[j];
      if (sp > 0) {
        b = Math.min(Math.max(b, 0), dim);
        e = Math.min(Math.max(e, 0), dim);
        out[axis] = Math.max(0, Math.ceil((e - b) / sp));
      } else {
        b = Math.min(Math.max(b, -1), dim - 1);
        e = Math.min(Math.max(e, -1), dim - 1);
        out[axis] = Math.max(0, Math.ceil((e - b) / sp));
      }
      begin[axis] = b;
      step[axis] = sp;
    });
    const k = ctx.known(0);
    const known = k && take(k, out as number[], (pos) => pos.map((p, i) => begin[i] + p * step[i]));
    return [tensor(ctx.input(0).dtype, out, known)];
  },
  flops: () => 0,
});

registerOp('Gather', {
  infer(ctx) {
    const s = ctx.shape(0);
    const is = ctx.shape(1);
    const axis = normAxis(ctx, ctx.int('axis', 0), s.length);
    const out = [...s.slice(0, axis), ...is, ...s.slice(axis + 1)];
    const k = ctx.known(0);
    const ki = ctx.known(1);
    let known: Known | undefined;
    if (k && ki && out.every((d) => typeof d === 'number')) {
      const dim = s[axis] as number;
      known = take(k, out as number[], (pos) => {
        const ipos = pos.slice(axis, axis + is.length);
        const istr = strides(is as number[]);
        let flat = 0;
        ipos.forEach((p, d) => (flat += p * istr[d]));
        const idx = ki.data[flat];
        return [...pos.slice(0, axis), idx < 0 ? idx + dim : idx, ...pos.slice(axis + is.length)];
      });
    }
    return [tensor(ctx.input(0).dtype, out, known)];
  },
  flops: () => 0,
});

registerOp('GatherElements', {
  infer: (ctx) => [tensor(ctx.input(0).dtype, [...ctx.shape(1)])],
  flops: () => 0,
});

registerOp('GatherND', {
  infer(ctx) {
    const s = ctx.shape(0);
    const is = ctx.shape(1);
    const b = ctx.int('batch_dims', 0);
    const last = is[is.length - 1];
    if (typeof last !== 'number') fail(ctx, 'symbolic index depth');
    return [tensor(ctx.input(0).dtype, [...is.slice(0, -1), ...s.slice(b + last)])];
  },
  flops: () => 0,
});

registerOp('Expand', {
  infer(ctx) {
    const s = ctx.shape(0);
    const target = ints(ctx, 1, 'shape');
    const rank = Math.max(s.length, target.length);
    const out: Dim[] = [];
    for (let i = 0; i < rank; i++) {
      const a = s[s.length - rank + i] ?? 1;
      const b = target[target.length - rank + i] ?? 1;
      out.push(a === 1 ? b : b === 1 ? a : a);
    }
    const k = ctx.known(0);
    const known = k && out.every((d) => typeof d === 'number')
      ? take(k, out as number[], (pos) => pos.slice(rank - k.dims.length).map((p, i) => (k.dims[i] === 1 ? 0 : p)))
      : undefined;
    return [tensor(ctx.input(0).dtype, out, known)];
  },
});

registerOp('Tile', {
  infer(ctx) {
    const s = ctx.shape(0);
    let reps = ints(ctx, 1, 'repeats');
    if (ctx.opset < 6) {
      // Tile-1: a scalar count of tiles along one axis (input 2).
      const [axis] = ints(ctx, 2, 'axis');
      const a = normAxis(ctx, axis, s.length);
      reps = s.map((_, i) => (i === a ? reps[0] : 1));
    }
    if (reps.length !== s.length) throw new TesseraError('SHAPE_INFERENCE', `Tile '${ctx.node.name}': ${reps.length} repeats for rank ${s.length}`);
    const out = s.map((d, i) => (typeof d === 'number' ? d * reps[i] : d));
    const k = ctx.known(0);
    const known = k && take(k, out as number[], (pos) => pos.map((p, i) => p % k.dims[i]));
    return [tensor(ctx.input(0).dtype, out, known)];
  },
});

registerOp('ConstantOfShape', {
  infer(ctx) {
    const dims = ints(ctx, 0, 'shape');
    const a = ctx.attr('value');
    const w = a?.type === 'tensor' ? a.value : undefined;
    const dtype: DType = w?.dtype ?? 'float32';
    let fill = 0;
    const n = dims.reduce((x, y) => x * y, 1);
    let known: Known | undefined;
    if (n <= 4096) {
      const k = w && decodeDirect({ dtype: w.dtype, shape: [...w.dims], weight: w });
      if (k) fill = k.data[0];
      if (!w || k) known = knownOf(dtype, dims, new Array<number>(n).fill(fill));
    }
    return [tensor(dtype, dims, known)];
  },
});

/** Decodes a small weight-backed value (Constant and ConstantOfShape attributes). */
function decodeDirect(info: ValueInfo): Known | undefined {
  const w = info.weight;
  if (!w || w.source.kind === 'strings' || !canDecode(w.dtype)) return undefined;
  const n = weightElementCount(w);
  if (n > 4096) return undefined;
  return { dtype: w.dtype, dims: [...w.dims], data: bytesToNumbers(w.dtype, weightBytes(w), n) };
}

registerOp('Constant', {
  infer(ctx) {
    const attrs = ctx.node.attrs;
    const [name, a] = Object.entries(attrs)[0] ?? fail(ctx, 'no value attribute');
    switch (a.type) {
      case 'tensor': {
        const info: ValueInfo = { dtype: a.value.dtype, shape: [...a.value.dims], weight: a.value };
        if (a.value.source.kind !== 'strings' && weightElementCount(a.value) <= 4096) info.known = decodeDirect(info);
        return [info];
      }
      case 'float': return [tensor('float32', [], knownOf('float32', [], [a.value]))];
      case 'floats': return [tensor('float32', [a.value.length], knownOf('float32', [a.value.length], a.value))];
      case 'int': return [tensor('int64', [], knownOf('int64', [], [a.value]))];
      case 'ints': return [tensor('int64', [a.value.length], knownOf('int64', [a.value.length], a.value))];
      case 'string': return [tensor('string', [])];
      case 'strings': return [tensor('string', [a.value.length])];
      default: fail(ctx, `attribute '${name}' of type ${a.type}`);
    }
  },
  flops: () => 0,
});

registerOp('Range', {
  infer(ctx) {
    const [start] = ints(ctx, 0, 'start');
    const [limit] = ints(ctx, 1, 'limit');
    const [delta] = ints(ctx, 2, 'delta');
    const n = Math.max(Math.ceil((limit - start) / delta), 0);
    if (!Number.isFinite(n)) fail(ctx, `delta ${delta} gives no element count`);
    // (a count beyond 2^53 stays a number: the tensor size limit refuses it, with its name)
    const data = n <= MAX_KNOWN ? Array.from({ length: n }, (_, i) => start + i * delta) : undefined;
    return [tensor(ctx.input(0).dtype, [n], data && knownOf(ctx.input(0).dtype as DType, [n], data))];
  },
});

registerOp('Pad', {
  infer(ctx) {
    const s = ctx.shape(0);
    const pads = ctx.opset < 11 ? ctx.ints(ctx.opset < 2 ? 'paddings' : 'pads') ?? fail(ctx, 'no pads') : ints(ctx, 1, 'pads');
    const axes = ctx.opset >= 18 ? optInts(ctx, 3, 'axes') : undefined;
    const ax = (axes ?? s.map((_, i) => i)).map((a) => normAxis(ctx, a, s.length));
    if (pads.length !== 2 * ax.length) fail(ctx, `${pads.length} pads for ${ax.length} axes`);
    const mode = ctx.str('mode', 'constant');
    const out = [...s];
    ax.forEach((a, j) => {
      const d = out[a];
      if (typeof d !== 'number') return;
      const before = pads[j], after = pads[j + ax.length];
      // Reflect mirrors the data without repeating the edge: each pad must be below the (cropped) length.
      const kept = d + Math.min(before, 0) + Math.min(after, 0);
      if (mode === 'reflect' && (before > 0 || after > 0) && (kept < 2 || Math.max(before, after) > kept - 1)) {
        throw new TesseraError('SHAPE_INFERENCE', `Pad '${ctx.node.name}': reflect padding by [${before}, ${after}] needs axis ${a} to be longer than the pad, but it is ${d}`);
      }
      out[a] = d + before + after;
    });
    return [tensor(ctx.input(0).dtype, out)];
  },
});

registerOp(['DepthToSpace', 'SpaceToDepth'], {
  infer(ctx) {
    const [n, c, h, w] = concreteShape(ctx, 0);
    const b = ctx.int('blocksize') ?? fail(ctx, 'no blocksize');
    const out = ctx.node.op === 'DepthToSpace' ? [n, c / (b * b), h * b, w * b] : [n, c * b * b, h / b, w / b];
    return [tensor(ctx.input(0).dtype, out)];
  },
  flops: () => 0,
});

const REDUCE = ['ReduceMean', 'ReduceSum', 'ReduceMax', 'ReduceMin', 'ReduceProd', 'ReduceL1', 'ReduceL2', 'ReduceLogSum', 'ReduceLogSumExp', 'ReduceSumSquare'];
registerOp(REDUCE, {
  infer(ctx) {
    const s = ctx.shape(0);
    const attrUntil = ctx.node.op === 'ReduceSum' ? 13 : 18;
    const axes = (axesOf(ctx, attrUntil, 1) ?? []).map((a) => normAxis(ctx, a, s.length));
    const keep = ctx.int('keepdims', 1);
    const noop = ctx.int('noop_with_empty_axes', 0);
    if (axes.length === 0 && noop) return [same(ctx.input(0))];
    const all = axes.length === 0;
    const out: Dim[] = [];
    s.forEach((d, i) => {
      if (all || axes.includes(i)) {
        if (keep) out.push(1);
      } else out.push(d);
    });
    const k = ctx.known(0);
    let known: Known | undefined;
    if (k && (ctx.node.op === 'ReduceProd' || ctx.node.op === 'ReduceSum') && all) {
      const v = ctx.node.op === 'ReduceProd' ? k.data.reduce((a, b) => a * b, 1) : k.data.reduce((a, b) => a + b, 0);
      known = knownOf(k.dtype, out as number[], [v]);
    }
    return [tensor(ctx.input(0).dtype, out, known)];
  },
  flops: (ctx) => numel(ctx.shape(0)) ?? 0,
});

registerOp(['ArgMax', 'ArgMin'], {
  infer(ctx) {
    const s = ctx.shape(0);
    const axis = normAxis(ctx, ctx.int('axis', 0), s.length);
    const keep = ctx.int('keepdims', 1);
    const out = keep ? s.map((d, i) => (i === axis ? 1 : d)) : s.filter((_, i) => i !== axis);
    return [tensor('int64', out)];
  },
  flops: (ctx) => numel(ctx.shape(0)) ?? 0,
});

registerOp('TopK', {
  infer(ctx) {
    const s = ctx.shape(0);
    const axis = normAxis(ctx, ctx.int('axis', -1), s.length);
    const k = ctx.opset < 10 ? ctx.int('k') ?? fail(ctx, 'no k') : ints(ctx, 1, 'K')[0];
    const out = s.map((d, i) => (i === axis ? k : d));
    return [tensor(ctx.input(0).dtype, out), tensor('int64', [...out])];
  },
});

registerOp('NonZero', {
  infer(ctx) {
    const k = ctx.known(0);
    if (!k) fail(ctx, 'output size depends on the data');
    const nz: number[][] = [];
    const st = strides(k.dims);
    k.data.forEach((v, flat) => {
      if (!v) return;
      let rem = flat;
      nz.push(k.dims.map((_, d) => { const c = Math.floor(rem / st[d]); rem -= c * st[d]; return c; }));
    });
    const r = k.dims.length;
    const data: number[] = [];
    for (let d = 0; d < r; d++) for (const p of nz) data.push(p[d]);
    return [tensor('int64', [r, nz.length], knownOf('int64', [r, nz.length], data))];
  },
});

registerOp('EyeLike', {
  infer(ctx) {
    const to = ctx.int('dtype');
    return [tensor(to === undefined ? ctx.input(0).dtype : dtypeFromOnnx(to, ctx.node.name), [...ctx.shape(0)])];
  },
});

registerOp('OneHot', {
  infer(ctx) {
    const s = ctx.shape(0);
    const k = ctx.known(1);
    if (!k || k.data.length !== 1) fail(ctx, 'depth is not a compile-time constant');
    const depth = Math.trunc(k.data[0]);
    const axis = normAxis(ctx, ctx.int('axis', -1), s.length + 1);
    const out: Dim[] = [...s];
    out.splice(axis, 0, depth);
    return [tensor(ctx.input(2).dtype, out)];
  },
});

registerOp('CenterCropPad', {
  infer(ctx) {
    const s = ctx.shape(0);
    const target = ints(ctx, 1, 'shape');
    const axes = (ctx.ints('axes') ?? s.map((_, i) => i)).map((a) => normAxis(ctx, a, s.length));
    if (axes.length !== target.length) fail(ctx, `${target.length} sizes for ${axes.length} axes`);
    const out = [...s];
    axes.forEach((a, j) => (out[a] = target[j]));
    return [tensor(ctx.input(0).dtype, out)];
  },
  flops: () => 0,
});

/** Einsum: the output's subscripts (explicit after '->', or the letters used once, sorted), '...' broadcast. */
registerOp('Einsum', {
  infer(ctx) {
    const eq = ctx.str('equation', '').replace(/\s+/g, '');
    const [lhs, rhs] = eq.includes('->') ? eq.split('->') : [eq, undefined];
    const terms = lhs.split(',');
    if (terms.length !== ctx.inputs.length) fail(ctx, `equation '${eq}' has ${terms.length} operands for ${ctx.inputs.length} inputs`);
    const dims = new Map<string, Dim>();
    const counts = new Map<string, number>();
    let ellipsis: Dim[] = [];
    terms.forEach((term, i) => {
      const s = ctx.shape(i);
      const letters = term.replace('...', '');
      if (!/^[a-zA-Z]*$/.test(letters)) fail(ctx, `cannot parse equation '${eq}'`);
      const ell = term.includes('...') ? s.length - letters.length : 0;
      if (ell < 0 || (!term.includes('...') && letters.length !== s.length)) {
        throw new TesseraError('SHAPE_INFERENCE', `Einsum '${ctx.node.name}': operand ${i} '${term}' does not match its rank ${s.length}`);
      }
      const at = term.indexOf('...');
      const own: Dim[] = [];
      let j = 0;
      for (let p = 0; p < term.length; ) {
        if (term.startsWith('...', p)) {
          own.push(...s.slice(j, j + ell));
          j += ell;
          p += 3;
          continue;
        }
        const c = term[p++];
        const d = s[j++];
        counts.set(c, (counts.get(c) ?? 0) + 1);
        const prev = dims.get(c);
        if (prev === undefined || prev === 1) dims.set(c, d);
        else if (d !== 1 && typeof d === 'number' && typeof prev === 'number' && d !== prev) {
          throw new TesseraError('SHAPE_INFERENCE', `Einsum '${ctx.node.name}': subscript '${c}' is ${prev} and ${d}`);
        }
      }
      if (at >= 0) {
        // numpy-style broadcast of the ellipsis dims across operands
        const r = Math.max(ellipsis.length, own.length);
        const b: Dim[] = [];
        for (let q = 0; q < r; q++) {
          const x = ellipsis[ellipsis.length - r + q] ?? 1;
          const y = own[own.length - r + q] ?? 1;
          b.push(x === 1 ? y : x);
        }
        ellipsis = b;
      }
    });
    const outTerm = rhs ?? '...' + [...counts.keys()].filter((c) => counts.get(c) === 1).sort().join('');
    const out: Dim[] = [];
    for (let p = 0; p < outTerm.length; ) {
      if (outTerm.startsWith('...', p)) {
        out.push(...ellipsis);
        p += 3;
        continue;
      }
      const c = outTerm[p++];
      const d = dims.get(c);
      if (d === undefined) throw new TesseraError('SHAPE_INFERENCE', `Einsum '${ctx.node.name}': output subscript '${c}' is not in any operand`);
      out.push(d);
    }
    return [tensor(ctx.input(0).dtype, out)];
  },
});
