/**
 * The compile half of a forward pass under a memory budget (runtime/stream.ts runs it): the model's
 * run-time nodes, in file order, cut into groups whose weights fit the budget's weight share, each
 * lowered for the CPU as one engine session whose weights are *inputs*, fed at run time from a weight
 * arena that the runtime fills from the model's files. A block that repeats (a transformer layer,
 * compiler/repeats.ts) is lowered once: every instance of it runs the same session with its own weights
 * fed, so a 18-layer decoder has a handful of sessions, not one per group.
 *
 * A Gather of rows of a weight in a file by run-time indices (an embedding lookup) is no session: the
 * runtime reads the rows the indices name (a few KB for a token, not the 200 MB table). A weight that
 * another group reads only as Gather data stays an external-data reference (the engine maps the file);
 * a weight with the same name in every instance of a block is shared, kept in the block's session as
 * it is in the model (inline or referenced).
 *
 * The weight share of the budget is 0.9 × budget − 2 × the largest activation working set (a node's
 * inputs and outputs, or the values alive at a group boundary). Groups outside repeated blocks are cut
 * at the whole share; a repeated block's segments at half of it (when one node's weights allow), so the
 * next segment's weights are read into the arena while one runs. A budget no group can fit — a single
 * node whose weights are larger than the share — is refused with BUDGET_INFEASIBLE, naming the smallest
 * budget that fits.
 */
import { realpathSync } from 'node:fs';
import { dirname, relative, sep } from 'node:path';
import { BudgetInfeasible, TesseraError } from '../errors.js';
import { formatBytes } from '../format.js';
import type { DType } from '../ir/dtype.js';
import { confineExternalData } from '../ir/external-data.js';
import { inferShapes, valueByteSize, type ShapedGraph } from '../ir/infer.js';
import { importOnnxFile } from '../ir/onnx-import.js';
import { staticInfo, type StaticInfo } from '../ir/static.js';
import { weightByteLength, weightBytes, type Weight } from '../ir/weight.js';
import { lowerPartition } from '../passes/map.js';
import { DEFAULT_MEMORY } from '../passes/resident.js';
import { nodeUs } from '../targets/cost.js';
import { hostTarget, uncalibratedHost } from '../targets/host.js';
import { findRepeatedBlocks, weightsAsInputs } from './repeats.js';

export interface StreamOptions {
  /** Bytes the weights and activations of a run may take (the engine floor comes on top). */
  budgetBytes: number;
  /** Concrete input shapes (default: each symbolic dim = 1). */
  inputShapes?: Record<string, number[]>;
  /**
   * Read the next group's weights while the current one runs: the arena holds both when they fit
   * together; a repeated block's segments are cut at half the weight share so they do. Default 'auto'
   * (decidePrefetch): on when overlapping the reads with compute saves more than it costs — reads from
   * storage are waits on the device, worth hiding behind compute; reads from a storage as fast as a
   * memory copy (the page cache) are CPU copies that compete with the engine's threads, and are not.
   */
  prefetch?: boolean | 'auto';
  /**
   * The storage's read bandwidth (GB/s, cold: read from the device, not the page cache) that 'auto'
   * decides by. Default: the host profile's memory.storageReadGBs (tessera calibrate measures it), else
   * the uncalibrated default (passes/resident.ts DEFAULT_MEMORY).
   */
  storageReadGBs?: number;
  /** Compile each repeated block once with its weights as inputs (default true); false lowers every group apart. */
  shareBlocks?: boolean;
  /** At most this many bytes for the weights' share (a weight arena shared with another model over the same weights). */
  weightShareBytes?: number;
}

/** A weight fed to a session as an input, read into the weight arena before its group runs. */
export interface FedWeight {
  /** The session's input name. */
  input: string;
  /** The weight's name in the model. */
  weight: string;
  dtype: DType;
  dims: number[];
  bytes: number;
  /** Where its bytes are: a range of a file inside the model's directory (checked by confineExternalData), or the bytes. */
  source: { path: string; offset: number } | { data: Uint8Array };
}

/** A Gather of rows of a weight in a file (an embedding lookup): run by the runtime, reading only the rows the indices name. */
export interface HostGather {
  indices: string;
  output: string;
  /** The table: its rows are [rowBytes] each, `rows` of them. */
  table: FedWeight;
  rows: number;
  rowBytes: number;
}

export interface StreamGroup {
  /** Node indices, in file order. */
  nodes: number[];
  inputs: string[];
  outputs: string[];
  /** Bytes of the weights it reads from the model's files (fed ones, and the rows it gathers from referenced ones). */
  weightBytes: number;
  /** Index of the session that runs it (StreamPlan.sessions); instances of a repeated block share one. */
  session: number;
  /** The session's value names that differ from this group's: session name → name here. */
  names: Record<string, string>;
  /** The weights fed as inputs, in arena order. */
  fed: FedWeight[];
  /** Set for a Gather from a weight in a file, which the runtime does itself (session −1): it reads only the gathered rows. */
  gather?: HostGather;
}

/** One engine session of the plan: ONNX bytes whose weights are inputs (fed) or references into the model's files. */
export interface StreamSession {
  bytes: Uint8Array;
  inputs: string[];
  outputs: string[];
  /** How many groups run it. */
  uses: number;
}

/** Peak bytes of the activations alive at a group boundary, or read and written by one node: room kept out of the weights' share. */
function activationBytes(graph: ShapedGraph, st: StaticInfo): number {
  let most = 0;
  for (const node of graph.nodes) {
    if (st.folded.has(node.index)) continue;
    let ws = 0;
    for (const name of new Set([...st.runtimeReads(node), ...node.outputs.filter((o) => o)])) ws += valueByteSize(graph.values.get(name)!);
    most = Math.max(most, ws);
  }
  return most;
}

/** Whether every reader of weight `w` among `nodes` reads it as the data of a Gather (an embedding table: the engine touches only the rows it gathers). */
function gatheredOnly(graph: ShapedGraph, w: string, nodes: ReadonlySet<number>): boolean {
  return graph.values.get(w)!.consumers.filter((c) => nodes.has(c)).every((c) => {
    const n = graph.nodes[c];
    return n.op === 'Gather' && n.domain === '' && n.inputs[0] === w && !n.inputs.slice(1).includes(w);
  });
}

/** Weights a node reads from the model's files (distinct names), and the bytes each costs resident: all of it, or the gathered rows. */
function fileWeights(graph: ShapedGraph, nodeIndex: number): Map<string, number> {
  const out = new Map<string, number>();
  const node = graph.nodes[nodeIndex];
  for (const r of node.inputs) {
    const w = r ? graph.values.get(r)?.initializer : undefined;
    if (!w || w.source.kind === 'strings') continue;
    const rows = gatheredOnly(graph, r, new Set([nodeIndex])) ? valueByteSize(graph.values.get(node.outputs[0])!) : Infinity;
    out.set(r, Math.min(rows, weightByteLength(w)));
  }
  return out;
}

const sum = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);

/** Whether the node is a Gather (axis 0) of rows of a weight in a file by run-time indices: an embedding lookup the runtime does by reading the rows. */
function isHostGather(graph: ShapedGraph, st: StaticInfo, i: number): boolean {
  const n = graph.nodes[i];
  const w = graph.values.get(n.inputs[0])?.initializer;
  const axis = n.attrs.axis?.type === 'int' ? n.attrs.axis.value : 0;
  return n.op === 'Gather' && n.domain === '' && axis === 0 && w?.source.kind === 'file' && w.dims.length >= 1 && !!n.inputs[1] && !st.isStatic(n.inputs[1]) && graph.values.get(n.inputs[1])!.dtype !== null;
}

/** Cuts `nodes` (file order) into runs whose weights (distinct, counted once a run) fit `cap` bytes; a node `alone` says so runs by itself. */
function cut(graph: ShapedGraph, nodes: readonly number[], cap: number, alone: (i: number) => boolean = () => false): number[][] {
  const runs: number[][] = [];
  let cur: number[] = [], weights = new Map<string, number>();
  for (const i of nodes) {
    if (alone(i)) {
      if (cur.length) runs.push(cur);
      runs.push([i]);
      cur = [];
      weights = new Map();
      continue;
    }
    const w = fileWeights(graph, i);
    const merged = new Map([...weights, ...w]);
    if (cur.length && sum(merged) > cap) {
      runs.push(cur);
      cur = [i];
      weights = w;
    } else {
      cur.push(i);
      weights = merged;
    }
  }
  if (cur.length) runs.push(cur);
  return runs;
}

/** Each run's inputs (values it reads that are made elsewhere) and outputs (values read by a later run, or the graph's outputs). */
function runIO(graph: ShapedGraph, st: StaticInfo, runs: readonly number[][]): { inputs: string[]; outputs: string[] }[] {
  const runOf = new Map<number, number>();
  runs.forEach((r, k) => r.forEach((i) => runOf.set(i, k)));
  const outputs = new Set(graph.outputs);
  return runs.map((r, k) => {
    const inside = new Set(r);
    const inputs = new Set<string>(), outs = new Set<string>();
    for (const i of r) {
      for (const x of st.runtimeReads(graph.nodes[i])) {
        const v = graph.values.get(x)!;
        if (v.producer < 0 || !inside.has(v.producer)) inputs.add(x);
      }
      for (const o of graph.nodes[i].outputs) {
        if (o && (outputs.has(o) || st.runtimeConsumers(o).some((c) => (runOf.get(c) ?? -1) !== k))) outs.add(o);
      }
    }
    return { inputs: [...inputs], outputs: [...outs] };
  });
}

/** Cuts the run-time nodes, in file order, into groups whose weights fit `cap` bytes (one session each, nothing shared). */
export function groupsFor(graph: ShapedGraph, st: StaticInfo, cap: number): Omit<StreamGroup, 'session' | 'names' | 'fed'>[] {
  const runs = cut(graph, graph.nodes.filter((n) => !st.folded.has(n.index)).map((n) => n.index), cap);
  const io = runIO(graph, st, runs);
  return runs.map((nodes, k) => ({ nodes, ...io[k], weightBytes: sum(new Map(nodes.flatMap((i) => [...fileWeights(graph, i)]))) }));
}

/** A model cut into streamed groups and the sessions that run them. */
export interface StreamPlan {
  graph: ShapedGraph;
  groups: StreamGroup[];
  /** The ONNX bytes each group runs (its session's: instances of a block share the same bytes; empty for a host Gather). */
  lowered: Uint8Array[];
  sessions: StreamSession[];
  /** The model's directory: referenced weights are relative to it. */
  dataDir: string;
  /** Bytes of the weight arena: the budget's weight share. */
  arenaBytes: number;
  /** The largest activation working set (bytes), kept out of the weight share twice. */
  activationBytes: number;
  /** Whether the next group's weights are read while one runs (the option, 'auto' decided). */
  prefetch: boolean;
  /** The figures 'auto' decided by, and why (also when the option decided). */
  prefetchDecision: PrefetchDecision;
  /** FLOPs of the run-time nodes per weight byte read. */
  flopsPerWeightByte: number;
}

/** What a run's prefetch decision is made from (seconds and bytes of one forward pass). */
export interface PrefetchFigures {
  /** Weight bytes read from files per run, and by the first group (read before anything can overlap it). */
  readBytes: number;
  firstReadBytes: number;
  /** Predicted compute time of the run (the cost model's, for the host CPU). */
  computeS: number;
  /** Storage read bandwidth (GB/s, cold) and where it came from. */
  storageGBs: number;
  storageSource: string;
  /** A memory copy's rate (GB/s): the kernel copies each read from the page cache into the arena, on a CPU the engine also uses. */
  copyGBs: number;
}

export interface PrefetchDecision extends PrefetchFigures {
  prefetch: boolean;
  /** Predicted seconds of a run reading then computing each group, and reading the next group's weights while one computes. */
  serialS: number;
  overlappedS: number;
  why: string;
}

/**
 * Whether to read the next group's weights while one runs. Without prefetch a run takes read + compute;
 * with it the first group's read (nothing to overlap it) and then the longer of the other reads and the
 * compute plus the copies out of the page cache (bytes / a memory copy's rate: the kernel copies each
 * read into the arena on a CPU the engine's threads also use). So prefetch wins when the storage is
 * slower than a memory copy by enough to hide that cost — reads from a device — and not when the
 * "storage" is the page cache itself (measured on 2 cores: a 64-token forward of the 500m decoder from
 * the page cache took 3.4–3.8 s without prefetch and 5.3–10.9 s with).
 */
export function decidePrefetch(f: PrefetchFigures): PrefetchDecision {
  const readS = f.readBytes / (f.storageGBs * 1e9), firstS = f.firstReadBytes / (f.storageGBs * 1e9), copyS = f.readBytes / (f.copyGBs * 1e9);
  const serialS = readS + f.computeS;
  const overlappedS = firstS + Math.max(readS - firstS, f.computeS + copyS);
  const prefetch = overlappedS < serialS;
  const s = (x: number) => `${x.toFixed(2)} s`;
  const why = `reading ${formatBytes(f.readBytes)} at ${f.storageGBs} GB/s (${f.storageSource}) takes ${s(readS)}, computing ${s(f.computeS)} (cost model): one after the other ${s(serialS)}, overlapped ${s(overlappedS)} (the first group's read ${s(firstS)} not hidden, the copies out of the page cache ${s(copyS)} at ${f.copyGBs} GB/s taken from compute)`;
  return { ...f, prefetch, serialS, overlappedS, why };
}

/** A fed weight's description; its file range checked against the model's directory (the one rule for external data). */
function fedWeight(input: string, w: Weight, dataDir: string): FedWeight {
  const base = { input, weight: w.name, dtype: w.dtype, dims: [...w.dims], bytes: weightByteLength(w) };
  const s = w.source;
  if (s.kind === 'file') {
    // the weight's path is real (links resolved at import): relative to the directory's real path, as exportOnnx's references
    const r = confineExternalData(relative(realpathSync(dataDir), s.path).split(sep).join('/'), s.offset, s.length, dataDir, `weight '${w.name}'`);
    return { ...base, source: { path: r.path, offset: r.offset } };
  }
  return { ...base, source: { data: weightBytes(w) } };
}

/** The figures of decidePrefetch for a run of `nodes`: compute by the cost model on the host's CPU (calibrated or not), storage by the option, the host profile or the default. */
async function prefetchFigures(graph: ShapedGraph, nodes: readonly number[], readBytes: number, share: number, storageReadGBs: number | undefined): Promise<PrefetchFigures> {
  const target = await hostTarget({ gpu: false });
  const cpu = target.processors.find((p) => p.kind === 'cpu') ?? target.processors[0];
  const computeS = nodes.reduce((a, i) => a + nodeUs(cpu, graph, i), 0) / 1e6;
  const profiled = target.memory?.storageReadGBs;
  const storage = storageReadGBs ? { value: storageReadGBs, source: 'given' } : profiled ? { value: profiled.value, source: `the host profile: ${profiled.source}` } : { value: DEFAULT_MEMORY.storageReadGBs, source: DEFAULT_MEMORY.storageSource };
  // a copy reads and writes: half the CPU's streaming read rate (measured by tessera calibrate), else of its bandwidth
  const copyGBs = (cpu.streamBandwidthGBs?.value ?? cpu.bandwidthGBs.value) / 2;
  return { readBytes, firstReadBytes: Math.min(readBytes, share), computeS, storageGBs: storage.value, storageSource: storage.source, copyGBs };
}

/** Imports and shapes the model (no weight is read), and cuts it into groups that fit the budget. */
export async function planStream(path: string, options: StreamOptions): Promise<StreamPlan> {
  const { budgetBytes } = options;
  if (!(budgetBytes > 0)) throw new TesseraError('BAD_ARGUMENT', `memory budget ${budgetBytes}: expected a number of bytes > 0`);
  const graph = await inferShapes(importOnnxFile(path), { inputShapes: options.inputShapes });
  const st = staticInfo(graph);
  const activations = activationBytes(graph, st);
  // the weights' share: the budget less the activations (twice: a node's inputs and outputs around it) and a tenth for the engine's own allocations
  const share = Math.min(0.9 * budgetBytes - 2 * activations, options.weightShareBytes ?? Infinity);
  let largest = 0;
  for (const n of graph.nodes) if (!st.folded.has(n.index)) largest = Math.max(largest, sum(fileWeights(graph, n.index)));
  if (share < largest) {
    const smallest = Math.ceil((largest + 2 * activations) / 0.9);
    throw new BudgetInfeasible(`${path}: a memory budget of ${formatBytes(budgetBytes)} cannot hold one node's weights (${formatBytes(largest)}) with the activations (${formatBytes(2 * activations)}); the smallest feasible budget is ${formatBytes(smallest)} (${smallest} bytes)`, smallest);
  }
  const dataDir = graph.meta.dataDir ?? dirname(path);
  const runtimeNodes = graph.nodes.filter((n) => !st.folded.has(n.index));
  const flops = runtimeNodes.reduce((a, n) => a + (graph.costs[n.index]?.flops ?? 0), 0);
  const readBytes = runtimeNodes.reduce((a, n) => a + sum(fileWeights(graph, n.index)), 0);
  const flopsPerWeightByte = readBytes ? flops / readBytes : Infinity;
  const decision = decidePrefetch(await prefetchFigures(graph, runtimeNodes.map((n) => n.index), readBytes, share, options.storageReadGBs));
  const prefetch = options.prefetch === undefined || options.prefetch === 'auto' ? decision.prefetch : options.prefetch;
  const prefetchDecision = { ...decision, prefetch, why: options.prefetch === true || options.prefetch === false ? `prefetch ${prefetch ? 'on' : 'off'}, as asked; 'auto' would predict: ${decision.why}` : decision.why };
  const blocks = options.shareBlocks === false ? null : findRepeatedBlocks(graph, st);
  const hostGather = (i: number) => isHostGather(graph, st, i);

  // runs of nodes: before the blocks, each block's segments (the same cut in every instance), after
  const runtime = graph.nodes.filter((n) => !st.folded.has(n.index)).map((n) => n.index);
  const runs: number[][] = [];
  /** For a run inside a block: its instance and segment. */
  const where: ({ instance: number; segment: number } | null)[] = [];
  if (blocks) {
    const first = blocks.instances[0], last = blocks.instances[blocks.instances.length - 1];
    const begin = runtime.indexOf(first[0]), end = runtime.indexOf(last[last.length - 1]) + 1;
    for (const r of cut(graph, runtime.slice(0, begin), share, hostGather)) (runs.push(r), where.push(null));
    // a block's segments at half the share when its largest node allows: two segments' weights in the arena at once
    const largestInBlock = Math.max(...first.map((i) => sum(fileWeights(graph, i))));
    const segCap = prefetch && largestInBlock <= share / 2 ? share / 2 : share;
    const segments = cut(graph, first, segCap).map((r) => [first.indexOf(r[0]), first.indexOf(r[0]) + r.length] as const);
    blocks.instances.forEach((inst, k) => segments.forEach(([a, b], j) => (runs.push(inst.slice(a, b)), where.push({ instance: k, segment: j }))));
    for (const r of cut(graph, runtime.slice(end), share, hostGather)) (runs.push(r), where.push(null));
  } else {
    for (const r of cut(graph, runtime, share, hostGather)) (runs.push(r), where.push(null));
  }
  const io = runIO(graph, st, runs);

  const proc = uncalibratedHost({ available: false, software: false, adapter: '' }).processors[0];
  const sessions: StreamSession[] = [];
  /** Lowers `nodes` with the weights named in `fed` turned into inputs. */
  const lower = (nodes: number[], inputs: string[], outputs: string[], fed: readonly string[]): number => {
    const view = weightsAsInputs(graph, fed);
    const bytes = lowerPartition(view, { id: sessions.length, processor: proc.id, nodes, inputs: [...inputs, ...fed], outputs }, proc, st, (n) => ({ dtype: graph.values.get(n)!.dtype as DType }), dataDir).bytes;
    sessions.push({ bytes, inputs: [...inputs, ...fed], outputs, uses: 0 });
    return sessions.length - 1;
  };
  const weightOf = (name: string) => graph.values.get(name)!.initializer!;
  const groups: StreamGroup[] = [];
  const blockSession = new Map<number, { session: number; fed: string[] }>();
  runs.forEach((nodes, k) => {
    const at = where[k];
    const weightBytes = sum(new Map(nodes.flatMap((i) => [...fileWeights(graph, i)])));
    if (!at && nodes.length === 1 && hostGather(nodes[0])) {
      const n = graph.nodes[nodes[0]];
      const table = weightOf(n.inputs[0]);
      const rows = table.dims[0];
      groups.push({ nodes, ...io[k], weightBytes, session: -1, names: {}, fed: [], gather: { indices: n.inputs[1], output: n.outputs[0], table: fedWeight(n.inputs[0], table, dataDir), rows, rowBytes: rows ? weightByteLength(table) / rows : 0 } });
      return;
    }
    if (!at) {
      // fed: every file weight it reads, but those it only gathers from (and small ones, which stay inline)
      const inside = new Set(nodes);
      const fed = [...new Set(nodes.flatMap((i) => [...fileWeights(graph, i).keys()]))].filter((w) => weightOf(w).source.kind === 'file' && weightByteLength(weightOf(w)) >= 1024 && !gatheredOnly(graph, w, inside));
      const session = lower(nodes, io[k].inputs, io[k].outputs, fed);
      groups.push({ nodes, ...io[k], weightBytes, session, names: {}, fed: fed.map((w) => fedWeight(w, weightOf(w), dataDir)) });
      return;
    }
    // a block's segment: instance 0's names are the session's; the outputs any instance needs are the session's outputs
    const map = blocks!.maps[at.instance];
    let shared = blockSession.get(at.segment);
    if (!shared) {
      const segmentRuns = runs.map((_, r) => r).filter((r) => where[r]?.segment === at.segment);
      const back = (inst: number, name: string) => {
        for (const [x, y] of blocks!.maps[inst]) if (y === name) return x;
        return name;
      };
      const outputs = [...new Set(segmentRuns.flatMap((r) => io[r].outputs.map((o) => back(where[r]!.instance, o))))];
      const fed = [...new Set(nodes.flatMap((i) => graph.nodes[i].inputs.filter((r) => blocks!.fed.has(r))))];
      shared = { session: lower(nodes, io[k].inputs, outputs, fed), fed };
      blockSession.set(at.segment, shared);
    }
    const s = sessions[shared.session];
    const names: Record<string, string> = {};
    for (const x of [...s.inputs, ...s.outputs]) {
      const y = map.get(x) ?? x;
      if (y !== x) names[x] = y;
    }
    // the session's inputs, renamed, must be what this instance reads
    const reads = s.inputs.filter((x) => !shared!.fed.includes(x)).map((x) => names[x] ?? x).sort();
    if (JSON.stringify(reads) !== JSON.stringify([...io[k].inputs].sort())) throw new TesseraError('INTERNAL', `${path}: instance ${at.instance + 1} of a repeated block reads ${io[k].inputs.join(', ')}, its shared session ${reads.join(', ')}`);
    groups.push({ nodes, ...io[k], weightBytes, session: shared.session, names, fed: shared.fed.map((x) => fedWeight(x, weightOf(names[x] ?? x), dataDir)) });
  });
  for (const g of groups) if (g.session >= 0) sessions[g.session].uses++;
  return { graph, groups, lowered: groups.map((g) => sessions[g.session]?.bytes ?? new Uint8Array(0)), sessions, dataDir, arenaBytes: Math.floor(share), activationBytes: activations, prefetch, prefetchDecision, flopsPerWeightByte };
}
