/**
 * Decode benchmark: the generated decoders (bench/models/decoder.ts) in float32 and with INT4 weights
 * (`tessera quantize --scheme w4`), Tessera's Generator against onnxruntime-node's own step-by-step loop
 * on the same graph (bench/models/ort-generate.ts: present fed back as past), alternating in one run.
 * For each model:
 *   - correctness: 32 greedy steps after a 64-token prompt, tokens equal and the largest logit difference;
 *   - time to first token (the prefill run) and decode tokens/s, median and range over --runs runs each,
 *     onnxruntime as users get it and with its threads not spin-waiting (as the Generator's two sessions run);
 *   - the bandwidth floor: bytes read per decode token (weights + the KV cache each engine reads) / the
 *     host's streaming read bandwidth (`tessera calibrate`'s streamBandwidthGBs when its profile has one,
 *     else the same measurement made here: src/runtime/stream-bandwidth.ts), and each engine's tokens/s
 *     against it; and against calibrate's fitted bandwidthGBs, for comparison;
 *   - peak RSS of each engine in its own process (`tessera generate --json`, bench/models/ort-generate.ts);
 *   - with --rss-steps N (first model only): RSS sampled every 100 decode steps over N steps with the cache
 *     full-sized from the start (max length = prompt + N + 1);
 *   - with --streamed 256MB,512MB: decode of the 500m decoder with the weights streamed under those budgets
 *     (bench/memory/stream-decode.ts: tokens against onnxruntime's, peak RSS against budget + engine
 *     floor, tokens/s against the storage-read floor; runs the built CLI: `npm run build` first).
 *
 *   npx tsx bench/decode.ts [--presets 100m,500m] [--precisions float32,int4] [--runs 3] [--rss-steps 1000]
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { toBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema } from 'onnx-buf';
import * as ort from 'onnxruntime-node';
import { writeFilesAtomically } from '../src/atomic.js';
import { Generator } from '../src/generate/index.js';
import { decodeModel, readModelFile } from '../src/ir/onnx-import.js';
import { quantizeModel } from '../src/quantize/index.js';
import { measureStreamBandwidth } from '../src/runtime/stream-bandwidth.js';
import { readCalibratedHost, calibratedHostPath } from '../src/targets/host.js';
import { presetDecoder, PRESETS, type PresetName } from './models/decoder.js';
import { ortGreedy, seededPrompt } from './models/ort-generate.js';

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));
const args = process.argv.slice(2);
const opt = (name: string, d: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : d);
const presets = opt('--presets', '100m,500m').split(',') as PresetName[];
const precisions = opt('--precisions', 'float32,int4').split(',');
const runs = Number(opt('--runs', '3'));
const rssSteps = Number(opt('--rss-steps', '0'));
const PROMPT = 64, STEPS = 32;
const streamedBudgets = args.includes('--streamed') ? opt('--streamed', '256MB,512MB').split(',') : null;

const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const range = (xs: number[], d = 1) => `${median(xs).toFixed(d)} (${Math.min(...xs).toFixed(d)}–${Math.max(...xs).toFixed(d)})`;

/** The w4 model beside the float one; the quantizer's export drops the declared input/output shapes, so the float model's signature is put back. */
async function int4Model(floatPath: string): Promise<string> {
  const out = join(dirname(floatPath), 'model-w4.onnx');
  if (existsSync(out)) return out;
  const { bytes } = await quantizeModel(floatPath, { scheme: 'w4' });
  const q = decodeModel(bytes, out), f = decodeModel(readModelFile(floatPath), floatPath);
  const byName = new Map([...f.graph!.input, ...f.graph!.output].map((v) => [v.name, v]));
  q.graph!.input = q.graph!.input.map((v) => byName.get(v.name) ?? v);
  q.graph!.output = q.graph!.output.map((v) => byName.get(v.name) ?? v);
  writeFilesAtomically([{ path: out, bytes: toBinary(ModelProtoSchema, q) }]);
  return out;
}

/** GB/s of a 256 MB Buffer copy (one thread; read + write bytes / time, best of 5): for comparison only. */
function copyBandwidth(): number {
  const n = 256e6, a = Buffer.alloc(n, 1), b = Buffer.alloc(n);
  let best = Infinity;
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    a.copy(b);
    best = Math.min(best, performance.now() - t0);
  }
  return (2 * n) / (best / 1000) / 1e9;
}

type CpuFigures = { bandwidthGBs?: { value: number; source: string }; streamBandwidthGBs?: { value: number; source: string } };

/**
 * The floor's bandwidth: the streaming read `tessera calibrate` measured (its profile's streamBandwidthGBs), else
 * the same measurement made here (runtime/stream-bandwidth.ts); and the profile's fitted bandwidthGBs, when there is one, for comparison.
 */
async function hostBandwidth(): Promise<{ gbs: number; source: string; fitted?: number }> {
  const profile = readCalibratedHost() as { processors?: ({ id: string } & CpuFigures)[] } | undefined;
  const cpu = profile?.processors?.find((p) => p.id === 'cpu');
  const fitted = cpu?.bandwidthGBs?.value;
  if (cpu?.streamBandwidthGBs) return { gbs: cpu.streamBandwidthGBs.value, source: `tessera calibrate's profile (${calibratedHostPath()}): ${cpu.streamBandwidthGBs.source}`, fitted };
  const m = await measureStreamBandwidth();
  return { gbs: m.gbs, source: `measured here (the profile has no streaming figure: re-run tessera calibrate): ${m.source}`, fitted };
}

function peakRssOf(cmd: string[]): number {
  const r = spawnSync(process.execPath, ['--import', 'tsx', ...cmd], { cwd: ROOT, encoding: 'utf8' });
  const json = r.stdout.trim().split('\n').find((l) => l.startsWith('{'));
  if (json) return JSON.parse(json).peakRssBytes;
  const m = /peak RSS of this process: ([\d.]+) MB/.exec(r.stdout);
  if (!m) throw new Error(`no peak RSS from ${cmd.join(' ')}: ${r.stderr}`);
  return Number(m[1]) * 1e6;
}

const copyGBs = copyBandwidth();
const bw = await hostBandwidth();
console.log(`command: npx tsx bench/decode.ts ${args.join(' ')}`);
console.log(`onnxruntime-node ${ort.env.versions.common}; host streaming read bandwidth ${bw.gbs.toFixed(1)} GB/s (${bw.source}); calibrate's fitted bandwidth ${bw.fitted ?? 'none (no profile)'} GB/s; a 256 MB Buffer copy on one thread ${copyGBs.toFixed(1)} GB/s (read + write); prompt ${PROMPT} tokens, ${STEPS} greedy steps; times measured, provisional on a shared machine`);
let rssDone = false;
for (const preset of presets) {
  const floatPath = presetDecoder(preset).modelPath;
  for (const precision of precisions) {
    const model = precision === 'int4' ? await int4Model(floatPath) : floatPath;
    const c = PRESETS[preset];
    const prompt = seededPrompt(PROMPT, c.vocab, 1);
    // int4: both engines compute the fused int4 MatMuls in float (accuracy level 0); at onnxruntime's default (int8
    // activations) its own cached and uncached runs differ by ~1e-2 and greedy tokens part on near ties
    const ortConfig: Record<string, string> = precision === 'int4' ? { 'session.qdq_matmulnbits_accuracy_level': '0' } : {};
    const ortSession = (extra: Record<string, string>) =>
      ort.InferenceSession.create(model, { logSeverityLevel: 3, extra: { session: Object.fromEntries(Object.entries({ ...ortConfig, ...extra }).map(([k, v]) => [k.replace('session.', ''), v])) } } as ort.InferenceSession.SessionOptions);
    // onnxruntime as users get it, and without spin-waiting threads (as the Generator's sessions run)
    const session = await ortSession({});
    const quiet = await ortSession({ 'session.intra_op.allow_spinning': '0' });
    const maxLength = PROMPT + STEPS;
    const g = await Generator.create(model, { maxLength, ortConfig });
    const ortTtft: number[] = [], ortTps: number[] = [], tTtft: number[] = [], tTps: number[] = [], qTtft: number[] = [], qTps: number[] = [];
    let tokensEqual = true, maxDiff = 0;
    for (let r = 0; r < runs; r++) {
      const want = await ortGreedy(session, prompt, STEPS);
      ortTtft.push(want.prefillMs);
      ortTps.push(want.decodeMs.length / (want.decodeMs.reduce((a, b) => a + b, 0) / 1000));
      const q = await ortGreedy(quiet, prompt, STEPS);
      tokensEqual &&= q.tokens.join() === want.tokens.join();
      qTtft.push(q.prefillMs);
      qTps.push(q.decodeMs.length / (q.decodeMs.reduce((a, b) => a + b, 0) / 1000));
      g.reset();
      const tokens = [await g.prefill(prompt)];
      const diff = (row: Float32Array, i: number) => { for (let j = 0; j < row.length; j++) maxDiff = Math.max(maxDiff, Math.abs(row[j] - want.logits[i][j])); };
      diff(g.lastLogits, 0);
      while (tokens.length < STEPS) {
        tokens.push(await g.next());
        diff(g.lastLogits, tokens.length - 1);
      }
      tokensEqual &&= tokens.join() === want.tokens.join();
      tTtft.push(g.stats.prefillMs);
      tTps.push(g.stats.decodeMs.length / (g.stats.decodeMs.reduce((a, b) => a + b, 0) / 1000));
    }
    const weights = g.stats.weightBytes;
    // bytes read per decode token: weights + the cache as each engine reads it (Tessera: all max-length slots, masked; onnxruntime: the filled rows, twice — concatenated into a new present, then read)
    const kvPerSlot = g.stats.budget.bytesPerPosition;
    const avgFilled = PROMPT + STEPS / 2;
    const tBytes = weights + kvPerSlot * maxLength, oBytes = weights + 2 * kvPerSlot * avgFilled;
    const floor = (bytes: number) => (bw.gbs * 1e9) / bytes;
    console.log(`\n${preset} ${precision}: ${model} (weights ${mb(weights)})`);
    console.log(`  same tokens as onnxruntime over ${runs} runs: ${tokensEqual}; largest logit difference ${maxDiff.toExponential(2)}`);
    console.log(`  time to first token: tessera ${range(tTtft)} ms, onnxruntime ${range(ortTtft)} ms, onnxruntime without spinning ${range(qTtft)} ms (tessera / each: ${(median(tTtft) / median(ortTtft)).toFixed(2)}, ${(median(tTtft) / median(qTtft)).toFixed(2)}; ≤ 1 is tessera first)`);
    console.log(`  decode tokens/s: tessera ${range(tTps, 2)}, onnxruntime ${range(ortTps, 2)}, onnxruntime without spinning ${range(qTps, 2)} (tessera / each: ${(median(tTps) / median(ortTps)).toFixed(2)}, ${(median(tTps) / median(qTps)).toFixed(2)})`);
    const fittedRatio = bw.fitted ? `; against calibrate's fitted ${bw.fitted} GB/s (not a streaming figure) tessera reached ${(median(tTps) / ((bw.fitted * 1e9) / tBytes)).toFixed(2)}×` : '';
    console.log(`  bandwidth floor at the streaming read's ${bw.gbs.toFixed(1)} GB/s: tessera reads ${mb(tBytes)} a token → ${floor(tBytes).toFixed(2)} tokens/s at most, reached ${(median(tTps) / floor(tBytes)).toFixed(2)}×; onnxruntime ${mb(oBytes)} → ${floor(oBytes).toFixed(2)}, reached ${(median(ortTps) / floor(oBytes)).toFixed(2)}× (${(median(qTps) / floor(oBytes)).toFixed(2)}× without spinning)${fittedRatio}`);
    console.log(`  KV copies in decode: tessera ${g.stats.decodeKvCopyBytes} bytes a step (in place; onnxruntime-node's binding copies the bound cache back, ${mb(g.stats.bindingCopyBackBytesPerStep)} a step); onnxruntime's loop: a new present of the whole cache each step`);
    await g.release();
    // the int8 KV cache (after the float runs, not alternated with them): free-running greedy tokens against
    // onnxruntime float32's, the largest logit difference up to the first differing token, tokens/s, cache bytes
    const q = await Generator.create(model, { maxLength, ortConfig, kv: 'int8' });
    const want = await ortGreedy(session, prompt, STEPS);
    const qTpsInt8: number[] = [];
    let agree = 0, firstDiff = STEPS, qDiff = 0;
    for (let r = 0; r < runs; r++) {
      q.reset();
      const tokens = [await q.prefill(prompt)];
      const rows = [q.lastLogits.slice()];
      while (tokens.length < STEPS) {
        tokens.push(await q.next());
        rows.push(q.lastLogits.slice());
      }
      if (r === 0) {
        firstDiff = tokens.findIndex((t, i) => t !== want.tokens[i]);
        if (firstDiff < 0) firstDiff = STEPS;
        agree = tokens.filter((t, i) => t === want.tokens[i]).length;
        for (let i = 0; i <= Math.min(firstDiff, STEPS - 1); i++) for (let j = 0; j < rows[i].length; j++) qDiff = Math.max(qDiff, Math.abs(rows[i][j] - want.logits[i][j]));
      }
      qTpsInt8.push(q.stats.decodeMs.length / (q.stats.decodeMs.reduce((a, b) => a + b, 0) / 1000));
    }
    console.log(`  int8 KV: cache ${mb(q.stats.kvBytes)} against ${mb(g.stats.kvBytes)} float32 (${(q.stats.kvBytes / g.stats.kvBytes).toFixed(3)}×, from the buffers); free-running greedy tokens equal onnxruntime float32's ${agree}/${STEPS} (first difference at ${firstDiff === STEPS ? 'none' : `step ${firstDiff}`}), largest logit difference up to it ${qDiff.toExponential(2)}; decode ${range(qTpsInt8, 2)} tokens/s (after the float runs, not alternated)`);
    await q.release();
    await session.release();
    await quiet.release();
    const tRss = peakRssOf(['src/cli/main.ts', 'generate', model, '--prompt-length', String(PROMPT), '--steps', String(STEPS), '--json']);
    const oRss = peakRssOf(['bench/models/ort-generate.ts', model, '--prompt-length', String(PROMPT), '--steps', String(STEPS)]);
    console.log(`  peak RSS, each in its own process: tessera ${mb(tRss)}, onnxruntime ${mb(oRss)} (ratio ${(tRss / oRss).toFixed(2)})`);
    if (rssSteps > 0 && !rssDone) {
      rssDone = true;
      const big = await Generator.create(model, { maxLength: PROMPT + rssSteps + 1 });
      await big.prefill(prompt);
      const samples: number[] = [];
      for (let s = 1; s <= rssSteps; s++) {
        await big.next();
        if (s % 100 === 0) samples.push(process.memoryUsage().rss);
      }
      const rest = samples.slice(1);
      console.log(`  RSS over ${rssSteps} decode steps (cache of ${big.maxLength} full-sized from the start, ${mb(big.stats.kvBytes)}), every 100 steps: ${samples.map(mb).join(', ')}; from step 200 on: ${mb(Math.min(...rest))}–${mb(Math.max(...rest))} (spread ${mb(Math.max(...rest) - Math.min(...rest))}); decode ${(big.stats.decodeMs.length / (big.stats.decodeMs.reduce((a, b) => a + b, 0) / 1000)).toFixed(2)} tokens/s`);
      await big.release();
    }
  }
}
if (streamedBudgets) await (await import('./memory/stream-decode.js')).streamDecodeBench({ budgets: streamedBudgets, runs });
