/** Converting between dense little-endian bytes and numbers, for folding small constants. */
import { TesseraError } from '../errors.js';
import type { DType } from './dtype.js';

export function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * 2 ** -14 * (f / 1024);
  if (e === 31) return f ? NaN : s * Infinity;
  return s * 2 ** (e - 15) * (1 + f / 1024);
}

export function floatToHalf(v: number): number {
  const f32 = new Float32Array(1);
  const u32 = new Uint32Array(f32.buffer);
  f32[0] = v;
  const x = u32[0];
  const sign = (x >> 16) & 0x8000;
  const exp = ((x >> 23) & 0xff) - 127 + 15;
  let mant = x & 0x7fffff;
  if (((x >> 23) & 0xff) === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  if (exp >= 31) return sign | 0x7c00;
  if (exp <= 0) {
    if (exp < -10) return sign;
    mant = (mant | 0x800000) >> (1 - exp);
    return sign | ((mant + 0x1000) >> 13);
  }
  const h = sign | (exp << 10) | (mant >> 13);
  // round to nearest even
  const rest = mant & 0x1fff;
  return rest > 0x1000 || (rest === 0x1000 && h & 1) ? h + 1 : h;
}

const DECODABLE = new Set<DType>(['float32', 'float64', 'float16', 'bfloat16', 'int8', 'uint8', 'bool', 'int16', 'uint16', 'int32', 'uint32', 'int64', 'uint64', 'int4', 'uint4', 'int2', 'uint2']);

/** Whether bytesToNumbers can decode this type. */
export function canDecode(dtype: DType): boolean {
  return DECODABLE.has(dtype);
}

/** Decodes dense bytes into numbers (int64 clamped to the safe-integer range). */
export function bytesToNumbers(dtype: DType, bytes: Uint8Array, count: number): number[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Array<number>(count);
  const clamp = (v: bigint) => (v > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : v < BigInt(Number.MIN_SAFE_INTEGER) ? Number.MIN_SAFE_INTEGER : Number(v));
  for (let i = 0; i < count; i++) {
    switch (dtype) {
      case 'float32': out[i] = view.getFloat32(i * 4, true); break;
      case 'float64': out[i] = view.getFloat64(i * 8, true); break;
      case 'float16': out[i] = halfToFloat(view.getUint16(i * 2, true)); break;
      case 'int8': out[i] = view.getInt8(i); break;
      case 'uint8': case 'bool': out[i] = view.getUint8(i); break;
      case 'int16': out[i] = view.getInt16(i * 2, true); break;
      case 'uint16': out[i] = view.getUint16(i * 2, true); break;
      case 'int32': out[i] = view.getInt32(i * 4, true); break;
      case 'uint32': out[i] = view.getUint32(i * 4, true); break;
      case 'int64': out[i] = clamp(view.getBigInt64(i * 8, true)); break;
      case 'uint64': out[i] = clamp(view.getBigUint64(i * 8, true)); break;
      case 'bfloat16': {
        const f = new DataView(new ArrayBuffer(4));
        f.setUint16(0, view.getUint16(i * 2, true));
        out[i] = f.getFloat32(0);
        break;
      }
      case 'int4': case 'uint4': case 'int2': case 'uint2': {
        // packed, first element in the least significant bits
        const bits = dtype.endsWith('4') ? 4 : 2;
        const per = 8 / bits;
        const raw = (view.getUint8(Math.floor(i / per)) >> ((i % per) * bits)) & ((1 << bits) - 1);
        out[i] = dtype.startsWith('u') || raw < 1 << (bits - 1) ? raw : raw - (1 << bits);
        break;
      }
      default:
        throw new TesseraError('INTERNAL', `cannot decode ${dtype} values`);
    }
  }
  return out;
}

/** The typed array onnxruntime's JavaScript Tensor takes for a dtype, built from dense bytes (copied). */
export type TypedData =
  | Float32Array | Float64Array | Int8Array | Uint8Array | Int16Array | Uint16Array
  | Int32Array | Uint32Array | BigInt64Array | BigUint64Array;

export function typedArrayFor(dtype: DType, bytes: Uint8Array): TypedData {
  const buf = new Uint8Array(bytes).buffer; // aligned copy (never a Buffer view): a view at an odd offset would throw
  switch (dtype) {
    case 'float32': return new Float32Array(buf);
    case 'float64': return new Float64Array(buf);
    case 'int8': return new Int8Array(buf);
    case 'uint8': case 'bool': return new Uint8Array(buf);
    case 'int16': return new Int16Array(buf);
    case 'uint16': case 'float16': return new Uint16Array(buf);
    case 'int32': return new Int32Array(buf);
    case 'uint32': return new Uint32Array(buf);
    case 'int64': return new BigInt64Array(buf);
    case 'uint64': return new BigUint64Array(buf);
    default:
      throw new TesseraError('FEED_DTYPE', `tensors of type ${dtype} cannot be passed to onnxruntime's JavaScript API`);
  }
}

/** Encodes numbers as dense little-endian bytes of a dtype (the inverse of bytesToNumbers). */
export function numbersToBytes(dtype: DType, data: readonly number[]): Uint8Array {
  const width: Partial<Record<DType, number>> = { float32: 4, float64: 8, float16: 2, int8: 1, uint8: 1, bool: 1, int16: 2, uint16: 2, int32: 4, uint32: 4, int64: 8, uint64: 8 };
  const w = width[dtype];
  if (!w) throw new TesseraError('INTERNAL', `cannot encode ${dtype} values`);
  const out = new Uint8Array(w * data.length);
  const view = new DataView(out.buffer);
  data.forEach((v, i) => {
    switch (dtype) {
      case 'float32': view.setFloat32(i * 4, v, true); break;
      case 'float64': view.setFloat64(i * 8, v, true); break;
      case 'float16': view.setUint16(i * 2, floatToHalf(v), true); break;
      case 'int8': view.setInt8(i, v); break;
      case 'uint8': case 'bool': view.setUint8(i, v); break;
      case 'int16': view.setInt16(i * 2, v, true); break;
      case 'uint16': view.setUint16(i * 2, v, true); break;
      case 'int32': view.setInt32(i * 4, v, true); break;
      case 'uint32': view.setUint32(i * 4, v, true); break;
      // Decoding saturates int64 to the safe range: the edges stand for INT64_MAX/INT64_MIN (the "to the end" sentinels).
      case 'int64': view.setBigInt64(i * 8, v >= Number.MAX_SAFE_INTEGER ? 9223372036854775807n : v <= Number.MIN_SAFE_INTEGER ? -9223372036854775808n : BigInt(Math.trunc(v)), true); break;
      case 'uint64': view.setBigUint64(i * 8, BigInt(Math.trunc(v)), true); break;
    }
  });
  return out;
}
