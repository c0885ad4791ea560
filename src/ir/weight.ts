/**
 * Weights: constant tensors held as lazy references (file, offset, length) and read only when a
 * backend needs the bytes. Small tensors decoded from typed protobuf fields, or computed by folding,
 * are held inline.
 */
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import type { TensorProto } from 'onnx-buf';
import { TesseraError } from '../errors.js';
import { byteSize, dtypeBits, dtypeFromOnnx, type DType } from './dtype.js';
import { confineExternalData, type ExternalRange } from './external-data.js';
import { checkTensorBytes, type Limits } from './limits.js';

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
  /** The file the bytes were read from (raw_data becomes references into it), or null. */
  readonly path: string | null;
  readonly bytes: Uint8Array;
  /** The only directory external data may come from (see external-data.ts); null: none may. */
  readonly dataDir: string | null;
  readonly limits: Limits;
}

/** What a subgraph's tensors are read with, after import: no model bytes, the model's data directory and limits. */
export function subgraphSource(meta: { readonly dataDir: string | null; readonly limits: Limits }): ModelBytes {
  return { path: null, bytes: new Uint8Array(0), dataDir: meta.dataDir, limits: meta.limits };
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
    // the path was resolved (links followed) and checked at import: a link put in its place since is not followed
    fd = openSync(path, constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0));
  } catch (err) {
    throw new TesseraError('FILE_UNREADABLE', `cannot open weight data file ${path}: ${(err as Error).message}`);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile() || offset + length > st.size) {
      throw new TesseraError('EXTERNAL_DATA', `${path}: weight data at offset ${offset} (+${length} bytes) is no longer inside a regular file of that size (the file changed after the model was loaded)`);
    }
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
  // the values must be in the file before their dense copy is allocated (no small file allocates gigabytes)
  const entries = Math.max(t.floatData.length, t.doubleData.length, t.int32Data.length, t.int64Data.length, t.uint64Data.length);
  if (entries < (bits < 8 ? byteSize(dtype, count) : count)) {
    throw new TesseraError('BAD_MODEL', `${where}: the tensor holds ${entries} values but dims say ${count}`);
  }
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
      need(t.floatData.length / 2, 'float_data (pairs)');
      t.floatData.forEach((v, i) => view.setFloat32(i * 4, v, true));
      return out;
    case 'complex128':
      need(t.doubleData.length / 2, 'double_data (pairs)');
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
 * A TensorProto's element type and dims, checked against the limits, and where its external data is
 * (confined to the model's directory: see external-data.ts). Reads nothing.
 */
export function checkTensorProto(t: TensorProto, model: ModelBytes, where: string): { dtype: DType; dims: number[]; range?: ExternalRange } {
  const dtype = dtypeFromOnnx(t.dataType, where);
  const dims = t.dims.map((d) => {
    const n = Number(d);
    if (!Number.isSafeInteger(n) || n < 0) throw new TesseraError('BAD_MODEL', `${where}: bad dimension ${d}`);
    return n;
  });
  if (dtype === 'string') return { dtype, dims };
  checkTensorBytes(dtype, dims, model.limits, where);
  if (t.dataLocation !== 1) return { dtype, dims };
  const kv = new Map(t.externalData.map((e) => [e.key, e.value]));
  const location = kv.get('location') ?? '';
  const figure = (key: string, d: number) => {
    const text = kv.get(key);
    if (text === undefined) return d;
    const n = /^[0-9]{1,16}$/.test(text) ? Number(text) : NaN;
    if (!Number.isSafeInteger(n)) throw new TesseraError('EXTERNAL_DATA', `${where}: external data '${location}' refused: its ${key} '${text}' is not a non-negative decimal integer`);
    return n;
  };
  const expected = byteSize(dtype, dims.reduce((a, b) => a * b, 1));
  const range = confineExternalData(location, figure('offset', 0), figure('length', expected), model.dataDir, where);
  if (range.length !== expected) {
    throw new TesseraError('BAD_MODEL', `${where}: external data '${location}' holds ${range.length} bytes, but a ${dtype} tensor of dims [${dims}] needs ${expected}`);
  }
  return { dtype, dims, range };
}

/**
 * Turns a decoded TensorProto into a Weight. `model` is the buffer the proto was decoded from:
 * raw_data is a view into it, so its position becomes a (file, offset, length) reference.
 */
export function weightFromProto(t: TensorProto, model: ModelBytes, where: string): Weight {
  const { dtype, dims, range } = checkTensorProto(t, model, where);
  const name = t.name;
  const count = dims.reduce((a, b) => a * b, 1);
  if (dtype === 'string') {
    const dec = new TextDecoder();
    return { name, dtype, dims, source: { kind: 'strings', values: t.stringData.map((s) => dec.decode(s)) } };
  }
  if (range) return { name, dtype, dims, source: { kind: 'file', ...range } };
  const expected = byteSize(dtype, count);
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
