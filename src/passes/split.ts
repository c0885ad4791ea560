/**
 * Split: a partition runs as one backend call, in the backend's own order, with every value crossing
 * its boundary alive for the whole call. Where that would defeat the planned peak, the partition is cut
 * into consecutive chunks of the planned order (each its own executable), so the runtime follows the plan.
 *
 * Model of one call's memory (all memories together): the bytes alive when it starts (its inputs stay
 * alive until it ends) + its outputs that outlive it (written into the arena before it returns) + the
 * peak of its internal values in onnxruntime's order (modelled as Kahn's algorithm by file position).
 * A partition whose whole model fits within (1 + slack) × the planned peak stays whole. Otherwise it is
 * cut into chunks that compute no intermediate value of their own: a chunk grows along the planned order
 * while the next node reads nothing made inside the chunk (and the chunk fits). Every value a chunk
 * computes then crosses its boundary and lives in the planned arena, which has room for it at its
 * planned offset; an intermediate would be a second copy in the backend's own memory, beside the arena
 * (and onnxruntime runs such chunks without an arena of its own: src/backends/ort.ts). Chunks are
 * intervals of a topological order, so contracting them makes no cycle; no node changes processor.
 */
import type { ShapedGraph } from '../ir/infer.js';
import { MinHeap, type MemProblem } from './memory-graph.js';
import type { RuntimeProblem } from './order.js';
import { firstRuntimePartition, partitionSpecs, type Partitioning } from './partition.js';
import type { StaticInfo } from '../ir/static.js';

export interface SplitOptions {
  /** Tolerated excess over the planned peak before a partition is split (0.1 = 10%). */
  slack?: number;
  /** Most nodes in a chunk (whole partitions that fit are kept whole at any size). */
  maxChunk?: number;
  /** 'memory' (default): split where it lowers the peak; 'none': keep the partitioner's partitions. */
  mode?: 'memory' | 'none';
}

/** Modelled peak of running `chunk` (problem nodes, planned order) as one call, with `before` bytes alive at its start. */
export function chunkPeak(p: MemProblem, chunk: readonly number[], before: number, inChunk: Uint8Array): number {
  let outlive = 0;
  const internal = new Set<number>();
  for (const u of chunk) {
    for (const w of p.writes[u]) {
      const v = p.values[w];
      if (!v.keep && v.consumers.length > 0 && v.consumers.every((c) => inChunk[c])) internal.add(w);
      else outlive += v.bytes;
    }
  }
  // internal values in the backend's order: Kahn by file position among the chunk's nodes
  const rank = p.rank ?? [];
  const indeg = new Map<number, number>();
  for (const u of chunk) indeg.set(u, p.preds[u].filter((q) => inChunk[q]).length);
  const heap = new MinHeap<number>((a, b) => (rank[a] ?? a) - (rank[b] ?? b) || a - b);
  for (const u of chunk) if (indeg.get(u) === 0) heap.push(u);
  const left = new Map<number, number>();
  for (const w of internal) left.set(w, p.values[w].consumers.length);
  let cur = 0, peak = 0;
  while (heap.size) {
    const u = heap.pop();
    for (const w of p.writes[u]) if (internal.has(w)) cur += p.values[w].bytes;
    peak = Math.max(peak, cur);
    for (const x of p.reads[u]) {
      if (!internal.has(x)) continue;
      const l = left.get(x)! - 1;
      left.set(x, l);
      if (l === 0) cur -= p.values[x].bytes;
    }
    for (const s of p.succs[u]) {
      if (!inChunk[s]) continue;
      const d = indeg.get(s)! - 1;
      indeg.set(s, d);
      if (d === 0) heap.push(s);
    }
  }
  return before + outlive + peak;
}

/** Chunks (problem nodes in planned order) of each partition, in sequence. */
export function chunkOrder(p: MemProblem, runtimeOrder: readonly number[], partOf: (u: number) => number, plannedPeak: number, opts: SplitOptions = {}): number[][] {
  const slack = opts.slack ?? 0.1, maxChunk = opts.maxChunk ?? 128;
  const limit = plannedPeak * (1 + slack);
  // alive bytes before each position of the planned order
  const rem = p.values.map((v) => v.consumers.length);
  let cur = 0;
  for (const v of p.values) if (v.producer < 0 && (v.consumers.length > 0 || v.keep)) cur += v.bytes;
  const before: number[] = [];
  for (const u of runtimeOrder) {
    before.push(cur);
    for (const w of p.writes[u]) cur += p.values[w].bytes;
    for (const x of p.reads[u]) if (--rem[x] === 0 && !p.values[x].keep) cur -= p.values[x].bytes;
    for (const w of p.writes[u]) if (p.values[w].consumers.length === 0 && !p.values[w].keep) cur -= p.values[w].bytes;
  }
  const inChunk = new Uint8Array(p.n);
  const out: number[][] = [];
  let i = 0;
  while (i < runtimeOrder.length) {
    let j = i;
    while (j < runtimeOrder.length && partOf(runtimeOrder[j]) === partOf(runtimeOrder[i])) j++;
    const whole = runtimeOrder.slice(i, j);
    for (const u of whole) inChunk[u] = 1;
    const fits = opts.mode === 'none' || chunkPeak(p, whole, before[i], inChunk) <= limit;
    for (const u of whole) inChunk[u] = 0;
    if (fits) out.push(whole);
    else {
      let a = i;
      while (a < j) {
        const chunk = [runtimeOrder[a]];
        inChunk[runtimeOrder[a]] = 1;
        let b = a + 1;
        while (b < j && chunk.length < maxChunk) {
          const u = runtimeOrder[b];
          // u reads a value made in this chunk: that value would be an intermediate of the backend's
          if (p.preds[u].some((q) => inChunk[q])) break;
          inChunk[u] = 1;
          chunk.push(u);
          if (chunkPeak(p, chunk, before[a], inChunk) > limit) {
            chunk.pop();
            inChunk[u] = 0;
            break;
          }
          b++;
        }
        for (const u of chunk) inChunk[u] = 0;
        out.push(chunk);
        a = b;
      }
    }
    i = j;
  }
  return out;
}

/** A Partitioning whose partitions are the chunks (ids in sequence); folded nodes join the first chunk that uses them. */
export function splitPartitions(graph: ShapedGraph, parts: Partitioning, st: StaticInfo, rt: RuntimeProblem, chunks: readonly number[][], order: readonly number[]): Partitioning {
  if (chunks.length === 0) return { ...parts, walk: [...order] };
  const n = graph.nodes.length;
  const partitionOf = new Array<number>(n).fill(-1);
  const processorOf: string[] = [];
  chunks.forEach((c, id) => {
    for (const u of c) partitionOf[rt.nodeOf[u]] = id;
    processorOf.push(parts.placement[rt.nodeOf[c[0]]].processor);
  });
  const placement = parts.placement.map((p) => ({ ...p, rejected: [...p.rejected] }));
  const firstRuntimeUse = firstRuntimePartition(graph, placement, partitionOf);
  const members: number[][] = chunks.map(() => []);
  for (let i = 0; i < n; i++) {
    if (placement[i].folded) {
      let q = firstRuntimeUse(i);
      if (q < 0) q = 0;
      partitionOf[i] = q;
      placement[i].processor = processorOf[q];
    }
    members[partitionOf[i]].push(i);
  }
  const partitions = partitionSpecs(graph, st, placement, partitionOf, members, processorOf);
  return { placement, partitions, partitionOf, walk: [...order], source: parts.source };
}
