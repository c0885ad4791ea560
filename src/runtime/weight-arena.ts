/**
 * The weight arena of a streamed run (runtime/stream.ts): one buffer, allocated once, that the weights
 * fed to a group's session are read into just before it runs, placed as a ring so the next group's
 * weights are read (on libuv's thread pool: a storage lane beside the engine's compute) while the
 * current group runs, whenever both fit. Nothing is allocated per group: a weight is a typed-array view
 * of the arena, handed to onnxruntime as an input tensor without a copy.
 *
 * Reads go to file ranges that compiler/stream.ts checked with confineExternalData (the model's
 * directory); a file is opened without following a symbolic link put in its place since.
 */
import { constants, promises as fsp } from 'node:fs';
import { Tensor } from 'onnxruntime-node';
import type { TensorMap } from '../backends/tensor.js';
import type { FedWeight } from '../compiler/stream.js';
import { TesseraError } from '../errors.js';
import { READ_DEPTH, readRanges, type FileRange } from './storage-read.js';

const ALIGN = 64;
const align = (n: number) => Math.ceil(n / ALIGN) * ALIGN;

type View = new (buffer: ArrayBuffer, byteOffset: number, length: number) => Tensor['data'];
const VIEWS: Record<string, [View, number]> = {
  float32: [Float32Array as unknown as View, 4], float64: [Float64Array as unknown as View, 8], float16: [Uint16Array as unknown as View, 2],
  int8: [Int8Array as unknown as View, 1], uint8: [Uint8Array as unknown as View, 1], bool: [Uint8Array as unknown as View, 1],
  int16: [Int16Array as unknown as View, 2], uint16: [Uint16Array as unknown as View, 2], int32: [Int32Array as unknown as View, 4],
  uint32: [Uint32Array as unknown as View, 4], int64: [BigInt64Array as unknown as View, 8], uint64: [BigUint64Array as unknown as View, 8],
};

/** A region of the arena: [offset, end). */
export interface Span {
  offset: number;
  end: number;
}

/** Bytes a group's fed weights take in the arena (each aligned). */
export function spanBytes(fed: readonly FedWeight[]): number {
  return fed.reduce((a, w) => a + align(w.bytes), 0);
}

export class WeightArena {
  readonly buffer: ArrayBuffer;
  private readonly files = new Map<string, Promise<fsp.FileHandle>>();
  /** Bytes read from files, and the time the reads took (ms, summed over reads, overlapped or not). */
  readBytes = 0;
  readMs = 0;
  /** Reads in flight at once (storage-read.ts READ_DEPTH). */
  readDepth = READ_DEPTH;

  /** `bytes` of address space; pages become resident as weights are first read into them. */
  constructor(readonly bytes: number) {
    this.buffer = new ArrayBuffer(bytes);
  }

  /** Where a group of `size` bytes goes while `busy` is in use (after it, or at the start), or null when it must wait for `busy` to be free. */
  place(size: number, busy: Span | null): Span | null {
    if (size > this.bytes) throw new TesseraError('INTERNAL', `weights of ${size} bytes do not fit the ${this.bytes}-byte weight arena`);
    if (!busy) return { offset: 0, end: size };
    if (busy.end + size <= this.bytes) return { offset: busy.end, end: busy.end + size };
    if (size <= busy.offset) return { offset: 0, end: size };
    return null;
  }

  private file(path: string): Promise<fsp.FileHandle> {
    let f = this.files.get(path);
    if (!f) {
      f = fsp.open(path, constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0)).catch((err: Error) => {
        throw new TesseraError('FILE_UNREADABLE', `cannot open weight data file ${path}: ${err.message}`);
      });
      this.files.set(path, f);
    }
    return f;
  }

  /** Reads `fed` into the arena from `span.offset` on; the tensors (views of the arena) by session input name. */
  async load(fed: readonly FedWeight[], span: Span): Promise<TensorMap> {
    const out: TensorMap = {};
    let at = span.offset;
    const t0 = performance.now();
    const ranges: FileRange[] = [];
    for (const w of fed) {
      const view = new Uint8Array(this.buffer, at, w.bytes);
      if ('data' in w.source) view.set(w.source.data);
      else {
        ranges.push({ fh: await this.file(w.source.path), view, position: w.source.offset, what: `${w.source.path}: weight '${w.weight}'` });
        this.readBytes += w.bytes;
      }
      const kind = VIEWS[w.dtype];
      if (!kind) throw new TesseraError('FEED_DTYPE', `weight '${w.weight}' of type ${w.dtype} cannot be fed to onnxruntime from the weight arena`);
      out[w.input] = new Tensor(w.dtype as 'float32', new kind[0](this.buffer, at, w.bytes / kind[1]) as Float32Array, w.dims);
      at += align(w.bytes);
    }
    await readRanges(ranges, this.readDepth);
    this.readMs += performance.now() - t0;
    return out;
  }

  /**
   * Gather by row from a table in a file (an embedding lookup): reads only the rows `indices` name
   * (negative ones count from the end, as ONNX Gather) into a new tensor of shape indices.dims ++ the row's dims.
   */
  async gatherRows(table: FedWeight, rows: number, rowBytes: number, indices: Tensor, where: string): Promise<Tensor> {
    const idx = Array.from(indices.data as ArrayLike<number | bigint>, Number);
    const out = new ArrayBuffer(idx.length * rowBytes);
    const bytes = new Uint8Array(out);
    const fh = 'data' in table.source ? null : await this.file(table.source.path);
    const t0 = performance.now();
    for (let i = 0; i < idx.length; i++) {
      const r = idx[i] < 0 ? idx[i] + rows : idx[i];
      if (!(r >= 0 && r < rows)) throw new TesseraError('BAD_ARGUMENT', `${where}: index ${idx[i]} is outside the ${rows} rows of '${table.weight}'`);
      const dest = bytes.subarray(i * rowBytes, (i + 1) * rowBytes);
      if (!fh) dest.set((table.source as { data: Uint8Array }).data.subarray(r * rowBytes, (r + 1) * rowBytes));
      else {
        const at = (table.source as { offset: number }).offset + r * rowBytes;
        for (let done = 0; done < rowBytes; ) {
          const { bytesRead } = await fh.read(dest, done, rowBytes - done, at + done);
          if (bytesRead === 0) throw new TesseraError('TRUNCATED', `${where}: row ${r} of '${table.weight}' runs past the end of its file (it changed after the model was opened)`);
          done += bytesRead;
        }
      }
    }
    this.readBytes += idx.length * rowBytes;
    this.readMs += performance.now() - t0;
    const kind = VIEWS[table.dtype];
    if (!kind) throw new TesseraError('FEED_DTYPE', `'${table.weight}' of type ${table.dtype} cannot be gathered into an onnxruntime tensor`);
    return new Tensor(table.dtype as 'float32', new kind[0](out, 0, out.byteLength / kind[1]) as Float32Array, [...indices.dims, ...table.dims.slice(1)]);
  }

  /** Closes the files it read from. */
  async close(): Promise<void> {
    const files = [...this.files.values()];
    this.files.clear();
    await Promise.all(files.map(async (f) => (await f.catch(() => null))?.close()));
  }
}
