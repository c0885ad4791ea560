/**
 * onnxruntime running a whole model once, for the peak-RSS comparison of bench/memory/rss.ts: one
 * InferenceSession created with onnxruntime's default options, nothing of Tessera loaded.
 *
 * `writeOrtWholeScript(dir)` writes the script rss.ts measures, run by plain `node` (no TypeScript
 * loader, so the process holds node, onnxruntime-node, the model and its run, nothing else). It reads
 * the inputs as raw files (`writeRawTensors`), runs once, writes the outputs the same way, and prints
 * its own peak RSS:
 *   node <dir>/ort-whole.mjs <model.onnx> <inputs dir> [<outputs dir>] [--load-only]
 * Run directly, this file does the same in-process with seeded random inputs (the seeds of Tessera's
 * `randomFeeds`, symbolic dims = 1):
 *   npx tsx bench/memory/ort-whole.ts <model.onnx> [--load-only]
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as ort from 'onnxruntime-node';
import { randomTensor, tensorBytes, tensorFromBytes, type TensorMap } from '../../src/backends/tensor.js';
import type { DType } from '../../src/ir/dtype.js';

/** One raw tensor file: little-endian element bytes; `tensors.json` lists them in order. */
export interface RawTensor {
  name: string;
  dtype: string;
  dims: number[];
  file: string;
}

/** Writes tensors as raw files plus `tensors.json` (what the script reads). */
export function writeRawTensors(dir: string, tensors: TensorMap, order: readonly string[] = Object.keys(tensors)): void {
  mkdirSync(dir, { recursive: true });
  const list: RawTensor[] = order.map((name, i) => {
    const t = tensors[name];
    const file = `${i}.bin`;
    writeFileSync(join(dir, file), tensorBytes(t));
    return { name, dtype: t.type, dims: [...t.dims], file };
  });
  writeFileSync(join(dir, 'tensors.json'), JSON.stringify(list));
}

/** Reads what `writeRawTensors` (or the script) wrote. */
export function readRawTensors(dir: string): TensorMap {
  const list = JSON.parse(readFileSync(join(dir, 'tensors.json'), 'utf8')) as RawTensor[];
  const out: TensorMap = {};
  for (const r of list) out[r.name] = tensorFromBytes(r.dtype as DType, r.dims, new Uint8Array(readFileSync(join(dir, r.file))));
  return out;
}

// The measured script: plain JavaScript, onnxruntime-node imported by absolute path.
const SCRIPT = `import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
const ort = await import(ORT_URL);
const [model, inDir, outDir] = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const ARRAYS = { float32: Float32Array, float64: Float64Array, int8: Int8Array, uint8: Uint8Array, bool: Uint8Array, int16: Int16Array, uint16: Uint16Array, int32: Int32Array, uint32: Uint32Array, int64: BigInt64Array, uint64: BigUint64Array };
const feeds = {};
for (const r of JSON.parse(readFileSync(join(inDir, 'tensors.json'), 'utf8'))) {
  const b = readFileSync(join(inDir, r.file));
  const A = ARRAYS[r.dtype];
  const data = new A(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
  feeds[r.name] = new ort.Tensor(r.dtype, data, r.dims);
}
const session = await ort.InferenceSession.create(model);
let runMs = null;
if (!process.argv.includes('--load-only')) {
  const t0 = performance.now();
  const res = await session.run(feeds);
  runMs = performance.now() - t0;
  if (outDir) {
    mkdirSync(outDir, { recursive: true });
    const list = session.outputNames.map((name, i) => {
      const t = res[name];
      writeFileSync(join(outDir, i + '.bin'), new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
      return { name, dtype: t.type, dims: [...t.dims], file: i + '.bin' };
    });
    writeFileSync(join(outDir, 'tensors.json'), JSON.stringify(list));
  }
}
await session.release();
console.log(JSON.stringify({ maxRssBytes: process.resourceUsage().maxRSS * 1024, runMs }));
`;

/** Writes the measured script to `dir/ort-whole.mjs` and returns its path. */
export function writeOrtWholeScript(dir: string): string {
  mkdirSync(dir, { recursive: true });
  const ortUrl = pathToFileURL(createRequire(import.meta.url).resolve('onnxruntime-node')).href;
  const path = join(dir, 'ort-whole.mjs');
  writeFileSync(path, SCRIPT.replace('ORT_URL', JSON.stringify(ortUrl)));
  return path;
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const model = process.argv[2];
  const session = await ort.InferenceSession.create(model);
  const feeds: TensorMap = {};
  session.inputNames.forEach((name, i) => {
    const m = session.inputMetadata[i];
    if (!m.isTensor) throw new Error(`input '${name}' is not a tensor`);
    feeds[name] = randomTensor(m.type as DType, m.shape.map((d) => (typeof d === 'number' ? d : 1)), 1 + i);
  });
  if (!process.argv.includes('--load-only')) await session.run(feeds as unknown as ort.InferenceSession.FeedsType);
  await session.release();
  console.log(JSON.stringify({ maxRssBytes: process.resourceUsage().maxRSS * 1024 }));
}
