/**
 * Pure figures the viewer and the trace export derive from a plan (and its view model): edges, lanes,
 * alive bytes over the order, where each order position falls in time. No DOM here: the page, the
 * trace export and the tests share these.
 */
import type { Plan } from '../plan/schema.js';
import type { ViewModel } from './model.js';

export const PROCESSOR_COLORS: Record<string, string> = { cpu: '#4e79a7', gpu: '#59a14f', npu: '#e15759' };
const EXTRA = ['#f28e2b', '#b07aa1', '#76b7b2', '#edc948', '#9c755f'];

/** A colour per processor id: by kind for the usual three, then distinct ones. */
export function processorColors(plan: Plan): Record<string, string> {
  const out: Record<string, string> = {};
  let k = 0;
  const used = new Set<string>();
  for (const p of plan.target.processors) {
    const c = PROCESSOR_COLORS[p.kind];
    if (c && !used.has(c)) out[p.id] = c;
    else out[p.id] = EXTRA[k++ % EXTRA.length];
    used.add(out[p.id]);
  }
  return out;
}

export interface Edge {
  from: number;
  to: number;
  value: string;
  /** Index of the transfer step moving this value between the two nodes' memories, when there is one. */
  transfer?: number;
}

/** Node → node edges through values (from the view model); transfers marked where the processors differ. */
export function nodeEdges(plan: Plan, view: ViewModel | undefined): Edge[] {
  const edges: Edge[] = [];
  if (!view) {
    // Without the model: the order, as a chain.
    for (let i = 1; i < plan.order.length; i++) edges.push({ from: plan.order[i - 1], to: plan.order[i], value: '' });
    return edges;
  }
  const transferOf = new Map<string, number>();
  plan.steps.forEach((s, i) => {
    if (s.kind === 'transfer') transferOf.set(`${s.value}\u0000${s.to}`, i);
  });
  view.nodes.forEach((n, to) => {
    const seen = new Set<string>();
    for (const name of n.inputs) {
      if (!name || seen.has(name)) continue;
      seen.add(name);
      const from = view.values[name]?.producer ?? -1;
      if (from < 0) continue;
      const a = plan.nodes[from], b = plan.nodes[to];
      const e: Edge = { from, to, value: name };
      if (!a.folded && !b.folded && a.processor !== b.processor) {
        const t = transferOf.get(`${name}\u0000${b.processor}`);
        if (t !== undefined) e.transfer = t;
      }
      edges.push(e);
    }
  });
  return edges;
}

/** Timeline lanes: one per processor, then one per link lane the steps use, in order of first use. */
export function lanes(plan: Plan): { id: string; kind: 'processor' | 'link' }[] {
  const out: { id: string; kind: 'processor' | 'link' }[] = plan.target.processors.map((p) => ({ id: p.id, kind: 'processor' as const }));
  const seen = new Set(out.map((l) => l.id));
  for (const s of plan.steps) {
    if (seen.has(s.lane)) continue;
    seen.add(s.lane);
    out.push({ id: s.lane, kind: s.kind === 'transfer' ? 'link' : 'processor' });
  }
  return out;
}

/**
 * Alive bytes at each order position 0…order.length of one memory (buffer lifetimes are inclusive):
 * the bytes of the arena that alive buffers occupy, so buffers sharing storage (a value written in place
 * over another, at the same offset) count once.
 */
export function aliveBytes(buffers: readonly { bytes: number; start: number; end: number; offset: number }[], positions: number): number[] {
  const byStart = [...buffers].sort((a, b) => a.start - b.start);
  let next = 0;
  let active: (typeof buffers)[number][] = [];
  const out: number[] = [];
  for (let p = 0; p <= positions; p++) {
    while (next < byStart.length && byStart[next].start <= p) active.push(byStart[next++]);
    active = active.filter((b) => Math.min(b.end, positions) >= p);
    const spans = active.filter((b) => b.bytes > 0).map((b) => [b.offset, b.offset + b.bytes]).sort((a, b) => a[0] - b[0]);
    let total = 0, lo = -1, hi = -1;
    for (const [a, b] of spans) {
      if (a > hi) {
        total += hi - lo;
        lo = a;
        hi = b;
      } else hi = Math.max(hi, b);
    }
    total += hi - lo;
    out.push(total);
  }
  return out;
}

/**
 * The time of each order position: a partition's nodes spread evenly over its compute step, folded
 * nodes at the start of their partition's step. `times` gives each step's [start, end] (predicted or measured).
 */
export function positionTimes(plan: Plan, times: (step: number) => [number, number]): number[] {
  const stepOf = new Map<number, number>();
  plan.steps.forEach((s, i) => {
    if (s.kind === 'compute') stepOf.set(s.partition, i);
  });
  const count = new Map<number, number>();
  const seen = new Map<number, number>();
  for (const n of plan.order) {
    const p = plan.nodes[n].partition;
    count.set(p, (count.get(p) ?? 0) + 1);
  }
  const out: number[] = [];
  let last = 0;
  for (const n of plan.order) {
    const p = plan.nodes[n].partition;
    const k = seen.get(p) ?? 0;
    seen.set(p, k + 1);
    const step = stepOf.get(p);
    if (step === undefined) {
      out.push(last);
      continue;
    }
    const [s, e] = times(step);
    last = s + ((e - s) * k) / Math.max(1, count.get(p)!);
    out.push(last);
  }
  out.push(Math.max(last, ...plan.steps.map((_, i) => times(i)[1])));
  return out;
}

/** Sizes as people read them (the data keeps bytes). */
export function fmtBytes(n: number): string {
  if (n >= 1024 * 1024) return `${(n / (1024 * 1024)).toFixed(2)} MB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${n} B`;
}

/** Times as people read them (the data keeps microseconds). */
export function fmtUs(us: number): string {
  return us >= 1000 ? `${(us / 1000).toFixed(2)} ms` : us >= 10 ? `${us.toFixed(0)} µs` : `${us.toFixed(1)} µs`;
}

export function fmtCount(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} G`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} k`;
  return String(n);
}
