/**
 * Reading weights from storage: the one way the weight arena (runtime/weight-arena.ts) reads a file range
 * — sequential reads of at most READ_BLOCK bytes, the kernel's readahead as it is — and the storage's
 * read bandwidth measured the same way, **cold**: the file evicted from the page cache first, so the
 * figure is the device's (a file read again right after is served by a memory copy, many times faster).
 *
 * Eviction needs no root: posix_fadvise(POSIX_FADV_DONTNEED) on the file, which GNU dd does for
 * `dd if=FILE iflag=nocache count=0`; the file's dirty pages are written first (fdatasync), since the
 * kernel keeps those. Where it cannot be done (no GNU dd: macOS, a browser) the measurement says so and
 * is not a storage figure. `fincore` (util-linux), when present, reports the bytes still cached after.
 */
import { spawnSync } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { constants, promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { TesseraError } from '../errors.js';

/** The largest single read of a weight range (bytes): the arena and the bandwidth measurement read in these. */
export const READ_BLOCK = 8 << 20;
/**
 * Reads in flight at once (on libuv's thread pool: 4 threads by default). Measured on this project's VM
 * reading a 2 GB file cold in 8 MB reads: 0.71–1.17 GB/s one at a time, 1.44–1.45 GB/s four at a time.
 */
export const READ_DEPTH = 4;

/** A range of an open file to read into a view (the view's length is the range's). */
export interface FileRange {
  fh: fsp.FileHandle;
  view: Uint8Array;
  position: number;
  /** What is read, for an error message. */
  what: string;
}

/** Reads ranges in pieces of at most READ_BLOCK bytes, in file order, `depth` pieces in flight. */
export async function readRanges(ranges: readonly FileRange[], depth = READ_DEPTH): Promise<void> {
  const pieces: FileRange[] = [];
  for (const r of ranges) {
    for (let o = 0; o < r.view.byteLength; o += READ_BLOCK) pieces.push({ ...r, view: r.view.subarray(o, Math.min(r.view.byteLength, o + READ_BLOCK)), position: r.position + o });
  }
  let next = 0;
  const worker = async () => {
    while (next < pieces.length) {
      const { fh, view, position, what } = pieces[next++];
      for (let done = 0; done < view.byteLength; ) {
        const { bytesRead } = await fh.read(view, done, view.byteLength - done, position + done);
        if (bytesRead === 0) throw new TesseraError('TRUNCATED', `${what}: at offset ${position} (+${view.byteLength} bytes) runs past the end of the file (it changed after the model was opened)`);
        done += bytesRead;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(depth, pieces.length)) }, worker));
}

/** Reads `view.byteLength` bytes of an open file from `position` into `view` (readRanges of one range). */
export function readRange(fh: fsp.FileHandle, view: Uint8Array, position: number, what: string): Promise<void> {
  return readRanges([{ fh, view, position, what }]);
}

/** Bytes of `path` in the page cache (fincore), or undefined when that cannot be told. */
export function cachedBytes(path: string): number | undefined {
  const r = spawnSync('fincore', ['--bytes', '--noheadings', '--output', 'RES', path], { encoding: 'utf8', timeout: 10_000 });
  const n = r.status === 0 ? Number(r.stdout.trim()) : NaN;
  return Number.isFinite(n) ? n : undefined;
}

/** Evicts `path` from the page cache (its dirty pages written first); false when this host cannot (no GNU dd). */
export async function evictFromPageCache(path: string): Promise<boolean> {
  const fh = await fsp.open(path, constants.O_RDONLY);
  try {
    await fh.datasync();
  } finally {
    await fh.close();
  }
  const r = spawnSync('dd', [`if=${path}`, 'iflag=nocache', 'count=0', 'status=none'], { encoding: 'utf8', timeout: 60_000 });
  return r.status === 0;
}

export interface StorageRead {
  /** GB/s reading the file after evicting it: the median over runs (undefined when it could not be evicted). */
  coldGbs: number | undefined;
  coldRuns: number[];
  /** GB/s reading it again, cached (a memory copy): not a storage figure. */
  warmGbs: number;
  bytes: number;
  /** Bytes still cached right after the last eviction (fincore), when known. */
  cachedAfterEvict: number | undefined;
  /** How it was measured, for a profile's `source`. */
  source: string;
}

/** Reads the whole file once as the weight arena reads (readRanges, a buffer's worth at a time): bytes per second. */
async function timedRead(path: string, buf: Uint8Array): Promise<{ bytes: number; gbs: number }> {
  const fh = await fsp.open(path, constants.O_RDONLY);
  try {
    const size = (await fh.stat()).size;
    const t0 = performance.now();
    for (let at = 0; at < size; at += buf.byteLength) await readRange(fh, buf.subarray(0, Math.min(buf.byteLength, size - at)), at, path);
    return { bytes: size, gbs: size / ((performance.now() - t0) / 1000) / 1e9 };
  } finally {
    await fh.close();
  }
}

/**
 * The storage's read bandwidth: `file` (a model's weights) read cold, after eviction, `runs` times
 * (median), then once warm; or, without `file`, a scratch file of `bytes` (default 512 MB, random bytes)
 * written in `dir` — put it on the storage the models live on — and removed after.
 */
export async function measureStorageRead(options: { file?: string; dir?: string; bytes?: number; runs?: number }): Promise<StorageRead> {
  const runs = options.runs ?? 3;
  let file = options.file;
  let scratch: string | undefined;
  if (!file) {
    if (!options.dir) throw new TesseraError('BAD_ARGUMENT', 'measureStorageRead: give a file to read or a directory to write a scratch file in');
    await fsp.mkdir(options.dir, { recursive: true });
    scratch = file = join(options.dir, `.tessera-storage-read-${process.pid}.bin`);
    const block = new Uint8Array(READ_BLOCK);
    const fh = await fsp.open(scratch, 'w');
    try {
      for (let left = options.bytes ?? 512 << 20; left > 0; left -= block.byteLength) await fh.write(randomFillSync(block).subarray(0, Math.min(left, block.byteLength)));
      await fh.sync();
    } finally {
      await fh.close();
    }
  }
  try {
    const buf = new Uint8Array(8 * READ_BLOCK);
    const cold: number[] = [];
    let bytes = 0, cachedAfterEvict: number | undefined;
    for (let r = 0; r < runs; r++) {
      if (!(await evictFromPageCache(file))) break;
      if (r === runs - 1) cachedAfterEvict = cachedBytes(file);
      const t = await timedRead(file, buf);
      cold.push(t.gbs);
      bytes = t.bytes;
    }
    // read twice cached: the first may still meet pages the eviction's readahead state left out
    const warm = [await timedRead(file, buf), await timedRead(file, buf)].reduce((a, b) => (b.gbs > a.gbs ? b : a));
    bytes = warm.bytes;
    const coldGbs = cold.length ? [...cold].sort((a, b) => a - b)[Math.floor(cold.length / 2)] : undefined;
    const what = `${(bytes / 2 ** 20).toFixed(0)} MB ${scratch ? 'scratch file' : 'file'} ${file}`;
    const how = `in ${READ_BLOCK >> 20} MB reads, ${READ_DEPTH} in flight, as the weight arena reads`;
    const source = coldGbs === undefined
      ? `not measured cold: this host cannot evict a file from the page cache (no GNU dd iflag=nocache); reading ${what} again, cached: ${warm.gbs.toFixed(2)} GB/s, a memory copy`
      : `reading ${what} ${how}, evicted from the page cache before each run (posix_fadvise DONTNEED: dd iflag=nocache${cachedAfterEvict === undefined ? '' : `; ${cachedAfterEvict} bytes cached after, by fincore`}): median of ${cold.length} cold runs ${cold.map((x) => x.toFixed(2)).join(', ')} GB/s; read again cached ${warm.gbs.toFixed(2)} GB/s (a memory copy, not storage)`;
    return { coldGbs, coldRuns: cold, warmGbs: warm.gbs, bytes, cachedAfterEvict, source };
  } finally {
    if (scratch) await fsp.rm(scratch, { force: true });
  }
}
