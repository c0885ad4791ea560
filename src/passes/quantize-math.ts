/**
 * The arithmetic of quantization, on plain arrays: scales and zero points, rounding as ONNX's
 * QuantizeLinear rounds (half to even), per-channel and block-wise weights, int4 packing. No graph here.
 */

/** Rounds half to even, as ONNX QuantizeLinear does. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

export type QuantType = 'int4' | 'uint4' | 'int8' | 'uint8' | 'int16' | 'uint16' | 'int32';

/** The integer range of a type; symmetric signed weights leave out the lowest value (−127…127 for int8). */
export function qrange(type: QuantType, symmetric = false): [number, number] {
  const bits = type === 'int32' ? 32 : Number(type.replace(/\D/g, ''));
  if (type.startsWith('u')) return [0, 2 ** bits - 1];
  const hi = 2 ** (bits - 1) - 1;
  return [symmetric ? -hi : -hi - 1, hi];
}

export interface QParams {
  scale: number;
  zeroPoint: number;
}

/** Asymmetric parameters for a range [lo, hi] (widened to hold 0, so that 0 is exact). */
export function affineParams(lo: number, hi: number, type: QuantType): QParams {
  const [qmin, qmax] = qrange(type);
  const rmin = Math.min(lo, 0), rmax = Math.max(hi, 0);
  if (!(rmax > rmin)) return { scale: 1, zeroPoint: type.startsWith('u') ? qmin : 0 };
  const scale = (rmax - rmin) / (qmax - qmin);
  const zeroPoint = Math.min(qmax, Math.max(qmin, roundHalfEven(qmin - rmin / scale)));
  return { scale: Math.fround(scale), zeroPoint };
}

/** Symmetric parameters for values of largest magnitude `absMax`: zero point 0, scale absMax / qmax. */
export function symmetricScale(absMax: number, type: QuantType): number {
  const [, qmax] = qrange(type, true);
  return absMax > 0 ? Math.fround(absMax / qmax) : 1;
}

/** q = clamp(round(x / scale) + zeroPoint), as QuantizeLinear computes it. */
export function quantizeValue(x: number, scale: number, zeroPoint: number, qmin: number, qmax: number): number {
  return Math.min(qmax, Math.max(qmin, roundHalfEven(x / scale) + zeroPoint));
}

export interface QuantizedTensor {
  /** Integer values in the tensor's element order. */
  values: Int32Array;
  /** One scale per group (per tensor: 1; per channel: the axis length; block-wise: the scale tensor's elements, row-major). */
  scales: Float32Array;
  /** The scale tensor's dims (per tensor: []; per channel: [C]; block-wise: dims with the axis divided into blocks). */
  scaleDims: number[];
}

/**
 * Symmetric quantization of a weight along `axis`: per channel (every index of `axis` its own scale) when
 * blockSize is 0, otherwise block-wise: `axis` cut into blocks of blockSize, one scale per block and
 * per index of every other axis (ONNX DequantizeLinear's block_size layout; the last block may be short).
 * `axis` -1 means one scale for the whole tensor.
 */
export function quantizeSymmetric(data: Float32Array, dims: readonly number[], axis: number, type: QuantType, blockSize = 0): QuantizedTensor {
  const [qmin, qmax] = qrange(type, true);
  if (axis < 0) {
    let m = 0;
    for (const x of data) m = Math.max(m, Math.abs(x));
    const s = symmetricScale(m, type);
    return { values: Int32Array.from(data, (x) => quantizeValue(x, s, 0, qmin, qmax)), scales: Float32Array.of(s), scaleDims: [] };
  }
  const outer = dims.slice(0, axis).reduce((a, b) => a * b, 1);
  const len = dims[axis];
  const inner = dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  const blocks = blockSize > 0 ? Math.ceil(len / blockSize) : len;
  const groupOf = (k: number) => (blockSize > 0 ? Math.floor(k / blockSize) : k);
  // scale index: per channel → k; block-wise → (o, block, i) in the scale tensor's row-major order
  const scaleIndex = (o: number, k: number, i: number) => (blockSize > 0 ? (o * blocks + groupOf(k)) * inner + i : k);
  const scales = new Float32Array(blockSize > 0 ? outer * blocks * inner : len);
  const absMax = new Float64Array(scales.length);
  for (let o = 0; o < outer; o++) for (let k = 0; k < len; k++) for (let i = 0; i < inner; i++) {
    const j = scaleIndex(o, k, i);
    absMax[j] = Math.max(absMax[j], Math.abs(data[(o * len + k) * inner + i]));
  }
  for (let j = 0; j < scales.length; j++) scales[j] = symmetricScale(absMax[j], type);
  const values = new Int32Array(data.length);
  for (let o = 0; o < outer; o++) for (let k = 0; k < len; k++) for (let i = 0; i < inner; i++) {
    const e = (o * len + k) * inner + i;
    values[e] = quantizeValue(data[e], scales[scaleIndex(o, k, i)], 0, qmin, qmax);
  }
  const scaleDims = blockSize > 0 ? dims.map((d, a) => (a === axis ? blocks : d)) : [len];
  return { values, scales, scaleDims };
}

/** The float values a quantized tensor stands for (DequantizeLinear with zero point 0), for errors and tests. */
export function dequantizeSymmetric(q: QuantizedTensor, dims: readonly number[], axis: number, blockSize = 0): Float32Array {
  const out = new Float32Array(q.values.length);
  if (axis < 0) {
    q.values.forEach((v, e) => (out[e] = v * q.scales[0]));
    return out;
  }
  const len = dims[axis];
  const inner = dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  const blocks = blockSize > 0 ? Math.ceil(len / blockSize) : len;
  for (let e = 0; e < out.length; e++) {
    const i = e % inner, k = Math.floor(e / inner) % len, o = Math.floor(e / (inner * len));
    const j = blockSize > 0 ? (o * blocks + Math.floor(k / blockSize)) * inner + i : k;
    out[e] = q.values[e] * q.scales[j];
  }
  return out;
}

/** Packs 4-bit integers two to a byte, the first in the low nibble (ONNX's int4/uint4 layout). */
export function packInt4(values: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(Math.ceil(values.length / 2));
  for (let i = 0; i < values.length; i++) out[i >> 1] |= (values[i] & 0xf) << ((i & 1) * 4);
  return out;
}

/** Dense little-endian bytes of integers in a quantized type. */
export function integerBytes(values: ArrayLike<number>, type: QuantType): Uint8Array {
  if (type === 'int4' || type === 'uint4') return packInt4(values);
  const n = values.length;
  switch (type) {
    case 'int8': return new Uint8Array(Int8Array.from(values).buffer);
    case 'uint8': return Uint8Array.from(values);
    case 'int16': return new Uint8Array(Int16Array.from(values).buffer);
    case 'uint16': return new Uint8Array(Uint16Array.from(values).buffer);
    case 'int32': return new Uint8Array(Int32Array.from({ length: n }, (_, i) => values[i]).buffer);
  }
}

/** Relative squared error ‖a − b‖² / ‖b‖² (0 when b is all zeros and a equals it). */
export function relativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0, den = 0;
  for (let i = 0; i < b.length; i++) {
    const d = a[i] - b[i];
    num += d * d;
    den += b[i] * b[i];
  }
  return den === 0 ? (num === 0 ? 0 : Infinity) : num / den;
}
