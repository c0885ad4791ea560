/**
 * Plan memory: buffer lifetimes from the order, one arena per processor memory, offsets by greedy-by-size
 * with best fit (as TFLite's arena planner), and a verifier that fails loudly when two buffers alive at
 * the same time overlap.
 *
 * Lifetime rule (positions in `order`, inclusive): in the memory of processor P, a value produced on P
 * lives from its producer's position to the position of its last run-time consumer on any processor (to
 * the end for a graph output); a value transferred into P lives from its producer's position to its last
 * consumer on P; graph inputs live from position 0. Weights and folded values get no buffer.
 * A partition runs as one backend call, so a value crossing a partition boundary is alive over the whole
 * span of the partitions that write or read it: from the first position of its producer's partition, to
 * the last position of each consumer's partition (a superset of the rule above).
 */
import { TesseraError } from '../errors.js';
import type { ShapedGraph } from '../ir/infer.js';
import type { Target } from '../targets/schema.js';
import type { Partitioning } from './partition.js';
import { hostProcessor, type Residency } from './residency.js';
import { bytesOn, storageOn, type Ranges } from '../targets/storage.js';
import type { StaticInfo } from './static.js';
import { placeBest } from './memory-offsets.js';
import { inplaceCandidates } from '../ir/ops/traits.js';

export const ALIGNMENT = 64;

export interface Lifetime {
  value: string;
  bytes: number;
  /** How the value is stored in this memory (float32 values may be legalized to float16 or int16). */
  dtype: string;
  scale?: number;
  /** First and last position in `order` (inclusive); `order.length` means "until the end". */
  start: number;
  end: number;
}

export interface Buffer extends Lifetime {
  offset: number;
  /** Written in place over this value's buffer (same offset): the value is read for the last time by the node that writes this one. */
  inplaceOf?: string;
}

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

const align = (n: number) => Math.ceil(n / ALIGNMENT) * ALIGNMENT;

/** The buffers each processor's memory must hold, by the lifetime rule. */
export function lifetimes(graph: ShapedGraph, target: Target, parts: Partitioning, st: StaticInfo, res: ReadonlyMap<string, Residency>, order: readonly number[], ranges?: Ranges): Map<string, Lifetime[]> {
  const pos = new Array<number>(graph.nodes.length);
  order.forEach((n, i) => (pos[n] = i));
  const end = order.length;
  // A partition runs as one backend call: the values crossing its boundary are alive for all of it.
  const span = parts.partitions.map(() => ({ first: Infinity, last: -1 }));
  for (const node of graph.nodes) {
    if (parts.placement[node.index].folded) continue;
    const s = span[parts.partitionOf[node.index]];
    s.first = Math.min(s.first, pos[node.index]);
    s.last = Math.max(s.last, pos[node.index]);
  }
  const out = new Map<string, Lifetime[]>(target.processors.map((p) => [p.id, []]));
  const outputs = new Set(graph.outputs);
  for (const [name, r] of res) {
    const v = graph.values.get(name)!;
    const home = v.producer >= 0 ? parts.partitionOf[v.producer] : -1;
    const consumers = st.runtimeConsumers(name);
    const crosses = outputs.has(name) || consumers.some((c) => parts.partitionOf[c] !== home);
    const start = v.producer < 0 ? 0 : crosses ? span[home].first : pos[v.producer];
    const last = (onProc?: string) => {
      let e = start;
      for (const c of consumers) {
        if (onProc && parts.placement[c].processor !== onProc) continue;
        const q = parts.partitionOf[c];
        e = Math.max(e, q === home ? pos[c] : span[q].last);
      }
      return e;
    };
    const homeEnd = outputs.has(name) ? end : last();
    const buffer = (procId: string, e: number): Lifetime => {
      const p = target.processors.find((x) => x.id === procId)!;
      const s = storageOn(p, v, ranges);
      return { value: name, bytes: align(bytesOn(p, v, ranges)), dtype: s.dtype, ...(s.scale !== undefined ? { scale: s.scale } : {}), start, end: e };
    };
    out.get(r.home)!.push(buffer(r.home, homeEnd));
    for (const q of r.copies) out.get(q)!.push(buffer(q, outputs.has(name) && q === hostProcessor(target) ? end : last(q)));
  }
  return out;
}

/** Largest sum of alive bytes at any position. */
export function peakOf(buffers: readonly Lifetime[], positions: number): number {
  const delta = new Array<number>(positions + 2).fill(0);
  for (const b of buffers) {
    delta[b.start] += b.bytes;
    delta[b.end + 1] -= b.bytes;
  }
  let cur = 0, peak = 0;
  for (const d of delta) {
    cur += d;
    peak = Math.max(peak, cur);
  }
  return peak;
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

/** Throws when two buffers alive at the same time overlap in the arena. */
export function verifyNoOverlap(buffers: readonly Buffer[], memory: string): void {
  const byStart = [...buffers].sort((a, b) => a.start - b.start);
  for (let i = 0; i < byStart.length; i++) {
    for (let j = i + 1; j < byStart.length && byStart[j].start <= byStart[i].end; j++) {
      const a = byStart[i], b = byStart[j];
      const inplace = (x: Buffer, y: Buffer) => y.inplaceOf === x.value && y.offset === x.offset && x.end === y.start && y.bytes <= x.bytes;
      if (inplace(a, b) || inplace(b, a)) continue;
      if (a.offset < b.offset + b.bytes && b.offset < a.offset + a.bytes && a.bytes > 0 && b.bytes > 0) {
        throw new TesseraError('BAD_PLAN', `memory '${memory}': buffers '${a.value}' [${a.offset}, +${a.bytes}) alive at positions ${a.start}-${a.end} and '${b.value}' [${b.offset}, +${b.bytes}) alive at ${b.start}-${b.end} overlap`);
      }
    }
  }
}

export function planMemory(graph: ShapedGraph, target: Target, parts: Partitioning, st: StaticInfo, res: ReadonlyMap<string, Residency>, order: readonly number[], ranges?: Ranges, inplace = false): Record<string, MemoryPlan> {
  const lives = lifetimes(graph, target, parts, st, res, order, ranges);
  const out: Record<string, MemoryPlan> = {};
  for (const proc of target.processors) {
    const items = lives.get(proc.id)!;
    const { buffers, algorithm } = placeWithInplace(graph, items, order, parts, inplace);
    buffers.sort((a, b) => a.start - b.start || (a.value < b.value ? -1 : 1));
    verifyNoOverlap(buffers, proc.id);
    const arenaBytes = Math.max(0, ...buffers.map((b) => b.offset + b.bytes));
    const onChip = proc.onChipBytes?.value;
    // Lower bound: the largest working set of one node (its run-time inputs and outputs together).
    let lower = 0;
    const weights = new Set<string>();
    for (const node of graph.nodes) {
      if (parts.placement[node.index].folded || parts.placement[node.index].processor !== proc.id) continue;
      const names = new Set([...st.runtimeReads(node), ...node.outputs.filter((o) => o !== '')]);
      let ws = 0;
      for (const n of names) ws += align(bytesOn(proc, graph.values.get(n)!));
      lower = Math.max(lower, ws);
      for (const r of node.inputs) if (r && graph.values.get(r)?.isConst) weights.add(r);
    }
    let weightBytes = 0;
    for (const w of [...weights].sort()) weightBytes += bytesOn(proc, graph.values.get(w)!);
    out[proc.id] = {
      arenaBytes,
      peakBytes: peakOf(mergedLifetimes(buffers), order.length),
      lowerBoundBytes: lower,
      weightBytes,
      algorithm,
      ...(onChip !== undefined ? { onChipBytes: onChip, spillBytes: spillBytes(buffers, onChip) } : {}),
      buffers,
    };
  }
  return out;
}

/** Buffers sharing storage in place count once (as their merged lifetime). */
function mergedLifetimes(buffers: readonly Buffer[]): Lifetime[] {
  const byValue = new Map(buffers.map((b) => [b.value, b]));
  const root = (b: Buffer): Buffer => (b.inplaceOf && byValue.has(b.inplaceOf) ? root(byValue.get(b.inplaceOf)!) : b);
  const merged = new Map<string, Lifetime>();
  for (const b of buffers) {
    const r = root(b);
    const m = merged.get(r.value);
    if (!m) merged.set(r.value, { ...b, value: r.value });
    else merged.set(r.value, { ...m, start: Math.min(m.start, b.start), end: Math.max(m.end, b.end), bytes: Math.max(m.bytes, b.bytes) });
  }
  return [...merged.values()];
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
