/**
 * The app developer's entry point, shaped like onnxruntime's InferenceSession:
 *   const session = await Session.create('model.onnx', { target: 'snapdragon-8-gen-3' });
 *   const outputs = await session.run({ x: new Tensor('float32', data, [1, 3, 224, 224]) });
 * It compiles a plan for the target (or loads one), binds the target's processors to the backends this
 * host has (saying which are emulated), and runs the plan.
 */
import { applyRewrites } from '../passes/rewrite.js';
import { readFileSync } from 'node:fs';
import { measureRanges, ortProber } from '../backends/ort.js';
import { randomFeeds, type Tensor, type TensorMap } from '../backends/tensor.js';
import { storedDtype } from '../passes/residency.js';
import { TesseraError } from '../errors.js';
import { formatShape } from '../ir/graph.js';
import { inferShapes, type ShapedGraph } from '../ir/infer.js';
import type { Limits } from '../ir/limits.js';
import { importOnnx, readModelFile } from '../ir/onnx-import.js';
import { loadTarget, targetOfPlan, targetThrough, type Target } from '../targets/index.js';
import { compilePlan, sha256 } from './compile.js';
import { parsePlan, validatePlan, type Plan } from './plan.js';
import { boundBackendIds, PlanRunner, type BindSpec, type Binding, type Fallback, type Trace } from './runtime.js';

export interface SessionOptions {
  /** A built-in target name, a path to a target JSON file, or a Target (default: 'host'). */
  target?: string | Target;
  /** A compiled plan (object, or a path to a plan file) to run instead of compiling one. */
  plan?: Plan | string;
  /** How nodes are placed: 'cost' (default) by predicted latency, or 'capability' (first fit by priority, as onnxruntime). */
  placement?: 'cost' | 'capability';
  /**
   * Processor → backend overrides: { gpu: 'webgpu' } uses the WebGPU EP even on a software adapter; a
   * Backend object binds a backend of your own. A plan compiled here for a processor bound to a backend
   * the profile has figures for (`tessera calibrate` measures wasm and tfjs) is priced with those figures.
   */
  bind?: BindSpec;
  /** Concrete shapes for inputs with symbolic dims (default: each symbolic dim = 1; a plan brings its own). */
  inputShapes?: Record<string, number[]>;
  /**
   * Representative input data: measures the shapes no rule infers (the probe run) and calibrates the
   * ranges used to legalize float32 for processors that take none (seeded random data otherwise).
   */
  sampleFeeds?: TensorMap;
  /**
   * For a model given as bytes: the directory its external data files are in. Without it such a model
   * reads no file (a model loaded from a path reads external data from its own directory only).
   */
  externalDataDir?: string;
  /** Resource limits for an untrusted model (tensor bytes, nodes, subgraph depth); the defaults otherwise (see README). */
  limits?: Partial<Limits>;
}

export class Session {
  private constructor(
    readonly graph: ShapedGraph,
    /** The plan this session runs. */
    readonly plan: Plan,
    readonly target: Target,
    private readonly runner: PlanRunner,
  ) {
    this.expected = expectedFeeds(graph);
  }

  /** What each input takes, as checked before every run. */
  private readonly expected: readonly ExpectedFeed[];

  static async create(model: string | Uint8Array, options: SessionOptions = {}): Promise<Session> {
    const where = typeof model === 'string' ? model : '<bytes>';
    const bytes = typeof model === 'string' ? readModelFile(model) : model;
    const graph = importOnnx(bytes, { ...(typeof model === 'string' ? { path: model } : {}), externalDataDir: options.externalDataDir, limits: options.limits });
    let plan: Plan | undefined;
    if (options.plan) {
      plan = typeof options.plan === 'string' ? parsePlan(readPlanFile(options.plan), options.plan) : validatePlan(options.plan, 'the plan given');
      const sum = sha256(bytes);
      if (plan.model.sha256 !== sum) {
        throw new TesseraError('PLAN_MISMATCH', `the plan was compiled for a model with sha256 ${plan.model.sha256.slice(0, 12)}… (${plan.model.file}), not ${where} (${sum.slice(0, 12)}…)`);
      }
    }
    // a plan runs on the target it was compiled for (a built-in one by name, unless another is given)
    // processors bound to another backend than their own take the figures measured through it (when the profile has them)
    const given = typeof options.target === 'object' ? options.target : options.target !== undefined ? await loadTarget(options.target) : undefined;
    const target = targetThrough(given ?? (plan ? await targetOfPlan(plan.target.name) : await loadTarget('host')), boundBackendIds(options.bind ?? {}));
    const inputShapes = plan ? Object.fromEntries(Object.entries(plan.inputs).map(([k, v]) => [k, v.shape])) : options.inputShapes;
    // a plan compiled with memory rewrites runs the rewritten graph (the same deterministic rewrites)
    const shaped = await applyRewrites(await inferShapes(graph, { inputShapes, prober: ortProber, feeds: options.sampleFeeds }), plan?.model.rewrites, ortProber, plan?.model.tiles);
    if (!plan) {
      const legalizes = target.processors.some((p) => storedDtype(p, 'float32') !== 'float32');
      const ranges = legalizes ? await measureRanges(shaped, options.sampleFeeds ?? randomFeeds(shaped, shaped.inputShapes)) : undefined;
      plan = compilePlan({ graph: shaped, modelBytes: bytes, modelFile: where, target, ranges, placement: options.placement });
    }
    const runner = await PlanRunner.create(shaped, plan, target, options.bind);
    return new Session(shaped, plan, target, runner);
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

function readPlanFile(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    throw new TesseraError('BAD_PLAN', `plan file not found: ${path}`);
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
