/**
 * A plan (and optionally its measured trace) as Chrome Trace Event Format JSON, which Perfetto and
 * chrome://tracing open: one pid per processor, one tid per lane (a processor's compute lane, and each
 * link lane under the processor it leaves), an `X` event per step (measured times when a trace is given,
 * the predicted ones in its args; predicted times otherwise), flow events (`s`/`f`) from a producer step
 * through each transfer to its consumer, and a `C` counter of alive bytes per memory.
 */
import type { Plan } from '../plan/schema.js';
import { aliveBytes, positionTimes } from './derive.js';
import type { TraceFile } from './trace-file.js';

export interface TraceEvent {
  name: string;
  ph: 'X' | 's' | 'f' | 'C' | 'M';
  ts: number;
  pid: number;
  tid: number;
  dur?: number;
  cat?: string;
  id?: number;
  bp?: 'e';
  args?: Record<string, unknown>;
}

export interface TraceEventFile {
  traceEvents: TraceEvent[];
  displayTimeUnit: 'ms';
  otherData: Record<string, string>;
}

export function toTraceEvents(plan: Plan, trace?: TraceFile): TraceEventFile {
  const events: TraceEvent[] = [];
  const pidOf = new Map(plan.target.processors.map((p, i) => [p.id, i + 1]));
  const tidOf = new Map<string, { pid: number; tid: number }>();
  plan.target.processors.forEach((p, i) => {
    events.push({ name: 'process_name', ph: 'M', ts: 0, pid: i + 1, tid: 0, args: { name: `${p.id}: ${p.name} (${p.backend})` } });
    events.push({ name: 'process_sort_index', ph: 'M', ts: 0, pid: i + 1, tid: 0, args: { sort_index: i } });
  });
  const lane = (id: string): { pid: number; tid: number } => {
    let l = tidOf.get(id);
    if (l) return l;
    const from = id.includes('->') ? id.split('->')[0] : id;
    const pid = pidOf.get(from) ?? pidOf.get(plan.target.processors[0].id)!;
    const tid = [...tidOf.values()].filter((x) => x.pid === pid).length + 1;
    l = { pid, tid };
    tidOf.set(id, l);
    events.push({ name: 'thread_name', ph: 'M', ts: 0, pid, tid, args: { name: id.includes('->') ? `link ${id}` : `${id} compute` } });
    return l;
  };
  for (const p of plan.target.processors) lane(p.id);
  const measured = new Map(trace?.steps.map((s) => [s.step, s]) ?? []);
  const times = (i: number): [number, number] => {
    const m = measured.get(i);
    return m ? [m.startUs, m.endUs] : [plan.steps[i].startUs, plan.steps[i].endUs];
  };
  plan.steps.forEach((s, i) => {
    const [ts, end] = times(i);
    const { pid, tid } = lane(s.lane);
    const name = s.kind === 'compute' ? `partition ${s.partition} (${plan.partitions[s.partition].nodes.filter((n) => !plan.nodes[n].folded).length} nodes)` : `transfer ${s.value}`;
    const args: Record<string, unknown> = { step: i, predictedStartUs: s.startUs, predictedEndUs: s.endUs, after: s.after };
    if (trace) args.measured = measured.has(i);
    if (s.kind === 'transfer') Object.assign(args, { value: s.value, from: s.from, to: s.to, bytes: s.bytes });
    else Object.assign(args, { backend: plan.partitions[s.partition].backend, precision: plan.partitions[s.partition].precision });
    events.push({ name, cat: s.kind, ph: 'X', ts, dur: Math.max(0, end - ts), pid, tid, args });
  });
  // Flows: producer step → transfer → each consumer step.
  let flow = 0;
  const consumers = (i: number) => plan.steps.map((s, j) => ({ s, j })).filter(({ s }) => s.after.includes(i));
  plan.steps.forEach((s, i) => {
    if (s.kind !== 'transfer') return;
    const here = lane(s.lane);
    const [ts] = times(i);
    for (const d of s.after) {
      const p = plan.steps[d];
      if (p.kind !== 'compute') continue;
      const l = lane(p.lane);
      const id = ++flow;
      events.push({ name: `transfer ${s.value}`, cat: 'transfer', ph: 's', id, ts: times(d)[0], pid: l.pid, tid: l.tid });
      events.push({ name: `transfer ${s.value}`, cat: 'transfer', ph: 'f', bp: 'e', id, ts, pid: here.pid, tid: here.tid });
    }
    for (const { s: c, j } of consumers(i)) {
      const l = lane(c.lane);
      const id = ++flow;
      events.push({ name: `transfer ${s.value}`, cat: 'transfer', ph: 's', id, ts, pid: here.pid, tid: here.tid });
      events.push({ name: `transfer ${s.value}`, cat: 'transfer', ph: 'f', bp: 'e', id, ts: times(j)[0], pid: l.pid, tid: l.tid });
    }
  });
  // Alive bytes per memory, over time (each order position placed within its partition's step).
  const at = positionTimes(plan, times);
  for (const [mem, m] of Object.entries(plan.memory)) {
    const pid = pidOf.get(mem);
    if (pid === undefined) continue;
    const alive = aliveBytes(m.buffers, plan.order.length);
    let prev = -1;
    alive.forEach((bytes, p) => {
      if (bytes === prev) return;
      prev = bytes;
      events.push({ name: `alive bytes (${mem})`, ph: 'C', ts: at[p], pid, tid: 0, args: { bytes } });
    });
  }
  return {
    traceEvents: events,
    displayTimeUnit: 'ms',
    otherData: {
      model: plan.model.file, target: plan.target.name,
      times: trace ? `measured: ${trace.source}; predicted times in each event's args (${plan.estimate.source})` : `predicted: ${plan.estimate.source}; not measured`,
    },
  };
}
