/**
 * The compiler driver: `compile(model, target, options) → Compilation`, the one place the compile is
 * assembled. Session, every CLI command, the viewer and the benchmarks call it.
 *
 *   load (import, shape inference, probe run) → bind (the target as bound: figures, capability tables,
 *   idle processors) → calibrate ranges (float16 legalization) → [rewrites, kept when the arenas shrink]
 *   → context (static info, support tables) → passes (pipeline.ts) → verify → lower (lower.ts)
 *
 * Given a plan instead, it checks the plan against the model (sha256) and the target, applies the
 * rewrites the plan records, verifies it and lowers it: what a runtime receives is the same either way.
 */
import { readFileSync } from 'node:fs';
import type { Subgraph } from '../backends/backend.js';
import { backendSpec } from '../backends/registry.js';
import type { BindSpec } from '../backends/binding.js';
import { measureRanges, ortProber } from '../backends/ort.js';
import { randomFeeds, type TensorMap } from '../backends/tensor.js';
import { TesseraError } from '../errors.js';
import { formatBytes } from '../format.js';
import { formatShape, type Graph } from '../ir/graph.js';
import { fixedDims, inferShapes, type FixedDim, type ShapedGraph } from '../ir/infer.js';
import type { Limits } from '../ir/limits.js';
import { importOnnx, readModelFile } from '../ir/onnx-import.js';
import { makeContext, type CompileContext } from '../passes/context.js';
import type { PlacementResult } from '../passes/place.js';
import { applyRewrites, REWRITES, rewriteForMemory, type Rewrite } from '../passes/rewrite.js';
import type { TileChoice } from '../passes/tile.js';
import { parsePlan, sha256, validatePlan, type Plan } from '../plan/schema.js';
import { verifyPlan } from '../plan/verify.js';
import { loadTarget, targetOfPlan } from '../targets/index.js';
import type { Target } from '../targets/schema.js';
import { storedDtype, type Ranges } from '../targets/storage.js';
import { bindForCompile } from './bind.js';
import { compileUnderBudget, type BudgetDecision } from './budget.js';

export { nothingToPlan } from './bind.js';
import { lowerPlan } from './lower.js';
import { compilePlan, runsAsTheModel, type PlanOptions } from './pipeline.js';

export { compilePlan, type PlanOptions } from './pipeline.js';
export { lowerPlan } from './lower.js';
export type { CompileContext };

export interface LoadOptions {
  /** Concrete shapes for inputs with symbolic dims (default: each symbolic dim = 1). */
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

/** A model imported and shaped: what every compile of it starts from. */
export interface LoadedModel {
  bytes: Uint8Array;
  /** Where it came from ('<bytes>' for bytes given in memory). */
  file: string;
  graph: ShapedGraph;
  sampleFeeds?: TensorMap;
}

export interface CompileOptions extends LoadOptions, PlanOptions {
  /** Processor → backend: a bind name ('webgpu', 'wasm', 'tfjs'), a backend id, or a Backend object of your own. */
  bind?: BindSpec;
  /** Try the memory rewrites (Sum → chain of Adds, Conv over a Concat → per-part Convs, spatial tiling); kept when they give smaller arenas. */
  rewrite?: boolean;
  /** A compiled plan (object, or a path to a plan file) to check and lower instead of compiling one. */
  plan?: Plan | string;
  /** Lower every partition to what its backend receives (default true; `tessera compile` needs no lowering). */
  lower?: boolean;
  /**
   * Bytes (or a size: '256MB') a run may hold beyond the engine floor: the latency plan if it fits by its
   * predicted resident peak, else the memory-objective plan, else a streamed run, else BUDGET_INFEASIBLE
   * naming the smallest feasible budget (compiler/budget.ts). The decision is `Compilation.budget`.
   */
  memoryBudget?: number | string;
}

export interface Compilation {
  plan: Plan;
  /** The graph the plan runs (the model after the rewrites the plan records). */
  graph: ShapedGraph;
  /** The target as compiled: its processors as bound. */
  target: Target;
  /** The explicit binding (given, or the one a given plan was compiled with). */
  bind: BindSpec;
  context: CompileContext;
  /** Each partition as its backend receives it, in partition order (absent with `lower: false`). */
  partitions?: Subgraph[];
  /** Things the user should know about this compile (a calibration run that failed, rewrites not kept). */
  warnings: string[];
  /** The placement search's account of itself (empty for the capability-only placement and a given plan). */
  placementLog: string[];
  /** Each symbolic dim of the model's inputs and the size the plan has for it (given, or 1 by default). */
  fixedDims: FixedDim[];
  /** Under a memory budget: what was chosen, and why. */
  budget?: BudgetDecision;
}

/** Reads a plan file; a missing file or an invalid plan is a clear error before anything runs. */
export function readPlanFile(path: string): Plan {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw new TesseraError('BAD_PLAN', `plan file not found: ${path}`);
  }
  return parsePlan(text, path);
}

/** A model's bytes, and its path when it has one. */
function modelBytes(model: string | Uint8Array): { bytes: Uint8Array; file: string; path?: string } {
  return typeof model === 'string' ? { bytes: readModelFile(model), file: model, path: model } : { bytes: model, file: '<bytes>' };
}

/** Imports a model (a path or its bytes) and infers every shape, probing on onnxruntime what no rule infers. */
export async function loadModel(model: string | Uint8Array | { bytes: Uint8Array; file: string; path?: string; imported?: Graph }, options: LoadOptions = {}): Promise<LoadedModel> {
  const { bytes, file, path, imported } = typeof model === 'object' && !(model instanceof Uint8Array) ? model : { ...modelBytes(model), imported: undefined };
  // a model imported before (an any-shape session imports once and shapes it for each input signature)
  const graph = await inferShapes(imported ?? importOnnx(bytes, { ...(path ? { path } : {}), externalDataDir: options.externalDataDir, limits: options.limits }), { inputShapes: options.inputShapes, prober: ortProber, feeds: options.sampleFeeds });
  return { bytes, file, graph, ...(options.sampleFeeds ? { sampleFeeds: options.sampleFeeds } : {}) };
}

/** The graph a plan runs: the model shaped for the plan's inputs, with the rewrites the plan records applied (as recorded, no search). */
export async function planGraph(model: LoadedModel, plan: Plan): Promise<ShapedGraph> {
  return applyRewrites(model.graph, plan.model.rewrites, ortProber, plan.model.tiles);
}

/** Processors a plan was compiled for bound to another backend than the target's own (`--bind` at compile time): bound the same again. */
function bindOfPlan(plan: Plan, target: Target): BindSpec {
  const out: Record<string, string> = {};
  for (const p of plan.target.processors) {
    const own = target.processors.find((q) => q.id === p.id);
    if (own && own.backend !== p.backend && backendSpec(p.backend)) out[p.id] = p.backend;
  }
  return out;
}

/** Each loaded model's calibration run, once (a model compiled for several targets runs it once). */
const calibrations = new WeakMap<LoadedModel, Promise<{ ranges?: Ranges; warning?: string }>>();

/** Calibrated magnitudes of float32 values, when a processor stores float32 as something narrower. */
async function rangesFor(model: LoadedModel, target: Target, warnings: string[]): Promise<Ranges | undefined> {
  if (!target.processors.some((p) => storedDtype(p, 'float32') !== 'float32')) return undefined;
  let run = calibrations.get(model);
  if (!run) {
    const { graph } = model;
    run = measureRanges(graph, model.sampleFeeds ?? randomFeeds(graph, graph.inputShapes)).then(
      (ranges) => ({ ranges }),
      (err: Error) => ({ warning: `calibration run failed (${err.message.split('\n')[0]}); float32 values on float16 processors are legalized without range checks — give representative inputs with --data` }),
    );
    calibrations.set(model, run);
  }
  const { ranges, warning } = await run;
  if (warning) warnings.push(warning);
  return ranges;
}

/**
 * A zero dimension given as a shape to compile for is refused where it leaves nothing to compute: every
 * output empty. An empty input beside others (a KV cache before the first token) is a real input and is
 * compiled; so is any shape of data given (empty tensors are ONNX's, and its conformance tests feed them).
 */
export function refuseNothingToCompute(graph: ShapedGraph, given: Readonly<Record<string, readonly number[]>> | undefined): void {
  const zero = graph.inputs.filter((n) => given?.[n]?.includes(0));
  if (zero.length === 0) return;
  const empty = (o: string) => (graph.values.get(o)?.shape ?? []).some((d) => d === 0);
  if (!graph.outputs.every(empty)) return;
  const z = zero[0], dims = graph.inputShapes[z];
  throw new TesseraError('BAD_INPUT_SHAPE', `${graph.meta.source}: input '${z}' has shape [${dims.join(',')}] (dimension ${dims.indexOf(0)} is 0) and every output is empty (${graph.outputs.map((o) => `'${o}' ${formatShape(graph.values.get(o)?.shape ?? null)}`).join(', ')}): nothing to compute; give the sizes you will run`);
}

/**
 * A plan of one partition holding the whole model, as it is, on onnxruntime's CPU EP (no rewrite, native
 * precision, no external data) lowers to the model's own bytes: what the engine receives is the model,
 * which it folds and orders itself, and no second copy of the weights is serialized.
 */
function asTheModel(model: LoadedModel, plan: Plan, target: Target): Subgraph[] | undefined {
  if (!runsAsTheModel(model.graph, model.file, plan.partitions, plan.model.rewrites, target)) return undefined;
  const { graph } = model;
  return [{ name: `${graph.meta.source} (the whole model, partition 0 on ${plan.partitions[0].processor})`, onnx: model.bytes, inputs: [...graph.inputs], outputs: [...graph.outputs] }];
}

/**
 * Compiles a model for a target (a built-in name, a target file, or a Target; default: the target a given
 * plan was compiled for, else 'host'), or checks and lowers a plan compiled before.
 */
export async function compile(model: string | Uint8Array | LoadedModel, target: string | Target | undefined, options: CompileOptions = {}): Promise<Compilation> {
  const given = options.plan === undefined ? undefined : typeof options.plan === 'string' ? readPlanFile(options.plan) : validatePlan(options.plan, 'the plan given');
  const raw = typeof model === 'object' && !(model instanceof Uint8Array) ? model : modelBytes(model);
  if (given) {
    const sum = sha256(raw.bytes);
    if (given.model.sha256 !== sum) {
      throw new TesseraError('PLAN_MISMATCH', `the plan was compiled for a model with sha256 ${given.model.sha256.slice(0, 12)}… (${given.model.file}), not ${raw.file} (${sum.slice(0, 12)}…)`);
    }
  }
  // a plan brings the input shapes it was compiled for
  const loaded = 'graph' in raw ? raw : await loadModel(raw, { inputShapes: given ? Object.fromEntries(Object.entries(given.inputs).map(([k, v]) => [k, v.shape])) : options.inputShapes, sampleFeeds: options.sampleFeeds, externalDataDir: options.externalDataDir, limits: options.limits });
  if (!given && !('graph' in raw) && !options.sampleFeeds) refuseNothingToCompute(loaded.graph, options.inputShapes);
  if (options.memoryBudget !== undefined && !given) {
    const path = 'path' in raw && typeof raw.path === 'string' ? raw.path : loaded.file !== '<bytes>' ? loaded.file : undefined;
    return compileUnderBudget(loaded, path, target, options, compile);
  }
  // a plan runs on the target it was compiled for (a built-in one by name — never a path: a plan is untrusted — unless another is given), bound as it was compiled
  const base = typeof target === 'object' ? target : target !== undefined ? await loadTarget(target) : given ? await targetOfPlan(given.target.name) : await loadTarget('host');
  const bind = options.bind ?? (given ? bindOfPlan(given, base) : {});
  const binding = await bindForCompile(base, bind);
  /** The compile context of a graph: the host's fallback processor only when the graph has a node for it. */
  const contextFor = (g: ShapedGraph, ranges?: Ranges, keepFallback?: boolean) => {
    const ctx = makeContext(g, binding.target, { ...binding.context, ranges });
    const fb = binding.fallback;
    const needed = keepFallback ?? ctx.support.some((m) => m?.get(fb?.id ?? '')?.ok);
    return fb && !needed ? makeContext(g, fb.without, { ...binding.context, ranges }) : ctx;
  };
  const warnings: string[] = [];
  let placementLog: string[] = [];
  let plan: Plan, graph: ShapedGraph, context: CompileContext;

  if (given) {
    graph = await planGraph(loaded, given);
    context = contextFor(graph, undefined, given.target.processors.some((p) => p.id === binding.fallback?.id));
    plan = given;
  } else {
    const ranges = await rangesFor(loaded, binding.target, warnings);
    const once = (g: ShapedGraph, rewrites?: Rewrite[], tiles?: readonly TileChoice[]) => {
      const ctx = contextFor(g, ranges);
      let log: string[] = [];
      const p = compilePlan(ctx, { ...options, modelBytes: loaded.bytes, modelFile: loaded.file, onPlacement: (r: PlacementResult) => (log = r.log), rewrites, tiles });
      return { plan: p, graph: g, context: ctx, log };
    };
    let best = once(loaded.graph);
    // the memory objective tries the rewrites unless told not to, and keeps them by the predicted resident peak
    const memoryObjective = options.objective === 'memory';
    if (options.rewrite ?? memoryObjective) {
      const { applied, tiles } = rewriteForMemory(loaded.graph);
      const used = REWRITES.filter((r) => applied[r] > 0);
      const arenas = (p: Plan) => (memoryObjective && p.resident ? p.resident.peakBytes : Object.values(p.memory).reduce((a, m) => a + m.arenaBytes, 0));
      if (used.length) {
        const rw = once(await applyRewrites(loaded.graph, used, ortProber, tiles), used, tiles);
        // bands of rows all in one engine session run in the engine's own order (depth-first from the
        // outputs, not band by band), which keeps its working memory whole: measured on ppocr-v4-det
        // 640×640, 224 MB against 211 MB untiled. Only split bands lower the resident peak.
        const bandsInOneSession = memoryObjective && used.includes('spatial-tile') && rw.plan.partitions.length === 1;
        if (bandsInOneSession) warnings.push('the spatial tiling would run its bands in one engine session, in the engine\'s own order, which does not lower its working memory: not used');
        // without the tiling, the other rewrites may still lower the peak (a Sum's inputs freed as they are added)
        const kept = bandsInOneSession ? used.filter((r) => r !== 'spatial-tile') : used;
        const counts = bandsInOneSession ? rewriteForMemory(loaded.graph, kept).applied : applied;
        const cand = !bandsInOneSession ? rw : kept.length ? once(await applyRewrites(loaded.graph, kept, ortProber), kept) : undefined;
        if (cand && arenas(cand.plan) < arenas(best.plan)) best = cand;
        else if (cand) warnings.push(`the memory rewrites (${kept.map((r) => `${r} ×${counts[r]}`).join(', ')}) did not make the ${memoryObjective ? 'predicted resident peak' : 'arenas'} smaller (${formatBytes(arenas(cand.plan))} against ${formatBytes(arenas(best.plan))}): not used`);
      } else warnings.push('no memory rewrite applies to this model (no Sum of 3 or more inputs, no Conv reading a Concat, no region of row-local ops whose tiling shrinks the arena)');
    }
    ({ plan, graph, context } = best);
    placementLog = best.log;
  }
  for (const [id, why] of context.idle) warnings.push(`${id} gets no work: ${why}`);
  verifyPlan(plan, graph, context.target, { st: context.st, canRun: context.runs });
  const partitions = options.lower === false ? undefined : (asTheModel(loaded, plan, context.target) ?? lowerPlan(graph, plan, context.target, context.st));
  // shapes come from a plan, sample feeds, inputShapes, or (a model loaded before) its caller; else symbolic dims are 1
  const givenShapes = given || 'graph' in raw ? loaded.graph.inputShapes : (options.sampleFeeds ?? options.inputShapes ?? {});
  const fixed = fixedDims(loaded.graph, loaded.graph.inputShapes, givenShapes);
  return { plan, graph, target: context.target, bind, context, ...(partitions ? { partitions } : {}), warnings, placementLog, fixedDims: fixed };
}
