/**
 * Sequence and optional ops. Their container values are not tensors: they have no dtype or shape of
 * their own (a probe run cannot fetch them either), but their elements are tracked while their number
 * is known, so SequenceAt, SequenceLength and ConcatFromSequence infer statically.
 */
import { TesseraError } from '../../errors.js';
import { dtypeFromOnnx, type DType } from '../dtype.js';
import type { Dim } from '../graph.js';
import { fail, knownOf, MAX_KNOWN, normAxis, registerOp, same, tensor, type Container, type OpContext, type ValueInfo } from './registry.js';

function sequence(dtype: DType | null, elements: readonly ValueInfo[] | null): ValueInfo {
  return { dtype: null, shape: null, container: { kind: 'sequence', dtype, elements } };
}

function seqOf(ctx: OpContext, i: number): Container {
  const c = ctx.input(i).container;
  return c && c.kind === 'sequence' ? c : { kind: 'sequence', dtype: null, elements: null };
}

/** A scalar position input, when known. */
function position(ctx: OpContext, i: number): number | undefined {
  if (!ctx.has(i)) return undefined;
  const k = ctx.known(i);
  return k && k.data.length === 1 ? k.data[0] : undefined;
}

/** Normalizes a position: valid in [-n, n-1] (or [-n, n] when `end` allows appending). */
function normPos(ctx: OpContext, pos: number, n: number, end: boolean): number {
  const hi = end ? n : n - 1;
  if (pos < -n || pos > hi) {
    throw new TesseraError('SHAPE_INFERENCE', `${ctx.node.op} '${ctx.node.name}': position ${pos} is out of range [${-n}, ${hi}] for a sequence of ${n}`);
  }
  return pos < 0 ? pos + n : pos;
}

registerOp('SequenceEmpty', {
  infer(ctx) {
    const to = ctx.int('dtype');
    return [sequence(to === undefined ? 'float32' : dtypeFromOnnx(to, `SequenceEmpty '${ctx.node.name}'`), [])];
  },
  flops: () => 0,
});

registerOp('SequenceConstruct', {
  infer(ctx) {
    const elems = ctx.inputs.map((_, i) => same(ctx.input(i)));
    return [sequence(elems[0]?.dtype ?? null, elems)];
  },
  flops: () => 0,
});

registerOp('SequenceInsert', {
  infer(ctx) {
    const s = seqOf(ctx, 0);
    const t = same(ctx.input(1));
    const dtype = s.dtype ?? t.dtype;
    if (!s.elements) return [sequence(dtype, null)];
    const pos = ctx.has(2) ? position(ctx, 2) : s.elements.length;
    if (pos === undefined) return [sequence(dtype, null)];
    const at = normPos(ctx, pos, s.elements.length, true);
    const elems = [...s.elements];
    elems.splice(at, 0, t);
    return [sequence(dtype, elems)];
  },
  flops: () => 0,
});

registerOp('SequenceErase', {
  infer(ctx) {
    const s = seqOf(ctx, 0);
    if (!s.elements) return [sequence(s.dtype, null)];
    const pos = ctx.has(1) ? position(ctx, 1) : s.elements.length - 1;
    if (pos === undefined) return [sequence(s.dtype, null)];
    const at = normPos(ctx, pos, s.elements.length, false);
    const elems = [...s.elements];
    elems.splice(at, 1);
    return [sequence(s.dtype, elems)];
  },
  flops: () => 0,
});

/** All elements' shapes, when they are all known and equal. */
function commonShape(elems: readonly ValueInfo[]): Dim[] | null {
  if (elems.length === 0 || elems.some((e) => !e.shape)) return null;
  const first = JSON.stringify(elems[0].shape);
  return elems.every((e) => JSON.stringify(e.shape) === first) ? [...elems[0].shape!] : null;
}

registerOp('SequenceAt', {
  infer(ctx) {
    const s = seqOf(ctx, 0);
    if (!s.elements) fail(ctx, 'the sequence length is not known');
    const pos = position(ctx, 1);
    if (pos !== undefined) {
      const e = s.elements[normPos(ctx, pos, s.elements.length, false)];
      if (!e.shape) fail(ctx, 'the element shape is not known');
      return [tensor(e.dtype ?? s.dtype, [...e.shape])];
    }
    const shape = commonShape(s.elements);
    if (!shape) fail(ctx, 'position not known and the elements differ in shape');
    return [tensor(s.dtype, shape)];
  },
  flops: () => 0,
});

registerOp('SequenceLength', {
  infer(ctx) {
    const s = seqOf(ctx, 0);
    return [tensor('int64', [], s.elements ? knownOf('int64', [], [s.elements.length]) : undefined)];
  },
  flops: () => 0,
});

registerOp('ConcatFromSequence', {
  infer(ctx) {
    const s = seqOf(ctx, 0);
    if (!s.elements || s.elements.length === 0) fail(ctx, 'the sequence elements are not known');
    const shapes = s.elements.map((e) => e.shape ?? fail(ctx, 'an element shape is not known'));
    const rank = shapes[0].length;
    if (shapes.some((x) => x.length !== rank)) fail(ctx, 'elements differ in rank');
    const newAxis = ctx.int('new_axis', 0) === 1;
    const axisAttr = ctx.int('axis');
    if (axisAttr === undefined) fail(ctx, "no 'axis' attribute");
    if (newAxis) {
      const axis = normAxis(ctx, axisAttr, rank + 1);
      const common = commonShape(s.elements);
      if (!common) fail(ctx, 'stacked elements differ in shape');
      const out: Dim[] = [...common];
      out.splice(axis, 0, s.elements.length);
      return [tensor(s.dtype, out)];
    }
    const axis = normAxis(ctx, axisAttr, rank);
    const out: Dim[] = [...shapes[0]];
    let total = 0;
    for (const x of shapes) {
      const d = x[axis];
      if (typeof d !== 'number') fail(ctx, 'symbolic concat dimension');
      total += d;
    }
    out[axis] = total;
    return [tensor(s.dtype, out)];
  },
});

registerOp('SplitToSequence', {
  infer(ctx) {
    const x = ctx.input(0);
    const s = x.shape;
    if (!s) return [sequence(x.dtype, null)];
    const axis = normAxis(ctx, ctx.int('axis', 0), s.length);
    const d = s[axis];
    let sizes: number[] | undefined;
    let keep = true;
    if (!ctx.has(1)) {
      if (typeof d !== 'number' || d > MAX_KNOWN) return [sequence(x.dtype, null)];
      sizes = new Array<number>(d).fill(1);
      keep = ctx.int('keepdims', 1) === 1;
    } else {
      const k = ctx.known(1);
      if (!k) return [sequence(x.dtype, null)];
      if (k.dims.length === 0) {
        if (typeof d !== 'number') return [sequence(x.dtype, null)];
        const chunk = k.data[0];
        if (!(chunk > 0)) throw new TesseraError('SHAPE_INFERENCE', `SplitToSequence '${ctx.node.name}': split ${chunk} must be positive`);
        sizes = [];
        for (let at = 0; at < d; at += chunk) sizes.push(Math.min(chunk, d - at));
      } else sizes = [...k.data];
    }
    const elems = sizes.map((len) => tensor(x.dtype, keep ? s.map((v, i) => (i === axis ? len : v)) : s.filter((_, i) => i !== axis)));
    return [sequence(x.dtype, elems)];
  },
  flops: () => 0,
});

registerOp('SequenceMap', {
  // Its outputs are sequences whose elements the body computes: their number is the input's.
  infer: (ctx) => ctx.node.outputs.map(() => sequence(null, null)),
});

registerOp('Optional', {
  infer(ctx) {
    if (ctx.has(0)) {
      const x = ctx.input(0);
      return [{ dtype: null, shape: null, container: { kind: 'optional', dtype: x.dtype, elements: [same(x)] } }];
    }
    return [{ dtype: null, shape: null, container: { kind: 'optional', dtype: null, elements: [] } }];
  },
  flops: () => 0,
});

registerOp('OptionalHasElement', {
  infer(ctx) {
    if (!ctx.has(0)) return [tensor('bool', [], knownOf('bool', [], [0]))];
    const c = ctx.input(0).container;
    const n = c?.kind === 'optional' ? c.elements?.length : ctx.input(0).shape ? 1 : undefined;
    return [tensor('bool', [], n === undefined ? undefined : knownOf('bool', [], [n ? 1 : 0]))];
  },
  flops: () => 0,
});

registerOp('OptionalGetElement', {
  infer(ctx) {
    const x = ctx.input(0);
    const c = x.container;
    if (!c) {
      if (!x.shape) fail(ctx, 'input type not known');
      return [same(x)]; // opset 18: a plain tensor passes through
    }
    if (c.kind === 'sequence') return [{ ...x }];
    if (!c.elements) fail(ctx, 'whether the optional holds a value is not known');
    if (c.elements.length === 0) throw new TesseraError('SHAPE_INFERENCE', `OptionalGetElement '${ctx.node.name}': the optional is empty`);
    const e = c.elements[0];
    if (e.container) return [{ ...e }];
    if (!e.shape) fail(ctx, 'element shape not known');
    return [same(e)];
  },
  flops: () => 0,
});
