/**
 * The host's streaming read bandwidth: how fast the CPU reads a working set far larger than its
 * last-level cache — what a decode step sees reading every weight once. Calibration's `bandwidthGBs` is
 * fitted through the cost model from benchmarks whose working sets mostly sit in cache (a few MB), so it
 * is not this figure and may be several times higher.
 *
 * Measured two ways over one float32 array of `bytes` (filled, so no page is the shared zero page), each
 * run reading every byte once, the best of `runs` runs after an untimed one: onnxruntime's ReduceSum
 * over its rows (its threads, all cores by default; onnxruntime-node hands the input's buffer to the
 * engine without copying it), and a native comparison of the array's two halves (memcmp, one thread).
 * The figure is the faster of the two: the floor is what the memory can deliver, not what one kernel
 * gets. Also timed at a quarter of the size: equal rates say the larger set is past every cache.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { freemem } from 'node:os';
import * as ort from 'onnxruntime-node';
import { GraphBuilder } from '../ir/builder.js';

export interface StreamBandwidth {
  /** GB/s reading the full working set: the faster of the two below. */
  gbs: number;
  /** onnxruntime's ReduceSum, and the native comparison of the two halves. */
  reduceGbs: number;
  compareGbs: number;
  workingSetBytes: number;
  /** GB/s at a quarter of the working set. */
  quarterGbs: number;
  /** The last-level cache size the working set was chosen against, and where it came from. */
  llcBytes: number | undefined;
  llcSource: string;
  threads: number | 'onnxruntime default';
  /** How it was measured, for a profile's `source`. */
  source: string;
}

const MB = 2 ** 20;

/** The largest data or unified cache of cpu0, from /sys (Linux) or getconf; undefined when neither says. */
export function lastLevelCache(): { bytes: number | undefined; source: string } {
  const dir = '/sys/devices/system/cpu/cpu0/cache';
  try {
    if (existsSync(dir)) {
      let best = 0;
      for (const idx of readdirSync(dir).filter((d) => d.startsWith('index'))) {
        if (readFileSync(`${dir}/${idx}/type`, 'utf8').trim() === 'Instruction') continue;
        const m = /^(\d+)([KMG]?)$/.exec(readFileSync(`${dir}/${idx}/size`, 'utf8').trim());
        if (m) best = Math.max(best, Number(m[1]) * { '': 1, K: 1024, M: MB, G: 1024 * MB }[m[2] as '' | 'K' | 'M' | 'G']);
      }
      if (best > 0) return { bytes: best, source: `${best / MB} MB (/sys/devices/system/cpu/cpu0/cache)` };
    }
  } catch {
    // fall through to getconf
  }
  try {
    for (const level of ['LEVEL3_CACHE_SIZE', 'LEVEL2_CACHE_SIZE']) {
      const n = Number(execFileSync('getconf', [level], { encoding: 'utf8', timeout: 5000 }).trim());
      if (n > 0) return { bytes: n, source: `${(n / MB).toFixed(0)} MB (getconf ${level}; a virtual machine may report the host's whole cache)` };
    }
  } catch {
    // no getconf
  }
  return { bytes: undefined, source: 'unknown (neither /sys nor getconf says)' };
}

function reduceModel(rows: number, cols: number): Uint8Array {
  const b = new GraphBuilder('stream_read');
  const x = b.input('x', 'float32', [rows, cols]);
  const axes = b.initializer('axes', BigInt64Array.from([1n]), [1]);
  b.output(b.node('ReduceSum', [x, axes], 'y', { keepdims: 0 }), 'float32');
  return b.toBytes();
}

/**
 * Measures the streaming read bandwidth. The working set is 8× the last-level cache, at least 512 MB
 * and at most 2 GB and a quarter of the free memory (unless `bytes` is given).
 */
export async function measureStreamBandwidth(options: { bytes?: number; runs?: number; threads?: number } = {}): Promise<StreamBandwidth> {
  const llc = lastLevelCache();
  const want = options.bytes ?? Math.min(2048 * MB, Math.max(512 * MB, 8 * (llc.bytes ?? 64 * MB)), freemem() / 4);
  const rows = 256;
  const cols = Math.max(1024, Math.floor(want / 4 / rows / 1024) * 1024);
  const bytes = rows * cols * 4;
  const runs = options.runs ?? 5;
  const data = new Float32Array(rows * cols).fill(1);
  const session = await ort.InferenceSession.create(reduceModel(rows, cols), {
    logSeverityLevel: 3, ...(options.threads ? { intraOpNumThreads: options.threads } : {}),
  });
  const quarter = await ort.InferenceSession.create(reduceModel(rows / 4, cols), {
    logSeverityLevel: 3, ...(options.threads ? { intraOpNumThreads: options.threads } : {}),
  });
  try {
    const best = async (s: ort.InferenceSession, n: number) => {
      const feeds = { x: new ort.Tensor('float32', data.subarray(0, n * cols), [n, cols]) };
      await s.run(feeds);
      let ms = Infinity;
      for (let i = 0; i < runs; i++) {
        const t0 = performance.now();
        const out = await s.run(feeds);
        ms = Math.min(ms, performance.now() - t0);
        if ((out.y.data as Float32Array)[0] !== cols) throw new Error(`stream read: ReduceSum gave ${(out.y.data as Float32Array)[0]}, expected ${cols}`);
      }
      return (n * cols * 4) / (ms / 1000) / 1e9;
    };
    const reduceGbs = await best(session, rows);
    const quarterGbs = await best(quarter, rows / 4);
    const all = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    const [a, b] = [all.subarray(0, bytes / 2), all.subarray(bytes / 2)];
    let ms = Infinity;
    for (let i = 0; i <= runs; i++) {
      const t0 = performance.now();
      if (Buffer.compare(a, b) !== 0) throw new Error('stream read: the two halves differ');
      if (i > 0) ms = Math.min(ms, performance.now() - t0);
    }
    const compareGbs = bytes / (ms / 1000) / 1e9;
    const gbs = Math.max(reduceGbs, compareGbs);
    const threads = options.threads ?? 'onnxruntime default' as const;
    const source = `reading ${(bytes / MB).toFixed(0)} MB of float32, best of ${runs}: onnxruntime ReduceSum (${threads === 'onnxruntime default' ? "onnxruntime's default threads" : `${threads} threads`}) ${reduceGbs.toFixed(1)} GB/s, a native compare of its halves (one thread) ${compareGbs.toFixed(1)} GB/s, the faster taken; ReduceSum over ${(bytes / 4 / MB).toFixed(0)} MB ${quarterGbs.toFixed(1)} GB/s; last-level cache ${llc.source}`;
    return { gbs, reduceGbs, compareGbs, workingSetBytes: bytes, quarterGbs, llcBytes: llc.bytes, llcSource: llc.source, threads, source };
  } finally {
    await session.release();
    await quarter.release();
  }
}
