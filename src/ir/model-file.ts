/** Reading a model file: a clear error for a missing, unreadable or empty one. */
import { readFileSync, statSync } from 'node:fs';
import { TesseraError } from '../errors.js';

export function readModelFile(path: string): Uint8Array {
  let size: number;
  try {
    const st = statSync(path);
    if (!st.isFile()) throw new TesseraError('FILE_UNREADABLE', `${path} is not a file`);
    size = st.size;
  } catch (err) {
    if (err instanceof TesseraError) throw err;
    throw new TesseraError('FILE_NOT_FOUND', `model file not found: ${path}`);
  }
  if (size === 0) throw new TesseraError('NOT_ONNX', `${path} is empty, not an ONNX model`);
  try {
    const buf = readFileSync(path);
    return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength); // a plain Uint8Array: Buffer.slice() would not copy
  } catch (err) {
    throw new TesseraError('FILE_UNREADABLE', `cannot read ${path}: ${(err as Error).message}`);
  }
}
