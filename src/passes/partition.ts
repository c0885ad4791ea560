/**
 * Partition: every node goes to a processor that supports it, then nodes are grouped into partitions
 * per processor so that contracting the partitions leaves the graph acyclic.
 *
 * Placement: the capability-only baseline is here; the cost-based search is in place.ts. Which processor
 * can run which node comes from the compile context (context.ts).
 * Grouping: walk a topological order that stays on the current processor while it has ready nodes,
 * and opens a new partition only when it must switch. Each partition is then an interval of one
 * topological order, so contracting partitions can never create a cycle.
 */
import { predecessors, type Graph } from '../ir/graph.js';
import type { ShapedGraph } from '../ir/infer.js';
import type { StaticInfo } from '../ir/static.js';
import type { PartitionSpec, Partitioning, PlacedNode } from '../plan/partitioning.js';
import { costSource } from '../targets/cost.js';
import type { CompileContext } from './context.js';

export type { PartitionSpec, Partitioning, PlacedNode };

/** Kinds in the order onnxruntime users list execution providers: the accelerator first. */
const PRIORITY: Record<string, number> = { npu: 0, gpu: 1, cpu: 2 };

/**
 * The capability-only placement, as onnxruntime assigns nodes to execution providers: each node goes to
 * the first processor, in priority order (NPU, GPU, CPU), whose table takes it. No cost is consulted.
 * It is the baseline the cost-based placement (place.ts) is measured against.
 */
export function capabilityPlacement(ctx: CompileContext): PlacedNode[] {
  const { graph, target, support } = ctx;
  const cpu = ctx.proc(ctx.host);
  const byPriority = [...target.processors].sort((a, b) => PRIORITY[a.kind] - PRIORITY[b.kind] || target.processors.indexOf(a) - target.processors.indexOf(b));
  return graph.nodes.map((node) => {
    const s = support[node.index];
    if (!s) return { processor: cpu.id, rejected: [], folded: true };
    const rejected: { processor: string; reason: string }[] = [];
    for (const p of byPriority) {
      const r = s.get(p.id)!;
      if (r.ok) return { processor: p.id, rejected, folded: false };
      rejected.push({ processor: p.id, reason: r.reason });
    }
    return { processor: cpu.id, rejected, folded: false };
  });
}

/**
 * Groups placed nodes into partitions: a topological walk over all nodes (every edge, static ones too)
 * that takes ready folded nodes at once, stays on the current processor while it has ready nodes, and
 * opens a new partition only when it must switch. The walk is a valid topological order in which each
 * partition's run-time nodes are contiguous.
 */
export function groupPartitions(graph: ShapedGraph, placement: PlacedNode[], st: StaticInfo): Omit<Partitioning, 'source' | 'placement'> {
  const n = graph.nodes.length;
  const succs: number[][] = graph.nodes.map(() => []);
  const indeg = new Array<number>(n).fill(0);
  for (const node of graph.nodes) {
    for (const p of predecessors(graph, node)) {
      succs[p].push(node.index);
      indeg[node.index]++;
    }
  }
  const ready = new Set<number>();
  for (let i = 0; i < n; i++) if (indeg[i] === 0) ready.add(i);
  const partitionOf = new Array<number>(n).fill(-1);
  const groups: { processor: string; nodes: number[] }[] = [];
  const walk: number[] = [];
  let current: { processor: string; nodes: number[] } | null = null;
  // Partitions the current one already waits for: a node that would add another one starts a new
  // partition instead, so that (one backend call per partition) independent work is not held back.
  let waitsFor = new Set<number>();
  /** Every partition each closed partition waits for, transitively. */
  const ancestors: Set<number>[] = [];
  const newWaits = (i: number) => {
    let n = 0;
    for (const r of st.runtimeReads(graph.nodes[i])) {
      const p = graph.values.get(r)!.producer;
      if (p >= 0 && !placement[p].folded && partitionOf[p] !== groups.length - 1 && !waitsFor.has(partitionOf[p])) n++;
    }
    return n;
  };
  while (ready.size) {
    let pick = -1;
    for (const i of ready) if (placement[i].folded && (pick < 0 || i < pick)) pick = i;
    if (pick < 0 && current) {
      let fallback = -1;
      for (const i of ready) {
        if (placement[i].processor !== current.processor) continue;
        if (newWaits(i) === 0) {
          if (pick < 0 || i < pick) pick = i;
        } else if (fallback < 0 || i < fallback) fallback = i;
      }
      // a node that would make the partition wait for more starts a new one, unless the partition is empty
      if (pick < 0 && fallback >= 0 && current.nodes.length === 0) pick = fallback;
    }
    if (pick < 0) {
      pick = Math.min(...ready);
      if (current) ancestors[groups.length - 1] = waitsFor;
      current = { processor: placement[pick].processor, nodes: [] };
      groups.push(current);
      waitsFor = new Set();
    }
    ready.delete(pick);
    walk.push(pick);
    if (!placement[pick].folded) {
      for (const r of st.runtimeReads(graph.nodes[pick])) {
        const p = graph.values.get(r)!.producer;
        const q = p >= 0 && !placement[p].folded ? partitionOf[p] : -1;
        if (q >= 0 && q !== groups.length - 1 && !waitsFor.has(q)) {
          waitsFor.add(q);
          for (const a of ancestors[q] ?? []) waitsFor.add(a);
        }
      }
      current!.nodes.push(pick);
      partitionOf[pick] = groups.length - 1;
    }
    for (const s of succs[pick]) if (--indeg[s] === 0) ready.add(s);
  }
  // Folded nodes join the partition of their first runtime consumer (found through other folded nodes).
  const firstRuntimeUse = firstRuntimePartition(graph, placement, partitionOf);
  for (let i = 0; i < n; i++) {
    if (!placement[i].folded) continue;
    let p = firstRuntimeUse(i);
    if (p < 0) {
      if (groups.length === 0) groups.push({ processor: placement[i].processor, nodes: [] });
      p = 0;
    }
    partitionOf[i] = p;
    groups[p].nodes.push(i);
    placement[i].processor = groups[p].processor;
  }
  const partitions = partitionSpecs(graph, st, placement, partitionOf, groups.map((g) => g.nodes), groups.map((g) => g.processor));
  return { partitions, partitionOf, walk };
}

/**
 * Each partition's inputs and outputs: the run-time values its nodes read from outside it, and those
 * it makes that another partition reads or that the graph outputs.
 */
export function partitionSpecs(graph: ShapedGraph, st: StaticInfo, placement: readonly PlacedNode[], partitionOf: readonly number[], members: readonly number[][], processorOf: readonly string[]): PartitionSpec[] {
  const graphOutputs = new Set(graph.outputs);
  return members.map((m, id) => {
    const nodes = [...m].sort((a, b) => a - b);
    const inputs: string[] = [];
    const outputs: string[] = [];
    for (const i of nodes) {
      if (placement[i].folded) continue;
      for (const r of st.runtimeReads(graph.nodes[i])) {
        const p = graph.values.get(r)!.producer;
        if ((p < 0 || partitionOf[p] !== id) && !inputs.includes(r)) inputs.push(r);
      }
      for (const o of graph.nodes[i].outputs) {
        if (o && (graphOutputs.has(o) || st.runtimeConsumers(o).some((c) => partitionOf[c] !== id))) outputs.push(o);
      }
    }
    return { id, processor: processorOf[id], nodes, inputs, outputs };
  });
}

/** Groups a placement into partitions (the capability-only placement when none is given). */
export function partition(ctx: CompileContext, placement?: PlacedNode[]): Partitioning {
  const placed = placement ?? capabilityPlacement(ctx);
  const copy = placed.map((p) => ({ ...p, rejected: [...p.rejected] }));
  return { placement: copy, ...groupPartitions(ctx.graph, copy, ctx.st), source: costSource(ctx.target) };
}

/**
 * For a folded node: the earliest partition among its first run-time consumers, found through other
 * folded nodes (-1 when none reads it at run time). Memoized per node; the graph is acyclic.
 */
export function firstRuntimePartition(graph: Graph, placement: readonly { folded?: boolean }[], partitionOf: readonly number[]): (i: number) => number {
  const memo = new Map<number, number>();
  const first = (i: number): number => {
    const have = memo.get(i);
    if (have !== undefined) return have;
    let best = -1;
    for (const o of graph.nodes[i].outputs) {
      if (!o) continue;
      for (const c of graph.values.get(o)!.consumers) {
        const p = placement[c].folded ? first(c) : partitionOf[c];
        if (p >= 0 && (best < 0 || p < best)) best = p;
      }
    }
    memo.set(i, best);
    return best;
  };
  return first;
}
