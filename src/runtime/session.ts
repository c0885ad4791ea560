/**
 * The app developer's entry point, shaped like onnxruntime's InferenceSession:
 *   const session = await Session.create('model.onnx', { target: 'snapdragon-8-gen-3' });
 *   const outputs = await session.run({ x: new Tensor('float32', data, [1, 3, 224, 224]) });
 * It compiles a plan for the target through the compiler driver (or checks and lowers one given), binds
 * the target's processors to the backends this host has (saying which are emulated), and runs the plan.
 * Every compile option is a Session option.
 * The compiler and the plan runner are imported when a session is created, not with this module: the
 * package's main entry exports Session, and importing it loads no compiler (tests/runtime/lazy-loading.test.ts).
 */
import type { BindSpec } from '../backends/binding.js';
import type { Tensor, TensorMap } from '../backends/tensor.js';
import type { Compilation, CompileOptions } from '../compiler/index.js';
import { TesseraError } from '../errors.js';
import { formatShape } from '../ir/graph.js';
import type { ShapedGraph } from '../ir/infer.js';
import type { Plan } from '../plan/schema.js';
import type { Binding, Fallback, Trace } from '../plan/trace.js';
import type { Target } from '../targets/schema.js';
import type { PlanRunner } from './runner.js';

export interface SessionOptions extends Omit<CompileOptions, 'lower'> {
  /** A built-in target name, a path to a target JSON file, or a Target (default: the plan's target, else 'host'). */
  target?: string | Target;
  /**
   * Processor → backend overrides: { gpu: 'webgpu' } uses the WebGPU EP even on a software adapter; a
   * Backend object binds a backend of your own. The compiler places on a processor only what its bound
   * backend takes, priced with the figures the profile has through it (`tessera calibrate` measures
   * wasm and tfjs).
   */
  bind?: BindSpec;
}

export class Session {
  private constructor(
    private readonly compilation: Compilation,
    private readonly runner: PlanRunner,
  ) {
    this.expected = expectedFeeds(compilation.graph);
  }

  /** What each input takes, as checked before every run. */
  private readonly expected: readonly ExpectedFeed[];

  static async create(model: string | Uint8Array, options: SessionOptions = {}): Promise<Session> {
    const { compile } = await import('../compiler/index.js');
    return Session.of(await compile(model, options.target, { ...options, lower: true }));
  }

  /** A session running a compilation (lowered here when it was compiled with `lower: false`). */
  static async of(c: Compilation): Promise<Session> {
    if (c.budget?.choice === 'streamed') {
      throw new TesseraError('UNSUPPORTED_OPTION', `${c.budget.reason}: a Session runs plans, and no plan fits; run it streamed with runStreamed / StreamedModel (src/runtime/stream.ts) or \`tessera run --memory-budget\``);
    }
    const [{ lowerPlan }, { PlanRunner }] = await Promise.all([import('../compiler/index.js'), import('./runner.js')]);
    const partitions = c.partitions ?? lowerPlan(c.graph, c.plan, c.context.target, c.context.st);
    const runner = await PlanRunner.create({ graph: c.graph, plan: c.plan, target: c.target, partitions }, c.bind);
    return new Session(c, runner);
  }

  /** The graph the plan runs (the model after the rewrites the plan records), with every shape inferred. */
  get graph(): ShapedGraph {
    return this.compilation.graph;
  }

  /** The plan this session runs. */
  get plan(): Plan {
    return this.compilation.plan;
  }

  /** The target the plan was compiled for, its processors as bound. */
  get target(): Target {
    return this.compilation.target;
  }

  /** What the compile had to say (a calibration run that failed, rewrites not kept). */
  get warnings(): readonly string[] {
    return this.compilation.warnings;
  }

  get inputNames(): readonly string[] {
    return this.graph.inputs;
  }

  get outputNames(): readonly string[] {
    return this.graph.outputs;
  }

  /** How each processor of the target is bound on this host (emulated ones say so). */
  get bindings(): readonly Binding[] {
    return this.runner.bindings;
  }

  /** Partitions whose backend failed (at compile or run time) and that now run on the CPU, and why. */
  get fallbacks(): readonly Fallback[] {
    return this.runner.fallbacks;
  }

  /** What the last run did: measured start/end of every step, arena bytes allocated. */
  get lastTrace(): Trace | undefined {
    return this.runner.lastTrace;
  }

  /** Runs the plan; feeds are checked by name, dtype and shape first. */
  run(feeds: TensorMap): Promise<TensorMap> {
    try {
      checkFeeds(this.graph, this.expected, feeds);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.runner.run(feeds);
  }

  async release(): Promise<void> {
    await this.runner.dispose();
  }
}

interface ExpectedFeed {
  name: string;
  dtype: string | null | undefined;
  shape: readonly number[] | undefined;
  /** How the input is described when it is missing: its type and shape. */
  what: string;
}

function expectedFeeds(graph: ShapedGraph): ExpectedFeed[] {
  return graph.inputs.map((name) => {
    const v = graph.values.get(name)!;
    const shape = graph.inputShapes[name];
    return { name, dtype: v.dtype, shape, what: `${v.dtype ?? 'non-tensor'} ${formatShape(shape ?? v.shape)}` };
  });
}

/** Every input fed, nothing else; dtypes and shapes as the session was compiled for. */
function checkFeeds(graph: ShapedGraph, expected: readonly ExpectedFeed[], feeds: TensorMap): void {
  const where = graph.meta.source;
  // plain loops, no arrays or closures: this runs before every run, and on a model of 20 µs it shows
  for (const e of expected) {
    const t: Tensor | undefined = feeds[e.name];
    if (!t) throw new TesseraError('MISSING_FEED', `${where}: input '${e.name}' (${e.what}) was not fed`);
    if (e.dtype && t.type !== e.dtype) {
      throw new TesseraError('FEED_DTYPE', `${where}: input '${e.name}' takes ${e.dtype}, but the feed is ${t.type}`);
    }
    const want = e.shape, got = t.dims;
    let same = !want || got.length === want.length;
    for (let i = 0; same && want && i < want.length; i++) same = got[i] === want[i];
    if (!same) {
      throw new TesseraError('FEED_SHAPE', `${where}: input '${e.name}' was compiled for shape ${formatShape([...want!])}, but the feed has shape ${formatShape([...got])}; create the session with inputShapes: { '${e.name}': [${got.join(', ')}] }`);
    }
  }
  let fed = 0;
  for (const _ in feeds) fed++;
  if (fed !== expected.length) {
    const unknown = Object.keys(feeds).find((name) => !graph.inputs.includes(name));
    throw new TesseraError('UNKNOWN_FEED', `${where}: feed '${unknown}' is not an input of the model; its inputs are ${graph.inputs.map((n) => `'${n}'`).join(', ')}`);
  }
}
