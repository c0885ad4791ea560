/**
 * Schedule: one lane per processor and per link direction; a compute step per partition and an
 * explicit transfer step for every value that crosses memories. List scheduling over a topological
 * order of the partitions: each step starts when its inputs are ready and its lane is free, so
 * independent partitions on different processors overlap. Times are predictions of the cost model.
 */
import type { Partitioning } from '../plan/partitioning.js';
import type { Residency } from '../plan/residency.js';
import { launchUs, nodeUs, transferUs } from '../targets/cost.js';
import { bytesOn } from '../targets/storage.js';
import type { CompileContext } from './context.js';

export type Step =
  | { kind: 'compute'; partition: number; lane: string; startUs: number; endUs: number; after: number[] }
  | { kind: 'transfer'; value: string; from: string; to: string; bytes: number; lane: string; startUs: number; endUs: number; after: number[] };

export interface Schedule {
  steps: Step[];
  latencyUs: number;
  transferBytes: number;
  /** Predicted busy time per processor lane. */
  busyUs: Record<string, number>;
}

const round = (x: number) => Math.round(x * 100) / 100;

/** `res`: where values live under `parts` (the context's, unless the caller has computed it). */
export function schedule(ctx: CompileContext, parts: Partitioning, res: ReadonlyMap<string, Residency> = ctx.residency(parts)): Schedule {
  const { graph, target } = ctx;
  const proc = ctx.proc;
  const steps: Step[] = [];
  const laneFree = new Map<string, number>();
  const busy: Record<string, number> = Object.fromEntries(target.processors.map((p) => [p.id, 0]));
  const producedBy = new Map<string, number>(); // value -> compute step
  const copyOf = new Map<string, number>(); // `${value}\u0000${proc}` -> transfer step
  let transferBytes = 0;

  const transfer = (value: string, to: string): number => {
    const key = `${value}\u0000${to}`;
    const have = copyOf.get(key);
    if (have !== undefined) return have;
    const r = res.get(value)!;
    const v = graph.values.get(value)!;
    const from = proc(r.home);
    const bytes = bytesOn(from, v);
    const lane = `${r.home}->${to}`;
    const after = producedBy.has(value) ? [producedBy.get(value)!] : [];
    const ready = Math.max(0, ...after.map((s) => steps[s].endUs));
    const startUs = round(Math.max(ready, laneFree.get(lane) ?? 0));
    const endUs = round(startUs + transferUs(target, r.home, to, bytes));
    laneFree.set(lane, endUs);
    transferBytes += bytes;
    steps.push({ kind: 'transfer', value, from: r.home, to, bytes, lane, startUs, endUs, after });
    copyOf.set(key, steps.length - 1);
    return steps.length - 1;
  };

  for (const p of parts.partitions) {
    const deps = new Set<number>();
    for (const v of p.inputs) {
      const r = res.get(v)!;
      if (r.home === p.processor) {
        const s = producedBy.get(v);
        if (s !== undefined) deps.add(s);
      } else deps.add(transfer(v, p.processor));
    }
    const pr = proc(p.processor);
    let dur = launchUs(pr, p.inputs.length + p.outputs.length);
    for (const i of p.nodes) if (!parts.placement[i].folded) dur += nodeUs(pr, graph, i);
    const after = [...deps].sort((a, b) => a - b);
    const startUs = round(Math.max(laneFree.get(p.processor) ?? 0, ...after.map((s) => steps[s].endUs)));
    const endUs = round(startUs + dur);
    laneFree.set(p.processor, endUs);
    busy[p.processor] += endUs - startUs;
    steps.push({ kind: 'compute', partition: p.id, lane: p.processor, startUs, endUs, after });
    for (const o of p.outputs) producedBy.set(o, steps.length - 1);
  }
  const host = ctx.host;
  for (const o of graph.outputs) {
    const r = res.get(o);
    if (r && r.home !== host) transfer(o, host);
  }
  const latencyUs = round(Math.max(0, ...steps.map((s) => s.endUs)));
  return { steps, latencyUs, transferBytes, busyUs: Object.fromEntries(Object.entries(busy).map(([k, v]) => [k, round(v)])) };
}
