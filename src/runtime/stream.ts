/**
 * A forward pass under a memory budget, with the weights streamed from disk: for models whose weights do
 * not fit the budget (a decoder of 2 GB under 256 MB). The model's nodes, in file order, are cut into
 * groups whose weights fit the budget; each group runs as its own engine session whose weights stay in
 * the model's files (external-data references, passes/map.ts), read by the engine when the session is
 * created and released with it, so at most one group's weights are resident (two with `prefetch`, which
 * creates the next group's session while the current one runs). Values a later group reads are kept
 * between groups, and dropped after their last reader.
 *
 *   const model = await StreamedModel.open('decoder/model.onnx', { budgetBytes: 256e6, inputShapes });
 *   const outputs = await model.run(feeds);   // as many runs as wanted, at the shapes it was opened for
 *   model.groups                              // the groups: nodes, weight bytes
 *
 * The budget covers weights and activations; the process's engine floor (node, onnxruntime, Tessera:
 * the target's memory.floorBytes) comes on top. A budget no group can fit — a single node whose weights
 * are larger — is refused with BUDGET_INFEASIBLE, naming the smallest budget that fits.
 */
import { dirname } from 'node:path';
import type * as ort from 'onnxruntime-node';
import { createSession, runSession, type OrtMemoryOptions, withExternalDataDir } from '../backends/ort.js';
import type { TensorMap } from '../backends/tensor.js';
import { TesseraError } from '../errors.js';
import { formatBytes } from '../format.js';
import { inferShapes, valueByteSize, type ShapedGraph } from '../ir/infer.js';
import { importOnnxFile } from '../ir/onnx-import.js';
import { staticInfo, type StaticInfo } from '../ir/static.js';
import { weightByteLength } from '../ir/weight.js';
import { lowerPartition } from '../passes/map.js';
import { uncalibratedHost } from '../targets/host.js';
import type { DType } from '../ir/dtype.js';

export interface StreamOptions {
  /** Bytes the weights and activations of a run may take (the engine floor comes on top). */
  budgetBytes: number;
  /** Concrete input shapes (default: each symbolic dim = 1). */
  inputShapes?: Record<string, number[]>;
  /** Create the next group's session while the current one runs (two groups' weights resident: each gets half the room). Default false. */
  prefetch?: boolean;
}

export interface StreamGroup {
  /** Node indices, in file order. */
  nodes: number[];
  inputs: string[];
  outputs: string[];
  /** Bytes of the weights it reads from the model's files. */
  weightBytes: number;
}

/** Sessions of streamed groups: no arena, no memory pattern, no prepacked weight copies, threads that sleep between runs. */
const STREAMED: OrtMemoryOptions = {
  enableCpuMemArena: false, enableMemPattern: false, graphOptimizationLevel: 'extended',
  extra: { session: { 'intra_op.allow_spinning': '0', disable_prepacking: '1' } },
};

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

/** Weights a node reads from the model's files (distinct names), and their bytes. */
function fileWeights(graph: ShapedGraph, nodeIndex: number): Map<string, number> {
  const out = new Map<string, number>();
  for (const r of graph.nodes[nodeIndex].inputs) {
    const w = r ? graph.values.get(r)?.initializer : undefined;
    if (w && w.source.kind !== 'strings') out.set(r, weightByteLength(w));
  }
  return out;
}

/** Cuts the run-time nodes, in file order, into groups whose weights fit `cap` bytes. */
export function groupsFor(graph: ShapedGraph, st: StaticInfo, cap: number): StreamGroup[] {
  const runtime = graph.nodes.filter((n) => !st.folded.has(n.index)).map((n) => n.index);
  const groups: { nodes: number[]; weights: Map<string, number> }[] = [];
  let cur = { nodes: [] as number[], weights: new Map<string, number>() };
  const bytes = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);
  for (const i of runtime) {
    const w = fileWeights(graph, i);
    const merged = new Map([...cur.weights, ...w]);
    if (cur.nodes.length && bytes(merged) > cap) {
      groups.push(cur);
      cur = { nodes: [i], weights: w };
    } else {
      cur.nodes.push(i);
      cur.weights = merged;
    }
  }
  if (cur.nodes.length) groups.push(cur);
  const groupOf = new Map<number, number>();
  groups.forEach((g, k) => g.nodes.forEach((i) => groupOf.set(i, k)));
  const outputs = new Set(graph.outputs);
  return groups.map((g, k) => {
    const inside = new Set(g.nodes);
    const inputs = new Set<string>(), outs = new Set<string>();
    for (const i of g.nodes) {
      for (const r of st.runtimeReads(graph.nodes[i])) {
        const v = graph.values.get(r)!;
        if (v.producer < 0 || !inside.has(v.producer)) inputs.add(r);
      }
      for (const o of graph.nodes[i].outputs) {
        if (!o) continue;
        if (outputs.has(o) || st.runtimeConsumers(o).some((c) => (groupOf.get(c) ?? k) !== k)) outs.add(o);
      }
    }
    return { nodes: g.nodes, inputs: [...inputs], outputs: [...outs], weightBytes: bytes(g.weights) };
  });
}

export class StreamedModel {
  private constructor(
    readonly path: string,
    readonly graph: ShapedGraph,
    readonly groups: readonly StreamGroup[],
    private readonly lowered: readonly Uint8Array[],
    private readonly dataDir: string,
    private readonly prefetch: boolean,
  ) {}

  /** Imports and shapes the model (no weight is read), and cuts it into groups that fit the budget. */
  static async open(path: string, options: StreamOptions): Promise<StreamedModel> {
    const { budgetBytes } = options;
    if (!(budgetBytes > 0)) throw new TesseraError('BAD_ARGUMENT', `memory budget ${budgetBytes}: expected a number of bytes > 0`);
    const graph = await inferShapes(importOnnxFile(path), { inputShapes: options.inputShapes });
    const st = staticInfo(graph);
    const activations = activationBytes(graph, st);
    const share = options.prefetch ? 2 : 1;
    // the weights' share: the budget less the activations (twice: a node's inputs and outputs around it) and a tenth for the engine's own allocations per session
    const cap = (0.9 * budgetBytes - 2 * activations) / share;
    let largest = 0;
    for (const n of graph.nodes) if (!st.folded.has(n.index)) largest = Math.max(largest, [...fileWeights(graph, n.index).values()].reduce((a, b) => a + b, 0));
    if (cap < largest) {
      const smallest = Math.ceil((share * largest + 2 * activations) / 0.9);
      throw new TesseraError('BUDGET_INFEASIBLE', `${path}: a memory budget of ${formatBytes(budgetBytes)} cannot hold one node's weights (${formatBytes(largest)}) with the activations (${formatBytes(2 * activations)})${share > 1 ? ' twice over (prefetch)' : ''}; the smallest feasible budget is ${formatBytes(smallest)} (${smallest} bytes)`);
    }
    const groups = groupsFor(graph, st, cap);
    const proc = uncalibratedHost({ available: false, software: false, adapter: '' }).processors[0];
    const dataDir = graph.meta.dataDir ?? dirname(path);
    const lowered = groups.map((g, k) => lowerPartition(graph, { id: k, processor: proc.id, nodes: g.nodes, inputs: g.inputs, outputs: g.outputs }, proc, st, (n) => ({ dtype: graph.values.get(n)!.dtype as DType }), dataDir).bytes);
    return new StreamedModel(path, graph, groups, lowered, dataDir, options.prefetch ?? false);
  }

  private session(k: number): Promise<ort.InferenceSession> {
    return createSession(this.lowered[k], 'cpu', `${this.path} streamed group ${k + 1}/${this.groups.length}`, withExternalDataDir(STREAMED, this.dataDir));
  }

  /** One forward pass: each group's session created (its weights read), run and released in turn. */
  async run(feeds: TensorMap): Promise<TensorMap> {
    const values = new Map<string, TensorMap[string]>(Object.entries(feeds));
    // the last group that reads each value: dropped after it
    const lastReader = new Map<string, number>();
    this.groups.forEach((g, k) => g.inputs.forEach((v) => lastReader.set(v, k)));
    const outputs = new Set(this.graph.outputs);
    let next = this.session(0);
    for (let k = 0; k < this.groups.length; k++) {
      const g = this.groups[k];
      const session = await next;
      if (this.prefetch && k + 1 < this.groups.length) next = this.session(k + 1);
      try {
        const input: TensorMap = {};
        for (const v of g.inputs) {
          const t = values.get(v);
          if (!t) throw new TesseraError('MISSING_FEED', `${this.path}: no value '${v}' for streamed group ${k + 1} (a missing feed?)`);
          input[v] = t;
        }
        const out = await runSession(session, input, g.outputs, `${this.path} streamed group ${k + 1}`);
        for (const o of g.outputs) values.set(o, out[o]);
      } finally {
        await session.release();
      }
      if (!this.prefetch && k + 1 < this.groups.length) next = this.session(k + 1);
      for (const v of g.inputs) if (lastReader.get(v) === k && !outputs.has(v)) values.delete(v);
    }
    return Object.fromEntries(this.graph.outputs.map((o) => [o, values.get(o)!]));
  }
}

/** One forward pass of a model under a memory budget, weights streamed from disk (see StreamedModel). */
export async function runStreamed(path: string, feeds: TensorMap, options: Omit<StreamOptions, 'inputShapes'>): Promise<TensorMap> {
  const inputShapes = Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, [...t.dims]]));
  const model = await StreamedModel.open(path, { ...options, inputShapes });
  return model.run(feeds);
}
