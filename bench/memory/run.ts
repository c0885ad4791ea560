/**
 * Memory benchmark: one command, one run, side by side on the same graphs.
 *   npx tsx bench/memory/run.ts [--json bench/memory/results.json] [--budget-ms 2000] [--quick] [--no-rss] [--no-scale]
 * The generated conv nets run twice: as generated (1x1 convs) and with every conv 3x3 (suffix -k3), where
 * spatial tiling has halo rows to recompute: the 1x1 nets flatter tiling, the 3x3 ones say by how much.
 *
 * Per graph (all activations in one memory, float32, 64-byte aligned; weights and folded values not counted):
 *   A  the file's node order with onnxruntime-style reuse (a freed buffer is reused only by a tensor of
 *      exactly its size; elementwise ops write in place, as onnxruntime's MayInplace kernels do)
 *   B  the file's node order with TFLite's greedy-by-size offsets (best fit, no in-place)
 *   T  Tessera: the memory-aware order (order-search.ts) and the best of the offset registry, in place,
 *      on the graph as given or after the memory rewrites (rewrite.ts: Sum → chain of Adds, Conv over a
 *      Concat → per-part Convs summed; then spatial tiling, tile.ts), whichever is smallest
 *   T without tiling: the same with the first two rewrites only (the figure before spatial tiling). The
 *      generated conv nets are 1x1 convs, 2x2 pools and 2x2 upsampling (NASNet cells add 3x3 max pools):
 *      tiles need almost no halo rows there, which flatters tiling against real k×k networks
 *   peak of T's order, a lower bound (largest node working set with what is alive through it), the exact
 *   optimum where the search proved it, bytes beyond an 8 MB on-chip memory (snapdragon's VTCM) for B and
 *   T, and the time of ordering + offsets (measured here). All arena figures are computed by the planners
 *   (modelled memory), not measured; the RSS section at the end is measured.
 */
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ortProber } from '../../src/backends/ort.js';
import type { Graph } from '../../src/ir/graph.js';
import { inferShapes, valueByteSize, type ShapedGraph } from '../../src/ir/infer.js';
import { importOnnx, readModelFile } from '../../src/ir/onnx-import.js';
import { inplaceCandidates } from '../../src/ir/ops/traits.js';
import { fileOrder, lifetimesOf, makeProblem, nodeLowerBound, simulate, type MemProblem, type MemValue } from '../../src/passes/memory-graph.js';
import { exactSizeReuse, placeBest, placeInSequence, ALGORITHMS, type Interval } from '../../src/passes/memory-offsets.js';
import { orderForMemory } from '../../src/passes/order-search.js';
import { rewriteForMemory } from '../../src/passes/rewrite.js';
import { staticInfo } from '../../src/ir/static.js';
import { nasCells, randwire, toOnnx, toProblem, transformer, unet, type NetSpec } from './generate.js';
import { formatRss, measureRss, type RssReport } from './rss.js';

const args = process.argv.slice(2);
const opt = (k: string) => (args.includes(k) ? args[args.indexOf(k) + 1] : undefined);
const jsonOut = opt('--json') ?? join(import.meta.dirname, 'results.json');
const budgetMs = Number(opt('--budget-ms') ?? 2000);
const quick = args.includes('--quick');
const CORPUS = join(import.meta.dirname, '../../../shared/corpus');
const ON_CHIP = 8 * 1024 * 1024;
const align = (n: number) => Math.ceil(n / 64) * 64;

const SHAPES: Record<string, Record<string, number[]>> = {
  'ppocr-v4-det': { x: [1, 3, 640, 640] },
  'ppocr-v4-rec': { x: [1, 3, 48, 320] },
  'silero-vad-v5': { input: [1, 576] },
  'silero-vad-op18-ifless': { input: [1, 576] },
  'silero-vad-v4-legacy': { input: [1, 512] },
};

/** A model's run-time activations as one ordering problem (file order = the ONNX node list). */
function graphProblem(graph: ShapedGraph): MemProblem {
  const st = staticInfo(graph);
  const idx = new Int32Array(graph.nodes.length).fill(-1);
  const nodes: number[] = [];
  for (const node of graph.nodes) if (!st.folded.has(node.index)) idx[node.index] = nodes.push(node.index) - 1;
  const values: MemValue[] = [];
  const id = new Map<string, number>();
  const outputs = new Set(graph.outputs);
  const add = (name: string, producer: number) => {
    if (id.has(name) || st.isStatic(name)) return;
    const v = graph.values.get(name)!;
    id.set(name, values.length);
    values.push({ bytes: align(valueByteSize(v)), producer, consumers: [...new Set(st.runtimeConsumers(name).map((c) => idx[c]).filter((c) => c >= 0))], keep: outputs.has(name), name });
  };
  for (const name of graph.inputs) add(name, -1);
  for (const i of nodes) for (const o of graph.nodes[i].outputs) if (o) add(o, idx[i]);
  // run-time nodes reading through folded nodes wait for the run-time nodes those read
  const extra: [number, number][] = [];
  const inplace = nodes.map((i) => {
    const node = graph.nodes[i];
    const outs = node.outputs.filter((o) => o !== '');
    const y = outs.length === 1 ? id.get(outs[0]) : undefined;
    if (y === undefined) return [];
    return inplaceCandidates(node.op, node.inputs).map((n) => id.get(n)).filter((x): x is number => x !== undefined && values[x].bytes === values[y].bytes);
  });
  const p = makeProblem(nodes.length, values, inplace, extra);
  p.rank = nodes.slice();
  return p;
}

function spill(items: readonly Interval[], offsets: readonly number[]): number {
  let s = 0;
  items.forEach((it, i) => (s += Math.max(0, offsets[i] + it.bytes - Math.max(offsets[i], ON_CHIP))));
  return s;
}

interface Row {
  graph: string;
  family: string;
  nodes: number;
  A: number;
  B: number;
  T: number;
  /** Tessera's order and offsets with in-place writes off (what ordering alone gives against B). */
  Tnoip: number;
  tessPeak: number;
  filePeak: number;
  lowerBound: number;
  optimum: number | null;
  segments: string;
  spillB: number;
  spillT: number;
  /** The memory rewrites applied (counts), and whether T is the rewritten graph's. */
  rewrites: string;
  /** T without spatial tiling (the graph as given or after sum-chain / concat-conv). */
  TnoTile: number;
  /** Regions tiled, and whether T is the tiled graph's. */
  tiles: string;
  /** Time of the spatial tiling search (its planner runs), measured. */
  tileMs: number;
  algorithm: string;
  ms: number;
}

interface Variants {
  rewritten?: { problem: MemProblem; applied: string };
  /** After all three rewrites (problem null when no region was tiled), and the time of the rewrite call. */
  tiled?: { problem: MemProblem | null; regions: number; ms: number };
}

function measure(name: string, family: string, p: MemProblem, { rewritten, tiled }: Variants = {}, budget = budgetMs): Row {
  const fo = fileOrder(p);
  const noInplace: MemProblem = { ...p, inplace: p.inplace.map(() => []) };
  const lfA = lifetimesOf(p, fo);
  const lfB = lifetimesOf(noInplace, fo);
  const A = exactSizeReuse(lfA.groups).arena;
  const bySize = ALGORITHMS.find((a) => a.name === 'greedy-by-size')!;
  const offB = placeInSequence(lfB.groups, bySize.sequence(lfB.groups), 'best');
  const B = Math.max(0, ...lfB.groups.map((g, i) => offB[i] + g.bytes));
  const t0 = performance.now();
  const tessera = (q: MemProblem) => {
    const r = orderForMemory(q, { budgetMs: budget });
    const lt = lifetimesOf(q, r.order);
    return { r, lt, placed: placeBest(lt.groups) };
  };
  const plain = tessera(p);
  const rw = rewritten && tessera(rewritten.problem);
  const useRw = !!rw && rw.placed.arena < plain.placed.arena;
  const noTile = useRw ? rw : plain;
  const tl = tiled?.problem ? tessera(tiled.problem) : undefined;
  const useTile = !!tl && tl.placed.arena < noTile.placed.arena;
  const { r, lt, placed } = useTile ? tl : noTile;
  const ms = performance.now() - t0;
  const T = placed.arena;
  const problemOfT = useTile ? tiled!.problem! : useRw ? rewritten!.problem : p;
  const rn = orderForMemory(noInplace, { budgetMs: budget });
  const Tnoip = placeBest(lifetimesOf(noInplace, rn.order).groups).arena;
  return {
    graph: name, family, nodes: p.n, A, B, T, Tnoip,
    tessPeak: r.peak, filePeak: simulate(noInplace, fo).peak,
    // the exact optimum, where the search proved it, is itself the best lower bound (of the graph T ran on)
    lowerBound: Math.max(r.lowerBound, nodeLowerBound(problemOfT), r.exact ? r.peak : 0), optimum: r.exact ? r.peak : null,
    rewrites: rewritten ? `${rewritten.applied}${useRw ? '' : ' (not smaller: unused)'}` : '-',
    TnoTile: noTile.placed.arena, tiles: tiled ? `${tiled.regions}${tiled.regions && !useTile ? ' (not smaller: unused)' : ''}` : '-', tileMs: tiled?.ms ?? 0,
    segments: `${r.exactSegments}/${r.segments} (widest ${r.widest})`,
    spillB: spill(lfB.groups, offB), spillT: spill(lt.groups, placed.offsets),
    algorithm: placed.algorithm, ms,
  };
}

const MB = (b: number) => (b / 1048576).toFixed(2);
const geo = (xs: number[]) => Math.exp(xs.reduce((a, x) => a + Math.log(x), 0) / Math.max(1, xs.length));

const rows: Row[] = [];
console.log(`# npx tsx bench/memory/run.ts${args.length ? ` ${args.join(' ')}` : ''}`);
console.log(`order budget ${budgetMs} ms (counted as work); arenas in MB (modelled by the planners), time measured on this machine\n`);
const header = '| graph | nodes | A: file+exact-size | B: file+greedy-size | Tessera | B/T | A/T | rewrites (sum-chain, concat-conv) | regions tiled | Tessera without tiling | B/that | Tessera order+offsets alone | B/that | T order peak | lower bound (node working set, or the optimum where proven) | exact optimum | segments exact | spill >8MB B / T | ms order+offsets | ms tiling search |';
console.log(header);
console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
const print = (r: Row) => console.log(`| ${r.graph} | ${r.nodes} | ${MB(r.A)} | ${MB(r.B)} | ${MB(r.T)} | ${(r.B / r.T).toFixed(2)} | ${(r.A / r.T).toFixed(2)} | ${r.rewrites} | ${r.tiles} | ${MB(r.TnoTile)} | ${(r.B / r.TnoTile).toFixed(2)} | ${MB(r.Tnoip)} | ${(r.B / r.Tnoip).toFixed(2)} | ${MB(r.tessPeak)} | ${MB(r.lowerBound)} | ${r.optimum === null ? '-' : MB(r.optimum)} | ${r.segments} | ${MB(r.spillB)} / ${MB(r.spillT)} | ${r.ms.toFixed(0)} | ${r.tileMs.toFixed(0)} |`);

/** The graph's problem, the rewritten graph's when sum-chain / concat-conv apply, and the tiled graph's (all three rewrites) when tiling applies. */
async function problems(graph: ShapedGraph): Promise<[MemProblem, Variants]> {
  const reshape = (g: Graph) => inferShapes(g, { inputShapes: graph.inputShapes, prober: ortProber });
  const variants: Variants = {};
  const { graph: g2, applied } = rewriteForMemory(graph, ['sum-chain', 'concat-conv']);
  if (applied['sum-chain'] + applied['concat-conv'] > 0) variants.rewritten = { problem: graphProblem(await reshape(g2)), applied: `${applied['sum-chain']}, ${applied['concat-conv']}` };
  const t0 = performance.now();
  const all = rewriteForMemory(graph);
  const ms = performance.now() - t0;
  variants.tiled = { problem: all.applied['spatial-tile'] > 0 ? graphProblem(await reshape(all.graph)) : null, regions: all.applied['spatial-tile'], ms };
  return [graphProblem(graph), variants];
}

// corpus models
const models = [
  ...readdirSync(join(CORPUS, 'models')).filter((f) => f.endsWith('.onnx')).map((f) => join(CORPUS, 'models', f)),
  ...readdirSync(join(CORPUS, 'onnx-node/light')).filter((f) => f.endsWith('.onnx')).map((f) => join(CORPUS, 'onnx-node/light', f)),
];
for (const path of quick ? models.slice(0, 3) : models) {
  const name = path.split('/').pop()!.replace('.onnx', '');
  const graph = await inferShapes(importOnnx(readModelFile(path), { path }), { inputShapes: SHAPES[name] ?? {}, prober: ortProber });
  const r = measure(name, 'corpus', ...(await problems(graph)));
  rows.push(r);
  print(r);
}
// generated irregular networks, several sizes each
const gen: NetSpec[] = [
  randwire(8, { seed: 1 }), randwire(16, { seed: 1 }), randwire(16, { seed: 2 }), randwire(32, { seed: 1 }), randwire(32, { seed: 2 }),
  nasCells(4), nasCells(8, { seed: 2 }), nasCells(14, { seed: 3 }),
  unet(3), unet(4), unet(5, { H: 256 }),
  transformer(2), transformer(6), transformer(12, { T: 256 }),
];
for (const spec of quick ? gen.slice(0, 4) : gen) {
  // the conv kinds as real ONNX graphs (so the rewrites apply to them as to any model); transformers as problems
  const r = spec.family === 'transformer'
    ? measure(spec.name, spec.family, toProblem(spec))
    : measure(spec.name, spec.family, ...(await problems(await inferShapes(importOnnx(toOnnx(spec)), { prober: ortProber }))));
  rows.push(r);
  print(r);
}
// the same conv nets with 3x3 convs
for (const spec of (quick ? gen.slice(0, 4) : gen).filter((s) => s.family !== 'transformer')) {
  const r = measure(`${spec.name}-k3`, spec.family, ...(await problems(await inferShapes(importOnnx(toOnnx(spec, { kernel: 3 })), { prober: ortProber }))));
  rows.push(r);
  print(r);
}
const k3 = (r: Row) => r.graph.endsWith('-k3');
/** The generated nets as generated (1x1 convs), and with 3x3 convs (the transformers, which have no convs, in both). */
const generated = rows.filter((r) => r.family !== 'corpus' && !k3(r));
const generated3 = rows.filter((r) => r.family === 'transformer' || k3(r));
const corpus = rows.filter((r) => r.family === 'corpus');
console.log(`\ngeometric mean B/T without in-place (ordering and offsets alone): generated ${geo(generated.map((r) => r.B / r.Tnoip)).toFixed(3)}, corpus ${geo(corpus.map((r) => r.B / r.Tnoip)).toFixed(3)}`);
console.log(`geometric mean B/T without tiling (sum-chain, concat-conv only): generated ${geo(generated.map((r) => r.B / r.TnoTile)).toFixed(3)}, corpus ${geo(corpus.map((r) => r.B / r.TnoTile)).toFixed(3)}`);
console.log(`geometric mean B/T: generated ${geo(generated.map((r) => r.B / r.T)).toFixed(3)}, corpus ${geo(corpus.map((r) => r.B / r.T)).toFixed(3)}; A/T: generated ${geo(generated.map((r) => r.A / r.T)).toFixed(3)}, corpus ${geo(corpus.map((r) => r.A / r.T)).toFixed(3)}`);
for (const fam of [...new Set(generated.map((r) => r.family))]) {
  const f = generated.filter((r) => r.family === fam);
  console.log(`  ${fam}: B/T ${geo(f.map((r) => r.B / r.T)).toFixed(3)} (without tiling ${geo(f.map((r) => r.B / r.TnoTile)).toFixed(3)})`);
}
console.log(`geometric mean B/T, generated nets with 3x3 convs: ${geo(generated3.map((r) => r.B / r.T)).toFixed(3)} (without tiling ${geo(generated3.map((r) => r.B / r.TnoTile)).toFixed(3)})`);
for (const fam of [...new Set(generated3.filter(k3).map((r) => r.family))]) {
  const f = generated3.filter((r) => r.family === fam);
  console.log(`  ${fam} 3x3: B/T ${geo(f.map((r) => r.B / r.T)).toFixed(3)} (without tiling ${geo(f.map((r) => r.B / r.TnoTile)).toFixed(3)})`);
}
console.log(`T larger than B on: ${rows.filter((r) => r.T > r.B).map((r) => r.graph).join(', ') || 'no graph'}`);
console.log(`tiling search (measured): total ${(rows.reduce((a, r) => a + r.tileMs, 0) / 1000).toFixed(1)} s, largest ${Math.max(...rows.map((r) => r.tileMs)).toFixed(0)} ms (${rows.reduce((a, r) => (r.tileMs > a.tileMs ? r : a)).graph})`);
const withOpt = rows.filter((r) => r.optimum !== null);
console.log(`exact optimum proven on ${withOpt.length}/${rows.length} graphs; Tessera's order peak equals it on ${withOpt.filter((r) => r.tessPeak === r.optimum).length}`);
console.log(`peak within 10% of the lower bound: ${corpus.filter((r) => r.tessPeak <= 1.1 * r.lowerBound).length}/${corpus.length} corpus models; above: ${corpus.filter((r) => r.tessPeak > 1.1 * r.lowerBound).map((r) => `${r.graph} ${(r.tessPeak / r.lowerBound).toFixed(2)}x`).join(', ') || 'none'}`);

// compile time at scale
const scale: { graph: string; nodes: number; ms: number; orderMs: number; peakRatio: number }[] = [];
if (!args.includes('--no-scale')) {
  console.log('\n| scale graph | nodes | order + offsets (ms, measured) | order search (ms) | B/T |');
  console.log('|---|---|---|---|---|');
  const big: NetSpec[] = [randwire(32, { stages: 121, C: 8, H: 32, seed: 3 }), transformer(715, { T: 64, D: 64 }), randwire(32, { stages: 1205, C: 8, H: 32, seed: 4 }), transformer(7143, { T: 64, D: 64 })];
  for (const spec of quick ? big.slice(0, 2) : big) {
    const p = toProblem(spec);
    const r = measure(spec.name, spec.family, p);
    const orderMs = orderForMemory(p, { budgetMs }).ms;
    scale.push({ graph: spec.name, nodes: p.n, ms: r.ms, orderMs, peakRatio: r.B / r.T });
    console.log(`| ${spec.name} | ${p.n} | ${r.ms.toFixed(0)} | ${orderMs.toFixed(0)} | ${(r.B / r.T).toFixed(2)} |`);
  }
}

// peak resident memory of a process: tessera run of large-activation generated models vs onnxruntime running them whole (bench/memory/rss.ts)
let rss: RssReport | undefined;
if (!args.includes('--no-rss')) {
  console.log('');
  rss = await measureRss({ runs: 3, log: console.log });
  console.log(formatRss(rss));
}

writeFileSync(jsonOut, `${JSON.stringify({ command: `npx tsx bench/memory/run.ts${args.length ? ` ${args.join(' ')}` : ''}`, budgetMs, rows, scale, rss, geomean: { generatedBTnoInplace: geo(generated.map((r) => r.B / r.Tnoip)), corpusBTnoInplace: geo(corpus.map((r) => r.B / r.Tnoip)), generatedBT: geo(generated.map((r) => r.B / r.T)), generatedBTnoTile: geo(generated.map((r) => r.B / r.TnoTile)), generated3x3BT: geo(generated3.map((r) => r.B / r.T)), generated3x3BTnoTile: geo(generated3.map((r) => r.B / r.TnoTile)), corpusBTnoTile: geo(corpus.map((r) => r.B / r.TnoTile)), corpusBT: geo(corpus.map((r) => r.B / r.T)), generatedAT: geo(generated.map((r) => r.A / r.T)), corpusAT: geo(corpus.map((r) => r.A / r.T)) } }, null, 1)}\n`);
console.log(`\nwritten: ${jsonOut}`);
