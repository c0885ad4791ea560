/**
 * Shared by the passes/scheduler/targets tests: the corpus (../shared/corpus, read in place, never
 * copied), reference runs on onnxruntime-node directly, hand-made targets, small builder models, and
 * checks written independently of src/ (they recompute what a plan must satisfy from the graph itself).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { measureRanges, ortProber } from '../../src/backends/ort.js';
import type { Tensor, TensorMap } from '../../src/backends/tensor.js';
import type { DType } from '../../src/ir/dtype.js';
import type { Graph, Node } from '../../src/ir/graph.js';
import { inferShapes, type ShapedGraph } from '../../src/ir/infer.js';
import { feedsFor as corpusFeeds, runOrt, shapesOf } from '../ir/corpus.js';
import { importOnnx } from '../../src/ir/onnx-import.js';
import { compilePlan } from '../../src/compiler/pipeline.js';
import type { Plan, PlanStep } from '../../src/plan/schema.js';
import { parseTarget } from '../../src/targets/index.js';
import type { Target } from '../../src/targets/schema.js';
import { makeContext } from '../../src/passes/context.js';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url)).replace(/\/$/, '');
export const CORPUS = join(ROOT, '../shared/corpus');

export interface ModelCase {
  /** File name without `.onnx`. */
  name: string;
  path: string;
  kind: 'npm' | 'light';
  /** Concrete input shapes (inputs not listed: declared shape, symbolic dims = 1). */
  shapes: Record<string, number[]>;
}

/** Shapes a real caller feeds; silero's STFT front end needs a real audio chunk. */
const SHAPES: Record<string, Record<string, number[]>> = {
  'silero-vad-v5': { input: [1, 576] },
  'silero-vad-op18-ifless': { input: [1, 576] },
  'silero-vad-v4-legacy': { input: [1, 512] },
  'ppocr-v4-det': { x: [1, 3, 320, 320] },
  'ppocr-v4-rec': { x: [1, 3, 48, 320] },
};

/** Every model of ../shared/corpus/models and ../shared/corpus/onnx-node/light. */
export function corpusCases(): ModelCase[] {
  const out: ModelCase[] = [];
  for (const [dir, kind] of [[join(CORPUS, 'models'), 'npm'], [join(CORPUS, 'onnx-node/light'), 'light']] as const) {
    for (const f of readdirSync(dir).filter((f) => f.endsWith('.onnx')).sort()) {
      const name = f.slice(0, -5);
      out.push({ name, path: join(dir, f), kind, shapes: SHAPES[name] ?? {} });
    }
  }
  return out;
}

/** Input data for a corpus case (see tests/ir/corpus.ts: silero's rate and state, arange for light models, seeded noise otherwise). */
export function feedsFor(graph: Graph, m: ModelCase): TensorMap {
  return corpusFeeds(graph, m, m.shapes);
}

export { runOrt, shapesOf };

export interface Loaded {
  bytes: Uint8Array;
  graph: ShapedGraph;
  feeds: TensorMap;
}

/** Reads, imports and shapes a corpus model with its feeds (the probe run gets the real feeds). */
export async function loadCase(m: ModelCase): Promise<Loaded> {
  const bytes = new Uint8Array(readFileSync(m.path));
  const g = importOnnx(bytes, { path: m.path });
  const feeds = feedsFor(g, m);
  const graph = await inferShapes(g, { inputShapes: shapesOf(feeds), prober: ortProber, feeds });
  return { bytes, graph, feeds };
}

/** Imports and shapes model bytes made in code. */
export async function shapeBytes(bytes: Uint8Array, inputShapes?: Record<string, number[]>, feeds?: TensorMap): Promise<ShapedGraph> {
  return inferShapes(importOnnx(bytes), { inputShapes, prober: ortProber, feeds });
}

/** Whether a processor of the target stores float32 as something else (then a calibration run is needed). */
export function legalizes(target: Target): boolean {
  return target.processors.some((p) => p.support.legalizeFloat32To !== undefined && !p.support.dtypes.includes('float32'));
}

/** Compile only, as Session.create does: calibration ranges when a processor legalizes float32. */
export async function compileFor(l: Loaded, target: Target, file: string): Promise<Plan> {
  const ranges = legalizes(target) ? await measureRanges(l.graph, l.feeds) : undefined;
  return compilePlan(makeContext(l.graph, target, { ranges }), { modelBytes: l.bytes, modelFile: file });
}

// ---------------------------------------------------------------------------------------------
// Hand-made targets

export interface ProcSpec {
  id: string;
  kind: 'cpu' | 'gpu' | 'npu';
  ops: '*' | string[];
  backend?: string;
  dtypes?: DType[];
  legalizeFloat32To?: DType;
  gflops?: number;
  bandwidthGBs?: number;
  launchUs?: number;
  controlFlow?: boolean;
  dynamicShapes?: boolean;
  maxRank?: number;
}

const ALL_DTYPES: DType[] = ['float32', 'float16', 'float64', 'int8', 'uint8', 'int16', 'uint16', 'int32', 'uint32', 'int64', 'uint64', 'bool', 'string'];
const fig = (value: number) => ({ value, source: 'test figure' });

/** Target JSON (unparsed) from short specs; every pair of processors linked. */
export function targetJson(name: string, procs: ProcSpec[], link = { bandwidthGBs: 100, latencyUs: 1 }): Record<string, unknown> {
  const processors = procs.map((p) => {
    const dtypes = p.dtypes ?? (p.legalizeFloat32To ? ['float16', 'int16', 'int8'] : ALL_DTYPES);
    const peak = p.legalizeFloat32To ? { float16: fig(p.gflops ?? 100) } : { float32: fig(p.gflops ?? 100) };
    return {
      id: p.id, kind: p.kind, name: `${p.kind} ${p.id}`, backend: p.backend ?? (p.kind === 'cpu' ? 'ort:cpu' : p.kind === 'gpu' ? 'ort:webgpu' : 'npu'),
      peakGflops: peak, bandwidthGBs: fig(p.bandwidthGBs ?? 10), launchOverheadUs: fig(p.launchUs ?? 1),
      support: {
        ops: p.ops, dtypes, ...(p.legalizeFloat32To ? { legalizeFloat32To: p.legalizeFloat32To } : {}), ...(p.maxRank ? { maxRank: p.maxRank } : {}),
        controlFlow: p.controlFlow ?? p.kind === 'cpu', dynamicShapes: p.dynamicShapes ?? p.kind === 'cpu', rejectAttributes: [],
      },
    };
  });
  const links = [];
  for (let i = 0; i < procs.length; i++) {
    for (let j = i + 1; j < procs.length; j++) links.push({ from: procs[i].id, to: procs[j].id, bandwidthGBs: fig(link.bandwidthGBs), latencyUs: fig(link.latencyUs) });
  }
  return { format: 'tessera.target', version: 1, name, description: `test target ${name}`, processors, links };
}

export function makeTarget(name: string, procs: ProcSpec[], link?: { bandwidthGBs: number; latencyUs: number }): Target {
  return parseTarget(targetJson(name, procs, link), `test target ${name}`);
}

// ---------------------------------------------------------------------------------------------
// Independent checks (recomputed from the graph, not through src/passes or src/scheduler/verify)

/** A value fixed at compile time: a weight, or a value inference folded (never a graph input). */
export function isStaticValue(graph: ShapedGraph, name: string): boolean {
  const v = graph.values.get(name);
  return !!v && v.role !== 'input' && (v.isConst || graph.known.has(name));
}

/** The values a node reads at run time: explicit and implicit (subgraph) inputs that are not static. */
export function runtimeReadsOf(graph: ShapedGraph, node: Node): string[] {
  const names = new Set<string>();
  for (const n of [...node.inputs, ...node.implicitInputs]) if (n !== '' && !isStaticValue(graph, n)) names.add(n);
  return [...names];
}

/** Problems with `order` as a topological order of every node (all edges, static ones too). */
export function orderProblems(graph: Graph, order: readonly number[]): string[] {
  const problems: string[] = [];
  const n = graph.nodes.length;
  if (order.length !== n) problems.push(`order has ${order.length} entries for ${n} nodes`);
  const pos = new Map<number, number>();
  order.forEach((x, i) => {
    if (pos.has(x)) problems.push(`node ${x} twice`);
    pos.set(x, i);
  });
  for (const node of graph.nodes) {
    const me = pos.get(node.index);
    if (me === undefined) {
      problems.push(`node ${node.index} missing`);
      continue;
    }
    for (const r of [...node.inputs, ...node.implicitInputs]) {
      const p = r ? graph.values.get(r)?.producer ?? -1 : -1;
      if (p >= 0 && (pos.get(p) ?? Infinity) > me) problems.push(`node ${node.index} before its producer ${p}`);
    }
  }
  return problems;
}

/** A cycle among partitions contracted over run-time edges (list of partition ids), or null. */
export function contractedCycle(graph: ShapedGraph, partitionOf: readonly number[], folded: (i: number) => boolean, partitions: number): number[] | null {
  const succ = Array.from({ length: partitions }, () => new Set<number>());
  for (const node of graph.nodes) {
    if (folded(node.index)) continue;
    for (const r of runtimeReadsOf(graph, node)) {
      const p = graph.values.get(r)!.producer;
      if (p >= 0 && partitionOf[p] !== partitionOf[node.index]) succ[partitionOf[p]].add(partitionOf[node.index]);
    }
  }
  const color = new Array<number>(partitions).fill(0);
  const stack: number[] = [];
  let cycle: number[] | null = null;
  const dfs = (u: number): boolean => {
    color[u] = 1;
    stack.push(u);
    for (const v of succ[u]) {
      if (color[v] === 1) {
        cycle = [...stack.slice(stack.indexOf(v)), v];
        return true;
      }
      if (color[v] === 0 && dfs(v)) return true;
    }
    stack.pop();
    color[u] = 2;
    return false;
  };
  for (let u = 0; u < partitions; u++) if (color[u] === 0 && dfs(u)) return cycle;
  return null;
}

/**
 * The values crossing each partition's boundary: inputs are run-time values its run-time nodes read
 * that no run-time node of the same partition produces; outputs are values its run-time nodes produce
 * that a run-time node of another partition reads, or that are graph outputs.
 */
export function crossingValues(graph: ShapedGraph, partitionOf: readonly number[], folded: (i: number) => boolean, partitions: number): { inputs: Set<string>[]; outputs: Set<string>[] } {
  const inputs = Array.from({ length: partitions }, () => new Set<string>());
  const outputs = Array.from({ length: partitions }, () => new Set<string>());
  const graphOutputs = new Set(graph.outputs);
  for (const node of graph.nodes) {
    if (folded(node.index)) continue;
    const me = partitionOf[node.index];
    for (const r of runtimeReadsOf(graph, node)) {
      const p = graph.values.get(r)!.producer;
      if (p < 0 || folded(p) || partitionOf[p] !== me) inputs[me].add(r);
      if (p >= 0 && !folded(p) && partitionOf[p] !== me) outputs[partitionOf[p]].add(r);
    }
    for (const o of node.outputs) if (o && graphOutputs.has(o)) outputs[me].add(o);
  }
  return { inputs, outputs };
}

export interface Placed {
  value: string;
  bytes: number;
  offset: number;
  start: number;
  end: number;
}

/** Pairs of buffers alive at a common position whose byte ranges intersect (both non-empty). */
export function overlappingPairs(buffers: readonly Placed[]): [Placed, Placed][] {
  const out: [Placed, Placed][] = [];
  for (let i = 0; i < buffers.length; i++) {
    const a = buffers[i];
    if (a.bytes === 0) continue;
    for (let j = i + 1; j < buffers.length; j++) {
      const b = buffers[j];
      if (b.bytes === 0) continue;
      const together = a.start <= b.end && b.start <= a.end;
      const intersect = a.offset < b.offset + b.bytes && b.offset < a.offset + a.bytes;
      if (together && intersect) out.push([a, b]);
    }
  }
  return out;
}

/** Largest sum of alive bytes over positions 0..last, by brute force. */
export function brutePeak(buffers: readonly { bytes: number; start: number; end: number }[], last: number): number {
  let peak = 0;
  for (let p = 0; p <= last; p++) {
    let sum = 0;
    for (const b of buffers) if (b.start <= p && p <= b.end) sum += b.bytes;
    peak = Math.max(peak, sum);
  }
  return peak;
}

// ---------------------------------------------------------------------------------------------
// float16 by hand (round to nearest even), so tests do not lean on src/ir/tensor-data

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

export function toHalfBits(x: number): number {
  f32[0] = x;
  const u = u32[0];
  const sign = (u >>> 16) & 0x8000;
  const e = (u >>> 23) & 0xff;
  let m = u & 0x7fffff;
  if (e === 0xff) return sign | 0x7c00 | (m ? 0x200 : 0);
  const exp = e - 127 + 15;
  if (exp >= 0x1f) return sign | 0x7c00;
  if (exp <= 0) {
    if (exp < -10) return sign;
    m |= 0x800000;
    const shift = 14 - exp;
    let h = m >>> shift;
    const rem = m & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && h & 1)) h++;
    return sign | h;
  }
  let h = (exp << 10) | (m >>> 13);
  const rem = m & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++;
  return sign | h;
}

export function fromHalfBits(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/** Flattened numbers of a numeric tensor (float16 decoded by hand). */
export function valuesOf(t: Tensor): number[] {
  if (t.type === 'float16') return Array.from(t.data as Uint16Array, fromHalfBits);
  return Array.from(t.data as ArrayLike<number | bigint>, Number);
}

export function cosine(a: readonly number[], b: readonly number[]): number {
  let dot = 0, na = 0, nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  return na === 0 && nb === 0 ? 1 : dot / Math.sqrt(na * nb);
}

/** Deterministic values in [-1, 1) (an LCG independent of src's rng). */
export function lcgValues(n: number, seed: number): Float32Array<ArrayBuffer> {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  });
}

/** A seeded PRNG in [0, 1) for generated cases. */
export function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 16), 0x85ebca6b);
    t = Math.imul(t ^ (t >>> 13), 0xc2b2ae35);
    return ((t ^ (t >>> 16)) >>> 0) / 4294967296;
  };
}

// ---------------------------------------------------------------------------------------------
// Schedule checks on a plan (independent of src/scheduler/verify)

/**
 * Problems with a plan's steps: one compute step per partition on its processor's lane; every
 * partition input living in another memory arrives by a transfer step from its home memory that the
 * compute step waits for (and that waits for the producer); graph outputs made off the host are
 * transferred to it; each step starts after the steps it waits on end; steps on one lane never overlap;
 * the predicted latency is the last end.
 */
export function scheduleProblems(plan: Plan, graph: ShapedGraph, host = 'cpu'): string[] {
  const out: string[] = [];
  const steps = plan.steps;
  const computeOf = new Map<number, number>();
  steps.forEach((s, i) => {
    for (const a of s.after) {
      if (a >= i) out.push(`step ${i} waits on later step ${a}`);
      else if (steps[a].endUs > s.startUs + 1e-6) out.push(`step ${i} starts ${s.startUs} before step ${a} ends ${steps[a].endUs}`);
    }
    if (!(s.endUs >= s.startUs)) out.push(`step ${i} ends before it starts`);
    if (s.kind === 'compute') {
      if (computeOf.has(s.partition)) out.push(`partition ${s.partition} computed twice`);
      computeOf.set(s.partition, i);
      if (s.lane !== plan.partitions[s.partition]?.processor) out.push(`compute step ${i} on lane ${s.lane}, partition on ${plan.partitions[s.partition]?.processor}`);
    } else if (s.from === s.to) out.push(`step ${i} transfers '${s.value}' to its own memory`);
  });
  plan.partitions.forEach((p) => {
    if (!computeOf.has(p.id)) out.push(`partition ${p.id} has no compute step`);
  });
  // home of a value: the processor of its producer; graph inputs live on the host
  const home = (v: string) => {
    const prod = graph.values.get(v)!.producer;
    return prod < 0 ? host : plan.nodes[prod].processor;
  };
  const computeProducing = (v: string) => {
    const prod = graph.values.get(v)!.producer;
    return prod < 0 ? undefined : computeOf.get(plan.nodes[prod].partition);
  };
  const transfers = steps.map((s, i) => [s, i] as const).filter(([s]) => s.kind === 'transfer');
  const seen = new Set<string>();
  for (const [s] of transfers) {
    if (s.kind !== 'transfer') continue;
    const k = `${s.value}->${s.to}`;
    if (seen.has(k)) out.push(`'${s.value}' transferred to ${s.to} twice`);
    seen.add(k);
  }
  const transferOf = (v: string, to: string) => transfers.find(([s]) => s.kind === 'transfer' && s.value === v && s.to === to);
  for (const p of plan.partitions) {
    const c = computeOf.get(p.id);
    if (c === undefined) continue;
    for (const v of p.inputs) {
      const h = home(v);
      const producer = computeProducing(v);
      if (h === p.processor) {
        if (producer !== undefined && steps[producer].endUs > steps[c].startUs + 1e-6) out.push(`partition ${p.id} starts before '${v}' is made`);
        continue;
      }
      const t = transferOf(v, p.processor);
      if (!t) {
        out.push(`'${v}' lives on ${h} but partition ${p.id} on ${p.processor} reads it: no transfer`);
        continue;
      }
      const [ts, ti] = t;
      if (ts.kind === 'transfer' && ts.from !== h) out.push(`'${v}' transferred from ${ts.from}, but it lives on ${h}`);
      if (!steps[c].after.includes(ti)) out.push(`partition ${p.id} does not wait for the transfer of '${v}' (step ${ti})`);
      if (producer !== undefined && !ts.after.includes(producer)) out.push(`transfer of '${v}' does not wait for its producer (step ${producer})`);
    }
  }
  for (const o of graph.outputs) {
    const v = graph.values.get(o)!;
    if (v.producer < 0) continue;
    if (plan.nodes[v.producer].folded) continue;
    if (home(o) !== host && !transferOf(o, host)) out.push(`graph output '${o}' made on ${home(o)} never reaches ${host}`);
  }
  const byLane = new Map<string, PlanStep[]>();
  for (const s of steps) byLane.set(s.lane, [...(byLane.get(s.lane) ?? []), s]);
  for (const [lane, list] of byLane) {
    const sorted = [...list].sort((a, b) => a.startUs - b.startUs);
    for (let i = 1; i < sorted.length; i++) {
      if (sorted[i].startUs < sorted[i - 1].endUs - 1e-6 && sorted[i].endUs > sorted[i].startUs && sorted[i - 1].endUs > sorted[i - 1].startUs) {
        out.push(`lane ${lane}: two steps overlap (${sorted[i - 1].startUs}-${sorted[i - 1].endUs} and ${sorted[i].startUs}-${sorted[i].endUs})`);
      }
    }
  }
  const last = Math.max(0, ...steps.map((s) => s.endUs));
  if (Math.abs(plan.estimate.latencyUs - last) > 0.011) out.push(`latency ${plan.estimate.latencyUs} but the last step ends at ${last}`);
  return out;
}
