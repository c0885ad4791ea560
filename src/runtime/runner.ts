/**
 * The plan runner: binds each processor of a plan's target to a backend present on this host, compiles
 * each partition (lowered by the compiler) once, and runs the plan's steps as their inputs become ready
 * (partitions on different backends concurrently). Boundary values live in one arena per processor
 * memory, at the offsets and in the dtypes the plan gives; backends read views of it and write their
 * outputs into preallocated views of it. It interprets the plan and decides nothing the compiler could.
 */
import { collectGarbage } from './gc.js';
import type { Backend, Executable, Subgraph } from '../backends/backend.js';
import type { BindSpec } from '../backends/binding.js';
import { Tensor, tensorBytes, tensorFromWeight, type TensorMap } from '../backends/tensor.js';
import { asTesseraError, TesseraError } from '../errors.js';
import type { DType } from '../ir/dtype.js';
import type { ShapedGraph } from '../ir/infer.js';
import { floatToHalf, halfToFloat } from '../ir/tensor-data.js';
import type { Plan } from '../plan/schema.js';
import type { Binding, Fallback, Trace, TraceStep } from '../plan/trace.js';
import type { Target } from '../targets/schema.js';
import { backendFactory, bindProcessors, CPU_BACKEND } from './bind.js';

/** What the runner runs: a verified plan, the graph it runs, the target as bound, and each partition as its backend receives it (the compiler's Compilation is one). */
export interface RunnablePlan {
  readonly graph: ShapedGraph;
  readonly plan: Plan;
  readonly target: Target;
  readonly partitions: readonly Subgraph[];
}

const ARRAYS: Partial<Record<DType, (b: ArrayBuffer, off: number, n: number) => Tensor['data']>> = {
  float32: (b, o, n) => new Float32Array(b, o, n),
  float64: (b, o, n) => new Float64Array(b, o, n),
  float16: (b, o, n) => new Uint16Array(b, o, n),
  int8: (b, o, n) => new Int8Array(b, o, n),
  uint8: (b, o, n) => new Uint8Array(b, o, n),
  bool: (b, o, n) => new Uint8Array(b, o, n),
  int16: (b, o, n) => new Int16Array(b, o, n),
  uint16: (b, o, n) => new Uint16Array(b, o, n),
  int32: (b, o, n) => new Int32Array(b, o, n),
  uint32: (b, o, n) => new Uint32Array(b, o, n),
  int64: (b, o, n) => new BigInt64Array(b, o, n),
  uint64: (b, o, n) => new BigUint64Array(b, o, n),
};

interface Slot {
  offset: number;
  dtype: string;
  scale?: number;
}

/** Copies a tensor into another, converting between float32 and its stored forms (float16, scaled int16). */
function copyConverting(src: Tensor, dst: Tensor, srcScale?: number, dstScale?: number): void {
  if (src.type === dst.type && srcScale === dstScale) {
    tensorBytes(dst).set(tensorBytes(src));
    return;
  }
  const read: (i: number) => number =
    src.type === 'float16' ? (i) => halfToFloat((src.data as Uint16Array)[i])
    : src.type === 'int16' && srcScale !== undefined ? (i) => (src.data as Int16Array)[i] * srcScale
    : src.type === 'float32' ? (i) => (src.data as Float32Array)[i]
    : () => { throw new TesseraError('INTERNAL', `no conversion from ${src.type} to ${dst.type}`); };
  const n = src.size;
  if (dst.type === 'float32') {
    const d = dst.data as Float32Array;
    for (let i = 0; i < n; i++) d[i] = read(i);
  } else if (dst.type === 'float16') {
    const d = dst.data as Uint16Array;
    for (let i = 0; i < n; i++) d[i] = floatToHalf(read(i));
  } else if (dst.type === 'int16' && dstScale !== undefined) {
    const d = dst.data as Int16Array, inv = 1 / dstScale;
    for (let i = 0; i < n; i++) d[i] = Math.min(32767, Math.max(-32768, Math.floor(read(i) * inv + 0.5)));
  } else throw new TesseraError('INTERNAL', `no conversion from ${src.type} to ${dst.type}`);
}

interface DirectPlan {
  partition: number;
  lane: string;
  inputs: readonly string[];
}

/**
 * Whether a plan is a single compute step on the host processor whose inputs are all graph inputs and
 * whose outputs are exactly the graph outputs, each stored in its own dtype: then a run is one backend
 * call on the caller's tensors, with nothing to place in an arena, copy or convert.
 */
function directPlan(graph: ShapedGraph, plan: Plan, target: Target, exe: Executable | undefined): DirectPlan | null {
  if (plan.steps.length !== 1 || plan.partitions.length !== 1 || !exe) return null;
  const step = plan.steps[0];
  if (step.kind !== 'compute') return null;
  const part = plan.partitions[step.partition];
  const host = target.processors.find((p) => p.kind === 'cpu' && p.support.ops === '*');
  if (!host || part.processor !== host.id) return null;
  const buffers = new Map(plan.memory[host.id]?.buffers.map((b) => [b.value, b]) ?? []);
  const plain = (name: string) => {
    const v = graph.values.get(name);
    const b = buffers.get(name);
    return !!v?.dtype && (b ? b.dtype === v.dtype && b.scale === undefined : v.dtype === 'string');
  };
  const inputs = new Set(graph.inputs), outputs = new Set(graph.outputs);
  if (!exe.inputs.every((n) => inputs.has(n) && plain(n))) return null;
  if (exe.outputs.length !== outputs.size || !exe.outputs.every((n) => outputs.has(n) && !inputs.has(n) && plain(n))) return null;
  if (graph.outputs.some((n) => graph.values.get(n)?.role === 'initializer')) return null;
  return { partition: step.partition, lane: step.lane, inputs: exe.inputs };
}

/**
 * A partition that runs another's executable (Subgraph.fed/names, compiler/lower.ts): its weights, read
 * once, fed with every run, and its values renamed to and from the executable's names.
 */
function withFed(exe: Executable, sub: Subgraph): Executable {
  if (!sub.fed && !sub.names) return exe;
  const weights: TensorMap = {};
  for (const [x, w] of Object.entries(sub.fed ?? {})) weights[x] = tensorFromWeight(w);
  const own = (x: string) => sub.names?.[x] ?? x;
  const inputs = exe.inputs.filter((x) => !(x in weights));
  return {
    inputs: inputs.map(own),
    outputs: exe.outputs.map(own),
    run: async (feeds, into) => {
      const f: TensorMap = { ...weights };
      for (const x of inputs) f[x] = feeds[own(x)];
      let i: TensorMap | undefined;
      if (into) {
        i = {};
        for (const o of exe.outputs) if (into[own(o)]) i[o] = into[own(o)];
      }
      const res = await exe.run(f, i);
      const out: TensorMap = {};
      for (const o of exe.outputs) out[own(o)] = res[o];
      return out;
    },
    dispose: () => exe.dispose(),
  };
}

/** The feeds an executable takes, by name. */
function pick(feeds: TensorMap, names: readonly string[]): TensorMap {
  const out: TensorMap = {};
  for (const name of names) out[name] = feeds[name];
  return out;
}

export class PlanRunner {
  /** What the last run did; a direct run records its figures and the trace is built when asked for. */
  private trace: Trace | undefined;
  private lastDirect: { d: DirectPlan; backend: string; totalUs: number } | undefined;

  get lastTrace(): Trace | undefined {
    const l = this.lastDirect;
    if (l) {
      const r = this.recovery;
      this.trace = {
        fallbacks: r.fallbacks.length ? [...r.fallbacks] : [],
        steps: [{ step: 0, kind: 'compute', lane: l.d.lane, partition: l.d.partition, backend: l.backend, startUs: 0, endUs: l.totalUs }],
        arenaBytes: { ...this.directArenaBytes }, bindings: this.bindings, totalUs: l.totalUs,
      };
      this.lastDirect = undefined;
    }
    return this.trace;
  }

  private constructor(
    readonly graph: ShapedGraph,
    readonly plan: Plan,
    readonly target: Target,
    readonly bindings: Binding[],
    private readonly executables: Executable[],
    /** Extra dependencies: each step also waits for the previous step that touched the same memory. */
    private readonly memoryAfter: number[][],
    /** What runs each partition, what to recompile on the CPU if its backend fails, and the fallbacks so far. */
    private readonly recovery: { backends: string[]; subgraphs: readonly Subgraph[]; fallbacks: Fallback[]; cpu: Backend },
  ) {}

  get fallbacks(): readonly Fallback[] {
    return this.recovery.fallbacks;
  }

  /** Runs a partition; when its backend fails, moves the partition to the CPU for good and runs it there. */
  private async runPartition(index: number, inputs: TensorMap, into?: TensorMap): Promise<TensorMap> {
    const r = this.recovery;
    try {
      return await this.executables[index].run(inputs, into);
    } catch (err) {
      if (r.backends[index] === r.cpu.id) throw err;
      const part = this.plan.partitions[index];
      const failed = this.executables[index];
      this.executables[index] = withFed(await r.cpu.compile(r.subgraphs[index]), r.subgraphs[index]);
      r.fallbacks.push({ partition: index, processor: part.processor, from: r.backends[index], to: r.cpu.id, when: 'run', reason: (err as Error).message });
      r.backends[index] = r.cpu.id;
      await failed.dispose().catch(() => undefined);
      return this.executables[index].run(inputs, into);
    }
  }

  /** Binds the target's processors and compiles each lowered partition on its backend (on the CPU EP when that fails). */
  static async create({ graph, plan, target, partitions }: RunnablePlan, bind: BindSpec = {}): Promise<PlanRunner> {
    collectGarbage(true); // the compile's garbage goes before the engines allocate (see gc.ts)
    const create = backendFactory();
    const bound = await bindProcessors(target, bind, create);
    const cpu = await create(CPU_BACKEND);
    const executables: Executable[] = [];
    const backends: string[] = [];
    const fallbacks: Fallback[] = [];
    try {
      for (const part of plan.partitions) {
        const b = bound.find((x) => x.processor === part.processor)!;
        const sub = partitions[part.id];
        try {
          executables.push(withFed(await b.impl.compile(sub), sub));
          backends.push(b.impl.id);
        } catch (err) {
          if (b.impl.id === cpu.id) throw err;
          // the same lowered partition (same arena storage at its edges) on the CPU
          executables.push(withFed(await cpu.compile(sub), sub));
          backends.push(cpu.id);
          fallbacks.push({ partition: part.id, processor: part.processor, from: b.impl.id, to: cpu.id, when: 'compile', reason: (err as Error).message });
        }
      }
    } catch (err) {
      await Promise.all(executables.map((e) => e.dispose()));
      throw asTesseraError(err, 'BACKEND_FAILED', `${graph.meta.source}: compiling partitions`);
    }
    const lastTouch = new Map<string, number>();
    const memoryAfter = plan.steps.map((s, i) => {
      const mems = s.kind === 'compute' ? [s.lane] : [s.from, s.to];
      const deps = mems.map((m) => lastTouch.get(m)).filter((x): x is number => x !== undefined);
      for (const m of mems) lastTouch.set(m, i);
      return deps;
    });
    return new PlanRunner(graph, plan, target, bound.map(({ impl: _impl, ...b }) => b), executables, memoryAfter, { backends, subgraphs: partitions, fallbacks, cpu });
  }

  /** Arena sets not in use: a run takes one (or allocates one) and gives it back, so concurrent runs never share. */
  private readonly idleArenas: Map<string, ArrayBuffer>[] = [];
  private slots: Map<string, Slot> | undefined;
  /** How a plan that is one partition on the host, reading only graph inputs and writing only graph outputs, runs (see `directPlan`); null for any other plan. */
  private direct: ((feeds: TensorMap) => Promise<TensorMap>) | null | undefined;

  /** Runs the plan; `lastTrace` says what it did. */
  run(feeds: TensorMap): Promise<TensorMap> {
    if (this.direct === undefined) {
      const d = directPlan(this.graph, this.plan, this.target, this.executables[0]);
      this.direct = d && this.directRun(d);
    }
    return this.direct ? this.direct(feeds) : this.runPlanned(feeds);
  }

  private async runPlanned(feeds: TensorMap): Promise<TensorMap> {
    const arenas = this.idleArenas.pop() ?? this.newArenas();
    try {
      return await this.runIn(arenas, feeds);
    } finally {
      this.idleArenas.push(arenas);
    }
  }

  private newArenas(): Map<string, ArrayBuffer> {
    return new Map(Object.entries(this.plan.memory).map(([id, mem]) => [id, new ArrayBuffer(mem.arenaBytes)]));
  }

  /** A direct plan's arena bytes for the trace: the plan's (it counts graph inputs and outputs there), though no direct run needs them allocated. */
  private directArenaBytes: Record<string, number> = {};

  /**
   * A direct plan's run, built once: one backend call and nothing else. The feeds go to the partition (on
   * the CPU EP as they are: onnxruntime takes the inputs it has), the backend allocates the outputs and
   * they are returned as it made them (as onnxruntime does); nothing is copied, converted or waited on
   * beyond the call. The trace still has its one step. Few layers: on a model of 20 µs each costs ~1%.
   */
  private directRun(d: DirectPlan): (feeds: TensorMap) => Promise<TensorMap> {
    for (const [id, mem] of Object.entries(this.plan.memory)) this.directArenaBytes[id] = mem.arenaBytes;
    const r = this.recovery;
    const record = (t0: number) => (outputs: TensorMap) => {
      this.lastDirect = { d, backend: r.backends[d.partition], totalUs: (performance.now() - t0) * 1000 };
      return outputs;
    };
    // on the CPU nothing falls back: the executable itself. Its outputs are the graph's (`directPlan`)
    if (r.backends[d.partition] === r.cpu.id) {
      const exe = this.executables[d.partition];
      return (feeds) => {
        const done = record(performance.now());
        return exe.run(feeds).then(done);
      };
    }
    return (feeds) => {
      const done = record(performance.now());
      return this.runPartition(d.partition, pick(feeds, d.inputs)).then(done);
    };
  }

  private async runIn(arenas: Map<string, ArrayBuffer>, feeds: TensorMap): Promise<TensorMap> {
    const { plan, graph } = this;
    const arenaBytes: Record<string, number> = {};
    for (const [id, a] of arenas) arenaBytes[id] = a.byteLength;
    if (!this.slots) {
      this.slots = new Map<string, Slot>();
      for (const [id, mem] of Object.entries(plan.memory)) for (const b of mem.buffers) this.slots.set(`${id}\u0000${b.value}`, b);
    }
    const buffers = this.slots;
    const side = new Map<string, Tensor>(); // values that cannot live in an arena (strings)
    const view = (procId: string, name: string): Tensor => {
      const key = `${procId}\u0000${name}`;
      const s = side.get(key);
      if (s) return s;
      const v = graph.values.get(name)!;
      const b = buffers.get(key);
      const dtype = (b?.dtype ?? v.dtype!) as DType;
      const dims = v.shape as number[];
      const make = ARRAYS[dtype];
      if (!make || !b) {
        if (!make) {
          const t = new Tensor(dtype as 'string', new Array(dims.reduce((a, c) => a * c, 1)).fill(''), dims);
          side.set(key, t);
          return t;
        }
        throw new TesseraError('INTERNAL', `no buffer for '${name}' in the memory of ${procId}`);
      }
      return new Tensor(dtype as 'float32', make(arenas.get(procId)!, b.offset, dims.reduce((a, c) => a * c, 1)) as Float32Array, dims);
    };
    const host = this.target.processors.find((p) => p.kind === 'cpu' && p.support.ops === '*')!.id;
    // Graph inputs are the application's tensors in host memory: used in place (their planned host buffer
    // is where they count), not copied. Graph outputs made on the host are left to the backend to
    // allocate, so the caller owns them as with onnxruntime; every other boundary value lives in the arena.
    for (const name of graph.inputs) side.set(`${host}\u0000${name}`, feeds[name]);
    const graphOutputs = new Set(graph.outputs);

    const t0 = performance.now();
    const trace: TraceStep[] = [];
    const done: Promise<void>[] = [];
    plan.steps.forEach((step, i) => {
      const deps = [...new Set([...step.after, ...this.memoryAfter[i]])].map((d) => done[d]);
      done[i] = Promise.all(deps).then(async () => {
        const startUs = (performance.now() - t0) * 1000;
        if (step.kind === 'transfer') {
          const src = view(step.from, step.value);
          if (src.type === 'string') side.set(`${step.to}\u0000${step.value}`, src);
          else copyConverting(src, view(step.to, step.value), buffers.get(`${step.from}\u0000${step.value}`)?.scale, buffers.get(`${step.to}\u0000${step.value}`)?.scale);
          trace.push({ step: i, kind: 'transfer', lane: step.lane, value: step.value, bytes: step.bytes, startUs, endUs: (performance.now() - t0) * 1000 });
          return;
        }
        const part = plan.partitions[step.partition];
        const exe = this.executables[step.partition];
        const inputs: TensorMap = {};
        for (const name of exe.inputs) inputs[name] = view(part.processor, name);
        const into: TensorMap = {};
        const own = (name: string) => part.processor === host && graphOutputs.has(name) && buffers.get(`${host}\u0000${name}`)?.dtype === graph.values.get(name)!.dtype;
        for (const name of exe.outputs) {
          if (own(name)) continue;
          const t = view(part.processor, name);
          if (t.type !== 'string') into[name] = t;
        }
        const res = await this.runPartition(step.partition, inputs, into);
        for (const name of exe.outputs) if (res[name]?.type === 'string' || own(name)) side.set(`${part.processor}\u0000${name}`, res[name]);
        trace.push({ step: i, kind: 'compute', lane: step.lane, partition: step.partition, backend: this.recovery.backends[step.partition], startUs, endUs: (performance.now() - t0) * 1000 });
      });
    });
    await Promise.all(done);
    const totalUs = (performance.now() - t0) * 1000;

    const outputs: TensorMap = {};
    for (const name of graph.outputs) {
      const v = graph.values.get(name)!;
      if (v.role === 'initializer') outputs[name] = tensorFromWeight(v.initializer!);
      else {
        const t = view(host, name);
        const scale = buffers.get(`${host}\u0000${name}`)?.scale;
        const owned = side.get(`${host}\u0000${name}`) === t && !graph.inputs.includes(name);
        if (t.type === 'string' || owned) outputs[name] = t; // allocated by the backend for this run
        else if (scale === undefined && t.type === v.dtype) outputs[name] = new Tensor(t.type as 'float32', (t.data as Float32Array).slice(), [...t.dims]);
        else {
          const out = new Tensor('float32', new Float32Array(t.size), [...t.dims]);
          copyConverting(t, out, scale);
          outputs[name] = out;
        }
      }
    }
    trace.sort((a, b) => a.step - b.step);
    this.trace = { fallbacks: [...this.recovery.fallbacks], steps: trace, arenaBytes, bindings: this.bindings, totalUs };
    this.lastDirect = undefined;
    return outputs;
  }

  async dispose(): Promise<void> {
    await Promise.all(this.executables.map((e) => e.dispose()));
  }
}
