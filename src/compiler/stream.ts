/**
 * The compile half of a forward pass under a memory budget (runtime/stream.ts runs it): the model's
 * run-time nodes, in file order, cut into groups whose weights fit the budget, each lowered for the CPU
 * with its weights left in the model's files (external-data references), so the engine reads them when
 * the group's session is created. A budget no group can fit — a single node whose weights are larger —
 * is refused with BUDGET_INFEASIBLE, naming the smallest budget that fits.
 */
import { dirname } from 'node:path';
import { TesseraError } from '../errors.js';
import { formatBytes } from '../format.js';
import type { DType } from '../ir/dtype.js';
import { inferShapes, valueByteSize, type ShapedGraph } from '../ir/infer.js';
import { importOnnxFile } from '../ir/onnx-import.js';
import { staticInfo, type StaticInfo } from '../ir/static.js';
import { weightByteLength } from '../ir/weight.js';
import { lowerPartition } from '../passes/map.js';
import { uncalibratedHost } from '../targets/host.js';

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

/** A model cut into streamed groups, each lowered (ONNX bytes whose weights reference the model's files in `dataDir`). */
export interface StreamPlan {
  graph: ShapedGraph;
  groups: StreamGroup[];
  lowered: Uint8Array[];
  dataDir: string;
}

/** Imports and shapes the model (no weight is read), and cuts it into groups that fit the budget. */
export async function planStream(path: string, options: StreamOptions): Promise<StreamPlan> {
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
  return { graph, groups, lowered, dataDir };
}
