/**
 * What every Backend must do at its boundary, checked the same way for each: tensors in and out as
 * onnxruntime-node's Tensor class (int64 and bool included), outputs written into preallocated arena
 * views (a window of a larger buffer, nothing outside it touched), a wrongly sized output view and an
 * unloadable model refused with BACKEND_FAILED.
 */
import { expect, it } from 'vitest';
import type { Backend } from '../../src/backends/backend.js';
import { Tensor } from '../../src/backends/tensor.js';
import { GraphBuilder } from '../../src/ir/builder.js';

export function backendContract(backend: Backend): void {
  it('converts tensors at the boundary (int64, bool) and writes into preallocated outputs', async () => {
    const b = new GraphBuilder('m');
    const x = b.input('x', 'float32', [2, 3]);
    const k = b.input('k', 'int64', [2]);
    b.node('Add', [x, x], 'y');
    b.node('Mul', [k, k], 'k2');
    b.node('Greater', [x, b.initializer('zero', new Float32Array([0]), [])], 'pos');
    b.output('y', 'float32', [2, 3]);
    b.output('k2', 'int64', [2]);
    b.output('pos', 'bool', [2, 3]);
    const exe = await backend.compile({ name: 'm', onnx: b.toBytes(), inputs: ['x', 'k'], outputs: ['y', 'k2', 'pos'] });
    const feeds = { x: new Tensor('float32', new Float32Array([1, -2, 3, -4, 5, -6]), [2, 3]), k: new Tensor('int64', new BigInt64Array([3n, -4n]), [2]) };
    const out = await exe.run(feeds);
    for (const t of Object.values(out)) expect(t).toBeInstanceOf(Tensor); // onnxruntime-node's class
    expect([...(out.y.data as Float32Array)]).toEqual([2, -4, 6, -8, 10, -12]);
    expect([...(out.k2.data as BigInt64Array)]).toEqual([9n, 16n]);
    expect(out.pos.type).toBe('bool');
    expect([...(out.pos.data as Uint8Array)]).toEqual([1, 0, 1, 0, 1, 0]);

    // an arena view: a window of a larger buffer
    const arena = new ArrayBuffer(64);
    const into = { y: new Tensor('float32', new Float32Array(arena, 16, 6), [2, 3]) };
    const res = await exe.run(feeds, into);
    expect(res.y).toBe(into.y);
    expect([...new Float32Array(arena, 16, 6)]).toEqual([2, -4, 6, -8, 10, -12]);
    expect([...new Float32Array(arena, 0, 4)]).toEqual([0, 0, 0, 0]);
    await expect(exe.run(feeds, { y: new Tensor('float32', new Float32Array(5), [5]) })).rejects.toMatchObject({ code: 'BACKEND_FAILED' });
    await exe.dispose();
  });

  it('a model it cannot load is a BACKEND_FAILED TesseraError', async () => {
    await expect(backend.compile({ name: 'junk', onnx: new Uint8Array([1, 2, 3]), inputs: [], outputs: [] })).rejects.toMatchObject({ code: 'BACKEND_FAILED' });
  });
}
