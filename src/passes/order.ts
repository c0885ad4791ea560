/**
 * Order: a topological order of all top-level nodes that keeps peak activation memory low.
 *
 * The run-time nodes form a MemProblem (memory-graph.ts): a value weighs its stored bytes in every
 * memory that holds it; folded nodes create no buffer, but a run-time node that reads (through folded
 * nodes) something computed from another run-time node's output still comes after it. Partitions run
 * in the partitioner's sequence; the nodes inside each are ordered by order-search.ts (exact search over
 * frontiers where it finishes, a heuristic with local improvement elsewhere, within `budgetMs`).
 * Folded nodes are put where they become ready. Then split.ts cuts partitions into consecutive chunks
 * where onnxruntime's own order inside one call would defeat the planned peak.
 */
import { TesseraError } from '../errors.js';
import { predecessors, type Graph } from '../ir/graph.js';
import { inplaceCandidates } from '../ir/ops/traits.js';
import { align } from '../plan/lifetimes.js';
import type { Partitioning } from '../plan/partitioning.js';
import { bytesOn } from '../targets/storage.js';
import type { CompileContext } from './context.js';
import { makeProblem, MinHeap, type MemProblem, type MemValue } from './memory-graph.js';
import { orderBlocks, type OrderOptions, type OrderResult } from './order-search.js';

export interface RuntimeProblem {
  problem: MemProblem;
  /** Problem node → graph node index, and back (-1 for folded nodes). */
  nodeOf: number[];
  indexOf: Int32Array;
}

/**
 * The ordering problem of a compiled graph's run-time nodes. With `spans`, a plan of one partition is
 * modelled as its memory will hold it (plan/lifetimes.ts: one backend call, so its inputs and outputs
 * are alive for all of it): graph inputs are kept to the end, and each graph output weighs nothing where
 * it is written but is alive from the start (a value of its size with no producer, kept), so the
 * search's peak is the plan's peak and an optimum it proves is the plan's.
 */
export function runtimeProblem(ctx: CompileContext, parts: Partitioning, inplaceOps = true, spans = false): RuntimeProblem {
  const { graph, st, ranges } = ctx;
  const res = ctx.residency(parts);
  const nodeOf: number[] = [];
  const indexOf = new Int32Array(graph.nodes.length).fill(-1);
  for (const node of graph.nodes) {
    if (parts.placement[node.index].folded) continue;
    indexOf[node.index] = nodeOf.length;
    nodeOf.push(node.index);
  }
  const proc = ctx.proc;
  const outputs = new Set(graph.outputs);
  const values: MemValue[] = [];
  const valueId = new Map<string, number>();
  for (const [name, r] of res) {
    const v = graph.values.get(name)!;
    let bytes = align(bytesOn(proc(r.home), v, ranges));
    for (const q of r.copies) bytes += align(bytesOn(proc(q), v, ranges));
    const consumers = [...new Set(st.runtimeConsumers(name).map((c) => indexOf[c]).filter((c) => c >= 0))];
    valueId.set(name, values.length);
    const whole = spans && parts.partitions.length === 1;
    const input = v.producer < 0 || indexOf[v.producer] < 0;
    if (whole && outputs.has(name) && !input) {
      // alive for the whole call: its bytes from the start (a value with no producer), the ordering edges by a value of no bytes
      values.push({ bytes: 0, producer: indexOf[v.producer], consumers, keep: true, name });
      values.push({ bytes, producer: -1, consumers: [], keep: true, name: `${name} (alive for the whole call)` });
      continue;
    }
    values.push({ bytes, producer: v.producer >= 0 ? indexOf[v.producer] : -1, consumers, keep: outputs.has(name) || (whole && input && consumers.length > 0), name });
  }
  // ordering edges through folded nodes: the run-time nodes a folded node (transitively) reads from
  const runtimeAnc = new Map<number, number[]>();
  const ancOf = (i: number): number[] => {
    const have = runtimeAnc.get(i);
    if (have) return have;
    runtimeAnc.set(i, []);
    const out = new Set<number>();
    for (const q of predecessors(graph, graph.nodes[i])) {
      if (indexOf[q] >= 0) out.add(indexOf[q]);
      else for (const a of ancOf(q)) out.add(a);
    }
    const list = [...out];
    runtimeAnc.set(i, list);
    return list;
  };
  const extra: [number, number][] = [];
  for (const i of nodeOf) {
    for (const q of predecessors(graph, graph.nodes[i])) if (indexOf[q] < 0) for (const a of ancOf(q)) extra.push([a, indexOf[i]]);
  }
  const inplace = nodeOf.map((i) => {
    const node = graph.nodes[i];
    const outs = node.outputs.filter((o) => o !== '');
    if (!inplaceOps || outs.length !== 1) return [];
    const y = valueId.get(outs[0]);
    if (y === undefined) return [];
    const ry = res.get(outs[0])!;
    const cands: number[] = [];
    for (const name of inplaceCandidates(node.op, node.inputs)) {
      const x = valueId.get(name);
      if (x === undefined || st.isStatic(name) || values[x].bytes !== values[y].bytes) continue;
      const rx = res.get(name)!;
      if (rx.home === ry.home && rx.copies.length === 0 && ry.copies.length === 0) cands.push(x);
    }
    return cands;
  });
  const problem = makeProblem(nodeOf.length, values, inplace, extra);
  problem.rank = nodeOf.map((i) => i);
  problem.names = nodeOf.map((i) => graph.nodes[i].name);
  return { problem, nodeOf, indexOf };
}

export interface MemoryOrder {
  /** Every node (folded ones too), topological. */
  order: number[];
  /** The run-time problem and the search's result on it. */
  runtime: RuntimeProblem;
  result: OrderResult;
  /** The run-time nodes' order (problem node ids). */
  runtimeOrder: number[];
}

/** Orders the nodes inside each partition (partitions in sequence) for the smallest peak. */
export function memoryOrder(ctx: CompileContext, parts: Partitioning, opts: OrderOptions = {}, inplace = true, spans = false): MemoryOrder {
  const rt = runtimeProblem(ctx, parts, inplace, spans);
  const blocks: number[][] = parts.partitions.map(() => []);
  for (const i of parts.walk) if (rt.indexOf[i] >= 0) blocks[parts.partitionOf[i]].push(rt.indexOf[i]);
  const result = orderBlocks(rt.problem, blocks.filter((b) => b.length), opts);
  return { order: completeOrder(ctx.graph, rt, result.order), runtime: rt, result, runtimeOrder: result.order };
}

/** All nodes: folded ones as soon as they are ready, run-time ones in the given sequence. */
export function completeOrder(graph: Graph, rt: RuntimeProblem, runtimeOrder: readonly number[]): number[] {
  const n = graph.nodes.length;
  const rankOf = new Float64Array(n).fill(-1);
  runtimeOrder.forEach((u, k) => (rankOf[rt.nodeOf[u]] = k));
  const succs: number[][] = graph.nodes.map(() => []);
  const indeg = new Int32Array(n);
  for (const node of graph.nodes) {
    for (const p of predecessors(graph, node)) {
      succs[p].push(node.index);
      indeg[node.index]++;
    }
  }
  const heap = new MinHeap<number>((a, b) => rankOf[a] - rankOf[b] || a - b);
  for (let i = 0; i < n; i++) if (indeg[i] === 0) heap.push(i);
  const out: number[] = [];
  let next = 0;
  while (heap.size) {
    const i = heap.pop();
    if (rankOf[i] >= 0) {
      if (rankOf[i] !== next) throw new TesseraError('INTERNAL', `order: run-time node '${graph.nodes[i].name}' became ready out of sequence`);
      next++;
    }
    out.push(i);
    for (const s of succs[i]) if (--indeg[s] === 0) heap.push(s);
  }
  if (out.length !== n) throw new TesseraError('INTERNAL', 'order: the graph has a cycle');
  return out;
}
