/**
 * Serialized TensorProto files, the layout of ONNX's own test data (`test_data_set_0/input_0.pb`, …).
 */
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { fromBinary, toBinary } from '@bufbuild/protobuf';
import { TensorProtoSchema } from 'onnx-buf';
import { TesseraError } from '../errors.js';
import { weightToProto } from './onnx-export.js';
import { DEFAULT_LIMITS } from './limits.js';
import { weightFromProto, type Weight } from './weight.js';

export function readTensorFile(path: string): Weight {
  let bytes: Uint8Array;
  try {
    const buf = readFileSync(path);
    bytes = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  } catch {
    throw new TesseraError('BAD_TEST_DATA', `test data file not found: ${path}`);
  }
  try {
    const t = fromBinary(TensorProtoSchema, bytes);
    return weightFromProto(t, { path: null, bytes: new Uint8Array(0), dataDir: null, limits: DEFAULT_LIMITS }, path); // no external data
  } catch (err) {
    if (err instanceof TesseraError) throw new TesseraError('BAD_TEST_DATA', err.message);
    throw new TesseraError('BAD_TEST_DATA', `${path} is not a serialized ONNX TensorProto (${(err as Error).message})`);
  }
}

export function tensorFileBytes(w: Weight): Uint8Array {
  return toBinary(TensorProtoSchema, weightToProto(w));
}

/** The `<prefix>_<i>.pb` files of a test-data directory, in index order. */
export function listTensorFiles(dir: string, prefix: 'input' | 'output'): string[] {
  if (!existsSync(dir)) throw new TesseraError('BAD_TEST_DATA', `test data directory not found: ${dir}`);
  const re = new RegExp(`^${prefix}_(\\d+)\\.pb$`);
  return readdirSync(dir)
    .map((f) => [f, re.exec(f)] as const)
    .filter(([, m]) => m)
    .sort((a, b) => Number(a[1]![1]) - Number(b[1]![1]))
    .map(([f]) => join(dir, f));
}
