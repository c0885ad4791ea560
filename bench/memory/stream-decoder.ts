/**
 * The generated decoder (preset 500m: 2 GB of float32 weights) one forward pass over a 64-token prompt
 * with weights streamed from disk (src/runtime/stream.ts) under memory budgets, against onnxruntime
 * running the whole model, and the storage's read bandwidth measured in the same run, **cold**: the
 * weight file evicted from the page cache (posix_fadvise DONTNEED through dd iflag=nocache) and read as
 * the streamed runner reads it (runtime/storage-read.ts). Every timed streamed run is cold too: the cold
 * bandwidth measured, the file evicted, then the run — so it reads from storage, and its floor (weight
 * bytes / the faster of the cold bandwidths measured just before and just after it: the storage's speed
 * drifts with other tenants' reads, and the faster is the conservative floor) is its own. Onnxruntime whole runs cold, and again warm (the file cached),
 * labelled. Prefetch 'auto' decides from the cold bandwidth measured at the start (the median). Each
 * figure from a separate process under /usr/bin/time. Ratios printed: latency / the cold read floor,
 * peak RSS / (budget + engine floor); then, alternating in one process, later runs (sessions created).
 *   part of bench/memory-budget.ts; alone: npx tsx bench/memory/stream-decoder.ts [--runs 3] [--preset 500m] [--no-warm]
 */
import { closeSync, mkdirSync, openSync, readFileSync, readSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { PRESETS, presetDecoder, writeDecoder, type PresetName } from '../models/decoder.js';
import { seededPrompt } from '../models/ort-generate.js';
import { measure, type Measured } from './measure.js';
import { evictFromPageCache, measureStorageRead } from '../../src/runtime/storage-read.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url)).replace(/\/$/, '');
const MB = 1e6;

type Measure = (cmd: string, args: readonly string[]) => Measured;

/** The measured child: one forward pass over a prompt, streamed under a budget (or onnxruntime whole with 'whole'); writes the logits and prints its timing. */
const CHILD = `
import { readFileSync, writeFileSync } from 'node:fs';
const [model, budget, prompt, out, storage] = process.argv.slice(2);
const tokens = JSON.parse(readFileSync(prompt, 'utf8'));
const ort = await import(ORT_URL);
const config = JSON.parse(readFileSync(model.replace(/model\\.onnx$/, 'config.json'), 'utf8'));
const n = tokens.length, kvHeads = config.num_key_value_heads, headDim = config.head_dim, layers = config.num_hidden_layers;
const int64 = (v) => new ort.Tensor('int64', BigInt64Array.from(v, (x) => BigInt(x)), [1, v.length]);
const feeds = { input_ids: int64(tokens), attention_mask: int64(tokens.map(() => 1)), position_ids: int64(tokens.map((_, i) => i)) };
for (let l = 0; l < layers; l++) for (const kv of ['key', 'value']) feeds['past_key_values.' + l + '.' + kv] = new ort.Tensor('float32', new Float32Array(0), [1, kvHeads, 0, headDim]);
const t0 = performance.now();
let logits, groups = 1, sessions = 1, openMs = 0, stats = null, prefetch = null;
if (budget === 'whole') {
  const s = await ort.InferenceSession.create(model);
  openMs = performance.now() - t0;
  logits = (await s.run(feeds, ['logits'])).logits;
  await s.release();
} else {
  const { StreamedModel } = await import(STREAM_URL);
  const shapes = Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, [...t.dims]]));
  const m = await StreamedModel.open(model, { budgetBytes: Number(budget.split(':')[0]), inputShapes: shapes, prefetch: budget.endsWith(':noprefetch') ? false : budget.endsWith(':prefetch') ? true : 'auto', storageReadGBs: Number(storage) });
  prefetch = m.prefetching;
  openMs = performance.now() - t0;
  groups = m.groups.length;
  sessions = m.sessionCount;
  logits = (await m.run(feeds)).logits;
  stats = m.stats;
}
const ms = performance.now() - t0;
writeFileSync(out, new Uint8Array(logits.data.buffer, logits.data.byteOffset, logits.data.byteLength));
console.log(JSON.stringify({ ms, openMs, runMs: ms - openMs, groups, sessions, stats, prefetch, maxRssBytes: process.resourceUsage().maxRSS * 1024 }));
`;

/** Reads a file once in 8 MB blocks: bytes per second (the storage's read bandwidth as this process sees it). */
export function readBandwidth(path: string): number {
  const buf = Buffer.alloc(8 << 20);
  const fd = openSync(path, 'r');
  const t0 = performance.now();
  let total = 0;
  try {
    for (let n; (n = readSync(fd, buf, 0, buf.length, null)) > 0; ) total += n;
  } finally {
    closeSync(fd);
  }
  return total / ((performance.now() - t0) / 1000);
}

export interface DecoderRow {
  budget: string;
  /** Whether the weight file was evicted from the page cache before each process (cold: read from storage). */
  cold: boolean;
  peakRssBytes: number[];
  /** Wall time of the forward from opening the model (session creation and reading included). */
  ms: number[];
  /** The run alone (onnxruntime whole: after its session is created, weights resident). */
  runMs: number[];
  /** The weight-read floor of each process: weight bytes / the cold read bandwidth measured just before it. */
  floorMs: number[];
  groups: number;
  sessions: number;
  prefetch: boolean | null;
  /** Streamed: the time spent reading weights (on the storage lane) and waiting for them, per run. */
  readMs: number[];
  waitMs: number[];
  maxAbsVsWhole: number;
}

/** The storage's cold read bandwidth reading the weight file as the streamed runner reads (runtime/storage-read.ts), bytes/s; the file is left evicted. */
async function coldBandwidth(dataPath: string): Promise<{ bs: number; warmBs: number; source: string }> {
  const r = await measureStorageRead({ file: dataPath, runs: 1 });
  if (r.coldGbs === undefined) throw new Error(`cannot evict ${dataPath} from the page cache on this host: ${r.source}`);
  return { bs: r.coldGbs * 1e9, warmBs: r.warmGbs * 1e9, source: r.source };
}

export async function streamBench({ runs, work, measure, preset = '500m' as PresetName, warm = true }: { runs: number; work: string; measure: Measure; preset?: PresetName; warm?: boolean }) {
  const model = presetDecoder(preset);
  const config = PRESETS[preset];
  const dir = join(work, 'decoder');
  mkdirSync(dir, { recursive: true });
  const prompt = join(dir, 'prompt.json');
  writeFileSync(prompt, JSON.stringify(seededPrompt(64, config.vocab)));
  const script = join(dir, 'child.mjs');
  const req = createRequire(import.meta.url);
  // the child imports Tessera's built runtime (dist/), as users get it
  writeFileSync(script, CHILD.replace('ORT_URL', JSON.stringify(pathToFileURL(req.resolve('onnxruntime-node')).href)).replace('STREAM_URL', JSON.stringify(pathToFileURL(join(ROOT, 'dist/runtime/stream.js')).href)));
  const weightBytes = statSync(model.dataPath).size;
  const bw: number[] = [], warmBw: number[] = [];
  let bwSource = '';
  for (let r = 0; r < runs; r++) {
    const b = await coldBandwidth(model.dataPath);
    (bw.push(b.bs), warmBw.push(b.warmBs), (bwSource = b.source));
  }
  const storageGBs = [...bw].sort((a, b) => a - b)[Math.floor(bw.length / 2)] / 1e9;
  const read = (f: string) => new Float32Array(new Uint8Array(readFileSync(f)).buffer);
  const rows: DecoderRow[] = [];
  // the engine floor: the same child streaming a 2-layer decoder of 0.1 M parameters (node, onnxruntime, Tessera's runtime loaded, sessions run)
  const tiny = join(dir, 'tiny');
  writeDecoder({ ...PRESETS.tiny, vocab: config.vocab > 256 ? 256 : config.vocab }, tiny);
  const tinyPrompt = join(dir, 'tiny-prompt.json');
  writeFileSync(tinyPrompt, JSON.stringify(seededPrompt(64, 256)));
  const floor: number[] = [];
  for (let r = 0; r < runs; r++) {
    const m = measure(process.execPath, [script, join(tiny, 'model.onnx'), String(256e6), tinyPrompt, join(dir, 'tiny.bin'), String(storageGBs)]);
    if (m.status !== 0) throw new Error(`engine floor run failed: ${m.stderr.slice(-2000)}`);
    floor.push(m.peakRssBytes);
  }
  let whole: Float32Array | undefined;
  // each process cold (the weight file evicted just before it, its cold read bandwidth measured just before that), onnxruntime whole also warm
  const cases: { budget: string; cold: boolean }[] = [
    { budget: 'whole', cold: true }, ...(warm ? [{ budget: 'whole', cold: false }] : []),
    { budget: String(512e6), cold: true }, { budget: String(256e6), cold: true }, { budget: `${256e6}:noprefetch`, cold: true },
  ];
  for (const { budget, cold } of cases) {
    const rss: number[] = [], ms: number[] = [], runMs: number[] = [], readMs: number[] = [], waitMs: number[] = [], floorMs: number[] = [];
    let groups = 1, sessions = 1, maxAbs = 0, prefetch: boolean | null = null;
    for (let r = 0; r < runs; r++) {
      const out = join(dir, `logits-${budget.replace(':', '-')}.bin`);
      const before = cold ? (await coldBandwidth(model.dataPath)).bs : 0;
      if (cold) await evictFromPageCache(model.dataPath);
      else readFileSync(model.dataPath).length; // cached
      const m = measure(process.execPath, [script, model.modelPath, budget, prompt, out, String(storageGBs)]);
      // the floor: by the faster of the cold bandwidths measured just before and just after (the storage's speed drifts with other tenants' reads)
      if (cold) floorMs.push((weightBytes / Math.max(before, (await coldBandwidth(model.dataPath)).bs)) * 1000);
      if (m.status !== 0) throw new Error(`decoder forward (${budget}) failed: ${m.stderr.slice(-2000)}`);
      const rep = JSON.parse(m.stdout.trim().split('\n').pop()!);
      rss.push(m.peakRssBytes);
      ms.push(rep.ms);
      runMs.push(rep.runMs);
      if (rep.stats) (readMs.push(rep.stats.readMs), waitMs.push(rep.stats.waitMs));
      groups = rep.groups;
      sessions = rep.sessions;
      prefetch = rep.prefetch;
      const logits = read(out);
      if (budget === 'whole' && !whole) whole = logits;
      else for (let i = 0; i < logits.length; i++) maxAbs = Math.max(maxAbs, Math.abs(logits[i] - whole![i]));
    }
    const name = budget === 'whole' ? 'onnxruntime whole' : `${Number(budget.split(':')[0]) / MB} MB${budget.endsWith(':noprefetch') ? ' no prefetch' : ''}`;
    rows.push({ budget: `${name}${cold ? '' : ' (warm)'}`, cold, peakRssBytes: rss, ms, runMs, floorMs, groups, sessions, prefetch, readMs, waitMs, maxAbsVsWhole: maxAbs });
  }
  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const rng = (xs: number[], f: (x: number) => string) => (xs.length ? `${f(Math.min(...xs))}–${f(Math.max(...xs))}` : '-');
  const s2 = (x: number) => (x / 1000).toFixed(2);
  console.log(`decoder ${preset} (${(weightBytes / MB).toFixed(0)} MB float32 weights), one forward over 64 tokens; storage read bandwidth, cold, ${rng(bw, (x) => (x / 1e9).toFixed(2))} GB/s (${bwSource}; cached ${rng(warmBw, (x) => (x / 1e9).toFixed(2))} GB/s) → weight-read floor ${rng(bw.map((x) => weightBytes / x), (x) => x.toFixed(2))} s; prefetch 'auto' decides from ${storageGBs.toFixed(2)} GB/s`);
  const ortCold = rows[0];
  console.log(`  compute reference: onnxruntime whole, the run alone (weights resident, prepacked): ${rng(ortCold.runMs, s2)} s`);
  const floorBytes = med(floor);
  console.log(`  engine floor (the same process streaming a 0.1 M-parameter decoder): ${rng(floor, (x) => (x / MB).toFixed(0))} MB`);
  for (const r of rows) {
    const budget = r.budget.includes(' MB') ? Number(r.budget.split(' ')[0]) * MB : undefined;
    const limit = budget ? budget + floorBytes : undefined;
    const vsFloor = r.floorMs.length ? r.ms.map((x, i) => x / r.floorMs[i]) : [];
    const runVsFloor = r.floorMs.length ? r.runMs.map((x, i) => x / r.floorMs[i]) : [];
    const allFloors = rows.flatMap((x) => x.floorMs);
    const medFloor = allFloors.length ? med(allFloors) : NaN;
    console.log(`  ${r.budget.padEnd(22)} peak RSS ${rng(r.peakRssBytes, (x) => (x / MB).toFixed(0))} MB${limit ? ` (×${rng(r.peakRssBytes.map((x) => x / limit), (x) => x.toFixed(2))} of budget + floor = ${(limit / MB).toFixed(0)} MB)` : ''}  forward ${rng(r.ms, s2)} s${vsFloor.length ? ` (×${rng(vsFloor, (x) => x.toFixed(2))} the cold read floor ${rng(r.floorMs, s2)} s by the faster of the cold bandwidths measured just before and after each; ×${rng(r.ms.map((x) => x / medFloor), (x) => x.toFixed(2))} the median cold floor of this run, ${s2(medFloor)} s)` : ''}, its run alone ${rng(r.runMs, s2)} s${runVsFloor.length ? ` (×${rng(runVsFloor, (x) => x.toFixed(2))})` : ''}  ${r.groups} group(s), ${r.sessions} session(s)${budget ? `, prefetch ${r.prefetch ? 'on' : 'off'}  reads ${rng(r.readMs, s2)} s, waited ${rng(r.waitMs, s2)} s  logits max abs vs whole ${r.maxAbsVsWhole.toExponential(2)}` : r.budget.includes('warm') ? `  logits max abs vs cold ${r.maxAbsVsWhole.toExponential(2)}` : ''}`);
  }
  const alt = await alternating(model.modelPath, model.dataPath, config, runs, storageGBs);
  return { preset, weightBytes, readBandwidthBs: bw, cachedReadBandwidthBs: warmBw, readBandwidthSource: bwSource, floorBytes: floor, rows, alternating: alt };
}

/**
 * Latency ratios robust to load: in one process, alternating, `runs` rounds of onnxruntime whole (the run
 * alone: weights resident, prepacked), and streamed forwards (sessions already created: a later run) at
 * 512 MB and 256 MB with prefetch as 'auto' decides and at 256 MB without prefetch, each streamed run
 * cold: right after the cold read bandwidth is measured, the weight file evicted.
 */
async function alternating(modelPath: string, dataPath: string, config: (typeof PRESETS)[PresetName], runs: number, storageReadGBs: number) {
  const ort = await import('onnxruntime-node');
  const { StreamedModel } = await import('../../src/runtime/stream.js');
  const n = 64;
  const tokens = seededPrompt(n, config.vocab);
  const int64 = (v: number[]) => new ort.Tensor('int64', BigInt64Array.from(v, (x) => BigInt(x)), [1, v.length]);
  const feeds: Record<string, InstanceType<typeof ort.Tensor>> = { input_ids: int64(tokens), attention_mask: int64(tokens.map(() => 1)), position_ids: int64(tokens.map((_, i) => i)) };
  for (let l = 0; l < config.layers; l++) for (const kv of ['key', 'value']) feeds[`past_key_values.${l}.${kv}`] = new ort.Tensor('float32', new Float32Array(0), [1, config.kvHeads, 0, config.headDim]);
  const inputShapes = Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, [...t.dims]]));
  const whole = await ort.InferenceSession.create(modelPath, { logSeverityLevel: 3 });
  const models = {
    '512 MB': await StreamedModel.open(modelPath, { budgetBytes: 512e6, inputShapes, storageReadGBs }),
    '256 MB': await StreamedModel.open(modelPath, { budgetBytes: 256e6, inputShapes, storageReadGBs }),
    '256 MB no prefetch': await StreamedModel.open(modelPath, { budgetBytes: 256e6, inputShapes, storageReadGBs, prefetch: false }),
  };
  await whole.run(feeds);
  for (const m of Object.values(models)) await m.run(feeds as never);
  const weightBytes = statSync(dataPath).size;
  const out: Record<string, { ms: number[]; floorMs: number[]; readMs: number[]; waitMs: number[] }> = { 'onnxruntime whole (run alone)': { ms: [], floorMs: [], readMs: [], waitMs: [] } };
  for (const k of Object.keys(models)) out[k] = { ms: [], floorMs: [], readMs: [], waitMs: [] };
  for (let r = 0; r < runs; r++) {
    let t0 = performance.now();
    await whole.run(feeds);
    out['onnxruntime whole (run alone)'].ms.push(performance.now() - t0);
    for (const [k, m] of Object.entries(models)) {
      const bwBefore = (await coldBandwidth(dataPath)).bs;
      await evictFromPageCache(dataPath);
      const before = m.stats;
      t0 = performance.now();
      await m.run(feeds as never);
      out[k].ms.push(performance.now() - t0);
      out[k].floorMs.push((weightBytes / Math.max(bwBefore, (await coldBandwidth(dataPath)).bs)) * 1000);
      out[k].readMs.push(m.stats.readMs - before.readMs);
      out[k].waitMs.push(m.stats.waitMs - before.waitMs);
    }
  }
  await whole.release();
  for (const m of Object.values(models)) await m.release();
  const ortMs = out['onnxruntime whole (run alone)'].ms;
  const list = (xs: number[], f: (x: number) => string) => xs.map(f).join(', ');
  console.log(`  alternating in one process (${runs} rounds; streamed runs after the first, sessions created, each cold): onnxruntime whole's run ${list(ortMs, (x) => (x / 1000).toFixed(2))} s`);
  for (const [k, m] of Object.entries(models)) {
    const o = out[k];
    console.log(`    streamed ${k.padEnd(18)} prefetch ${m.prefetching ? 'on ' : 'off'} ${list(o.ms, (x) => (x / 1000).toFixed(2))} s; ×${list(o.ms.map((x, i) => x / o.floorMs[i]), (x) => x.toFixed(2))} the cold read floor by the faster cold bandwidth measured just before and after (${list(o.floorMs, (x) => (x / 1000).toFixed(2))} s); ×${list(o.ms.map((x, i) => x / ortMs[i]), (x) => x.toFixed(2))} onnxruntime's run; reads ${list(o.readMs, (x) => (x / 1000).toFixed(2))} s, waited ${list(o.waitMs, (x) => (x / 1000).toFixed(2))} s`);
  }
  return out;
}


if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const args = process.argv.slice(2);
  const opt = (k: string) => (args.includes(k) ? args[args.indexOf(k) + 1] : undefined);
  await streamBench({ runs: Number(opt('--runs') ?? 3), work: join(ROOT, '.tessera-cache/stream-bench'), measure, preset: (opt('--preset') ?? '500m') as PresetName, warm: !args.includes('--no-warm') });
}
