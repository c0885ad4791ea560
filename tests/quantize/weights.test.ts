/**
 * Weight quantization against hand computation: a tiny weight quantized by hand in the test (per channel,
 * int8), block-wise int4 against a brute-force dequantization, and onnxruntime's own DequantizeLinear
 * (blocked int4 and per-channel int8) running the files we write.
 */
import { describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import { GraphBuilder } from '../../src/ir/builder.js';
import { exportOnnx } from '../../src/ir/onnx-export.js';
import { importOnnx } from '../../src/ir/onnx-import.js';
import { bytesToNumbers } from '../../src/ir/tensor-data.js';
import { weightBytes } from '../../src/ir/weight.js';
import { affineParams, dequantizeSymmetric, packInt4, quantizeSymmetric, roundHalfEven } from '../../src/passes/quantize-math.js';
import { quantizeWeightsOnly, weightUses } from '../../src/passes/quantize-weights.js';
import { upgradeOpset } from '../../src/passes/opset-upgrade.js';

describe('quantization arithmetic', () => {
  it('rounds half to even, as QuantizeLinear does', () => {
    expect([0.5, 1.5, 2.5, -0.5, -1.5, 2.4, 2.6].map(roundHalfEven)).toEqual([0, 2, 2, -0, -2, 2, 3]);
  });

  it('asymmetric uint8 parameters hold 0 exactly', () => {
    // [-1, 3]: scale 4/255, zero point round(1 / (4/255)) = round(63.75) = 64
    const p = affineParams(-1, 3, 'uint8');
    expect(p.scale).toBeCloseTo(4 / 255, 7);
    expect(p.zeroPoint).toBe(64);
    // a range that excludes 0 is widened to hold it: [2, 5] → [0, 5]
    expect(affineParams(2, 5, 'uint8')).toEqual({ scale: Math.fround(5 / 255), zeroPoint: 0 });
    expect(affineParams(-2, 6, 'uint16').zeroPoint).toBe(Math.round(2 / (8 / 65535)));
  });

  it('int8 per output channel: a 2×3 weight by hand', () => {
    const w = Float32Array.of(0.5, -1.27, 0.01, 2, 1, -0.5);
    // row 0: max |w| 1.27 → scale 0.01 → 50, -127, 1; row 1: max 2 → scale 2/127 → 127, 63.5 → 64 (half to even), -31.75 → -32
    const q = quantizeSymmetric(w, [2, 3], 0, 'int8');
    expect(Array.from(q.scales)).toEqual([Math.fround(1.27 / 127), Math.fround(2 / 127)]);
    expect(Array.from(q.values)).toEqual([50, -127, 1, 127, 64, -32]); // -0.5 / (2/127) = -31.75
  });

  it('block-wise int4 round trip matches a brute-force dequantization', () => {
    const K = 40, N = 3, B = 16; // blocks along axis 0: rows 0–15, 16–31, 32–39 (a short last block)
    const w = Float32Array.from({ length: K * N }, (_, i) => Math.sin(i * 1.7) * (1 + (i % 7)));
    const q = quantizeSymmetric(w, [K, N], 0, 'int4', B);
    expect(q.scaleDims).toEqual([3, N]);
    const deq = dequantizeSymmetric(q, [K, N], 0, B);
    for (let b = 0; b < 3; b++) for (let n = 0; n < N; n++) {
      const rows = Array.from({ length: Math.min(B, K - b * B) }, (_, r) => b * B + r);
      const s = Math.fround(Math.max(...rows.map((k) => Math.abs(w[k * N + n]))) / 7);
      for (const k of rows) {
        const v = Math.max(-7, Math.min(7, roundHalfEven(w[k * N + n] / s)));
        expect(q.values[k * N + n]).toBe(v + 0);
        expect(deq[k * N + n]).toBeCloseTo(v * s, 6);
        expect(Math.abs(deq[k * N + n] - w[k * N + n])).toBeLessThanOrEqual(s / 2 + 1e-6);
      }
    }
  });

  it('packs int4 two to a byte, the first element in the low nibble', () => {
    expect(Array.from(packInt4([1, -1, 7, -8, 3]))).toEqual([0xf1, 0x87, 0x03]);
    expect(bytesToNumbers('int4', packInt4([1, -1, 7, -8, 3]), 5)).toEqual([1, -1, 7, -8, 3]);
  });
});

/** y = x · W for x [2, K], W [K, N]. */
function matmulModel(K: number, N: number, w: Float32Array): Uint8Array {
  const b = new GraphBuilder('mm', { opset: 17 });
  b.input('x', 'float32', [2, K]);
  b.initializer('w', w, [K, N]);
  b.output(b.node('MatMul', ['x', 'w'], 'y'), 'float32', [2, N]);
  return b.toBytes();
}

describe('weight-only quantization on onnxruntime', () => {
  const K = 48, N = 5;
  const w = Float32Array.from({ length: K * N }, (_, i) => Math.cos(i * 0.37) * (0.2 + (i % 5)));
  const x = Float32Array.from({ length: 2 * K }, (_, i) => Math.sin(i * 0.11));
  const product = (wd: Float32Array) => Array.from({ length: 2 * N }, (_, e) => { let s = 0; for (let k = 0; k < K; k++) s += x[Math.floor(e / N) * K + k] * wd[k * N + (e % N)]; return s; });

  for (const [label, choice] of [['int4 blocks of 16', { bits: 4, blockSize: 16 }], ['int8 per channel', { bits: 8, blockSize: 0 }]] as const) {
    it(`${label}: onnxruntime's DequantizeLinear gives x · dequantized W, computed here by brute force`, async () => {
      const g = upgradeOpset(importOnnx(matmulModel(K, N, w)));
      const [use] = weightUses(g);
      expect(use).toMatchObject({ op: 'MatMul', channelAxis: 1, blockAxis: 0 });
      const r = quantizeWeightsOnly(g, new Map([['w', choice]]));
      const dq = r.graph.nodes.find((n) => n.op === 'DequantizeLinear')!;
      expect(dq.attrs.axis).toEqual({ type: 'int', value: choice.bits === 4 ? 0 : 1 });
      if (choice.bits === 4) expect(dq.attrs.block_size).toEqual({ type: 'int', value: 16 });
      const q = r.graph.values.get(dq.inputs[0])!.initializer!;
      expect(q.dtype).toBe(choice.bits === 4 ? 'int4' : 'int8');
      const qv = bytesToNumbers(q.dtype, weightBytes(q), K * N);
      const scales = bytesToNumbers('float32', weightBytes(r.graph.values.get(dq.inputs[1])!.initializer!), choice.bits === 4 ? 3 * N : N);
      const brute = Float32Array.from(qv, (v, e) => v * (choice.bits === 4 ? scales[Math.floor(Math.floor(e / N) / 16) * N + (e % N)] : scales[e % N]));
      // graph optimizations off: onnxruntime's CPU EP would fuse DequantizeLinear + MatMul into MatMulNBits,
      // which by default also quantizes x to int8 (session.qdq_matmulnbits_accuracy_level 4): not the format's meaning
      const session = await ort.InferenceSession.create(exportOnnx(r.graph).bytes, { graphOptimizationLevel: 'disabled' });
      const y = (await session.run({ x: new ort.Tensor('float32', x, [2, K]) })).y.data as Float32Array;
      const want = product(brute);
      want.forEach((v, i) => expect(y[i]).toBeCloseTo(v, 4));
      // the weight's own error is within half a step per element (the bound computed from the brute-force scales)
      const scaleOf = (e: number) => (choice.bits === 4 ? scales[Math.floor(Math.floor(e / N) / 16) * N + (e % N)] : scales[e % N]);
      const bound = w.reduce((a, _, e) => a + (scaleOf(e) / 2) ** 2, 0) / w.reduce((a, v) => a + v * v, 0);
      expect(r.layers[0].weightError).toBeGreaterThan(0);
      expect(r.layers[0].weightError).toBeLessThanOrEqual(bound);
      expect(r.layers[0].weightError).toBeCloseTo(w.reduce((a, v, e) => a + (v - brute[e]) ** 2, 0) / w.reduce((a, v) => a + v * v, 0), 8);
      expect(r.layers[0].bytes).toBe(choice.bits === 4 ? (K * N) / 2 + 3 * N * 4 : K * N + N * 4 + N);
      await session.release();
    });
  }
});
