/**
 * bench/quantize: per model and scheme, in one run: weight bytes, onnxruntime CPU latency of float32 and
 * the quantized model side by side, the task metric on the evaluation set (made by make-data.ts), output
 * cosine against float32, and the kernels onnxruntime ran (its profiler); for ppocr-v4-rec, mixed precision
 * at several targets, each point measured.
 *
 *   npx tsx bench/quantize/make-data.ts && npx tsx bench/quantize/run.ts [--only rec,det,vad] [--schemes int8,w4,mixed,…] [--runs N] [--no-latency]
 */
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { importOnnxFile } from '../../src/ir/onnx-import.js';
import { exportOnnx } from '../../src/ir/onnx-export.js';
import { inferShapes } from '../../src/ir/infer.js';
import { ortProber } from '../../src/backends/ort.js';
import { initializers } from '../../src/passes/quantize-graph.js';
import { weightByteLength } from '../../src/ir/weight.js';
import { prepareForQuantization } from '../../src/passes/quantize-prepare.js';
import { subgraphWeightUses } from '../../src/passes/quantize-subgraph.js';
import { readSamples } from '../../src/quantize/data.js';
import { quantizeModel, type QuantizeOptions, type QuantizeReport } from '../../src/quantize/index.js';
import { applyMixed, measureSensitivity, pickBits } from '../../src/quantize/mixed.js';
import { timeAlternating } from '../placement/quiet.js';
import { cosines, detTask, recTask, vadTask, type Task } from './eval.js';
import { CORPUS, ROOT } from './tasks.js';

const argv = process.argv.slice(2);
const flag = (n: string) => argv.includes(n);
const value = (n: string, d: string) => (argv.includes(n) ? argv[argv.indexOf(n) + 1] : d);
const only = value('--only', 'rec,det,vad').split(',');
const runs = Number(value('--runs', '40'));
/** Only these rows (labels as printed, comma-separated; 'mixed' for the mixed rows). */
const schemes = argv.includes('--schemes') ? value('--schemes', '').split(',') : undefined;
const OUT = join(ROOT, 'out', 'quantize');
mkdirSync(OUT, { recursive: true });

interface Row {
  model: string; scheme: string; items: string;
  weightBytes: { float: number; quantized: number; matmulFloat: number; matmulQuantized: number };
  metric: string; floatMetric?: number; quantMetric: number; detail?: string;
  cosine: { mean: number; min: number };
  latencyUs?: { float: number; quantized: number; ratio: number; load: number };
  kernels?: { float: string; quantized: string };
  layers?: string;
}

/** The op types onnxruntime ran, by total time over `n` profiled runs (its own profiler). */
async function kernels(model: Uint8Array, feeds: Record<string, ort.Tensor>, n = 10): Promise<string> {
  const prefix = join(OUT, `profile-${process.pid}`);
  const s = await ort.InferenceSession.create(model, { enableProfiling: true, profileFilePrefix: prefix });
  for (let i = 0; i < n; i++) await s.run(feeds);
  s.endProfiling();
  await s.release();
  const file = readdirSync(OUT).filter((f) => f.startsWith(`profile-${process.pid}`)).map((f) => join(OUT, f))[0];
  const events = JSON.parse(readFileSync(file, 'utf8')) as { cat: string; name: string; dur: number; args?: { op_name?: string } }[];
  rmSync(file);
  const byOp = new Map<string, number>();
  let total = 0;
  for (const e of events) if (e.cat === 'Node' && e.name.endsWith('_kernel_time') && e.args?.op_name) { byOp.set(e.args.op_name, (byOp.get(e.args.op_name) ?? 0) + e.dur); total += e.dur; }
  return [...byOp].sort((a, b) => b[1] - a[1]).slice(0, 6).map(([op, us]) => `${op} ${((100 * us) / total).toFixed(0)}%`).join(', ') + ` (${(total / n / 1000).toFixed(2)} ms of kernels a run)`;
}

async function measure(task: Task, scheme: string, bytes: Uint8Array, report: Pick<QuantizeReport, 'weightBytes'>, floatOut: Float32Array[], floatModel: Uint8Array): Promise<Row> {
  const qs = await ort.InferenceSession.create(bytes);
  const q = await task.run(qs);
  const score = task.score(floatOut, q);
  const row: Row = { model: task.name, scheme, items: task.size, weightBytes: report.weightBytes, metric: score.metric, floatMetric: score.float, quantMetric: score.quantized, detail: score.detail, cosine: cosines(floatOut, q) };
  if (!flag('--no-latency')) {
    const fs = await ort.InferenceSession.create(floatModel);
    const feeds = task.latencyFeeds();
    const t = await timeAlternating([() => fs.run(feeds), () => qs.run(feeds)], runs, { budgetMs: 60_000 });
    row.latencyUs = { float: t.medians[0], quantized: t.medians[1], ratio: t.medians[1] / t.medians[0], load: t.load };
    row.kernels = { float: await kernels(floatModel, feeds), quantized: await kernels(bytes, feeds) };
    await fs.release();
  }
  await qs.release();
  return row;
}

const mb = (b: number) => (b / 1e6).toFixed(2);
function print(r: Row): void {
  const w = r.weightBytes;
  const lat = r.latencyUs ? `  latency ${(r.latencyUs.float / 1000).toFixed(2)} → ${(r.latencyUs.quantized / 1000).toFixed(2)} ms (×${r.latencyUs.ratio.toFixed(2)}, load ${(100 * r.latencyUs.load).toFixed(0)}%)` : '';
  console.log(`${r.model.padEnd(24)} ${r.scheme.padEnd(22)} weights ${mb(w.float)} → ${mb(w.quantized)} MB (${(w.float / w.quantized).toFixed(2)}×${w.matmulFloat ? `; MatMul/Gemm ${(w.matmulFloat / w.matmulQuantized).toFixed(2)}×` : ''})  ${r.metric}: ${r.floatMetric !== undefined ? `float32 ${r.floatMetric.toFixed(3)}, ` : ''}quantized ${r.quantMetric.toFixed(4)}${r.detail ? ` (${r.detail})` : ''}  cosine mean ${r.cosine.mean.toFixed(4)} min ${r.cosine.min.toFixed(4)} [${r.items}]${lat}`);
  if (r.kernels) console.log(`    kernels float32: ${r.kernels.float}\n    kernels quantized: ${r.kernels.quantized}`);
  if (r.layers) console.log(`    ${r.layers}`);
}

const SCHEMES: Record<string, [string, Omit<QuantizeOptions, 'calibration'>][]> = {
  rec: [['int8', { scheme: 'int8' }], ['int8 minmax', { scheme: 'int8', method: 'minmax' }], ['w8', { scheme: 'w8' }], ['w4', { scheme: 'w4' }]],
  det: [['int8', { scheme: 'int8' }], ['int8 error≤2e-2', { scheme: 'int8', targetError: 2e-2 }], ['int8 uint16 activations', { scheme: 'int8', activationType: 'uint16' }], ['w8', { scheme: 'w8' }], ['w4', { scheme: 'w4' }]],
  vad: [['int8', { scheme: 'int8' }], ['w8', { scheme: 'w8' }], ['w4', { scheme: 'w4' }]],
};
const TASKS: Record<string, () => Task> = {
  rec: () => recTask(join(CORPUS, 'ppocr-v4-rec.onnx')),
  det: () => detTask(join(CORPUS, 'ppocr-v4-det.onnx')),
  vad: () => vadTask(join(CORPUS, 'silero-vad-op18-ifless.onnx')),
};

console.log(`$ npx tsx bench/quantize/run.ts ${argv.join(' ')}`.trim());
console.log('onnxruntime-node CPU EP, default session options; latency medians of float32 and quantized timed in alternating blocks (provisional on a shared machine); metrics on the evaluation sets of make-data.ts');
const rows: Row[] = [];
for (const key of only) {
  const task = TASKS[key]();
  const floatModel = new Uint8Array(readFileSync(task.model));
  const floatOut = await task.run(await ort.InferenceSession.create(floatModel));
  for (const [label, o] of SCHEMES[key].filter(([l]) => !schemes || schemes.includes(l))) {
    const { bytes, report } = await quantizeModel(task.model, { ...o, calibration: task.calibration });
    writeFileSync(join(OUT, `${task.name}.${label.replace(/ /g, '-')}.onnx`), bytes);
    const row = await measure(task, label, bytes, report, floatOut, floatModel);
    const w = report.widened;
    if (w) row.layers = `${w.activations.length} of ${w.of} activations raised to uint16; calibration error with all at 8 bits ${w.errorAll8.toExponential(1)} → ${w.error.toExponential(1)} (${w.evaluations} candidates measured)`;
    rows.push(row);
    print(row);
  }
  if (key === 'rec' && (!schemes || schemes.includes('mixed'))) {
    // mixed: sensitivity measured once, then each target chosen and measured on the evaluation set
    const g = importOnnxFile(task.model);
    const samples = readSamples(g, task.calibration, 8);
    const shaped = await inferShapes(g, { inputShapes: { x: [...samples[0].feeds.x.dims] }, prober: ortProber, feeds: samples[0].feeds });
    const p = prepareForQuantization(shaped).graph;
    const extra = subgraphWeightUses(p);
    const sens = await measureSensitivity(p, extra, samples, 32);
    const floatLayerBytes = sens.reduce((a, s) => a + s.floatBytes, 0);
    const modelBytes = [...initializers(p).values()].reduce((a, w) => a + weightByteLength(w), 0);
    for (const target of [{ error: 3e-2 }, { error: 1e-2 }, { error: 3e-3 }, { error: 1e-3 }, { bytes: floatLayerBytes / 6 }]) {
      const m = await applyMixed(p, extra, sens, pickBits(sens, target), samples, 32, target);
      const bytes = exportOnnx(m.graph, undefined, { inputShapes: false }).bytes;
      const counts = [16, 8, 4].map((b) => `${m.report.rows.filter((r) => r.bits === b).length}×${b}`).join(' ');
      const label = target.error !== undefined ? `mixed error≤${target.error}` : `mixed ≤${mb(target.bytes!)}MB`;
      const lb = { float: modelBytes, quantized: modelBytes - floatLayerBytes + m.report.layerBytes, matmulFloat: 0, matmulQuantized: 0 };
      const row = await measure(task, label, bytes, { weightBytes: lb }, floatOut, floatModel);
      row.layers = `layers ${counts}; calibration error predicted ${m.report.predictedError.toExponential(1)}, measured ${m.report.measuredError.toExponential(1)}; 4-bit: ${m.report.rows.filter((r) => r.bits === 4).map((r) => r.node).join(', ') || 'none'}; 16-bit: ${m.report.rows.filter((r) => r.bits === 16).map((r) => r.node).join(', ') || 'none'}`;
      rows.push(row);
      print(row);
    }
  }
}
writeFileSync(join(ROOT, 'bench', 'quantize', `results${only.length < 3 ? `.${only.join('-')}` : ''}.json`), `${JSON.stringify({ command: `npx tsx bench/quantize/run.ts ${argv.join(' ')}`.trim(), rows }, null, 1)}\n`);
