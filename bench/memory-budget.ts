/**
 * The process's resident memory, measured: one command, one run, side by side. Every figure is the peak
 * resident set of a separate process (`/usr/bin/time -f %M`), the range over `--runs` processes:
 *   - every corpus model (ppocr-v4-det at 1×3×640×640) under onnxruntime-node whole (plain node, default
 *     options: bench/memory/ort-whole.ts) and under `tessera run --plan` of plans compiled with
 *     `--objective latency` and `--objective memory`: peak RSS, the plan's predicted peak and its error,
 *     one run's latency, outputs against onnxruntime's (same inputs, written once);
 *   - the MLP with 134.6 MB of float32 weights in external data (bench/models/mlp.ts): weights held once;
 *   - the generated decoder (bench/models/decoder.ts, preset 500m, 2 GB of float32 weights) one forward
 *     pass over a 64-token prompt with weights streamed from disk under a memory budget
 *     (src/runtime/stream.ts) against onnxruntime whole, with the storage's read bandwidth measured in the
 *     same run (`--no-decoder` leaves it out: writing the model takes minutes the first time);
 *   - `tessera compile` of ppocr-v4-det for host (wall time of the command).
 * It runs the built CLI (bin/tessera.js → dist/, as users get it): `npm run build` first.
 *   npm run build && npx tsx bench/memory-budget.ts [--runs 3] [--no-decoder] [--json bench/memory-budget.results.json]
 * `--only det` runs the corpus rows whose file name contains it and nothing else (no MLP, compile time or
 * decoder; nothing written unless --json is given): `--only det --runs 3` is the ppocr-v4-det line.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compareTensors, type Comparison } from '../src/backends/compare.js';
import { randomFeeds, tensorFromWeight, weightFromTensor, type TensorMap } from '../src/backends/tensor.js';
import { resolveInputShapes } from '../src/ir/infer.js';
import { importOnnxFile } from '../src/ir/onnx-import.js';
import { readTensorFile, tensorFileBytes } from '../src/ir/tensor-file.js';
import { readRawTensors, writeOrtWholeScript, writeRawTensors } from './memory/ort-whole.js';
import { writeMlp } from './models/mlp.js';
import { measure } from './memory/measure.js';
import { corpusCases, feedsFor } from '../tests/helpers/models.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '');
const CORPUS = resolve(ROOT, '../shared/corpus/models');
const args = process.argv.slice(2);
const opt = (k: string) => (args.includes(k) ? args[args.indexOf(k) + 1] : undefined);
const RUNS = Number(opt('--runs') ?? 3);
const ONLY = opt('--only');
const JSON_OUT = opt('--json') ?? join(ROOT, 'bench/memory-budget.results.json');
const WORK = join(tmpdir(), `tessera-memory-budget-${process.pid}`);
const MB = 1e6;

const TESSERA = join(ROOT, 'bin/tessera.js');
const tessera = (...a: string[]) => measure(process.execPath, [TESSERA, ...a], ROOT);

const range = (xs: number[], f = (x: number) => x.toFixed(0)) => {
  const s = [...xs].filter(Number.isFinite).sort((a, b) => a - b);
  if (!s.length) return '-';
  return s[0] === s[s.length - 1] ? f(s[0]) : `${f(s[0])}–${f(s[s.length - 1])}`;
};
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)] : NaN;
};

/** The inputs of a corpus model (the corpus tests' feeds: silero's rate and state, seeded noise otherwise; or seeded random at given shapes), written as raw files (onnxruntime's script) and as input_N.pb (tessera run --data). */
function writeInputs(model: string, shapes: Record<string, number[]> | undefined, dir: string): { feeds: TensorMap; raw: string; data: string } {
  const graph = importOnnxFile(model);
  const name = basename(model, '.onnx');
  const c = corpusCases().find((m) => m.name === name);
  const feeds = c && !shapes ? feedsFor(graph, c) : randomFeeds(graph, resolveInputShapes(graph, shapes));
  const raw = join(dir, 'raw-in'), data = join(dir, 'data');
  writeRawTensors(raw, feeds, graph.inputs);
  mkdirSync(data, { recursive: true });
  graph.inputs.forEach((n, i) => writeFileSync(join(data, `input_${i}.pb`), tensorFileBytes(weightFromTensor(feeds[n], n))));
  return { feeds, raw, data };
}

/** Outputs of tessera run --out (output_N.pb) against onnxruntime's (raw files), in the model's output order. */
function compareOutputs(tesseraOut: string, ortOut: string): Comparison[] {
  const ref = readRawTensors(ortOut);
  return Object.values(ref).map((expected, i) => compareTensors(tensorFromWeight(readTensorFile(join(tesseraOut, `output_${i}.pb`))), expected));
}

interface ModelRow {
  model: string;
  objective: string;
  partitions: number;
  rssBytes: number[];
  ortRssBytes: number[];
  predictedBytes: number;
  runMs: number[];
  ortRunMs: number[];
  outputsEqual: boolean;
  worstMaxAbs: number;
}

function corpusRows(ortScript: string): ModelRow[] {
  const cases: { file: string; shapes?: Record<string, number[]> }[] = [
    { file: 'ppocr-v4-det.onnx', shapes: { x: [1, 3, 640, 640] } },
    { file: 'ppocr-v4-rec.onnx' }, { file: 'silero-vad-op18-ifless.onnx' }, { file: 'silero-vad-v4-legacy.onnx' },
    { file: 'silero-vad-v5.onnx' }, { file: 'wakeword-hello-deepa.onnx' },
  ];
  const rows: ModelRow[] = [];
  for (const c of cases.filter((x) => !ONLY || x.file.includes(ONLY))) {
    const model = join(CORPUS, c.file);
    const dir = join(WORK, basename(c.file, '.onnx'));
    const io = writeInputs(model, c.shapes, dir);
    const ortOut = join(dir, 'ort-out');
    const ortRss: number[] = [], ortMs: number[] = [];
    for (let r = 0; r < RUNS; r++) {
      const m = measure(process.execPath, [ortScript, model, io.raw, ortOut], ROOT);
      if (m.status !== 0) throw new Error(`onnxruntime whole failed on ${c.file}: ${m.stderr}`);
      ortRss.push(m.peakRssBytes);
      ortMs.push(JSON.parse(m.stdout.trim().split('\n').pop()!).runMs);
    }
    for (const objective of ['latency', 'memory']) {
      const plan = join(dir, `plan-${objective}.json`);
      const shapeArgs = Object.entries(io.feeds).flatMap(([k, t]) => ['--input-shape', `${k}=${t.dims.join('x')}`]);
      const comp = tessera('compile', model, '--target', 'host', '--objective', objective, '--out', plan, ...shapeArgs);
      if (comp.status !== 0) throw new Error(`tessera compile failed on ${c.file}: ${comp.stderr}`);
      const rss: number[] = [], ms: number[] = [];
      let predicted = NaN, partitions = 0, cmp: Comparison[] = [];
      for (let r = 0; r < RUNS; r++) {
        const out = join(dir, `out-${objective}`);
        const m = tessera('run', model, '--plan', plan, '--data', io.data, '--out', out, '--memory', '--json');
        if (m.status !== 0) throw new Error(`tessera run failed on ${c.file}: ${m.stderr}`);
        const rep = JSON.parse(m.stdout);
        rss.push(m.peakRssBytes);
        ms.push(rep.runMs);
        predicted = rep.memory?.predicted?.peakBytes ?? NaN;
        partitions = rep.partitions;
        cmp = compareOutputs(out, ortOut);
      }
      rows.push({
        model: basename(c.file, '.onnx') + (c.shapes ? ' 640×640' : ''), objective, partitions, rssBytes: rss, ortRssBytes: ortRss, predictedBytes: predicted,
        runMs: ms, ortRunMs: ortMs, outputsEqual: cmp.every((x) => x.ok), worstMaxAbs: Math.max(...cmp.map((x) => x.maxAbs)),
      });
      console.log(formatRow(rows[rows.length - 1]));
    }
  }
  return rows;
}

function formatRow(r: ModelRow): string {
  const rss = median(r.rssBytes), ort = median(r.ortRssBytes);
  const err = (100 * (rss - r.predictedBytes)) / rss;
  return `${r.model.padEnd(28)} ${r.objective.padEnd(8)} ${String(r.partitions).padStart(4)}  RSS ${range(r.rssBytes.map((x) => x / MB)).padStart(9)} MB vs ort ${range(r.ortRssBytes.map((x) => x / MB)).padStart(9)} MB (×${(rss / ort).toFixed(2)}, ${rss >= ort ? '+' : ''}${((rss - ort) / MB).toFixed(0)} MB)  predicted ${(r.predictedBytes / MB).toFixed(0)} MB (${err >= 0 ? '' : '+'}${(-err).toFixed(0)}%)  run ${range(r.runMs, (x) => x.toFixed(0))} ms vs ort ${range(r.ortRunMs, (x) => x.toFixed(0))} ms (×${(median(r.runMs) / median(r.ortRunMs)).toFixed(2)})  outputs ${r.outputsEqual ? 'equal' : `DIFFER (max abs ${r.worstMaxAbs.toExponential(2)})`}`;
}

function mlpRow(ortScript: string) {
  const dir = join(WORK, 'mlp');
  const { modelPath, weightBytes } = writeMlp(dir);
  const io = writeInputs(modelPath, undefined, dir);
  const ortRss: number[] = [], rss: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    ortRss.push(measure(process.execPath, [ortScript, modelPath, io.raw], ROOT).peakRssBytes);
    const m = tessera('run', modelPath, '--data', io.data);
    if (m.status !== 0) throw new Error(`tessera run failed on the MLP: ${m.stderr}`);
    rss.push(m.peakRssBytes);
  }
  const line = `MLP 4×2900 (${(weightBytes / MB).toFixed(1)} MB float32 weights, external data): tessera run ${range(rss.map((x) => x / MB))} MB vs onnxruntime whole ${range(ortRss.map((x) => x / MB))} MB (${median(rss) >= median(ortRss) ? '+' : ''}${((median(rss) - median(ortRss)) / MB).toFixed(0)} MB)`;
  console.log(line);
  return { weightBytes, rssBytes: rss, ortRssBytes: ortRss };
}

function compileTime() {
  const walls: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    const m = tessera('compile', join(CORPUS, 'ppocr-v4-det.onnx'), '--target', 'host', '--input-shape', 'x=1x3x640x640');
    walls.push(m.wallS);
  }
  console.log(`tessera compile ppocr-v4-det --target host (1×3×640×640): ${range(walls, (x) => x.toFixed(2))} s (wall of the command)`);
  return walls;
}

async function decoderRows() {
  const { streamBench } = await import('./memory/stream-decoder.js');
  return streamBench({ runs: RUNS, work: WORK, measure });
}

if (!existsSync(join(ROOT, 'dist/cli/main.js'))) throw new Error('run `npm run build` first: the bench runs the built CLI (bin/tessera.js)');
const srcNewer = statSync(join(ROOT, 'src/passes/resident.ts')).mtimeMs > (statSync(join(ROOT, 'dist/passes/resident.js'), { throwIfNoEntry: false })?.mtimeMs ?? 0);
if (srcNewer) console.log('warning: dist/ is older than src/: run `npm run build` for figures of this source');
mkdirSync(WORK, { recursive: true });
console.log(`command: npx tsx bench/memory-budget.ts --runs ${RUNS}${ONLY ? ` --only ${ONLY}` : ''}${args.includes('--no-decoder') ? ' --no-decoder' : ''}  (peak RSS by /usr/bin/time -f %M per process; ranges over ${RUNS} processes; median ratios)`);
try {
  const ortScript = writeOrtWholeScript(WORK);
  const corpus = corpusRows(ortScript);
  if (ONLY) {
    if (opt('--json')) writeFileSync(JSON_OUT, `${JSON.stringify({ command: `npx tsx bench/memory-budget.ts --only ${ONLY} --runs ${RUNS}`, date: new Date().toISOString(), corpus }, null, 1)}\n`);
  } else {
    const mlp = mlpRow(ortScript);
    const compile = compileTime();
    // without the decoder, its figures from the results file (an earlier run) are kept, marked so
    const earlier = existsSync(JSON_OUT) ? (JSON.parse(readFileSync(JSON_OUT, 'utf8')) as { decoder?: unknown; date?: string }) : undefined;
    const decoder = args.includes('--no-decoder') ? (earlier?.decoder ? { ...(earlier.decoder as object), fromEarlierRun: earlier.date } : undefined) : await decoderRows();
    writeFileSync(JSON_OUT, `${JSON.stringify({ command: `npx tsx bench/memory-budget.ts --runs ${RUNS}`, date: new Date().toISOString(), corpus, mlp, compileS: compile, decoder }, null, 1)}\n`);
    console.log(`figures written to ${JSON_OUT}`);
  }
} finally {
  rmSync(WORK, { recursive: true, force: true });
}
