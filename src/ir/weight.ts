/**
 * Weights: constant tensors held as lazy references (file, offset, length) and read only when a
 * backend needs the bytes. Small tensors decoded from typed protobuf fields, or computed by folding,
 * are held inline.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import type { TensorProto } from 'onnx-buf';
import { TesseraError } from '../errors.js';
import { byteSize, dtypeBits, dtypeFromOnnx, type DType } from './dtype.js';

export type WeightSource =
  | { readonly kind: 'file'; readonly path: string; readonly offset: number; readonly length: number }
  | { readonly kind: 'buffer'; readonly buffer: Uint8Array; readonly offset: number; readonly length: number }
  | { readonly kind: 'inline'; readonly bytes: Uint8Array }
  | { readonly kind: 'strings'; readonly values: readonly string[] };

export interface Weight {
  readonly name: string;
  readonly dtype: DType;
  readonly dims: readonly number[];
  readonly source: WeightSource;
}

/** Where the model bytes came from, so raw_data views can become (file, offset, length) references. */
export interface ModelBytes {
  readonly path: string | null;
  readonly bytes: Uint8Array;
}

export function weightElementCount(w: Weight): number {
  return w.dims.reduce((a, b) => a * b, 1);
}

/** Byte size of the weight's dense data. */
export function weightByteLength(w: Weight): number {
  if (w.source.kind === 'strings') return w.source.values.reduce((a, s) => a + Buffer.byteLength(s), 0);
  return byteSize(w.dtype, weightElementCount(w));
}

function readRange(path: string, offset: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    throw new TesseraError('FILE_UNREADABLE', `cannot open weight data file ${path}: ${(err as Error).message}`);
  }
  try {
    let done = 0;
    while (done < length) {
      const n = readSync(fd, out, done, length - done, offset + done);
      if (n === 0) {
        throw new TesseraError('TRUNCATED', `${path}: weight data at offset ${offset} (+${length} bytes) runs past the end of the file`);
      }
      done += n;
    }
  } finally {
    closeSync(fd);
  }
  return out;
}

/** The weight's little-endian bytes (a fresh copy for file sources; never a view at an odd offset). */
export function weightBytes(w: Weight): Uint8Array {
  const s = w.source;
  switch (s.kind) {
    case 'file':
      return readRange(s.path, s.offset, s.length);
    case 'buffer':
      return new Uint8Array(s.buffer.subarray(s.offset, s.offset + s.length));
    case 'inline':
      return s.bytes;
    case 'strings':
      throw new TesseraError('INTERNAL', `weight '${w.name}' holds strings, not bytes`);
  }
}

function bigintsToBytes(values: readonly bigint[], signed: boolean): Uint8Array {
  const out = new Uint8Array(values.length * 8);
  const view = new DataView(out.buffer);
  values.forEach((v, i) => (signed ? view.setBigInt64(i * 8, v, true) : view.setBigUint64(i * 8, v, true)));
  return out;
}

/** Encodes a TensorProto's typed *_data fields as dense little-endian bytes. */
function typedFieldBytes(t: TensorProto, dtype: DType, count: number, where: string): Uint8Array {
  const bits = dtypeBits(dtype);
  const out = new Uint8Array(byteSize(dtype, count));
  const view = new DataView(out.buffer);
  const need = (n: number, field: string) => {
    if (n !== count && !(bits < 8 && n === out.length)) {
      throw new TesseraError('BAD_MODEL', `${where}: ${field} holds ${n} elements but dims say ${count}`);
    }
  };
  switch (dtype) {
    case 'float32':
      need(t.floatData.length, 'float_data');
      t.floatData.forEach((v, i) => view.setFloat32(i * 4, v, true));
      return out;
    case 'float64':
      need(t.doubleData.length, 'double_data');
      t.doubleData.forEach((v, i) => view.setFloat64(i * 8, v, true));
      return out;
    case 'complex64':
      t.floatData.forEach((v, i) => view.setFloat32(i * 4, v, true));
      return out;
    case 'complex128':
      t.doubleData.forEach((v, i) => view.setFloat64(i * 8, v, true));
      return out;
    case 'int64':
      need(t.int64Data.length, 'int64_data');
      return bigintsToBytes(t.int64Data, true);
    case 'uint64':
      need(t.uint64Data.length, 'uint64_data');
      return bigintsToBytes(t.uint64Data, false);
    case 'uint32':
      need(t.uint64Data.length, 'uint64_data');
      t.uint64Data.forEach((v, i) => view.setUint32(i * 4, Number(v), true));
      return out;
    case 'int32':
      need(t.int32Data.length, 'int32_data');
      t.int32Data.forEach((v, i) => view.setInt32(i * 4, v, true));
      return out;
    default: {
      // int8/uint8/int16/uint16/bool/float16/bfloat16/float8*: one element per int32 entry.
      // Sub-byte types (int4, uint4, int2, uint2, float4): one packed byte per int32 entry.
      if (bits >= 8) {
        need(t.int32Data.length, 'int32_data');
        const width = bits / 8;
        t.int32Data.forEach((v, i) => {
          if (width === 1) view.setUint8(i, v & 0xff);
          else view.setUint16(i * 2, v & 0xffff, true);
        });
      } else {
        const perByte = 8 / bits;
        if (t.int32Data.length === out.length) t.int32Data.forEach((v, i) => view.setUint8(i, v & 0xff));
        else {
          need(t.int32Data.length, 'int32_data');
          t.int32Data.forEach((v, i) => {
            const byte = Math.floor(i / perByte);
            const shift = (i % perByte) * bits;
            out[byte] |= (v & ((1 << bits) - 1)) << shift;
          });
        }
      }
      return out;
    }
  }
}

/**
 * Turns a decoded TensorProto into a Weight. `model` is the buffer the proto was decoded from:
 * raw_data is a view into it, so its position becomes a (file, offset, length) reference.
 */
export function weightFromProto(t: TensorProto, model: ModelBytes, where: string): Weight {
  const dtype = dtypeFromOnnx(t.dataType, where);
  const dims = t.dims.map((d) => {
    const n = Number(d);
    if (!Number.isSafeInteger(n) || n < 0) throw new TesseraError('BAD_MODEL', `${where}: bad dimension ${d}`);
    return n;
  });
  const name = t.name;
  const count = dims.reduce((a, b) => a * b, 1);
  if (dtype === 'string') {
    const dec = new TextDecoder();
    return { name, dtype, dims, source: { kind: 'strings', values: t.stringData.map((s) => dec.decode(s)) } };
  }
  const expected = byteSize(dtype, count);
  if (t.dataLocation === 1) {
    const kv = new Map(t.externalData.map((e) => [e.key, e.value]));
    const location = kv.get('location');
    if (!location) throw new TesseraError('BAD_MODEL', `${where}: external data without a location`);
    if (!model.path) {
      throw new TesseraError('BAD_MODEL', `${where}: external data '${location}' needs the model to be loaded from a file path, not bytes`);
    }
    const path = isAbsolute(location) ? location : join(dirname(model.path), location);
    const offset = Number(kv.get('offset') ?? 0);
    const length = kv.has('length') ? Number(kv.get('length')) : expected;
    if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(length) || length < 0) {
      throw new TesseraError('BAD_MODEL', `${where}: external data '${location}' has a bad offset/length (${kv.get('offset')}, ${kv.get('length')})`);
    }
    if (length !== expected) {
      throw new TesseraError('BAD_MODEL', `${where}: external data '${location}' holds ${length} bytes, but a ${dtype} tensor of dims [${dims}] needs ${expected}`);
    }
    return { name, dtype, dims, source: { kind: 'file', path, offset, length } };
  }
  if (t.rawData.length > 0 || count === 0) {
    if (t.rawData.length !== expected) {
      throw new TesseraError('BAD_MODEL', `${where}: raw_data has ${t.rawData.length} bytes but a ${dtype} tensor of dims [${dims}] needs ${expected}`);
    }
    const raw = t.rawData;
    const inModel = raw.buffer === model.bytes.buffer;
    if (inModel && raw.length >= 64) {
      const offset = raw.byteOffset - model.bytes.byteOffset;
      const source: WeightSource = model.path
        ? { kind: 'file', path: model.path, offset, length: raw.length }
        : { kind: 'buffer', buffer: model.bytes, offset, length: raw.length };
      return { name, dtype, dims, source };
    }
    return { name, dtype, dims, source: { kind: 'inline', bytes: new Uint8Array(raw) } };
  }
  return { name, dtype, dims, source: { kind: 'inline', bytes: typedFieldBytes(t, dtype, count, where) } };
}
