/**
 * A forward pass under a memory budget, with the weights streamed from disk: for models whose weights do
 * not fit the budget (a decoder of 2 GB under 256 MB). The compile half (compiler/stream.ts) cuts the
 * model's nodes, in file order, into groups whose weights fit the budget's weight share, each run by an
 * engine session whose weights are inputs; a repeated block (a transformer layer) has one session for
 * all its instances. Here each group's weights are read from the model's files into the weight arena
 * (runtime/weight-arena.ts) just before it runs, the next group's while it runs (when both fit), and fed
 * to its session as input tensors. Sessions are created once, on first use, and kept: later runs (decode
 * steps) create none. Values a later group reads are kept between groups, and dropped after their last
 * reader.
 *
 *   const model = await StreamedModel.open('decoder/model.onnx', { budgetBytes: 256e6, inputShapes });
 *   const outputs = await model.run(feeds);   // as many runs as wanted, at the shapes it was opened for
 *   model.groups                              // the groups: nodes, weight bytes, session, fed weights
 *   model.stats                               // sessions created, bytes read and the time spent reading
 *   await model.release();                    // its sessions and open files
 *
 * The budget covers weights and activations; the process's engine floor (node, onnxruntime, Tessera:
 * the target's memory.floorBytes) comes on top. A budget no group can fit — a single node whose weights
 * are larger — is refused with BUDGET_INFEASIBLE, naming the smallest budget that fits.
 */
import type * as ort from 'onnxruntime-node';
import { createSession, runSession, type OrtMemoryOptions, withExternalDataDir } from '../backends/ort.js';
import type { TensorMap } from '../backends/tensor.js';
import { planStream, type StreamGroup, type StreamOptions, type StreamPlan } from '../compiler/stream.js';
import { TesseraError } from '../errors.js';
import type { ShapedGraph } from '../ir/infer.js';
import { collectGarbage } from './gc.js';
import { spanBytes, WeightArena, type Span } from './weight-arena.js';

/** Bytes of dropped values (onnxruntime-node's copies of outputs) after which garbage is collected: V8 would keep them resident until it next needs room, on top of the budget. */
const GARBAGE_BYTES = 4e6;
const tensorByteLength = (t: TensorMap[string]) => (typeof t.data[0] === 'string' ? 0 : (t.data as Float32Array).byteLength);

export { groupsFor, type FedWeight, type StreamGroup, type StreamOptions, type StreamSession } from '../compiler/stream.js';
export { WeightArena } from './weight-arena.js';

/** Sessions of streamed groups: no arena, no memory pattern, no prepacked weight copies, threads that sleep between runs. */
const STREAMED: OrtMemoryOptions = {
  enableCpuMemArena: false, enableMemPattern: false, graphOptimizationLevel: 'extended',
  extra: { session: { 'intra_op.allow_spinning': '0', disable_prepacking: '1' } },
};

export interface StreamStats {
  /** Engine sessions created so far (one per distinct group, on first use). */
  sessionsCreated: number;
  sessionCreateMs: number;
  /** Bytes read from the model's files into the weight arena, and the time the reads took (overlapped with compute when prefetched). */
  readBytes: number;
  readMs: number;
  /** Time a run waited for weights that were not read yet. */
  waitMs: number;
  runs: number;
  /** Garbage collections made to keep dropped values (4 MB at most) from adding to the budget. */
  collections: number;
}

/** One span of the last run's timeline: a group's weights read (the storage lane) or its session run (the compute lane), ms from the run's start. */
export interface StreamEvent {
  lane: 'storage' | 'compute';
  group: number;
  startMs: number;
  endMs: number;
  /** Bytes read (storage lane). */
  bytes?: number;
}

export interface StreamedOpenOptions extends StreamOptions {
  /** A weight arena to read into (shared by models over the same weights, e.g. prefill and decode); default: one of the plan's size. */
  arena?: WeightArena;
}

export class StreamedModel {
  private readonly sessions: (Promise<ort.InferenceSession> | null)[];
  private readonly waits = { waitMs: 0, runs: 0, sessionCreateMs: 0, sessionsCreated: 0, collections: 0 };
  private garbage = 0;
  private returned = 0;
  /** The last run's timeline: reads on the storage lane, session runs on the compute lane. */
  events: StreamEvent[] = [];

  private constructor(
    readonly path: string,
    private readonly plan: StreamPlan,
    readonly arena: WeightArena,
    private readonly prefetch: boolean,
  ) {
    this.sessions = plan.sessions.map(() => null);
  }

  get graph(): ShapedGraph {
    return this.plan.graph;
  }

  get groups(): readonly StreamGroup[] {
    return this.plan.groups;
  }

  /** Whether the next group's weights are read while one runs (StreamOptions.prefetch, 'auto' decided by the plan). */
  get prefetching(): boolean {
    return this.prefetch;
  }

  /** The figures prefetch 'auto' decided by (storage read bandwidth, predicted read and compute time), and why. */
  get prefetchDecision(): StreamPlan['prefetchDecision'] {
    return this.plan.prefetchDecision;
  }

  /** The last run's timeline as Chrome Trace Event objects: the storage lane (tid 1) beside the compute lane (tid 2). */
  traceEvents(): object[] {
    const lanes = [{ name: 'thread_name', ph: 'M', pid: 1, tid: 1, args: { name: 'storage (weight reads)' } }, { name: 'thread_name', ph: 'M', pid: 1, tid: 2, args: { name: 'compute (engine sessions)' } }];
    return [...lanes, ...this.events.map((e) => ({
      name: e.lane === 'storage' ? `read group ${e.group + 1}` : `group ${e.group + 1}`, cat: e.lane, ph: 'X', pid: 1, tid: e.lane === 'storage' ? 1 : 2,
      ts: Math.round(e.startMs * 1000), dur: Math.max(1, Math.round((e.endMs - e.startMs) * 1000)), args: e.bytes === undefined ? {} : { bytes: e.bytes },
    }))];
  }

  /** Distinct engine sessions (fewer than groups when a block repeats). */
  get sessionCount(): number {
    return this.plan.sessions.length;
  }

  get stats(): StreamStats {
    return { ...this.waits, readBytes: this.arena.readBytes, readMs: this.arena.readMs };
  }

  /** Imports and shapes the model (no weight is read), and cuts it into groups that fit the budget (compiler/stream.ts). */
  static async open(path: string, options: StreamedOpenOptions): Promise<StreamedModel> {
    const plan = await planStream(path, options);
    const need = Math.max(0, ...plan.groups.map((g) => spanBytes(g.fed)));
    if (options.arena && options.arena.bytes < need) throw new TesseraError('BAD_ARGUMENT', `${path}: the weight arena given (${options.arena.bytes} bytes) is smaller than a group's weights (${need} bytes)`);
    return new StreamedModel(path, plan, options.arena ?? new WeightArena(plan.prefetch ? Math.max(need, Math.min(plan.arenaBytes, 2 * need)) : need), plan.prefetch);
  }

  private session(k: number): Promise<ort.InferenceSession> {
    let s = this.sessions[k];
    if (!s) {
      const t0 = performance.now();
      s = createSession(this.plan.sessions[k].bytes, 'cpu', `${this.path} streamed session ${k + 1}/${this.plan.sessions.length}`, withExternalDataDir(STREAMED, this.plan.dataDir));
      this.sessions[k] = s;
      s.then(() => {
        this.waits.sessionsCreated++;
        this.waits.sessionCreateMs += performance.now() - t0;
      }, () => (this.sessions[k] = null));
    }
    return s;
  }

  /** One forward pass: each group's weights read into the arena (the next group's while it runs) and fed to its session. */
  async run(feeds: TensorMap): Promise<TensorMap> {
    const { groups } = this.plan;
    const values = new Map<string, TensorMap[string]>(Object.entries(feeds));
    // the last group that reads each value: dropped after it
    const lastReader = new Map<string, number>();
    groups.forEach((g, k) => g.inputs.forEach((v) => lastReader.set(v, k)));
    const outputs = new Set(this.plan.graph.outputs);
    this.garbage += this.returned;
    this.returned = 0;
    const drop = (v: string) => {
      const t = values.get(v);
      values.delete(v);
      if (t) this.garbage += tensorByteLength(t);
      if (this.garbage >= GARBAGE_BYTES) {
        collectGarbage();
        this.garbage = 0;
        this.waits.collections++;
      }
    };
    const start = performance.now();
    const events: StreamEvent[] = [];
    this.events = events;
    const load = (k: number, span: Span) => {
      const t = performance.now() - start;
      const weights = this.arena.load(groups[k].fed, span).then((w) => {
        events.push({ lane: 'storage', group: k, startMs: t, endMs: performance.now() - start, bytes: spanBytes(groups[k].fed) });
        return w;
      });
      return { k, span, weights };
    };
    /** The next group after k that runs a session (host Gathers read their rows themselves). */
    const upcoming = (k: number) => {
      let j = k + 1;
      while (j < groups.length && groups[j].session < 0) j++;
      return j < groups.length ? j : -1;
    };
    const first = upcoming(-1);
    let next: { k: number; span: Span; weights: Promise<TensorMap> } | null = first < 0 ? null : load(first, this.arena.place(spanBytes(groups[first].fed), null)!);
    for (let k = 0; k < groups.length; k++) {
      const g = groups[k];
      if (g.gather) {
        const idx = values.get(g.gather.indices);
        if (!idx) throw new TesseraError('MISSING_FEED', `${this.path}: no value '${g.gather.indices}' for streamed group ${k + 1} (a missing feed?)`);
        values.set(g.gather.output, await this.arena.gatherRows(g.gather.table, g.gather.rows, g.gather.rowBytes, idx, `${this.path} streamed group ${k + 1}`));
        for (const v of g.inputs) if (lastReader.get(v) === k && !outputs.has(v)) drop(v);
        continue;
      }
      const session = this.session(g.session);
      const t0 = performance.now();
      const current = next?.k === k ? next : load(k, this.arena.place(spanBytes(g.fed), null)!);
      const weights = await current.weights;
      this.waits.waitMs += performance.now() - t0;
      next = null;
      const after = upcoming(k);
      if (this.prefetch && after >= 0) {
        const span = this.arena.place(spanBytes(groups[after].fed), spanBytes(g.fed) ? current.span : null);
        if (span) next = load(after, span);
      }
      const spec = this.plan.sessions[g.session];
      const input: TensorMap = { ...weights };
      for (const x of spec.inputs) {
        if (x in weights) continue;
        const v = g.names[x] ?? x;
        const t = values.get(v);
        if (!t) throw new TesseraError('MISSING_FEED', `${this.path}: no value '${v}' for streamed group ${k + 1} (a missing feed?)`);
        input[x] = t;
      }
      const ready = await session;
      const c0 = performance.now() - start;
      const out = await runSession(ready, input, spec.outputs, `${this.path} streamed group ${k + 1}`);
      events.push({ lane: 'compute', group: k, startMs: c0, endMs: performance.now() - start });
      const wanted = new Set(g.outputs);
      for (const o of spec.outputs) {
        const v = g.names[o] ?? o;
        if (wanted.has(v)) values.set(v, out[o]);
        else this.garbage += tensorByteLength(out[o]);
      }
      for (const v of g.inputs) if (lastReader.get(v) === k && !outputs.has(v)) drop(v);
    }
    // a prefetch still running (none after the last group) is awaited so no read outlives the run
    await next?.weights;
    this.waits.runs++;
    const result = Object.fromEntries(this.plan.graph.outputs.map((o) => [o, values.get(o)!]));
    // the outputs it returns are counted as garbage by the next run (a decode step's are, once read)
    this.returned = Object.values(result).reduce((a, t) => a + tensorByteLength(t), 0);
    return result;
  }

  /** Releases its sessions and closes the files its arena read from (a shared arena reopens them when read again). */
  async release(): Promise<void> {
    const sessions = this.sessions.filter((s): s is Promise<ort.InferenceSession> => !!s);
    this.sessions.fill(null);
    await Promise.all(sessions.map(async (s) => (await s.catch(() => null))?.release()));
    await this.arena.close();
  }
}

/** One forward pass of a model under a memory budget, weights streamed from disk (see StreamedModel). */
export async function runStreamed(path: string, feeds: TensorMap, options: Omit<StreamOptions, 'inputShapes'>): Promise<TensorMap> {
  const inputShapes = Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, [...t.dims]]));
  const model = await StreamedModel.open(path, { ...options, inputShapes });
  try {
    return await model.run(feeds);
  } finally {
    await model.release();
  }
}
