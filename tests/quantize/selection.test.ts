/**
 * The choices quantization makes from measurements, on small cases worked by hand: per-layer bits for an
 * error or a size target (mixed), and the ranges percentile and entropy calibration give.
 */
import { describe, expect, it } from 'vitest';
import { pickBits, type Sensitivity } from '../../src/quantize/mixed.js';
import { entropyRange, observeHistogram, percentileRange } from '../../src/quantize/ranges.js';

const layer = (weight: string, e16: number, e8: number, e4: number, floatBytes: number): Sensitivity => ({
  node: weight, op: 'MatMul', weight, floatBytes,
  error: { 16: e16, 8: e8, 4: e4 }, bytes: { 16: floatBytes / 2, 8: floatBytes / 4, 4: floatBytes / 8 },
});

describe('mixed precision: bits per layer', () => {
  // a: sensitive and small; b: robust and large; c: in between
  const sens = [layer('a', 0, 0.01, 0.2, 800), layer('b', 0, 0.0001, 0.002, 8000), layer('c', 0, 0.001, 0.03, 4000)];

  it('meets an error target with the fewest bytes (widening the most error per byte first)', () => {
    // all at 4 bits: 0.232. Widening a 4→8 removes 0.19 for 100 B (1.9e-3/B), c 4→8 0.029 for 500 B (5.8e-5/B),
    // b 4→8 0.0019 for 1000 B (1.9e-6/B), a 8→16 0.01 for 200 B (5e-5/B): a first, then c → 0.013; then a 8→16 → 0.003
    expect(Object.fromEntries(pickBits(sens, { error: 0.02 }))).toEqual({ a: 8, b: 4, c: 8 });
    expect(Object.fromEntries(pickBits(sens, { error: 0.005 }))).toEqual({ a: 16, b: 4, c: 8 });
    expect(Object.fromEntries(pickBits(sens, { error: 1e-9 }))).toEqual({ a: 16, b: 16, c: 16 });
  });

  it('meets a size target with the least error (narrowing the least error per saved byte first)', () => {
    // all at 16 bits: 6400 B. b 16→8 adds 1e-4 for 2000 B saved (5e-8/B) → 4400 B; then c 16→8 adds 0.001 for
    // 1000 B (1e-6/B), before b 8→4 (0.0019 for 1000 B) and a 16→8 (0.01 for 200 B) → 3400 B
    expect(Object.fromEntries(pickBits(sens, { bytes: 4400 }))).toEqual({ a: 16, b: 8, c: 16 });
    expect(Object.fromEntries(pickBits(sens, { bytes: 3400 }))).toEqual({ a: 16, b: 8, c: 8 });
  });
});

describe('calibration ranges', () => {
  it('percentile cuts (100 − p)/2 % from each tail', () => {
    // 1000 values: 0..999; 99% keeps 990: 5 cut from each end → [5, 995) in a 1000-bin histogram over [0, 1000)
    const data = Float32Array.from({ length: 1000 }, (_, i) => i);
    const h = new Float64Array(1000);
    observeHistogram(data, { min: 0, max: 1000 }, h, false);
    expect(percentileRange(h, { min: 0, max: 1000 }, 99)).toEqual({ min: 5, max: 995 });
  });

  it('entropy clips a long thin tail and keeps a range that holds the bulk', () => {
    // 100000 values in [-1, 1] and 10 outliers at ±100
    const data = Float32Array.from({ length: 100010 }, (_, i) => (i < 100000 ? Math.sin(i) : i % 2 ? 100 : -100));
    const range = { min: -100, max: 100 };
    const h = new Float64Array(2048);
    observeHistogram(data, range, h, true);
    const r = entropyRange(h, range);
    expect(r.max).toBeGreaterThanOrEqual(1);
    expect(r.max).toBeLessThan(20);
    expect(r.min).toBe(-r.max);
  });
});
