/**
 * The int8 QDQ graph of a tiny Conv → Relu model against a hand computation: the input's and output's
 * scale and zero point from the calibration data's extremes, the weight int8 per output channel, the
 * bias int32 with scale input-scale × weight-scale; and onnxruntime running the file against a brute-force
 * simulation of those quantized numerics (every tensor rounded as QuantizeLinear rounds).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../src/ir/builder.js';
import { importOnnx } from '../../src/ir/onnx-import.js';
import { bytesToNumbers } from '../../src/ir/tensor-data.js';
import { weightBytes } from '../../src/ir/weight.js';
import { quantizeModel } from '../../src/quantize/index.js';
import { floatTensorFile, tempDir } from '../cli/helpers.js';

const { dir, cleanup } = tempDir('qdq');
afterAll(cleanup);

const C = 2, M = 3, H = 4, W = 4;
const wt = Float32Array.from({ length: M * C * 9 }, (_, i) => Math.sin(i * 0.9) * (1 + (i % 4)) * 0.1);
const bias = Float32Array.of(0.05, -0.2, 0.013);
const inputs = [0, 1].map((s) => Float32Array.from({ length: C * H * W }, (_, i) => Math.cos(i * 0.7 + s) * (s + 1)));

function model(): string {
  const b = new GraphBuilder('conv', { opset: 13 });
  b.input('x', 'float32', [1, C, H, W]);
  b.initializer('w', wt, [M, C, 3, 3]);
  b.initializer('b', bias, [M]);
  b.node('Conv', ['x', 'w', 'b'], 'c', { pads: [1, 1, 1, 1], kernel_shape: [3, 3] });
  b.output(b.node('Relu', ['c'], 'y'), 'float32', [1, M, H, W]);
  const path = join(dir, 'conv.onnx');
  writeFileSync(path, b.toBytes());
  inputs.forEach((x, i) => { mkdirSync(join(dir, 'cal', String(i)), { recursive: true }); writeFileSync(join(dir, 'cal', String(i), 'input_0.pb'), floatTensorFile([1, C, H, W], x)); });
  return path;
}

const even = (v: number) => { const r = Math.round(v); return Math.abs(v % 1) === 0.5 && r % 2 ? r - 1 : r; };
const uint8Params = (lo: number, hi: number) => { const scale = Math.fround((Math.max(hi, 0) - Math.min(lo, 0)) / 255); return { scale, zp: Math.min(255, Math.max(0, even(-Math.min(lo, 0) / scale))) }; };
const fq = (v: number, p: { scale: number; zp: number }) => (Math.min(255, Math.max(0, even(v / p.scale) + p.zp)) - p.zp) * p.scale;

function conv(x: Float32Array, w: ArrayLike<number>, b: ArrayLike<number>): Float32Array {
  const y = new Float32Array(M * H * W);
  for (let m = 0; m < M; m++) for (let i = 0; i < H; i++) for (let j = 0; j < W; j++) {
    let s = b[m];
    for (let c = 0; c < C; c++) for (let di = -1; di <= 1; di++) for (let dj = -1; dj <= 1; dj++) {
      const a = i + di, bb = j + dj;
      if (a >= 0 && a < H && bb >= 0 && bb < W) s += x[(c * H + a) * W + bb] * w[((m * C + c) * 3 + di + 1) * 3 + dj + 1];
    }
    y[(m * H + i) * W + j] = s;
  }
  return y;
}

describe('int8 QDQ of Conv → Relu, by hand', async () => {
  const path = model();
  const { bytes, report } = await quantizeModel(path, { scheme: 'int8', method: 'minmax', calibration: join(dir, 'cal') });
  const g = importOnnx(bytes);
  const init = (name: string) => { const w = g.values.get(name)!.initializer!; return bytesToNumbers(w.dtype, weightBytes(w), w.dims.reduce((a, b) => a * b, 1)); };
  const conv0 = g.nodes.find((n) => n.op === 'Conv')!;
  const producer = (v: string) => g.nodes[g.values.get(v)!.producer];

  // hand computation
  const xLo = Math.min(...inputs.flatMap((x) => [...x])), xHi = Math.max(...inputs.flatMap((x) => [...x]));
  const px = uint8Params(xLo, xHi);
  const sw = Array.from({ length: M }, (_, m) => Math.fround(Math.max(...Array.from(wt.subarray(m * C * 9, (m + 1) * C * 9), Math.abs)) / 127));
  const qw = Array.from(wt, (v, e) => Math.max(-127, Math.min(127, even(v / sw[Math.floor(e / (C * 9))]))));
  const sb = sw.map((s) => Math.fround(px.scale * s));
  const qb = Array.from(bias, (v, m) => even(v / sb[m]));

  it('puts Q/DQ on the input with the scale and zero point of the calibration extremes', () => {
    const dq = producer(conv0.inputs[0]);
    expect(dq.op).toBe('DequantizeLinear');
    const q = producer(dq.inputs[0]);
    expect(q.op).toBe('QuantizeLinear');
    expect(q.inputs[0]).toBe('x');
    expect(init(q.inputs[1])[0]).toBeCloseTo(px.scale, 9);
    expect(init(q.inputs[2])).toEqual([px.zp]);
    expect(g.values.get(q.inputs[2])!.dtype).toBe('uint8'); // the zero point's type is the quantized type
  });

  it('quantizes the weight int8 symmetric per output channel and the bias int32 at input-scale × weight-scale', () => {
    const dw = producer(conv0.inputs[1]);
    expect(dw.attrs.axis).toEqual({ type: 'int', value: 0 });
    expect(g.values.get(dw.inputs[0])!.dtype).toBe('int8');
    expect(init(dw.inputs[0])).toEqual(qw);
    init(dw.inputs[1]).forEach((s, m) => expect(s).toBeCloseTo(sw[m], 9));
    expect(init(dw.inputs[2])).toEqual([0, 0, 0]);
    const db = producer(conv0.inputs[2]);
    expect(g.values.get(db.inputs[0])!.dtype).toBe('int32');
    expect(init(db.inputs[0])).toEqual(qb);
    init(db.inputs[1]).forEach((s, m) => expect(s).toBeCloseTo(sb[m], 12));
    expect(report.layers).toHaveLength(1);
    expect(report.layers[0]).toMatchObject({ op: 'Conv', bits: 8, bytes: M * C * 9 + M * 4 + M });
  });

  it("runs on onnxruntime as the brute-force simulation of its quantized numerics says", async () => {
    // output parameters from the calibration extremes of the float model's Conv and Relu outputs
    const floatC = inputs.map((x) => conv(x, wt, bias));
    const pc = uint8Params(Math.min(...floatC.flatMap((c) => [...c])), Math.max(...floatC.flatMap((c) => [...c])));
    const relu = floatC.map((c) => c.map((v) => Math.max(0, v)));
    const py = uint8Params(Math.min(...relu.flatMap((c) => [...c])), Math.max(...relu.flatMap((c) => [...c])));
    const session = await ort.InferenceSession.create(bytes, { graphOptimizationLevel: 'disabled' });
    for (const x of inputs) {
      const xq = x.map((v) => fq(v, px));
      const c = conv(xq, qw.map((q, e) => q * sw[Math.floor(e / (C * 9))]), qb.map((q, m) => q * sb[m])).map((v) => fq(v, pc));
      const want = c.map((v) => fq(Math.max(0, v), py));
      const got = (await session.run({ x: new ort.Tensor('float32', x, [1, C, H, W]) })).y.data as Float32Array;
      want.forEach((v, i) => expect(got[i]).toBeCloseTo(v, 5));
      // and close to float32: within a step or two of the output's scale
      const f = conv(x, wt, bias).map((v) => Math.max(0, v));
      f.forEach((v, i) => expect(Math.abs(got[i] - v)).toBeLessThan(3 * py.scale + 2 * pc.scale));
    }
    await session.release();
  });
});
