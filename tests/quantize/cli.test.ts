/**
 * `tessera quantize` as a user runs it: a quantized model that onnxruntime runs, and every bad input (an
 * unknown scheme, an empty or mismatched calibration directory, an already-quantized model) a
 * TesseraError naming the problem, exit status 2, and no output file.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../src/ir/builder.js';
import { floatTensorFile, tempDir, tessera } from '../cli/helpers.js';

const { dir, cleanup } = tempDir('quantize-cli');
afterAll(cleanup);
const p = (name: string) => join(dir, name);

// y = Relu(MatMul(x [N, 8], W [8, 4]) + b)
const b = new GraphBuilder('mlp', { opset: 17 });
b.input('x', 'float32', ['N', 8]);
b.initializer('w', Float32Array.from({ length: 32 }, (_, i) => Math.sin(i)), [8, 4]);
b.initializer('b', Float32Array.of(0.1, -0.1, 0.2, 0), [4]);
b.node('MatMul', ['x', 'w'], 'm');
b.node('Add', ['m', 'b'], 'a');
b.output(b.node('Relu', ['a'], 'y'), 'float32', ['N', 4]);
writeFileSync(p('mlp.onnx'), b.toBytes());
for (let s = 0; s < 3; s++) {
  mkdirSync(p(`cal/${s}`), { recursive: true });
  writeFileSync(p(`cal/${s}/input_0.pb`), floatTensorFile([2, 8], Float32Array.from({ length: 16 }, (_, i) => Math.cos(i + s))));
}
mkdirSync(p('empty'), { recursive: true });
mkdirSync(p('wrong/0'), { recursive: true });
writeFileSync(p('wrong/0/input_0.pb'), floatTensorFile([2, 5], new Float32Array(10)));

function expectError(args: string[], code: string, mention: RegExp, out: string) {
  const r = tessera('quantize', ...args, '--out', out);
  expect(r.status).toBe(2);
  expect(r.stderr).toContain(`[${code}]`);
  expect(r.stderr).toMatch(mention);
  expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
  expect(existsSync(out)).toBe(false);
}

describe('tessera quantize', () => {
  it('writes an int8 model that onnxruntime runs close to float32, and says what it did', async () => {
    const r = tessera('quantize', p('mlp.onnx'), '--scheme', 'int8', '--calibration', p('cal'), '--out', p('q.onnx'), '--report', p('q.json'));
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/int8 \(percentile calibration\), 3 calibration sample/);
    expect(r.stdout).toMatch(/weight layers: 1 int8/);
    expect(existsSync(p('q.json'))).toBe(true);
    const x = new ort.Tensor('float32', Float32Array.from({ length: 16 }, (_, i) => Math.cos(i + 1)), [2, 8]);
    const f = (await (await ort.InferenceSession.create(p('mlp.onnx'))).run({ x })).y.data as Float32Array;
    const q = await ort.InferenceSession.create(p('q.onnx'));
    expect(q.inputNames).toEqual(['x']);
    const got = (await q.run({ x })).y.data as Float32Array;
    const scale = Math.max(...f) / 255;
    f.forEach((v, i) => expect(Math.abs(got[i] - v)).toBeLessThan(4 * scale));
  });

  it('rejects an unknown scheme', () => expectError([p('mlp.onnx'), '--scheme', 'int3', '--calibration', p('cal')], 'BAD_ARGUMENT', /unknown quantization scheme 'int3'.*int8, w8, w4, mixed/, p('o1.onnx')));
  it('rejects an empty calibration directory', () => expectError([p('mlp.onnx'), '--scheme', 'int8', '--calibration', p('empty')], 'BAD_CALIBRATION', /empty.*holds no input_0\.pb/, p('o2.onnx')));
  it('rejects calibration data that does not fit the model', () => expectError([p('mlp.onnx'), '--scheme', 'int8', '--calibration', p('wrong')], 'BAD_CALIBRATION', /shape \[2,5\].*input 'x'.*\[N,8\]/, p('o3.onnx')));
  it('rejects a missing calibration directory', () => expectError([p('mlp.onnx'), '--scheme', 'mixed', '--calibration', p('nowhere')], 'BAD_CALIBRATION', /not found/, p('o4.onnx')));
  it('rejects int8 without calibration data', () => expectError([p('mlp.onnx'), '--scheme', 'int8'], 'BAD_ARGUMENT', /--calibration/, p('o5.onnx')));
  it('rejects a model that is quantized already', () => {
    expect(tessera('quantize', p('mlp.onnx'), '--scheme', 'w4', '--block-size', '16', '--out', p('w4.onnx')).status).toBe(0);
    expectError([p('w4.onnx'), '--scheme', 'w8'], 'ALREADY_QUANTIZED', /already quantized: node '.*' is a DequantizeLinear/, p('o6.onnx'));
  });
  it('rejects a block size under 16', () => expectError([p('mlp.onnx'), '--scheme', 'w4', '--block-size', '8'], 'BAD_ARGUMENT', /block size 8/, p('o7.onnx')));
});
