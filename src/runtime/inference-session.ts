/**
 * onnxruntime's `InferenceSession`, as Tessera: a script written against onnxruntime-node runs with only
 * its import changed.
 *
 *   // InferenceSession and Tensor imported from tessera instead of onnxruntime-node
 *   const session = await InferenceSession.create('model.onnx');            // target 'host' by default
 *   const out = await session.run({ x: new Tensor('float32', data, [1, 3, 48, 320]) });
 *
 * Any input shape. Created without `inputShapes` (or a `plan`), a session compiles on the first run of
 * each input shape signature and keeps what it compiled in a bounded cache (least recently used out;
 * `shapeCacheSize`, default 8): a repeated shape costs no compile. What depends on the shape, per plan:
 *  - when the target as bound leaves one processor with work, the host's CPU EP taking every op
 *    (`nothingToPlan`: the host target on a machine whose only GPU is a software one), every plan would be
 *    one partition there: nothing is compiled, and the model runs as that one onnxruntime session for
 *    every shape (`plan` stays undefined, `compiles` 0);
 *  - a plan that is one partition on the host CPU, as the model is (no rewrite, native precision, no
 *    external data), is one engine call that manages its own memory: its placement holds for every
 *    shape, so the session runs the model in that one onnxruntime session for every shape, compiling once;
 *  - any other plan has arenas planned for its shapes (and a placement priced for them): compiled per
 *    signature.
 * `inputShapes` compiles ahead of time (other shapes are still compiled on first use); a `plan` fixes
 * the shapes it was compiled for (unless it is the one-partition kind above).
 *
 * onnxruntime's own options are honoured or refused (UNSUPPORTED_OPTION), never ignored: see
 * `ORT_SESSION_OPTIONS` and `ORT_RUN_OPTIONS`.
 */
import type { InferenceSession as OrtSession } from 'onnxruntime-node';
import { createSession, runSession } from '../backends/ort-session.js';
import { Tensor, type TensorMap } from '../backends/tensor.js';
import { nothingToPlan } from '../compiler/bind.js';
import { TesseraError } from '../errors.js';
import type { Graph } from '../ir/graph.js';
import { resolveLimits } from '../ir/limits.js';
import { readModelFile } from '../ir/model-file.js';
import { readSignature, type ModelSignature } from '../ir/model-signature.js';
import type { Plan } from '../plan/schema.js';
import { hostTarget } from '../targets/host.js';
import { loadTarget } from '../targets/index.js';
import type { Target } from '../targets/schema.js';
import type { SessionOptions } from './session.js';
import { shapeSignature, ShapeCache } from './shape-cache.js';

type Dims = readonly number[];

/** onnxruntime's session options (1.30), as Tessera treats them. */
export type OrtSessionOptions = OrtSession.SessionOptions;

export interface InferenceSessionOptions extends SessionOptions, Omit<OrtSessionOptions, keyof SessionOptions> {
  /** How many input shape signatures keep their compiled plan (least recently used out; default 8). */
  shapeCacheSize?: number;
}

/**
 * What becomes of each onnxruntime session option: 'honoured' ones change what Tessera does; 'logging'
 * ones only set onnxruntime's log level, which Tessera's engines keep quiet (accepted, no effect on
 * results); any other value than onnxruntime's default of the rest is refused.
 */
export const ORT_SESSION_OPTIONS: Record<string, { how: 'honoured' | 'logging' | 'default only'; default?: unknown; why: string }> = {
  executionProviders: { how: 'honoured', why: "'cpu' → the host's CPU alone (no GPU probe); 'webgpu' (with or without 'cpu') → the host target with its GPU bound to the WebGPU EP, CPU and GPU placed by cost; another provider is refused" },
  freeDimensionOverrides: { how: 'honoured', why: 'fixes named symbolic dims: the session compiles ahead of time for them' },
  graphOptimizationLevel: { how: 'default only', default: 'all', why: "Tessera's onnxruntime partitions run at onnxruntime's default level ('all')" },
  intraOpNumThreads: { how: 'default only', default: 0, why: "partitions run on onnxruntime's default thread pools" },
  interOpNumThreads: { how: 'default only', default: 0, why: "partitions run on onnxruntime's default thread pools" },
  executionMode: { how: 'default only', default: 'sequential', why: 'partitions run sequentially inside; Tessera runs partitions on different processors concurrently itself' },
  enableCpuMemArena: { how: 'default only', default: true, why: 'Tessera chooses the arena per partition (see backends/ort.ts)' },
  enableMemPattern: { how: 'default only', default: true, why: 'Tessera chooses the memory pattern per partition (see backends/ort.ts)' },
  logId: { how: 'logging', why: "onnxruntime's log only" },
  logSeverityLevel: { how: 'logging', why: "onnxruntime's log only" },
  logVerbosityLevel: { how: 'logging', why: "onnxruntime's log only" },
};

/** Run options: logging ones accepted (no effect on results); the rest refused. */
const ORT_RUN_LOGGING = new Set(['logSeverityLevel', 'logVerbosityLevel', 'tag']);

/** Tessera's own session options (SessionOptions and CompileOptions), which pass to the compiler as they are. */
const TESSERA_OPTIONS = new Set(['target', 'bind', 'plan', 'inputShapes', 'sampleFeeds', 'externalDataDir', 'limits', 'placement', 'orderBudgetMs', 'split', 'inplace', 'rewrite', 'objective', 'memoryBudget', 'shapeCacheSize']);

/** onnxruntime's value metadata (its shape: numbers for fixed dims, names for symbolic ones, '' for unnamed). */
export type ValueMetadata = OrtSession.ValueMetadata;

/** How a session runs a signature: a Session with its plan, or the one engine call of a one-partition host plan. */
interface Compiled {
  /** Absent when nothing was compiled (see `nothingToPlan`). */
  plan?: Plan;
  run: (feeds: TensorMap) => Promise<TensorMap>;
  release: () => Promise<void>;
}

export class InferenceSession {
  private constructor(
    private readonly graph: ModelSignature,
    private readonly compileFor: (shapes: Record<string, number[]>) => Promise<Compiled>,
    private readonly cache: ShapeCache<Compiled>,
  ) {
    this.inputNames = [...graph.inputs];
    this.outputNames = [...graph.outputs];
    this.inputMetadata = graph.inputs.map((n) => metadata(graph, n));
    this.outputMetadata = graph.outputs.map((n) => metadata(graph, n));
  }

  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  readonly inputMetadata: readonly ValueMetadata[];
  readonly outputMetadata: readonly ValueMetadata[];

  /** Nothing to plan (see `nothingToPlan`): the engine call was made without compiling. */
  private planless = false;
  /** A plan given: the only signature it runs (null when it runs every shape). */
  private fixed: string | null = null;
  /** The engine call that runs every shape, once the first compile found the plan to be one (see above). */
  private generic: Compiled | undefined;
  /** The plan of the last run (compiled for its shapes, or the one-partition plan that runs every shape). */
  private last: Plan | undefined;

  static async create(model: string | Uint8Array | ArrayBufferLike, options?: InferenceSessionOptions): Promise<InferenceSession>;
  static async create(buffer: ArrayBufferLike, byteOffset: number, byteLength?: number, options?: InferenceSessionOptions): Promise<InferenceSession>;
  static async create(model: string | Uint8Array | ArrayBufferLike, a?: InferenceSessionOptions | number, b?: number, c?: InferenceSessionOptions): Promise<InferenceSession> {
    let options: InferenceSessionOptions = {};
    let src: { bytes: Uint8Array; file: string; path?: string };
    if (typeof model === 'string') {
      src = { bytes: readModelFile(model), file: model, path: model };
      options = (a as InferenceSessionOptions | undefined) ?? {};
    } else if (model instanceof Uint8Array) {
      src = { bytes: model, file: '<bytes>' };
      options = (a as InferenceSessionOptions | undefined) ?? {};
    } else if (typeof a === 'number') {
      src = { bytes: new Uint8Array(model, a, b ?? model.byteLength - a), file: '<bytes>' };
      options = c ?? {};
    } else {
      src = { bytes: new Uint8Array(model), file: '<bytes>' };
      options = a ?? {};
    }
    const { compileOptions, target, cacheSize } = checkOptions(options);
    // the target is loaded (the GPU probed, a child process) while the model is read
    const targetReady = target();
    targetReady.catch(() => undefined);
    const where = src.file;
    let importing: Promise<Graph> | undefined;
    const importModel = () => (importing ??= import('../ir/onnx-import.js').then(({ importOnnx }) => importOnnx(src.bytes, { ...(src.path ? { path: src.path } : {}), externalDataDir: options.externalDataDir, limits: options.limits })));
    // the signature, read without decoding (null: the model must be imported; see model-signature.ts)
    const signature = readSignature(src.bytes, where, resolveLimits(options.limits));
    const overrides = options.freeDimensionOverrides;
    const shapes = compileOptions.inputShapes ?? (overrides ? overriddenShapes(signature ?? (await importModel()), overrides) : undefined);
    const t = await targetReady;
    const cache = new ShapeCache<Compiled>(cacheSize, (c) => c.release());
    let session: InferenceSession;
    /** The model as one onnxruntime session on the CPU EP: runs every shape, the engine ordering and allocating for itself. */
    const oneEngineCall = async (outputs: readonly string[], plan?: Plan): Promise<Compiled> => {
      const ort = await createSession(src.bytes, 'cpu', where);
      session.generic = { ...(plan ? { plan } : {}), run: (feeds) => runSession(ort, feeds, outputs, where), release: () => ort.release() };
      return session.generic;
    };
    if (signature && !shapes && t && (await nothingToPlan(t, compileOptions))) {
      // one processor takes everything: the model runs as one engine call for every shape, nothing compiled
      // (nor imported: its signature is all a run checks feeds against)
      session = new InferenceSession(signature, () => Promise.reject(new TesseraError('INTERNAL', 'nothing to compile')), cache);
      await oneEngineCall(signature.outputs);
      session.planless = true;
      return session;
    }

    // a plan to compile (or given): the model imported once, shaped and compiled per input signature
    const imported = await importModel();
    const external = hasExternalData(imported, src.path);
    const { compile, loadModel } = await import('../compiler/index.js');
    const compileFor = async (inputShapes: Record<string, number[]>): Promise<Compiled> => {
      const c = compileOptions.plan !== undefined
        ? await compile(src.path ?? src.bytes, t, { ...compileOptions, lower: false })
        : await compile(await loadModel({ ...src, imported }, { inputShapes, sampleFeeds: compileOptions.sampleFeeds, limits: options.limits, externalDataDir: options.externalDataDir }), t, { ...compileOptions, lower: false });
      // (a budget only a streamed run fits goes to Session.of, which refuses it)
      if (!external && c.budget?.choice !== 'streamed' && isOneHostCall(c.plan, c.target)) return oneEngineCall(imported.outputs, c.plan);
      const { Session } = await import('./session.js');
      const s = await Session.of(c);
      return { plan: c.plan, run: (feeds) => s.run(feeds), release: () => s.release() };
    };
    session = new InferenceSession(imported, compileFor, cache);
    if (compileOptions.plan !== undefined || shapes) {
      // ahead of time: the signature of the shapes given (or the plan's)
      const first = await compileFor(shapes ?? {});
      const sig = shapeSignature(imported.inputs, (n) => first.plan!.inputs[n]?.shape ?? []);
      await cache.use(sig, async () => first, async () => undefined);
      if (compileOptions.plan !== undefined && !session.generic) session.fixed = sig;
    }
    return session;
  }

  /** How many compiles this session has done (a repeated shape adds none; a one-partition host plan compiles once; nothing to plan, none). */
  get compiles(): number {
    return this.cache.made;
  }

  /** The plan of the last run, or of the ahead-of-time compile before any run. */
  get plan(): Plan | undefined {
    return this.last ?? this.generic?.plan;
  }

  /** Whether every input shape runs in one engine call compiled once (a one-partition host plan). */
  get anyShapeWithoutRecompiling(): boolean {
    return this.generic !== undefined;
  }

  run(feeds: TensorMap, options?: OrtSession.RunOptions): Promise<TensorMap>;
  run(feeds: TensorMap, fetches: readonly string[] | Record<string, Tensor | null>, options?: OrtSession.RunOptions): Promise<TensorMap>;
  async run(feeds: TensorMap, a?: OrtSession.RunOptions | readonly string[] | Record<string, Tensor | null>, b?: OrtSession.RunOptions): Promise<TensorMap> {
    const fetches = Array.isArray(a) || (a && this.outputNames.some((n) => n in a)) ? (a as readonly string[] | Record<string, Tensor | null>) : undefined;
    checkRunOptions(fetches ? b : (a as OrtSession.RunOptions | undefined));
    const wanted = fetchList(this.graph, fetches);
    this.checkFeeds(feeds);
    let out: TensorMap;
    if (this.generic) {
      this.last = this.generic.plan;
      out = await this.generic.run(feeds);
    } else {
      const sig = shapeSignature(this.graph.inputs, (n) => feeds[n].dims);
      if (this.fixed !== null && sig !== this.fixed) {
        throw new TesseraError('FEED_SHAPE', `${this.graph.meta.source}: the plan given was compiled for ${this.fixed.slice(0, -1).replaceAll(';', ', ')}, and the feeds are ${sig.slice(0, -1).replaceAll(';', ', ')}; compile a plan for these shapes, or create the session without a plan`);
      }
      const shapes = Object.fromEntries(this.graph.inputs.map((n) => [n, [...feeds[n].dims]]));
      out = await this.cache.use(sig, () => this.compileFor(shapes), (c) => {
        this.last = c.plan;
        return c.run(feeds);
      });
    }
    return pickOutputs(out, wanted, fetches);
  }

  async release(): Promise<void> {
    // the engine call that runs every shape is the cache's entry for the first signature, unless nothing was compiled
    await this.cache.clear();
    if (this.planless) await this.generic?.release();
    this.generic = undefined;
  }

  /** Every input fed (nothing else), in its dtype, of its rank, its fixed dims as declared. */
  private checkFeeds(feeds: TensorMap): void {
    const g = this.graph;
    const where = g.meta.source;
    for (const name of g.inputs) {
      const t = feeds[name];
      const v = g.values.get(name)!;
      if (!t) throw new TesseraError('MISSING_FEED', `${where}: input '${name}' was not fed`);
      if (!(t instanceof Tensor) && !(t && typeof t === 'object' && 'dims' in t && 'type' in t)) throw new TesseraError('FEED_DTYPE', `${where}: the feed of '${name}' is not a Tensor`);
      if (v.dtype && t.type !== v.dtype) throw new TesseraError('FEED_DTYPE', `${where}: input '${name}' takes ${v.dtype}, but the feed is ${t.type}`);
      const declared = v.declaredShape ?? v.shape;
      if (declared && (declared.length !== t.dims.length || declared.some((d, i) => typeof d === 'number' && d !== t.dims[i]))) {
        throw new TesseraError('FEED_SHAPE', `${where}: input '${name}' takes shape [${declared.join(',')}], but the feed has shape [${t.dims.join(',')}]`);
      }
    }
    for (const name in feeds) {
      if (!g.inputs.includes(name)) throw new TesseraError('UNKNOWN_FEED', `${where}: feed '${name}' is not an input of the model; its inputs are ${g.inputs.map((n) => `'${n}'`).join(', ')}`);
    }
  }
}

function metadata(graph: ModelSignature, name: string): ValueMetadata {
  const v = graph.values.get(name)!;
  if (!v.dtype) return { name, isTensor: false };
  const shape = v.declaredShape ?? v.shape ?? [];
  // the importer names an unnamed dim '?<axis>'; onnxruntime gives ''
  return { name, isTensor: true, type: v.dtype as Tensor.Type, shape: shape.map((d) => (typeof d === 'number' ? d : /^\?\d+$/.test(d) ? '' : d)) };
}

/** The options split into the compiler's, the target to load, and the cache size; onnxruntime's checked. */
function checkOptions(options: InferenceSessionOptions): { compileOptions: SessionOptions; target: () => Promise<Target | undefined>; cacheSize: number } {
  const compileOptions: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(options)) {
    if (value === undefined) continue;
    if (TESSERA_OPTIONS.has(key)) {
      if (key !== 'shapeCacheSize') compileOptions[key] = value;
      continue;
    }
    const rule = ORT_SESSION_OPTIONS[key];
    if (!rule) throw new TesseraError('UNSUPPORTED_OPTION', `session option '${key}' is not one Tessera honours (onnxruntime's that it honours or accepts: ${Object.keys(ORT_SESSION_OPTIONS).join(', ')}; and Tessera's own: ${[...TESSERA_OPTIONS].join(', ')})`);
    if (rule.how === 'default only' && value !== rule.default) {
      throw new TesseraError('UNSUPPORTED_OPTION', `session option ${key}: ${JSON.stringify(value)} is not honoured — ${rule.why}; leave it out (or give ${JSON.stringify(rule.default)})`);
    }
  }
  const size = options.shapeCacheSize ?? 8;
  if (!Number.isSafeInteger(size) || size < 1) throw new TesseraError('BAD_ARGUMENT', `shapeCacheSize ${size}: expected a whole number >= 1`);
  const eps = options.executionProviders;
  let target: () => Promise<Target | undefined>;
  if (eps === undefined) {
    // a plan runs on its own target unless one is given (compile finds it)
    const t = options.target;
    target = async () => (typeof t === 'object' ? t : t !== undefined ? loadTarget(t) : options.plan !== undefined ? undefined : loadTarget('host'));
  } else {
    if (options.target !== undefined) throw new TesseraError('UNSUPPORTED_OPTION', "give either executionProviders (onnxruntime's) or target (Tessera's), not both");
    const names = eps.map((e) => (typeof e === 'string' ? e : e.name));
    for (const e of eps) {
      if (typeof e === 'object' && Object.keys(e).some((k) => k !== 'name')) throw new TesseraError('UNSUPPORTED_OPTION', `execution provider options (${Object.keys(e).filter((k) => k !== 'name').join(', ')} of '${e.name}') are not honoured: give the provider by name`);
    }
    const other = names.find((n) => n !== 'cpu' && n !== 'webgpu');
    if (other !== undefined) throw new TesseraError('UNSUPPORTED_OPTION', `execution provider '${other}' is not one Tessera binds here: 'cpu' (the host's CPU) or 'webgpu' (the host target, CPU and GPU)`);
    if (names.length === 0) throw new TesseraError('UNSUPPORTED_OPTION', 'executionProviders is empty: give cpu, webgpu or both');
    const gpu = names.includes('webgpu');
    // asked for by name: the GPU is bound to the WebGPU EP even on a software adapter (which the host target leaves idle)
    if (gpu) compileOptions.bind = { gpu: 'webgpu', ...(options.bind ?? {}) };
    target = async () => {
      const t = await hostTarget({ gpu });
      if (gpu && !t.processors.some((p) => p.id === 'gpu')) throw new TesseraError('BACKEND_UNAVAILABLE', "execution provider 'webgpu': this host has no WebGPU adapter (see tessera backends)");
      return t;
    };
  }
  return { compileOptions: compileOptions as SessionOptions, target, cacheSize: size };
}

function checkRunOptions(options: OrtSession.RunOptions | undefined): void {
  for (const [key, value] of Object.entries(options ?? {})) {
    if (value === undefined || ORT_RUN_LOGGING.has(key)) continue;
    throw new TesseraError('UNSUPPORTED_OPTION', `run option '${key}' is not honoured (accepted: ${[...ORT_RUN_LOGGING].join(', ')}, which only label onnxruntime's log)`);
  }
}

/** The input shapes onnxruntime's freeDimensionOverrides give: every symbolic dim of every input named there. */
function overriddenShapes(graph: ModelSignature, overrides: Readonly<Record<string, number>>): Record<string, number[]> {
  const used = new Set<string>();
  const shapes: Record<string, number[]> = {};
  for (const name of graph.inputs) {
    const declared = graph.values.get(name)!.declaredShape ?? graph.values.get(name)!.shape ?? [];
    shapes[name] = declared.map((d, i) => {
      if (typeof d === 'number') return d;
      if (d && overrides[d] !== undefined) {
        used.add(d);
        return overrides[d];
      }
      throw new TesseraError('UNSUPPORTED_OPTION', `freeDimensionOverrides: input '${name}' dim ${i} (${d || 'unnamed'}) is not overridden; give every symbolic dim, or none (then every shape compiles on first use)`);
    });
  }
  const unknown = Object.keys(overrides).find((k) => !used.has(k));
  if (unknown) throw new TesseraError('UNSUPPORTED_OPTION', `freeDimensionOverrides: '${unknown}' is no symbolic dim of the model's inputs`);
  return shapes;
}

/** Whether any weight is read from a file other than the model (onnxruntime would read it by its own rules). */
function hasExternalData(graph: Graph, path: string | undefined): boolean {
  for (const v of graph.values.values()) {
    const s = v.initializer?.source;
    if (s?.kind === 'file' && s.path !== path) return true;
  }
  return false;
}

/** One partition on the host's CPU EP, the model as it is (no rewrites, native precision): one engine call for any shape. */
function isOneHostCall(plan: Plan, target: Target): boolean {
  if (plan.partitions.length !== 1 || plan.model.rewrites?.length) return false;
  const [p] = plan.partitions;
  const proc = target.processors.find((x) => x.id === p.processor);
  return p.backend === 'ort:cpu' && p.precision === 'native' && proc?.kind === 'cpu' && proc.support.ops === '*';
}

/** The outputs asked for: all (no fetches), the names listed, or the keys of a record (written into the tensors it gives). */
function fetchList(graph: ModelSignature, fetches: readonly string[] | Record<string, Tensor | null> | undefined): readonly string[] | undefined {
  if (!fetches) return undefined;
  const names = Array.isArray(fetches) ? (fetches as readonly string[]) : Object.keys(fetches);
  for (const n of names) {
    if (!graph.outputs.includes(n)) throw new TesseraError('BAD_ARGUMENT', `fetch '${n}' is not an output of the model; its outputs are ${graph.outputs.map((o) => `'${o}'`).join(', ')}`);
  }
  return names;
}

function pickOutputs(out: TensorMap, wanted: readonly string[] | undefined, fetches: readonly string[] | Record<string, Tensor | null> | undefined): TensorMap {
  if (!wanted) return out;
  const res: TensorMap = {};
  for (const n of wanted) {
    const given = !Array.isArray(fetches) ? (fetches as Record<string, Tensor | null>)[n] : null;
    const t = out[n];
    if (given) {
      if (given.type !== t.type || given.dims.length !== t.dims.length || given.dims.some((d, i) => d !== t.dims[i])) {
        throw new TesseraError('BAD_ARGUMENT', `fetch '${n}': the tensor given is ${given.type} [${given.dims.join(',')}], the output is ${t.type} [${t.dims.join(',')}]`);
      }
      (given.data as Float32Array).set(t.data as Float32Array);
      res[n] = given;
    } else res[n] = t;
  }
  return res;
}
