/**
 * Buffer lifetimes: the rule a plan's memory must satisfy (the memory planner places buffers by it, the
 * verifier checks a plan against it). Positions in `order`, inclusive: in the memory of processor P, a
 * value produced on P lives from its producer's position to the position of its last run-time consumer
 * on any processor (to the end for a graph output); a value transferred into P lives from its producer's
 * position to its last consumer on P; graph inputs live from position 0. Weights and folded values get no
 * buffer. A partition runs as one backend call, so a value crossing a partition boundary is alive over
 * the whole span of the partitions that write or read it: from the first position of its producer's
 * partition, to the last position of each consumer's partition (a superset of the rule above).
 */
import { TesseraError } from '../errors.js';
import type { ShapedGraph } from '../ir/infer.js';
import { qdqGraph } from '../ir/qdq.js';
import type { StaticInfo } from '../ir/static.js';
import type { Target } from '../targets/schema.js';
import { bytesOn, storageOn, type Ranges } from '../targets/storage.js';
import type { Partitioning } from './partitioning.js';
import { hostProcessor, type Residency } from './residency.js';

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

/** Bytes rounded up to the alignment of every buffer. */
export const align = (n: number) => Math.ceil(n / ALIGNMENT) * ALIGNMENT;

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
  const inGroups = qdqGraph(graph).values;
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
      const s = storageOn(p, v, ranges, inGroups);
      return { value: name, bytes: align(bytesOn(p, v, ranges, inGroups)), dtype: s.dtype, ...(s.scale !== undefined ? { scale: s.scale } : {}), start, end: e };
    };
    out.get(r.home)!.push(buffer(r.home, homeEnd));
    for (const q of r.copies) out.get(q)!.push(buffer(q, outputs.has(name) && q === hostProcessor(target) ? end : last(q)));
  }
  return out;
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

/** Buffers sharing storage in place count once (as their merged lifetime). */
export function mergedLifetimes(buffers: readonly Buffer[]): Lifetime[] {
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

