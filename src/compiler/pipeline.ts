/**
 * The pass pipeline, assembled once: place → partition → order → split → plan memory → schedule, then
 * the Plan. Every pass gets the compile context (passes/context.ts): the graph, the target as bound, the
 * support tables and the residency of each partitioning, computed once.
 */
import { basename } from 'node:path';
import type { CompileContext } from '../passes/context.js';
import { fileOrder, simulate } from '../passes/memory-graph.js';
import { memoryOrder } from '../passes/order.js';
import { partition } from '../passes/partition.js';
import { placeByCost, type PlacementResult } from '../passes/place.js';
import { planMemory } from '../passes/plan-memory.js';
import { predictResident } from '../passes/resident.js';
import { schedule } from '../passes/schedule.js';
import { chunkOrder, splitPartitions, type SplitOptions } from '../passes/split.js';
import type { TileChoice } from '../passes/tile.js';
import type { Partitioning } from '../plan/partitioning.js';
import { PLAN_FORMAT, PLAN_VERSION, sha256, type Plan, type Rewrite } from '../plan/schema.js';
import { costSource } from '../targets/cost.js';
import { sharedExecutables } from './repeats.js';
import { nodePrecision, partitionPrecision } from '../targets/storage.js';
import type { Graph } from '../ir/graph.js';
import { realPath } from '../ir/onnx-import.js';
import type { Target } from '../targets/schema.js';

/** How the passes run: every compile option that changes the plan of a given graph. */
export interface PlanOptions {
  /** 'cost' (default): placement by predicted latency; 'capability': onnxruntime-style first fit by priority. */
  placement?: 'cost' | 'capability';
  /**
   * Budget of the memory-aware order search (ms, counted as work so plans stay deterministic; default
   * 2000). Without a budget given, a plan that is one partition on the host CPU (one engine call, which
   * orders its nodes and manages its memory itself) gets no search: the partitioner's walk is its order.
   */
  orderBudgetMs?: number;
  /** 'memory': split partitions into chunks that follow the planned order where the backend's own order would defeat the planned peak; 'none' (default). */
  split?: SplitOptions['mode'];
  /** Let elementwise ops write their output over their input's buffer (plan buffers then share storage; default off). */
  inplace?: boolean;
  /**
   * 'latency' (default): today's fast plans. 'memory': the plan of the smallest predicted peak resident
   * bytes of the process (passes/resident.ts) among the partition splittings, in place on (and, in
   * compile(), the memory rewrites tried and kept by the same figure).
   */
  objective?: Objective;
}

export type Objective = 'latency' | 'memory';

export interface PlanInput extends PlanOptions {
  /** The .onnx file's bytes (for the plan's sha256) and its name. */
  modelBytes: Uint8Array;
  modelFile: string;
  /** Receives the placement search's result (its log explains the choice). */
  onPlacement?: (result: PlacementResult) => void;
  /** The memory rewrites the context's graph went through (recorded in the plan, so the runtime applies them too), and the spatial tiling among them. */
  rewrites?: readonly Rewrite[];
  tiles?: readonly TileChoice[];
}

/** Runs the passes on the context's graph and target and assembles the Plan. */
export function compilePlan(ctx: CompileContext, input: PlanInput): Plan {
  if (input.objective !== 'memory') return compileOnce(ctx, input);
  // the splittings the user left open, each with writing in place unless it was turned off: the smallest predicted resident peak
  const splits = input.split ? [input.split] : (['memory', 'none'] as const);
  const plans = splits.map((split) => compileOnce(ctx, { ...input, split, inplace: input.inplace ?? true }));
  return plans.reduce((a, b) => (b.resident!.peakBytes < a.resident!.peakBytes ? b : a));
}

function compileOnce(ctx: CompileContext, { modelBytes, modelFile, placement, onPlacement, orderBudgetMs, split, inplace, rewrites, tiles, objective }: PlanInput): Plan {
  const { graph, st } = ctx;
  const placed = placement === 'capability' ? undefined : placeByCost(ctx);
  if (placed) onPlacement?.(placed);
  const walkParts = partition(ctx, placed?.placement);
  if (orderBudgetMs === undefined && (split ?? 'none') === 'none' && !inplace && objective !== 'memory' && oneEngineCall(ctx, walkParts)) {
    // no order search for a memory no one plans: the engine runs the partition in its own order, in its own memory
    const memory = planMemory(ctx, walkParts, walkParts.walk, false);
    return assemble({ ctx, parts: walkParts, order: [...walkParts.walk], memory, sched: schedule(ctx, walkParts), modelBytes, modelFile, rewrites, tiles, objective });
  }
  // order: memory-aware inside each partition; then partitions split where the backend's own order would defeat the planned peak
  const budgetMs = orderBudgetMs ?? 2000;
  // The memory objective's plan peaks where its order does. Unsplit, it orders for the peak the plan will
  // have (a partition's inputs and outputs alive for the whole call); split, its chunks are cut with no
  // slack over the order's peak (a chunk holds its own inputs and outputs for its whole call).
  const memoryObjective = objective === 'memory';
  const mo = memoryOrder(ctx, walkParts, { budgetMs }, inplace ?? false, memoryObjective && (split ?? 'none') === 'none');
  let order = mo.order;
  const chunks = chunkOrder(mo.runtime.problem, mo.runtimeOrder, (u) => walkParts.partitionOf[mo.runtime.nodeOf[u]], mo.result.peak, { mode: split ?? 'none', ...(memoryObjective ? { slack: 0 } : {}) });
  let parts = splitPartitions(graph, walkParts, st, mo.runtime, chunks, order);
  let memory = planMemory(ctx, parts, order, inplace ?? false);
  let kept: 'search' | 'walk' = 'search';
  if ((split ?? 'none') === 'none') {
    // the arenas are never larger than with the partitioner's walk: keep the walk when its layout is smaller
    const walkMemory = planMemory(ctx, walkParts, walkParts.walk, inplace ?? false);
    const total = (m: typeof memory, k: 'arenaBytes' | 'peakBytes' = 'arenaBytes') => Object.values(m).reduce((a, x) => a + x[k], 0);
    // (the memory objective keeps its order's peak: the walk only when it peaks no higher)
    if (total(walkMemory) < total(memory) && (!memoryObjective || total(walkMemory, 'peakBytes') <= total(memory, 'peakBytes'))) {
      [order, parts, memory, kept] = [[...walkParts.walk], walkParts, walkMemory, 'walk'];
    }
  }
  const orderSearch: Plan['orderSearch'] = {
    peakBytes: mo.result.peak, lowerBoundBytes: mo.result.lowerBound, exact: mo.result.exact, segments: mo.result.segments, exactSegments: mo.result.exactSegments, budgetMs,
    fileOrderPeakBytes: simulate(mo.runtime.problem, fileOrder(mo.runtime.problem)).peak, splitFrom: walkParts.partitions.length, kept,
  };
  return assemble({ ctx, parts, order, memory, sched: schedule(ctx, parts), orderSearch, modelBytes, modelFile, rewrites, tiles, objective });
}

/** One partition on a host CPU that takes every op, in native precision: one engine call, ordering and allocating for itself. */
function oneEngineCall(ctx: CompileContext, parts: Partitioning): boolean {
  if (parts.partitions.length !== 1) return false;
  const proc = ctx.proc(parts.partitions[0].processor);
  return proc.kind === 'cpu' && proc.support.ops === '*' && partitionPrecision(proc) === 'native';
}

interface Assembly {
  ctx: CompileContext;
  parts: Partitioning;
  order: number[];
  memory: Plan['memory'];
  sched: ReturnType<typeof schedule>;
  orderSearch?: Plan['orderSearch'];
  modelBytes: Uint8Array;
  modelFile: string;
  rewrites?: readonly Rewrite[];
  tiles?: readonly TileChoice[];
  objective?: Objective;
}

/** Whether a plan runs as the model itself (compiler/index.ts asTheModel): one partition, no rewrite, native precision on onnxruntime's CPU EP, no external data of another file. */
export function runsAsTheModel(graph: Graph, modelFile: string, partitions: readonly { processor: string; precision?: string }[], rewrites: readonly Rewrite[] | undefined, target: Target): boolean {
  if (partitions.length !== 1 || rewrites?.length) return false;
  const proc = target.processors.find((p) => p.id === partitions[0].processor);
  if (!proc || proc.backend !== 'ort:cpu' || partitions[0].precision !== 'native') return false;
  const own = modelFile ? realPath(modelFile) : modelFile; // weights record the model's real path (symlinks resolved)
  for (const v of graph.values.values()) {
    const s = v.initializer?.source;
    if (s?.kind === 'file' && s.path !== own) return false; // external data: the engine would read it by its own rules
  }
  return true;
}

/** The Plan from what the passes decided. */
function assemble({ ctx, parts, order, memory, sched, orderSearch, modelBytes, modelFile, rewrites, tiles, objective }: Assembly): Plan {
  const { graph, target } = ctx;
  // a QDQ group computes on integers when its Q/DQ nodes run in the same backend call (weights' are folded into it)
  const precisionOf = (i: number) => parts.placement[i].folded ? undefined
    : nodePrecision(ctx.proc(parts.placement[i].processor), graph, i, (m) => parts.placement[m].folded || parts.partitionOf[m] === parts.partitionOf[i]);
  // the memory objective runs partitions of the same structure on one executable, their weights fed (compiler/repeats.ts)
  const executableOf = objective === 'memory' ? sharedExecutables(graph, ctx.st, parts.partitions, (id) => partitionPrecision(ctx.proc(id)) === 'native') : undefined;
  const asTheModel = runsAsTheModel(graph, modelFile, parts.partitions.map((p) => ({ processor: p.processor, precision: partitionPrecision(ctx.proc(p.processor)) })), rewrites, target);
  const resident = predictResident(ctx, parts, memory, executableOf, asTheModel);
  return {
    format: PLAN_FORMAT,
    version: PLAN_VERSION,
    model: { file: basename(modelFile), sha256: sha256(modelBytes), nodes: graph.nodes.length, ...(rewrites?.length ? { rewrites: [...rewrites] } : {}), ...(rewrites?.includes('spatial-tile') && tiles?.length ? { tiles: tiles.map((t) => ({ nodes: [...t.nodes], count: t.count })) } : {}) },
    target: { name: target.name, processors: target.processors.map((p) => ({ id: p.id, kind: p.kind, name: p.name, backend: p.backend })) },
    inputs: Object.fromEntries(graph.inputs.map((n) => [n, { dtype: graph.values.get(n)!.dtype ?? 'unknown', shape: graph.inputShapes[n] }])),
    outputs: [...graph.outputs],
    nodes: graph.nodes.map((n) => {
      const p = parts.placement[n.index];
      const precision = precisionOf(n.index);
      return {
        index: n.index, name: n.name, op: n.op, processor: p.processor, partition: parts.partitionOf[n.index],
        ...(p.folded ? { folded: true } : {}),
        ...(precision ? { precision } : {}),
        ...(p.rejected.length ? { rejected: p.rejected } : {}),
      };
    }),
    partitions: parts.partitions.map((p) => ({
      id: p.id, processor: p.processor, backend: ctx.proc(p.processor).backend, precision: partitionPrecision(ctx.proc(p.processor)),
      nodes: p.nodes, inputs: p.inputs, outputs: p.outputs,
      ...(executableOf && executableOf[p.id] !== p.id ? { executable: executableOf[p.id] } : {}),
    })),
    order,
    steps: sched.steps,
    memory,
    ...(orderSearch ? { orderSearch } : {}),
    estimate: { latencyUs: sched.latencyUs, transferBytes: sched.transferBytes, source: costSource(target) },
    resident: { objective: objective ?? 'latency', ...resident },
  };
}
