/**
 * The opset upgrade quantization starts with (QDQ per channel and int4 need opset 21): a model at opset 9
 * with every rewritten op runs on onnxruntime exactly as the original does; an op whose meaning changed
 * in a way not rewritten is an error naming it.
 */
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { TesseraError } from '../../src/errors.js';
import { GraphBuilder } from '../../src/ir/builder.js';
import { opsetOf } from '../../src/ir/graph.js';
import { inferShapes } from '../../src/ir/infer.js';
import { exportOnnx } from '../../src/ir/onnx-export.js';
import { importOnnx } from '../../src/ir/onnx-import.js';
import { upgradeOpset } from '../../src/passes/opset-upgrade.js';

function opset9(): Uint8Array {
  const b = new GraphBuilder('old', { opset: 9 });
  b.input('x', 'float32', [2, 6, 4]);
  b.node('Clip', ['x'], 'c', { min: -0.5, max: { type: 'float', value: 0.75 } });
  b.node('Slice', ['c'], 's', { starts: [1, 0], ends: [6, 3], axes: [1, 2] }); // [2,5,3]
  b.node('ReduceMean', ['s'], 'r', { axes: [2], keepdims: 1 }); // [2,5,1]
  b.node('Squeeze', ['r'], 'q', { axes: [2] }); // [2,5]
  b.node('Unsqueeze', ['q'], 'u', { axes: [0] }); // [1,2,5]
  b.node('Split', ['u'], ['u1', 'u2'], { axis: 2, split: [2, 3] });
  b.node('Pad', ['u2'], 'pd', { pads: [0, 0, 1, 0, 0, 2], value: { type: 'float', value: 0.25 } }); // [1,2,6]
  b.node('ReduceSum', ['pd'], 'rs', { axes: [1], keepdims: 0 }); // [1,6]
  b.node('Softmax', ['rs'], 'sm', { axis: 1 });
  b.node('Dropout', ['sm'], 'dr', {});
  b.output('dr', 'float32').output('u1', 'float32');
  return b.toBytes();
}

describe('opset upgrade', () => {
  it('an opset-9 model at opset 21 computes the same on onnxruntime', async () => {
    const bytes = opset9();
    const g = await inferShapes(importOnnx(bytes), { inputShapes: { x: [2, 6, 4] } });
    const up = upgradeOpset(g);
    expect(opsetOf(up)).toBe(21);
    expect(up.nodes.find((n) => n.op === 'Dropout')).toBeUndefined();
    const x = new ort.Tensor('float32', Float32Array.from({ length: 48 }, (_, i) => Math.sin(i * 0.7)), [2, 6, 4]);
    const a = await (await ort.InferenceSession.create(bytes)).run({ x });
    const b = await (await ort.InferenceSession.create(exportOnnx(up).bytes)).run({ x });
    for (const name of ['dr', 'u1']) {
      expect(b[name].dims).toEqual(a[name].dims);
      expect(Array.from(b[name].data as Float32Array)).toEqual(Array.from(a[name].data as Float32Array));
    }
  });

  it('refuses a Softmax over several axes (its meaning changed at opset 13)', async () => {
    const b = new GraphBuilder('sm', { opset: 11 });
    b.input('x', 'float32', [2, 3, 4]);
    b.output(b.node('Softmax', ['x'], 'y', { axis: 1 }), 'float32');
    const g = await inferShapes(importOnnx(b.toBytes()), { inputShapes: { x: [2, 3, 4] } });
    expect(() => upgradeOpset(g)).toThrow(TesseraError);
    expect(() => upgradeOpset(g)).toThrow(/Softmax 'Softmax_0': axis 1 over a tensor of rank 3/);
  });
});
