/**
 * Plan memory: buffer lifetimes from the order (the rule is the plan's: plan/lifetimes.ts), one arena per
 * processor memory, offsets by every registered algorithm (memory-offsets.ts; greedy-by-size with best
 * fit, as TFLite's arena planner, among them), the smallest arena kept, and a check that fails loudly
 * when two buffers alive at the same time overlap. Each buffer records how its value is stored there
 * (the dtype policy of targets/storage.ts): the plan carries the lowering to the runtime.
 */
import type { ShapedGraph } from '../ir/infer.js';
import { lifetimes, mergedLifetimes, peakOf, verifyNoOverlap, type Buffer, type Lifetime } from '../plan/lifetimes.js';
import type { StaticInfo } from '../ir/static.js';
import { makeProblem, nodeLowerBound, type MemProblem, type MemValue } from './memory-graph.js';
import type { Partitioning } from '../plan/partitioning.js';
import { heldAs } from '../ir/qdq.js';
import type { Residency } from '../plan/residency.js';
import { bytesOn } from '../targets/storage.js';

export { peakOf };
import type { CompileContext } from './context.js';
import { placeBest } from './memory-offsets.js';
import { inplaceCandidates } from '../ir/ops/traits.js';

export interface MemoryPlan {
  arenaBytes: number;
  peakBytes: number;
  lowerBoundBytes: number;
  weightBytes: number;
  /** The offset algorithm that gave the smallest arena (see memory-offsets.ts). */
  algorithm?: string;
  /** The processor's fast on-chip memory, and the buffer bytes placed beyond it (they would spill to DRAM). */
  onChipBytes?: number;
  spillBytes?: number;
  buffers: Buffer[];
}

const overlapsInTime = (a: Lifetime, b: Lifetime) => a.start <= b.end && b.start <= a.end;

/** Greedy by size, best fit: each buffer (largest first) takes the smallest gap among those alive with it. */
export function greedyBySize(items: readonly Lifetime[]): Buffer[] {
  const sorted = [...items].sort((a, b) => b.bytes - a.bytes || a.start - b.start || (a.value < b.value ? -1 : 1));
  const placed: Buffer[] = [];
  for (const it of sorted) {
    const live = placed.filter((p) => overlapsInTime(p, it)).sort((a, b) => a.offset - b.offset);
    let cur = 0, best = -1, bestGap = Infinity;
    for (const p of live) {
      const gap = p.offset - cur;
      if (gap >= it.bytes && gap < bestGap) {
        best = cur;
        bestGap = gap;
      }
      cur = Math.max(cur, p.offset + p.bytes);
    }
    placed.push({ ...it, offset: best >= 0 ? best : cur });
  }
  return placed;
}

/**
 * The buffers of one memory as an ordering problem over the graph's nodes (every node reads and writes
 * the buffers of its inputs and outputs held here, alive at its position in any order by the lifetime
 * rule), so the memory's lower bound is the one bound of memory-graph.ts on it, never above its peak.
 */
export function arenaProblem(graph: ShapedGraph, st: StaticInfo, parts: Partitioning, res: ReadonlyMap<string, Residency>, procId: string, items: readonly Lifetime[], inplace: boolean): MemProblem {
  const id = new Map(items.map((it, i) => [it.value, i]));
  const outputs = new Set(graph.outputs);
  const values: MemValue[] = items.map((it) => {
    const v = graph.values.get(it.value)!;
    // the value's home buffer lives to its last consumer anywhere; a copy to its last consumer here
    const home = res.get(it.value)?.home === procId;
    const consumers = st.runtimeConsumers(it.value).filter((c) => home || parts.placement[c].processor === procId);
    return { bytes: it.bytes, producer: v.producer, consumers: [...new Set(consumers)], keep: outputs.has(it.value), name: it.value };
  });
  const cands = graph.nodes.map((node) => {
    const outs = node.outputs.filter((o) => o !== '');
    const y = outs.length === 1 ? id.get(outs[0]) : undefined;
    if (!inplace || y === undefined) return [];
    return inplaceCandidates(node.op, node.inputs).map((x) => id.get(x)).filter((x): x is number => x !== undefined && items[x].bytes === items[y].bytes && items[x].dtype === items[y].dtype);
  });
  return makeProblem(graph.nodes.length, values, cands);
}

export function planMemory(ctx: CompileContext, parts: Partitioning, order: readonly number[], inplace = false): Record<string, MemoryPlan> {
  const { graph, target, st } = ctx;
  const res = ctx.residency(parts);
  const lives = lifetimes(graph, target, parts, st, res, order, ctx.ranges);
  const out: Record<string, MemoryPlan> = {};
  for (const proc of target.processors) {
    const items = lives.get(proc.id)!;
    const { buffers, algorithm } = placeWithInplace(graph, items, order, parts, inplace);
    buffers.sort((a, b) => a.start - b.start || (a.value < b.value ? -1 : 1));
    verifyNoOverlap(buffers, proc.id);
    const arenaBytes = Math.max(0, ...buffers.map((b) => b.offset + b.bytes));
    const onChip = proc.onChipBytes?.value;
    const weights = new Set<string>();
    for (const node of graph.nodes) {
      if (parts.placement[node.index].folded || parts.placement[node.index].processor !== proc.id) continue;
      for (const r of node.inputs) if (r && graph.values.get(r)?.isConst) heldAs(graph, r).forEach((w) => weights.add(w));
    }
    let weightBytes = 0;
    for (const w of [...weights].sort()) weightBytes += bytesOn(proc, graph.values.get(w)!);
    out[proc.id] = {
      arenaBytes,
      peakBytes: peakOf(mergedLifetimes(buffers), order.length),
      lowerBoundBytes: nodeLowerBound(arenaProblem(graph, st, parts, res, proc.id, items, inplace)),
      weightBytes,
      algorithm,
      ...(onChip !== undefined ? { onChipBytes: onChip, spillBytes: spillBytes(buffers, onChip) } : {}),
      buffers,
    };
  }
  return out;
}

/** Bytes of buffers placed beyond the on-chip size (they would live in DRAM). */
export function spillBytes(buffers: readonly Buffer[], onChip: number): number {
  const seen = new Set<string>();
  let s = 0;
  for (const b of buffers) {
    if (b.inplaceOf) continue; // shares its storage with the value it overwrites
    if (seen.has(b.value)) continue;
    seen.add(b.value);
    s += Math.max(0, b.offset + b.bytes - Math.max(b.offset, onChip));
  }
  return s;
}

/**
 * In place: an elementwise node (trait `inplace`) at position t writes its output y over its first input x
 * when x's buffer ends at t, y's starts at t and both have the same size; they are placed as one storage.
 * Offsets by every registered algorithm, the smallest arena kept.
 */
export function placeWithInplace(graph: ShapedGraph, items: readonly Lifetime[], order: readonly number[], parts: Partitioning, inplace = true): { buffers: Buffer[]; algorithm: string } {
  const byValue = new Map(items.map((it, i) => [it.value, i]));
  const group = items.map((_, i) => i);
  const find = (x: number): number => (group[x] === x ? x : (group[x] = find(group[x])));
  const inplaceOf = new Map<number, string>();
  const overwritten = new Set<string>();
  order.forEach((idx, t) => {
    const node = graph.nodes[idx];
    if (!inplace || parts.placement[idx].folded) return;
    const outs = node.outputs.filter((o) => o !== '');
    const yi = outs.length === 1 ? byValue.get(outs[0]) : undefined;
    if (yi === undefined || find(yi) !== yi) return;
    const y = items[yi];
    for (const name of inplaceCandidates(node.op, node.inputs)) {
      const xi = byValue.get(name);
      if (xi === undefined) continue;
      const x = items[xi];
      if (x.end !== t || y.start !== t || x.bytes !== y.bytes || x.dtype !== y.dtype || x.scale !== y.scale) continue;
      // another node's output already written over x at t cannot share it too
      if (overwritten.has(x.value)) continue;
      group[yi] = find(xi);
      inplaceOf.set(yi, x.value);
      overwritten.add(x.value);
      return;
    }
  });
  const gi = new Map<number, number>();
  const storages: { start: number; end: number; bytes: number }[] = [];
  items.forEach((it, i) => {
    const r = find(i);
    const g = gi.get(r);
    if (g === undefined) {
      gi.set(r, storages.length);
      storages.push({ start: it.start, end: it.end, bytes: it.bytes });
    } else {
      const S = storages[g];
      S.start = Math.min(S.start, it.start);
      S.end = Math.max(S.end, it.end);
      S.bytes = Math.max(S.bytes, it.bytes);
    }
  });
  const placed = placeBest(storages);
  const buffers = items.map((it, i) => {
    const b: Buffer = { ...it, offset: placed.offsets[gi.get(find(i))!] ?? 0 };
    const src = inplaceOf.get(i);
    if (src !== undefined) b.inplaceOf = src;
    return b;
  });
  return { buffers, algorithm: placed.algorithm };
}
