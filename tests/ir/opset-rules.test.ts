/**
 * Rules whose meaning changed between opsets. Where onnxruntime has a kernel for the old version it is
 * the reference; where it has none (Concat-1, Tile-1, Split-1, Pad-1 predate its kernels) the ONNX
 * operator changelog is, and a rule that cannot tell must say so rather than guess.
 */
import { describe, expect, it } from 'vitest';
import { Tensor } from '../../src/backends/tensor.js';
import { GraphBuilder } from '../../src/ir/builder.js';
import { inferShapes } from '../../src/ir/infer.js';
import { importOnnx } from '../../src/ir/onnx-import.js';
import { runExposing } from './corpus.js';

const x = (dims: number[]) => new Tensor('float32', Float32Array.from({ length: dims.reduce((a, b) => a * b, 1) }, (_, i) => i), dims);

describe('opset-dependent rules', () => {
  it('Dropout-7 mask has the input type; Dropout-10+ mask is bool (onnxruntime)', async () => {
    for (const [opset, mask] of [[7, 'float32'], [9, 'float32'], [10, 'bool'], [13, 'bool']] as const) {
      const b = new GraphBuilder('d', { opset });
      b.input('x', 'float32', [2, 3]);
      b.node('Dropout', ['x'], ['y', 'm']);
      const g = importOnnx(b.output('y', 'float32').toBytes());
      const shaped = await inferShapes(g);
      expect(shaped.values.get('m')!.dtype, `opset ${opset}`).toBe(mask);
      const ref = await runExposing(shaped, ['m'], { x: x([2, 3]) });
      expect(ref.m.type, `onnxruntime, opset ${opset}`).toBe(mask);
    }
  });

  it('Concat-1 defaults to axis 1 (changelog: axis became required in Concat-4)', async () => {
    const b = new GraphBuilder('c', { opset: 1, irVersion: 3 });
    b.input('a', 'float32', [2, 3]);
    b.input('b', 'float32', [2, 5]);
    b.node('Concat', ['a', 'b'], 'y');
    const shaped = await inferShapes(importOnnx(b.output('y', 'float32').toBytes()));
    expect(shaped.values.get('y')!.shape).toEqual([2, 8]);
  });

  it('Tile-1 repeats one axis by a scalar count (inputs: input, tiles, axis)', async () => {
    const b = new GraphBuilder('t', { opset: 1, irVersion: 3 });
    b.input('a', 'float32', [2, 3]);
    b.initializer('tiles', BigInt64Array.from([4n]), []);
    b.initializer('axis', BigInt64Array.from([1n]), []);
    b.node('Tile', ['a', 'tiles', 'axis'], 'y');
    const shaped = await inferShapes(importOnnx(b.output('y', 'float32').toBytes()));
    expect(shaped.values.get('y')!.shape).toEqual([2, 12]);
  });

  it('Split-1 takes the sizes from its optional second input', async () => {
    const b = new GraphBuilder('s', { opset: 1, irVersion: 3 });
    b.input('a', 'float32', [7, 2]);
    b.initializer('sizes', BigInt64Array.from([2n, 5n]), [2]);
    b.node('Split', ['a', 'sizes'], ['p', 'q'], { axis: 0 });
    const shaped = await inferShapes(importOnnx(b.output('p', 'float32').output('q', 'float32').toBytes()));
    expect(shaped.values.get('p')!.shape).toEqual([2, 2]);
    expect(shaped.values.get('q')!.shape).toEqual([5, 2]);
  });

  it('Pad-1 reads `paddings`, Pad-2 `pads` (onnxruntime for Pad-2)', async () => {
    const b1 = new GraphBuilder('p1', { opset: 1, irVersion: 3 });
    b1.input('a', 'float32', [2, 3]);
    b1.node('Pad', ['a'], 'y', { paddings: [1, 0, 2, 3] });
    const s1 = await inferShapes(importOnnx(b1.output('y', 'float32').toBytes()));
    expect(s1.values.get('y')!.shape).toEqual([5, 6]);

    const b2 = new GraphBuilder('p2', { opset: 2, irVersion: 3 });
    b2.input('a', 'float32', [2, 3]);
    b2.node('Pad', ['a'], 'y', { pads: [1, 0, 2, 3] });
    const s2 = await inferShapes(importOnnx(b2.output('y', 'float32').toBytes()));
    expect(s2.values.get('y')!.shape).toEqual([5, 6]);
    const ref = await runExposing(s2, [], { a: x([2, 3]) });
    expect([...ref.y.dims]).toEqual([5, 6]);
  });

  it('reflect Pad longer than the axis is refused at inference, as onnxruntime refuses it at run time', async () => {
    const b = new GraphBuilder('r', { opset: 18 });
    b.input('a', 'float32', [1, 3]);
    b.initializer('pads', BigInt64Array.from([0n, 3n, 0n, 0n]), [4]);
    b.node('Pad', ['a', 'pads'], 'y', { mode: 'reflect' });
    const bytes = b.output('y', 'float32').toBytes();
    await expect(inferShapes(importOnnx(bytes))).rejects.toMatchObject({ code: 'SHAPE_INFERENCE' });
    await expect(runExposing(importOnnx(bytes), [], { a: x([1, 3]) })).rejects.toThrow();
    // The longest reflect pad that fits (length − 1) is accepted by both.
    const ok = new GraphBuilder('r2', { opset: 18 });
    ok.input('a', 'float32', [1, 3]);
    ok.initializer('pads', BigInt64Array.from([0n, 2n, 0n, 2n]), [4]);
    ok.node('Pad', ['a', 'pads'], 'y', { mode: 'reflect' });
    const good = importOnnx(ok.output('y', 'float32').toBytes());
    const shaped = await inferShapes(good);
    const ref = await runExposing(good, [], { a: x([1, 3]) });
    expect(shaped.values.get('y')!.shape).toEqual([...ref.y.dims]);
  });
});
