/** The compiler: partition → map → order → schedule → plan memory, assembled into a Plan. */
import { createHash } from 'node:crypto';
import { basename } from 'node:path';
import type { ShapedGraph } from '../ir/infer.js';
import { partitionPrecision } from '../passes/map.js';
import { memoryOrder } from '../passes/order.js';
import { simulate, fileOrder } from '../passes/memory-graph.js';
import type { Rewrite } from '../passes/rewrite.js';
import type { TileChoice } from '../passes/tile.js';
import { chunkOrder, splitPartitions, type SplitOptions } from '../passes/split.js';
import { partition } from '../passes/partition.js';
import { planMemory } from '../passes/plan-memory.js';
import { residency } from '../passes/residency.js';
import { type Ranges } from '../targets/storage.js';
import { staticInfo } from '../passes/static.js';
import { costSource } from '../targets/cost.js';
import type { Target } from '../targets/schema.js';
import { PLAN_FORMAT, PLAN_VERSION, type Plan } from './plan.js';
import { schedule } from './schedule.js';
import { placeByCost, type PlacementResult } from './place.js';

export interface CompileInput {
  graph: ShapedGraph;
  /** The .onnx file's bytes (for the plan's sha256) and its name. */
  modelBytes: Uint8Array;
  modelFile: string;
  target: Target;
  /** Calibrated magnitudes of float32 values, for dtype legalization (see passes/residency.ts). */
  ranges?: Ranges;
  /** 'cost' (default): placement by predicted latency; 'capability': onnxruntime-style first fit by priority. */
  placement?: 'cost' | 'capability';
  /** Receives the placement search's result (its log explains the choice). */
  onPlacement?: (result: PlacementResult) => void;
  /** Budget of the memory-aware order search (ms, counted as work so plans stay deterministic; default 2000). */
  orderBudgetMs?: number;
  /** 'memory': split partitions into chunks that follow the planned order where the backend's own order would defeat the planned peak; 'none' (default). */
  split?: SplitOptions['mode'];
  /** Let elementwise ops write their output over their input's buffer (plan buffers then share storage; default off). */
  inplace?: boolean;
  /** The memory rewrites `graph` went through (recorded in the plan, so the runtime applies them too), and the spatial tiling among them. */
  rewrites?: readonly Rewrite[];
  tiles?: readonly TileChoice[];
}

export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export function compilePlan({ graph, modelBytes, modelFile, target, ranges, placement, onPlacement, orderBudgetMs, split, inplace, rewrites, tiles }: CompileInput): Plan {
  const st = staticInfo(graph);
  const placed = placement === 'capability' ? undefined : placeByCost(graph, target, ranges);
  if (placed) onPlacement?.(placed);
  const walkParts = partition(graph, target, ranges, placed?.placement);
  // order: memory-aware inside each partition; then partitions split where the backend's own order would defeat the planned peak
  const budgetMs = orderBudgetMs ?? 2000;
  const mo = memoryOrder(graph, target, walkParts, st, residency(graph, target, walkParts, st), { budgetMs }, ranges, inplace ?? false);
  let order = mo.order;
  const chunks = chunkOrder(mo.runtime.problem, mo.runtimeOrder, (u) => walkParts.partitionOf[mo.runtime.nodeOf[u]], mo.result.peak, { mode: split ?? 'none' });
  let parts = splitPartitions(graph, walkParts, st, mo.runtime, chunks, order);
  let res = residency(graph, target, parts, st);
  let memory = planMemory(graph, target, parts, st, res, order, ranges, inplace ?? false);
  let kept: 'search' | 'walk' = 'search';
  if ((split ?? 'none') === 'none') {
    // the arenas are never larger than with the partitioner's walk: keep the walk when its layout is smaller
    const walkRes = residency(graph, target, walkParts, st);
    const walkMemory = planMemory(graph, target, walkParts, st, walkRes, walkParts.walk, ranges, inplace ?? false);
    const total = (m: typeof memory) => Object.values(m).reduce((a, x) => a + x.arenaBytes, 0);
    if (total(walkMemory) < total(memory)) {
      [order, parts, res, memory, kept] = [[...walkParts.walk], walkParts, walkRes, walkMemory, 'walk'];
    }
  }
  const sched = schedule(graph, target, parts, st, res);
  const proc = (id: string) => target.processors.find((p) => p.id === id)!;
  return {
    format: PLAN_FORMAT,
    version: PLAN_VERSION,
    model: { file: basename(modelFile), sha256: sha256(modelBytes), nodes: graph.nodes.length, ...(rewrites?.length ? { rewrites: [...rewrites] } : {}), ...(rewrites?.includes('spatial-tile') && tiles?.length ? { tiles: tiles.map((t) => ({ nodes: [...t.nodes], count: t.count })) } : {}) },
    target: { name: target.name, processors: target.processors.map((p) => ({ id: p.id, kind: p.kind, name: p.name, backend: p.backend })) },
    inputs: Object.fromEntries(graph.inputs.map((n) => [n, { dtype: graph.values.get(n)!.dtype ?? 'unknown', shape: graph.inputShapes[n] }])),
    outputs: [...graph.outputs],
    nodes: graph.nodes.map((n) => {
      const p = parts.placement[n.index];
      return {
        index: n.index, name: n.name, op: n.op, processor: p.processor, partition: parts.partitionOf[n.index],
        ...(p.folded ? { folded: true } : {}),
        ...(p.rejected.length ? { rejected: p.rejected } : {}),
      };
    }),
    partitions: parts.partitions.map((p) => ({
      id: p.id, processor: p.processor, backend: proc(p.processor).backend, precision: partitionPrecision(proc(p.processor)),
      nodes: p.nodes, inputs: p.inputs, outputs: p.outputs,
    })),
    order,
    steps: sched.steps,
    memory,
    orderSearch: {
      peakBytes: mo.result.peak, lowerBoundBytes: mo.result.lowerBound, exact: mo.result.exact, segments: mo.result.segments, exactSegments: mo.result.exactSegments, budgetMs,
      fileOrderPeakBytes: simulate(mo.runtime.problem, fileOrder(mo.runtime.problem)).peak, splitFrom: walkParts.partitions.length, kept,
    },
    estimate: { latencyUs: sched.latencyUs, transferBytes: sched.transferBytes, source: costSource(target) },
  };
}
