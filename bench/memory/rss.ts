/**
 * Peak resident memory, measured: a process running a large-activation generated model through
 * Tessera (`tessera run` of a plan compiled with `--split memory --inplace`) against a process running
 * the same model whole on onnxruntime (one InferenceSession with onnxruntime's default options, plain
 * `node`, nothing of Tessera loaded: bench/memory/ort-whole.ts). Same inputs (written once, read by
 * both), outputs compared. Each figure is the median of `--runs` separate processes, measured by
 * `/usr/bin/time -v` ("Maximum resident set size"; without it, the process's own
 * `process.resourceUsage().maxRSS`, printed at exit by a preloaded module).
 *   npx tsx bench/memory/rss.ts [--runs 3] [--model injection|injection-control|randwire|all] [--json out.json]
 *
 * Models (float32, batch 1, 1x1 convs with small weights, so activations dominate):
 *   injection          stem conv, then 24 blocks y = block_j(y) + inj_j with inj_j = proj_j(s) a 1x1 conv of
 *                      the stem's output s and block_j a ReLU and a 1x1 conv, 32 channels at 256x256 (8 MB per
 *                      activation), written as `inj = proj(s); y = block(y) + inj` traces (the projection first,
 *                      the Sum's operands block, inj). onnxruntime orders nodes depth-first from the outputs,
 *                      taking a node's inputs latest-made first; on its NCHWc-rewritten graph that computes all 24
 *                      projections before the first block and keeps them (about 24 x 8 MB). Tessera's order
 *                      interleaves them (3 activations alive).
 *   injection-control  the same network with the Sum's operands swapped (`y = inj + block(y)`): onnxruntime's
 *                      order is then as good as Tessera's, and Tessera's figure is not lower.
 *   randwire           RandWire (WS(32, 4, 0.75), 2 stages, 32 channels at 192x192): Tessera's order has a
 *                      smaller modelled peak than the file's (63 vs 81 MB), not small enough to pay for Tessera's
 *                      process.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { compareTensors, DEFAULT_TOLERANCE, type Comparison } from '../../src/backends/compare.js';
import { randomFeeds, tensorFromWeight, weightFromTensor } from '../../src/backends/tensor.js';
import { resolveInputShapes } from '../../src/ir/infer.js';
import { importOnnxFile } from '../../src/ir/onnx-import.js';
import { readTensorFile, tensorFileBytes } from '../../src/ir/tensor-file.js';
import { randwire, toOnnx, type NetNode, type NetSpec } from './generate.js';
import { readRawTensors, writeOrtWholeScript, writeRawTensors } from './ort-whole.js';

/**
 * Input injection: a stem conv, then `blocks` blocks y = block_j(y) + proj_j(s) (s the stem's output,
 * block_j a ReLU and a 1x1 conv, proj_j a 1x1 conv), a 1-channel conv at the end. Ops in the order
 * `inj = proj(s); y = block(y) + inj` traces; `swap` writes the Sum as `inj + block(y)`.
 */
export function injectionNet(blocks: number, opts: { C?: number; H?: number; swap?: boolean } = {}): NetSpec {
  const { C = 32, H = 256, swap = false } = opts;
  const nodes: NetNode[] = [];
  const add = (n: NetNode) => nodes.push(n) - 1;
  const x = add({ op: 'Input', inputs: [], shape: [3, H, H] });
  const s = add({ op: 'Conv', inputs: [x], shape: [C, H, H] });
  let y = s;
  for (let j = 0; j < blocks; j++) {
    const inj = add({ op: 'Conv', inputs: [s], shape: [C, H, H] });
    const r = add({ op: 'Relu', inputs: [y], shape: [C, H, H] });
    const b = add({ op: 'Conv', inputs: [r], shape: [C, H, H] });
    y = add({ op: 'Sum', inputs: swap ? [inj, b] : [b, inj], shape: [C, H, H] });
  }
  add({ op: 'Conv', inputs: [y], shape: [1, H, H] });
  return { name: `injection${swap ? '-swapped' : ''}-J${blocks}-C${C}-H${H}`, family: 'injection', nodes };
}

export interface RssModel {
  key: string;
  spec: NetSpec;
  description: string;
}

export const RSS_MODELS: readonly RssModel[] = [
  {
    key: 'injection',
    spec: injectionNet(24),
    description: 'input injection: stem conv, 24 blocks y = block(y) + proj(s), 32 channels at 256x256 (8 MB per activation), written as `inj = proj(s); y = block(y) + inj`',
  },
  {
    key: 'injection-control',
    spec: injectionNet(24, { swap: true }),
    description: 'the same network written as `y = inj + block(y)` (Sum operands swapped): onnxruntime\'s own order is good here',
  },
  {
    key: 'randwire',
    spec: randwire(32, { stages: 2, C: 32, H: 192, seed: 1 }),
    description: 'RandWire WS(32, 4, 0.75), 2 stages, 32 channels at 192x192 (4.5 MB per activation)',
  },
];

export interface RssOptions {
  /** Separate processes per figure (median reported); default 3. */
  runs?: number;
  /** Keys of RSS_MODELS; default all. */
  models?: readonly string[];
  /** Working directory (models, plans, inputs, outputs); default under the OS temp dir. */
  dir?: string;
  /** Called with each line as it is measured. */
  log?: (line: string) => void;
}

export interface RssModelResult {
  model: string;
  key: string;
  description: string;
  ops: number;
  /** Modelled by Tessera's compiler (the split plan's figures), activations only. */
  modelled: { fileOrderPeakBytes: number; tesseraOrderPeakBytes: number; arenaBytes: number; partitions: number };
  /** Medians of the measured peak RSS, bytes. */
  maxRss: { tesseraSplit: number; tesseraWhole: number; ort: number; ortLoadOnly: number };
  runs: { tesseraSplit: number[]; tesseraWhole: number[]; ort: number[]; ortLoadOnly: number[] };
  /** onnxruntime whole / tessera run of the split plan (> 1: Tessera's process is smaller). */
  ratio: number;
  ratioWhole: number;
  /** Outputs of the measured runs against onnxruntime's (rtol/atol of `tessera run --check`). */
  outputs: { split: Comparison[]; whole: Comparison[]; ok: boolean };
  commands: { compile: string; tesseraSplit: string; tesseraWhole: string; ort: string };
}

export interface RssReport {
  method: string;
  runs: number;
  host: string;
  /** Peak RSS of the same commands on an 8-op model (what each process costs before activations). */
  floors: { tessera: number; ort: number };
  models: RssModelResult[];
}

const ROOT = resolve(import.meta.dirname, '../..');
const BIN = join(ROOT, 'bin/tessera.js');
const TIME = '/usr/bin/time';
const MB = (b: number) => (b / 1048576).toFixed(1);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const shell = (cmd: string[]) => cmd.map((c) => (/^[\w./=:-]+$/.test(c) ? c : `'${c}'`)).join(' ');

/** Peak RSS (bytes) of one process running `cmd` (a node command line); throws if it fails. */
function maxRss(cmd: string[], preload: string): number {
  if (existsSync(TIME)) {
    const r = spawnSync(TIME, ['-v', ...cmd], { encoding: 'utf8', maxBuffer: 64 << 20 });
    if (r.status !== 0) throw new Error(`${shell(cmd)} failed (${r.status}): ${r.stderr.trim().split('\n').slice(-5).join('\n')}`);
    const m = /Maximum resident set size \(kbytes\): (\d+)/.exec(r.stderr);
    if (!m) throw new Error(`${TIME} -v printed no maximum resident set size`);
    return Number(m[1]) * 1024;
  }
  const [node, ...rest] = cmd;
  const r = spawnSync(node, ['--import', pathToFileURL(preload).href, ...rest], { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`${shell(cmd)} failed (${r.status}): ${r.stderr.trim().split('\n').slice(-5).join('\n')}`);
  const m = /TESSERA_BENCH_MAXRSS (\d+)/.exec(r.stderr);
  if (!m) throw new Error(`${shell(cmd)}: no peak RSS printed`);
  return Number(m[1]) * 1024;
}

function tessera(args: string[]): void {
  execFileSync(process.execPath, [BIN, ...args], { stdio: 'ignore' });
}

interface Prepared {
  model: string;
  splitPlan: string;
  wholePlan: string;
  data: string;
  raw: string;
}

/** Writes the model, compiles both plans and writes the inputs (Tessera's seeded random feeds) for both processes. */
function prepare(dir: string, spec: NetSpec): Prepared {
  mkdirSync(dir, { recursive: true });
  const model = join(dir, `${spec.name}.onnx`);
  writeFileSync(model, toOnnx(spec));
  const splitPlan = join(dir, 'split.plan.json'), wholePlan = join(dir, 'whole.plan.json');
  tessera(['compile', model, '--target', 'host', '--split', 'memory', '--inplace', '--out', splitPlan]);
  tessera(['compile', model, '--target', 'host', '--out', wholePlan]);
  const graph = importOnnxFile(model);
  const feeds = randomFeeds(graph, resolveInputShapes(graph, {}));
  const data = join(dir, 'data'), raw = join(dir, 'raw');
  mkdirSync(data, { recursive: true });
  graph.inputs.forEach((name, i) => writeFileSync(join(data, `input_${i}.pb`), tensorFileBytes(weightFromTensor(feeds[name], name))));
  writeRawTensors(raw, feeds, graph.inputs);
  return { model, splitPlan, wholePlan, data, raw };
}

function compareOutputs(tesseraOut: string, ortOut: string): Comparison[] {
  const expected = readRawTensors(ortOut);
  return Object.keys(expected).map((name, i) => compareTensors(tensorFromWeight(readTensorFile(join(tesseraOut, `output_${i}.pb`))), expected[name], DEFAULT_TOLERANCE));
}

export async function measureRss(options: RssOptions = {}): Promise<RssReport> {
  const runs = options.runs ?? 3;
  const log = options.log ?? (() => undefined);
  const dir = options.dir ?? join(tmpdir(), 'tessera-bench-rss');
  mkdirSync(dir, { recursive: true });
  const ortScript = writeOrtWholeScript(dir);
  const preload = join(dir, 'maxrss.mjs');
  writeFileSync(preload, "process.on('exit', () => process.stderr.write(`\\nTESSERA_BENCH_MAXRSS ${process.resourceUsage().maxRSS}\\n`));\n");
  const node = process.execPath;
  const method = existsSync(TIME) ? `${TIME} -v "Maximum resident set size"` : 'process.resourceUsage().maxRSS at exit (no /usr/bin/time)';

  // floors: the same commands on an 8-op model
  const tiny = prepare(join(dir, 'floor'), randwire(8, { stages: 1, C: 4, H: 8 }));
  const floorT: number[] = [], floorO: number[] = [];
  for (let i = 0; i < runs; i++) {
    floorT.push(maxRss([node, BIN, 'run', tiny.model, '--plan', tiny.wholePlan, '--data', tiny.data], preload));
    floorO.push(maxRss([node, ortScript, tiny.model, tiny.raw], preload));
  }
  const floors = { tessera: median(floorT), ort: median(floorO) };
  log(`process floors (8-op model): tessera run ${MB(floors.tessera)} MB, onnxruntime ${MB(floors.ort)} MB`);

  const results: RssModelResult[] = [];
  for (const m of RSS_MODELS.filter((x) => !options.models || options.models.includes(x.key))) {
    const d = join(dir, m.key);
    const p = prepare(d, m.spec);
    const plan = JSON.parse(readFileSync(p.splitPlan, 'utf8')) as { partitions: unknown[]; memory: Record<string, { arenaBytes: number }>; orderSearch: { peakBytes: number; fileOrderPeakBytes: number } };
    const outSplit = join(d, 'out-split'), outWhole = join(d, 'out-whole'), outOrt = join(d, 'out-ort');
    const cmds = {
      tesseraSplit: [node, BIN, 'run', p.model, '--plan', p.splitPlan, '--data', p.data, '--out', outSplit],
      tesseraWhole: [node, BIN, 'run', p.model, '--plan', p.wholePlan, '--data', p.data, '--out', outWhole],
      ort: [node, ortScript, p.model, p.raw, outOrt],
      ortLoadOnly: [node, ortScript, p.model, p.raw, '--load-only'],
    };
    const r: RssModelResult['runs'] = { tesseraSplit: [], tesseraWhole: [], ort: [], ortLoadOnly: [] };
    for (let i = 0; i < runs; i++) for (const k of Object.keys(cmds) as (keyof typeof cmds)[]) r[k].push(maxRss(cmds[k], preload));
    const med = { tesseraSplit: median(r.tesseraSplit), tesseraWhole: median(r.tesseraWhole), ort: median(r.ort), ortLoadOnly: median(r.ortLoadOnly) };
    const split = compareOutputs(outSplit, outOrt), whole = compareOutputs(outWhole, outOrt);
    const res: RssModelResult = {
      model: m.spec.name, key: m.key, description: m.description, ops: m.spec.nodes.filter((n) => n.op !== 'Input').length,
      modelled: { fileOrderPeakBytes: plan.orderSearch.fileOrderPeakBytes, tesseraOrderPeakBytes: plan.orderSearch.peakBytes, arenaBytes: Object.values(plan.memory).reduce((a, x) => a + x.arenaBytes, 0), partitions: plan.partitions.length },
      maxRss: med, runs: r, ratio: med.ort / med.tesseraSplit, ratioWhole: med.ort / med.tesseraWhole,
      outputs: { split, whole, ok: [...split, ...whole].every((c) => c.ok) },
      commands: {
        compile: shell(['tessera', 'compile', p.model, '--target', 'host', '--split', 'memory', '--inplace', '--out', p.splitPlan]),
        tesseraSplit: `${TIME} -v ${shell(cmds.tesseraSplit)}`, tesseraWhole: `${TIME} -v ${shell(cmds.tesseraWhole)}`, ort: `${TIME} -v ${shell(cmds.ort)}`,
      },
    };
    results.push(res);
    for (const line of formatModel(res)) log(line);
  }
  return { method, runs, host: `${process.platform}-${process.arch}, node ${process.version}`, floors, models: results };
}

function formatModel(r: RssModelResult): string[] {
  const cmp = (cs: Comparison[]) => cs.map((c) => `max abs ${c.maxAbs.toExponential(2)} ${c.ok ? 'ok' : 'FAIL'}`).join(', ');
  return [
    `${r.model} (${r.key}; ${r.ops} ops): ${r.description}`,
    `  modelled activations: file order peak ${MB(r.modelled.fileOrderPeakBytes)} MB, Tessera's order ${MB(r.modelled.tesseraOrderPeakBytes)} MB, split plan ${r.modelled.partitions} partitions with a ${MB(r.modelled.arenaBytes)} MB arena`,
    `  tessera run, --split memory --inplace plan:  ${MB(r.maxRss.tesseraSplit)} MB   (runs ${r.runs.tesseraSplit.map(MB).join(', ')})`,
    `  tessera run, unsplit plan:                   ${MB(r.maxRss.tesseraWhole)} MB   (runs ${r.runs.tesseraWhole.map(MB).join(', ')})`,
    `  onnxruntime whole, default options:          ${MB(r.maxRss.ort)} MB   (runs ${r.runs.ort.map(MB).join(', ')}; creating the session alone ${MB(r.maxRss.ortLoadOnly)} MB)`,
    `  ratio onnxruntime / tessera: ${r.ratio.toFixed(2)} split (${r.ratio > 1 ? 'Tessera lower' : 'Tessera NOT lower'}), ${r.ratioWhole.toFixed(2)} unsplit`,
    `  outputs vs onnxruntime's: split ${cmp(r.outputs.split)}; unsplit ${cmp(r.outputs.whole)}`,
    `  commands: ${r.commands.compile}`,
    `            ${r.commands.tesseraSplit}`,
    `            ${r.commands.ort}`,
  ];
}

/** The report as printed by the standalone command. */
export function formatRss(report: RssReport): string {
  return [
    `peak resident memory, measured (${report.method}), median of ${report.runs} separate processes per figure; ${report.host}`,
    `process floors (the same commands on an 8-op model): tessera run ${MB(report.floors.tessera)} MB, onnxruntime ${MB(report.floors.ort)} MB`,
    ...report.models.flatMap((m) => ['', ...formatModel(m)]),
  ].join('\n');
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const args = process.argv.slice(2);
  const opt = (k: string) => (args.includes(k) ? args[args.indexOf(k) + 1] : undefined);
  const model = opt('--model') ?? 'all';
  const report = await measureRss({ runs: Number(opt('--runs') ?? 3), models: model === 'all' ? undefined : model.split(',') });
  console.log(`# npx tsx bench/memory/rss.ts${args.length ? ` ${args.join(' ')}` : ''}`);
  console.log(formatRss(report));
  const json = opt('--json');
  if (json) writeFileSync(json, `${JSON.stringify(report, null, 1)}\n`);
}
