/**
 * The generated decoder (preset 500m: 2 GB of float32 weights) one forward pass over a 64-token prompt
 * with weights streamed from disk (src/runtime/stream.ts) under memory budgets, against onnxruntime
 * running the whole model, and the storage's read bandwidth measured in the same run (reading the weight
 * file once, as the streamed run does: from the page cache when the file is cached, as it is right after
 * writing — the device's own bandwidth is not measured: O_DIRECT reads are refused (EINVAL) on this
 * machine's filesystem). Each figure from a separate process under /usr/bin/time. Ratios printed:
 * latency / the read floor (weight bytes / read bandwidth), latency / onnxruntime's run alone (weights
 * resident: the compute reference), peak RSS / (budget + engine floor).
 *   part of bench/memory-budget.ts; alone: npx tsx bench/memory/stream-decoder.ts [--runs 3] [--preset 500m]
 */
import { closeSync, mkdirSync, openSync, readFileSync, readSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { PRESETS, presetDecoder, writeDecoder, type PresetName } from '../models/decoder.js';
import { seededPrompt } from '../models/ort-generate.js';
import { measure, type Measured } from './measure.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url)).replace(/\/$/, '');
const MB = 1e6;

type Measure = (cmd: string, args: readonly string[]) => Measured;

/** The measured child: one forward pass over a prompt, streamed under a budget (or onnxruntime whole with 'whole'); writes the logits and prints its timing. */
const CHILD = `
import { readFileSync, writeFileSync } from 'node:fs';
const [model, budget, prompt, out] = process.argv.slice(2);
const tokens = JSON.parse(readFileSync(prompt, 'utf8'));
const ort = await import(ORT_URL);
const config = JSON.parse(readFileSync(model.replace(/model\\.onnx$/, 'config.json'), 'utf8'));
const n = tokens.length, kvHeads = config.num_key_value_heads, headDim = config.head_dim, layers = config.num_hidden_layers;
const int64 = (v) => new ort.Tensor('int64', BigInt64Array.from(v, (x) => BigInt(x)), [1, v.length]);
const feeds = { input_ids: int64(tokens), attention_mask: int64(tokens.map(() => 1)), position_ids: int64(tokens.map((_, i) => i)) };
for (let l = 0; l < layers; l++) for (const kv of ['key', 'value']) feeds['past_key_values.' + l + '.' + kv] = new ort.Tensor('float32', new Float32Array(0), [1, kvHeads, 0, headDim]);
const t0 = performance.now();
let logits, groups = 1, sessions = 1, openMs = 0, stats = null;
if (budget === 'whole') {
  const s = await ort.InferenceSession.create(model);
  openMs = performance.now() - t0;
  logits = (await s.run(feeds, ['logits'])).logits;
  await s.release();
} else {
  const { StreamedModel } = await import(STREAM_URL);
  const shapes = Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, [...t.dims]]));
  const m = await StreamedModel.open(model, { budgetBytes: Number(budget.split(':')[0]), inputShapes: shapes, prefetch: budget.endsWith(':noprefetch') ? false : budget.endsWith(':prefetch') ? true : 'auto' });
  openMs = performance.now() - t0;
  groups = m.groups.length;
  sessions = m.sessionCount;
  logits = (await m.run(feeds)).logits;
  stats = m.stats;
}
const ms = performance.now() - t0;
writeFileSync(out, new Uint8Array(logits.data.buffer, logits.data.byteOffset, logits.data.byteLength));
console.log(JSON.stringify({ ms, openMs, runMs: ms - openMs, groups, sessions, stats, maxRssBytes: process.resourceUsage().maxRSS * 1024 }));
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
  peakRssBytes: number[];
  /** Wall time of the forward from opening the model (session creation and reading included). */
  ms: number[];
  /** The run alone (onnxruntime whole: after its session is created, weights resident). */
  runMs: number[];
  groups: number;
  sessions: number;
  /** Streamed: the time spent reading weights (on the storage lane) and waiting for them, per run. */
  readMs: number[];
  waitMs: number[];
  maxAbsVsWhole: number;
}

export async function streamBench({ runs, work, measure, preset = '500m' as PresetName }: { runs: number; work: string; measure: Measure; preset?: PresetName }) {
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
  const bw: number[] = [];
  for (let r = 0; r < runs; r++) bw.push(readBandwidth(model.dataPath));
  const weightBytes = statSync(model.dataPath).size;
  const read = (f: string) => new Float32Array(new Uint8Array(readFileSync(f)).buffer);
  const rows: DecoderRow[] = [];
  // the engine floor: the same child streaming a 2-layer decoder of 0.1 M parameters (node, onnxruntime, Tessera's runtime loaded, sessions run)
  const tiny = join(dir, 'tiny');
  writeDecoder({ ...PRESETS.tiny, vocab: config.vocab > 256 ? 256 : config.vocab }, tiny);
  const tinyPrompt = join(dir, 'tiny-prompt.json');
  writeFileSync(tinyPrompt, JSON.stringify(seededPrompt(64, 256)));
  const floor: number[] = [];
  for (let r = 0; r < runs; r++) {
    const m = measure(process.execPath, [script, join(tiny, 'model.onnx'), String(256e6), tinyPrompt, join(dir, 'tiny.bin')]);
    if (m.status !== 0) throw new Error(`engine floor run failed: ${m.stderr.slice(-2000)}`);
    floor.push(m.peakRssBytes);
  }
  let whole: Float32Array | undefined;
  for (const budget of ['whole', String(512e6), String(256e6), `${256e6}:prefetch`]) {
    const rss: number[] = [], ms: number[] = [], runMs: number[] = [], readMs: number[] = [], waitMs: number[] = [];
    let groups = 1, sessions = 1, maxAbs = 0;
    for (let r = 0; r < runs; r++) {
      const out = join(dir, `logits-${budget.replace(':', '-')}.bin`);
      const m = measure(process.execPath, [script, model.modelPath, budget, prompt, out]);
      if (m.status !== 0) throw new Error(`decoder forward (${budget}) failed: ${m.stderr.slice(-2000)}`);
      const rep = JSON.parse(m.stdout.trim().split('\n').pop()!);
      rss.push(m.peakRssBytes);
      ms.push(rep.ms);
      runMs.push(rep.runMs);
      if (rep.stats) (readMs.push(rep.stats.readMs), waitMs.push(rep.stats.waitMs));
      groups = rep.groups;
      sessions = rep.sessions;
      const logits = read(out);
      if (budget === 'whole') whole = logits;
      else for (let i = 0; i < logits.length; i++) maxAbs = Math.max(maxAbs, Math.abs(logits[i] - whole![i]));
    }
    rows.push({ budget: budget === 'whole' ? 'onnxruntime whole' : `${Number(budget.split(':')[0]) / MB} MB${budget.endsWith(':prefetch') ? ' prefetch forced' : ''}`, peakRssBytes: rss, ms, runMs, groups, sessions, readMs, waitMs, maxAbsVsWhole: maxAbs });
  }
  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const rng = (xs: number[], f: (x: number) => string) => (xs.length ? `${f(Math.min(...xs))}–${f(Math.max(...xs))}` : '-');
  const floorS = weightBytes / med(bw);
  const ortRunS = med(rows[0].runMs) / 1000;
  console.log(`decoder ${preset} (${(weightBytes / MB).toFixed(0)} MB float32 weights), one forward over 64 tokens; read bandwidth ${rng(bw, (x) => (x / 1e9).toFixed(2))} GB/s (reading the weight file in 8 MB blocks, same run: from the page cache, the file being cached — not the device's bandwidth) → weight-read floor ${floorS.toFixed(2)} s`);
  console.log(`  compute reference: onnxruntime whole, the run alone (weights resident, prepacked): ${rng(rows[0].runMs, (x) => (x / 1000).toFixed(2))} s`);
  const floorBytes = med(floor);
  console.log(`  engine floor (the same process streaming a 0.1 M-parameter decoder): ${rng(floor, (x) => (x / MB).toFixed(0))} MB`);
  for (const r of rows) {
    const budget = r.budget.includes(' MB') ? Number(r.budget.split(' ')[0]) * MB : undefined;
    const limit = budget ? budget + floorBytes : undefined;
    const s = med(r.ms) / 1000;
    console.log(`  ${r.budget.padEnd(18)} peak RSS ${rng(r.peakRssBytes, (x) => (x / MB).toFixed(0))} MB${limit ? ` (×${(med(r.peakRssBytes) / limit).toFixed(2)} of budget + floor = ${(limit / MB).toFixed(0)} MB)` : ''}  forward ${rng(r.ms, (x) => (x / 1000).toFixed(2))} s (×${(s / floorS).toFixed(2)} the read floor, ×${(s / ortRunS).toFixed(2)} onnxruntime's run)  ${r.groups} group(s), ${r.sessions} session(s)${budget ? `  reads ${rng(r.readMs, (x) => (x / 1000).toFixed(2))} s, waited ${rng(r.waitMs, (x) => (x / 1000).toFixed(2))} s  logits max abs vs whole ${r.maxAbsVsWhole.toExponential(2)}` : ''}`);
  }
  const alt = await alternating(model.modelPath, model.dataPath, config, runs);
  return { preset, weightBytes, readBandwidthBs: bw, floorBytes: floor, rows, alternating: alt };
}

/**
 * Latency ratios robust to load: in one process, alternating, `runs` rounds of onnxruntime whole (the run
 * alone: weights resident, prepacked), and the streamed forward (sessions already created: a later run)
 * at 256 MB with prefetch as 'auto' decides (off: a 64-token forward is compute-bound) and forced on,
 * each streamed run right after a read-bandwidth measurement.
 */
async function alternating(modelPath: string, dataPath: string, config: (typeof PRESETS)[PresetName], runs: number) {
  const ort = await import('onnxruntime-node');
  const { StreamedModel } = await import('../../src/runtime/stream.js');
  const n = 64;
  const tokens = seededPrompt(n, config.vocab);
  const int64 = (v: number[]) => new ort.Tensor('int64', BigInt64Array.from(v, (x) => BigInt(x)), [1, v.length]);
  const feeds: Record<string, InstanceType<typeof ort.Tensor>> = { input_ids: int64(tokens), attention_mask: int64(tokens.map(() => 1)), position_ids: int64(tokens.map((_, i) => i)) };
  for (let l = 0; l < config.layers; l++) for (const kv of ['key', 'value']) feeds[`past_key_values.${l}.${kv}`] = new ort.Tensor('float32', new Float32Array(0), [1, config.kvHeads, 0, config.headDim]);
  const inputShapes = Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, [...t.dims]]));
  const whole = await ort.InferenceSession.create(modelPath, { logSeverityLevel: 3 });
  const models = { '256 MB': await StreamedModel.open(modelPath, { budgetBytes: 256e6, inputShapes }), '256 MB prefetch forced': await StreamedModel.open(modelPath, { budgetBytes: 256e6, inputShapes, prefetch: true }) };
  await whole.run(feeds);
  for (const m of Object.values(models)) await m.run(feeds as never);
  const weightBytes = statSync(dataPath).size;
  const out: Record<string, { ms: number[]; floorMs: number[] }> = { 'onnxruntime whole (run alone)': { ms: [], floorMs: [] } };
  for (const k of Object.keys(models)) out[k] = { ms: [], floorMs: [] };
  for (let r = 0; r < runs; r++) {
    let t0 = performance.now();
    await whole.run(feeds);
    out['onnxruntime whole (run alone)'].ms.push(performance.now() - t0);
    for (const [k, m] of Object.entries(models)) {
      out[k].floorMs.push((weightBytes / readBandwidth(dataPath)) * 1000);
      t0 = performance.now();
      await m.run(feeds as never);
      out[k].ms.push(performance.now() - t0);
    }
  }
  await whole.release();
  for (const m of Object.values(models)) await m.release();
  const ortMs = out['onnxruntime whole (run alone)'].ms;
  console.log(`  alternating in one process (${runs} rounds; streamed runs after the first, sessions created): onnxruntime whole's run ${ortMs.map((x) => (x / 1000).toFixed(2)).join(', ')} s`);
  for (const k of Object.keys(models)) {
    const o = out[k];
    const vsFloor = o.ms.map((x, i) => x / o.floorMs[i]), vsOrt = o.ms.map((x, i) => x / ortMs[i]);
    console.log(`    streamed ${k.padEnd(18)} ${o.ms.map((x) => (x / 1000).toFixed(2)).join(', ')} s; ×${vsFloor.map((x) => x.toFixed(2)).join(', ')} the read floor measured just before (${o.floorMs.map((x) => (x / 1000).toFixed(2)).join(', ')} s); ×${vsOrt.map((x) => x.toFixed(2)).join(', ')} onnxruntime's run`);
  }
  return out;
}


if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const args = process.argv.slice(2);
  const opt = (k: string) => (args.includes(k) ? args[args.indexOf(k) + 1] : undefined);
  await streamBench({ runs: Number(opt('--runs') ?? 3), work: join(ROOT, '.tessera-cache/stream-bench'), measure, preset: (opt('--preset') ?? '500m') as PresetName });
}
