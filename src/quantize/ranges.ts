/**
 * From observed activations to ranges: MinMax (the extremes seen), percentile (the range that keeps p%
 * of the values, (100−p)/2 % cut from each tail) and entropy (TensorRT's KL-divergence threshold: the
 * clipping of |x| whose 128-level quantized distribution is closest to the observed one). Histograms are
 * built over each tensor's MinMax range, so percentile and entropy need a first MinMax pass.
 */
import type { Range } from '../passes/quantize-qdq.js';

export type CalibrationMethod = 'minmax' | 'percentile' | 'entropy';
export const CALIBRATION_METHODS: readonly CalibrationMethod[] = ['minmax', 'percentile', 'entropy'];

export const HISTOGRAM_BINS = 2048;

export function observeMinMax(data: Float32Array, into: Range | undefined): Range {
  let lo = into?.min ?? Infinity, hi = into?.max ?? -Infinity;
  for (let i = 0; i < data.length; i++) {
    const x = data[i];
    if (x < lo) lo = x;
    if (x > hi) hi = x;
  }
  return { min: lo, max: hi };
}

/** Adds values to a histogram over [range.min, range.max] (percentile) or over [0, max |x|] of |x| (entropy). */
export function observeHistogram(data: Float32Array, range: Range, hist: Float64Array, absolute: boolean): void {
  const lo = absolute ? 0 : range.min;
  const hi = absolute ? Math.max(Math.abs(range.min), Math.abs(range.max)) : range.max;
  const n = hist.length;
  if (!(hi > lo)) { hist[0] += data.length; return; }
  const k = n / (hi - lo);
  for (let i = 0; i < data.length; i++) {
    const x = absolute ? Math.abs(data[i]) : data[i];
    hist[Math.min(n - 1, Math.max(0, Math.floor((x - lo) * k)))]++;
  }
}

/** The range keeping `percentile`% of the values: (100 − p)/2 % cut from each tail of the histogram. */
export function percentileRange(hist: Float64Array, range: Range, percentile: number): Range {
  const total = hist.reduce((a, b) => a + b, 0);
  const cut = ((100 - percentile) / 200) * total;
  const width = (range.max - range.min) / hist.length;
  let acc = 0, left = 0;
  while (left < hist.length - 1 && acc + hist[left] <= cut) acc += hist[left++];
  acc = 0;
  let right = hist.length - 1;
  while (right > left && acc + hist[right] <= cut) acc += hist[right--];
  return { min: range.min + left * width, max: range.min + (right + 1) * width };
}

/** KL divergence of the observed distribution p and its quantization q (both unnormalized; zeros in p skipped). */
function klDivergence(p: Float64Array, q: Float64Array): number {
  let sp = 0, sq = 0;
  for (let i = 0; i < p.length; i++) { sp += p[i]; sq += q[i]; }
  let kl = 0;
  for (let i = 0; i < p.length; i++) {
    if (p[i] === 0) continue;
    if (q[i] === 0) return Infinity;
    kl += (p[i] / sp) * Math.log((p[i] / sp) / (q[i] / sq));
  }
  return kl;
}

/**
 * The entropy threshold over a histogram of |x| on [0, absMax]: for each candidate clipping bin i, p is
 * the first i bins with the tail folded into the last, q is p merged into `levels` levels and spread back
 * over the non-empty bins; the i with the smallest KL(p‖q) wins.
 */
export function entropyThreshold(hist: Float64Array, absMax: number, levels = 128, step = 8): number {
  const n = hist.length;
  let best = n, bestKl = Infinity;
  for (let i = levels; i <= n; i += step) {
    const p = hist.slice(0, i);
    for (let j = i; j < n; j++) p[i - 1] += hist[j];
    const q = new Float64Array(i);
    const per = i / levels;
    for (let l = 0; l < levels; l++) {
      const a = Math.floor(l * per), b = l === levels - 1 ? i : Math.floor((l + 1) * per);
      let sum = 0, nonzero = 0;
      for (let j = a; j < b; j++) { sum += p[j]; if (p[j] > 0) nonzero++; }
      if (nonzero) for (let j = a; j < b; j++) if (p[j] > 0) q[j] = sum / nonzero;
    }
    const kl = klDivergence(p, q);
    if (kl < bestKl) { bestKl = kl; best = i; }
  }
  return (best / n) * absMax;
}

/** The range entropy calibration gives a tensor: [−t, t] cut to what was seen (so [0, t] after a ReLU). */
export function entropyRange(hist: Float64Array, range: Range): Range {
  const absMax = Math.max(Math.abs(range.min), Math.abs(range.max));
  const t = entropyThreshold(hist, absMax);
  return { min: Math.max(range.min, -t), max: Math.min(range.max, t) };
}
