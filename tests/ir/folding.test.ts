/**
 * Constant folding: every value inference knows the contents of (a plan treats them as constants)
 * must hold what onnxruntime computes. Small graphs over constants, one per op and attribute case,
 * run on onnxruntime with every value exposed.
 */
import { describe, expect, it } from 'vitest';
import { GraphBuilder, type AttrValue } from '../../src/ir/builder.js';
import { onnxCode } from '../../src/ir/dtype.js';
import { inferShapes } from '../../src/ir/infer.js';
import { ortProber } from '../../src/backends/ort.js';
import { importOnnx } from '../../src/ir/onnx-import.js';
import { bytesToNumbers, numbersToBytes } from '../../src/ir/tensor-data.js';
import { foldingErrors, runExposing } from './corpus.js';

type Build = (b: GraphBuilder, c: Consts) => void;

interface Consts {
  /** int64 [2,3]: [[-7, 5, 0], [3, -2, 9]] */
  I: string;
  /** int64 [3]: [2, -3, 4] */
  J: string;
  /** float32 [2,3]: [[-2.5, 0.5, 1.5], [2.5, -0.5, 3.7]] */
  F: string;
  /** float32 [3]: [2, -4, 0.25] */
  G: string;
  /** bool [2,3] */
  P: string;
  /** int64 scalar 1 */
  one: string;
}

function consts(b: GraphBuilder): Consts {
  const c = (name: string, data: BigInt64Array | Float32Array | Uint8Array, dims: number[], dtype?: 'bool') =>
    b.node('Constant', [], name, { value: { type: 'tensor', value: { name, dtype: dtype ?? (data instanceof BigInt64Array ? 'int64' : 'float32'), dims, source: { kind: 'inline', bytes: new Uint8Array(data.buffer.slice(0)) } } } });
  return {
    I: c('I', BigInt64Array.from([-7n, 5n, 0n, 3n, -2n, 9n]), [2, 3]),
    J: c('J', BigInt64Array.from([2n, -3n, 4n]), [3]),
    F: c('F', Float32Array.from([-2.5, 0.5, 1.5, 2.5, -0.5, 3.7]), [2, 3]),
    G: c('G', Float32Array.from([2, -4, 0.25]), [3]),
    P: c('P', Uint8Array.from([1, 0, 1, 0, 0, 1]), [2, 3], 'bool'),
    one: c('one', BigInt64Array.from([1n]), []),
  };
}

const op = (name: string, inputs: (c: Consts) => string[], attrs: Record<string, AttrValue> = {}, outputs = 1): Build =>
  (b, c) => { b.node(name, inputs(c), Array.from({ length: outputs }, (_, i) => `y${i}`), attrs); };

const ints = (b: GraphBuilder, name: string, values: number[] | bigint[]) =>
  b.node('Constant', [], name, { value: { type: 'tensor', value: { name, dtype: 'int64', dims: [values.length], source: { kind: 'inline', bytes: new Uint8Array(BigInt64Array.from(values.map((v) => BigInt(v))).buffer) } } } });

const CASES: Record<string, Build> = {};
for (const o of ['Add', 'Sub', 'Mul', 'Div', 'Max', 'Min', 'Equal', 'Less', 'Greater', 'LessOrEqual', 'GreaterOrEqual']) {
  CASES[`${o} int64 broadcast`] = op(o, (c) => [c.I, c.J]);
  CASES[`${o} float32 broadcast`] = op(o, (c) => [c.F, c.G]);
}
CASES['Pow float32'] = op('Pow', (c) => [c.G, c.G]);
CASES['Mod int64 fmod=0'] = op('Mod', (c) => [c.I, c.J]);
CASES['Mod int64 fmod=1'] = op('Mod', (c) => [c.I, c.J], { fmod: 1 });
CASES['Mod float32 fmod=1'] = op('Mod', (c) => [c.F, c.G], { fmod: 1 });
CASES['Sum of three'] = op('Sum', (c) => [c.F, c.G, c.F]);
CASES['Mean float32'] = op('Mean', (c) => [c.F, c.G]);
for (const o of ['And', 'Or', 'Xor']) CASES[o] = (b, c) => { const q = b.node('Not', [c.P], 'q'); b.node(o, [c.P, q], 'y0'); };
CASES['Where'] = op('Where', (c) => [c.P, c.I, c.J]);
for (const o of ['Neg', 'Abs', 'Floor', 'Ceil', 'Sqrt', 'Exp', 'Log', 'Reciprocal', 'Relu', 'Sigmoid', 'Tanh', 'Sign', 'Round', 'Identity']) {
  CASES[`${o} float32`] = op(o, (c) => [c.F]);
}
for (const o of ['Neg', 'Abs', 'Relu', 'Sign', 'Identity']) CASES[`${o} int64`] = op(o, (c) => [c.I]);
CASES['Not'] = op('Not', (c) => [c.P]);
CASES['Cast float→int64 (truncates)'] = op('Cast', (c) => [c.F], { to: onnxCode('int64') });
CASES['Cast float→int32'] = op('Cast', (c) => [c.F], { to: onnxCode('int32') });
CASES['Cast int64→bool'] = op('Cast', (c) => [c.I], { to: onnxCode('bool') });
CASES['Cast int64→float32'] = op('Cast', (c) => [c.I], { to: onnxCode('float32') });
CASES['Cast bool→float32'] = op('Cast', (c) => [c.P], { to: onnxCode('float32') });
CASES['CastLike int64 like float'] = op('CastLike', (c) => [c.I, c.G]);
CASES['Shape'] = op('Shape', (c) => [c.F]);
CASES['Shape start=-1'] = (b, c) => { b.node('Shape', [c.F], 'y0', { start: -1 }); };
CASES['Shape end=1'] = (b, c) => { b.node('Shape', [c.F], 'y0', { end: 1 }); };
CASES['Size'] = op('Size', (c) => [c.F]);
CASES['Reshape 0 and -1'] = (b, c) => { b.node('Reshape', [c.I, ints(b, 's', [0, -1, 1])], 'y0'); };
CASES['Flatten axis 0'] = op('Flatten', (c) => [c.I], { axis: 0 });
CASES['Unsqueeze then Squeeze'] = (b, c) => { const u = b.node('Unsqueeze', [c.J, ints(b, 'a', [0, -1])], 'u'); b.node('Squeeze', [u, ints(b, 'a2', [0])], 'y0'); };
CASES['Squeeze all ones'] = (b, c) => { const u = b.node('Unsqueeze', [c.J, ints(b, 'a', [0, 2])], 'u'); b.node('Squeeze', [u], 'y0'); };
CASES['Transpose default'] = op('Transpose', (c) => [c.I]);
CASES['Transpose 3-d perm'] = (b, c) => { const u = b.node('Reshape', [c.F, ints(b, 's', [1, 2, 3])], 'u'); b.node('Transpose', [u], 'y0', { perm: [2, 0, 1] }); };
CASES['Concat axis -1'] = op('Concat', (c) => [c.I, c.I], { axis: -1 });
CASES['Concat axis 0'] = op('Concat', (c) => [c.I, c.I], { axis: 0 });
CASES['Slice negative step'] = (b, c) => { b.node('Slice', [c.I, ints(b, 's', [-1]), ints(b, 'e', [-9223372036854775807n]), ints(b, 'ax', [1]), ints(b, 'st', [-1])], 'y0'); };
CASES['Slice to INT64_MAX, step 2'] = (b, c) => { b.node('Slice', [c.I, ints(b, 's', [0, 0]), ints(b, 'e', [9223372036854775807n, 9223372036854775807n]), ints(b, 'ax', [0, 1]), ints(b, 'st', [1, 2])], 'y0'); };
CASES['Gather axis 1 negative index'] = (b, c) => { b.node('Gather', [c.I, ints(b, 'i', [-1, 0])], 'y0', { axis: 1 }); };
CASES['Gather scalar index'] = (b, c) => { b.node('Gather', [c.J, c.one], 'y0'); };
CASES['Gather 2-D indices, axis 1'] = (b, c) => {
  const idx = b.node('Reshape', [ints(b, 'i', [2, -3, 0, 1]), ints(b, 's', [2, 2])], 'idx');
  b.node('Gather', [c.I, idx], 'y0', { axis: 1 });
};
CASES['Concat three, uneven, axis 1'] = (b, c) => {
  const a = b.node('Slice', [c.I, ints(b, 's0', [1]), ints(b, 'e0', [3]), ints(b, 'ax0', [1])], 'a');
  b.node('Concat', [c.I, a, c.I], 'y0', { axis: 1 });
};
CASES['Slice starts past the end, negative axes'] = (b, c) => { b.node('Slice', [c.I, ints(b, 's', [5, -1]), ints(b, 'e', [10, -4]), ints(b, 'ax', [-1, -2]), ints(b, 'st', [1, -1])], 'y0'); };
CASES['Expand rank up through a 1'] = (b, c) => {
  const r = b.node('Reshape', [c.J, ints(b, 's', [3, 1])], 'r');
  b.node('Expand', [r, ints(b, 't', [2, 1, 4])], 'y0');
};
CASES['Where broadcast'] = (b, c) => { b.node('Where', [c.P, c.F, c.G], 'y0'); };
CASES['ReduceSum all keepdims=1'] = (b, c) => { b.node('ReduceSum', [c.F], 'y0'); };
CASES['Shape start > end (empty)'] = (b, c) => { b.node('Shape', [c.F], 'y0', { start: 1, end: 0 }); };
CASES['Expand'] = (b, c) => { b.node('Expand', [c.J, ints(b, 's', [2, 1, 3])], 'y0'); };
CASES['Tile'] = (b, c) => { b.node('Tile', [c.I, ints(b, 'r', [2, 1])], 'y0'); };
CASES['ConstantOfShape default'] = (b) => { b.node('ConstantOfShape', [ints(b, 's', [2, 2])], 'y0'); };
CASES['ConstantOfShape int64 -3'] = (b) => { b.node('ConstantOfShape', [ints(b, 's', [3])], 'y0', { value: { type: 'tensor', value: { name: 'v', dtype: 'int64', dims: [1], source: { kind: 'inline', bytes: new Uint8Array(BigInt64Array.from([-3n]).buffer) } } } }); };
CASES['ReduceSum all keepdims=0'] = (b, c) => { b.node('ReduceSum', [c.I], 'y0', { keepdims: 0 }); };
CASES['ReduceProd all keepdims=1'] = (b, c) => { b.node('ReduceProd', [c.J], 'y0'); };
CASES['NonZero'] = op('NonZero', (c) => [c.I]);
CASES['Dropout (inference)'] = op('Dropout', (c) => [c.F]);
CASES['Shape → Gather → Unsqueeze → Concat → Reshape'] = (b, c) => {
  const s = b.node('Shape', [c.F], 's');
  const d = b.node('Gather', [s, c.one], 'd', { axis: 0 });
  const u = b.node('Unsqueeze', [d, ints(b, 'ax', [0])], 'u');
  const t = b.node('Concat', [u, ints(b, 'm1', [-1])], 't', { axis: 0 });
  b.node('Reshape', [c.F, t], 'y0');
};

const scalar = (b: GraphBuilder, name: string, v: number, dtype: 'int64' | 'float32') =>
  b.node('Constant', [], name, { value: { type: 'tensor', value: { name, dtype, dims: [], source: { kind: 'inline', bytes: new Uint8Array((dtype === 'int64' ? BigInt64Array.from([BigInt(v)]) : Float32Array.from([v])).buffer) } } } });
CASES['Range int64 negative delta'] = (b) => { b.node('Range', [scalar(b, 'a', 10, 'int64'), scalar(b, 'l', -3, 'int64'), scalar(b, 'd', -4, 'int64')], 'y0'); };
CASES['Range float32'] = (b) => { b.node('Range', [scalar(b, 'a', 0.5, 'float32'), scalar(b, 'l', 2, 'float32'), scalar(b, 'd', 0.4, 'float32')], 'y0'); };

describe('folded values equal what onnxruntime computes', () => {
  it.each(Object.keys(CASES))('%s', async (name) => {
    const b = new GraphBuilder('fold', { opset: 18 });
    const c = consts(b);
    CASES[name](b, c);
    b.output('y0', 'float32'); // replaced below: every value is exposed with the type inference gives it
    const graph = importOnnx(b.toBytes());
    const shaped = await inferShapes(graph);
    const names = [...shaped.known.keys()].filter((n) => shaped.values.get(n)?.role === 'activation');
    expect(names, 'the result is folded').toContain('y0');
    // (A wrongly inferred dtype makes onnxruntime refuse the exposed outputs: that fails too.)
    const ref = await runExposing({ ...shaped, outputs: [] }, names, {});
    expect(foldingErrors(shaped, ref, names)).toEqual([]);
    for (const n of names) expect(shaped.values.get(n)!.shape, n).toEqual([...ref[n].dims]);
  });
});

describe('folded int64 sentinels', () => {
  it('a folded INT64_MAX/INT64_MIN (saturated while folding) is written back as INT64_MAX/INT64_MIN', () => {
    const bytes = numbersToBytes('int64', [Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER, -5]);
    expect(Array.from(new BigInt64Array(bytes.buffer))).toEqual([9223372036854775807n, -9223372036854775808n, -5n]);
    expect(bytesToNumbers('int64', numbersToBytes('int64', [9007199254740990]), 1)).toEqual([9007199254740990]);
  });
});

describe('inference with a probe run', () => {
  it('a probe for one value leaves the work counted for the nodes inferred before it', async () => {
    const b = new GraphBuilder('probe', { opset: 18 });
    const x = b.input('x', 'float32', [1, 8, 16, 16]);
    const w = Float32Array.from({ length: 16 * 8 * 9 }, (_, i) => ((i % 7) - 3) / 10);
    const c = b.node('Conv', [x, b.initializer('w', w, [16, 8, 3, 3])], 'c', { pads: [1, 1, 1, 1] });
    b.output(c, 'float32');
    b.output(b.node('NonZero', [b.node('Relu', [c], 'r')], 'nz'), 'int64'); // its size depends on the data: probed
    const shaped = await inferShapes(importOnnx(b.toBytes()), { prober: ortProber });
    expect(shaped.values.get('nz')!.shapeSource).toBe('probe');
    const conv = shaped.nodes.findIndex((n) => n.op === 'Conv');
    expect(shaped.costs[conv].flops).toBe(2 * 16 * 8 * 9 * 16 * 16);
  });
});
