/** The compiler: partition → map → order → schedule → plan memory, assembled into a Plan. */
import { createHash } from 'node:crypto';
import { basename } from 'node:path';
import type { ShapedGraph } from '../ir/infer.js';
import { partitionPrecision } from '../passes/map.js';
import { order as orderPass } from '../passes/order.js';
import { partition } from '../passes/partition.js';
import { planMemory } from '../passes/plan-memory.js';
import { residency, type Ranges } from '../passes/residency.js';
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
}

export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export function compilePlan({ graph, modelBytes, modelFile, target, ranges, placement, onPlacement }: CompileInput): Plan {
  const st = staticInfo(graph);
  const placed = placement === 'capability' ? undefined : placeByCost(graph, target, ranges);
  if (placed) onPlacement?.(placed);
  const parts = partition(graph, target, ranges, placed?.placement);
  const order = orderPass(graph, parts);
  const res = residency(graph, target, parts, st);
  const sched = schedule(graph, target, parts, st, res);
  const memory = planMemory(graph, target, parts, st, res, order, ranges);
  const proc = (id: string) => target.processors.find((p) => p.id === id)!;
  return {
    format: PLAN_FORMAT,
    version: PLAN_VERSION,
    model: { file: basename(modelFile), sha256: sha256(modelBytes), nodes: graph.nodes.length },
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
    estimate: { latencyUs: sched.latencyUs, transferBytes: sched.transferBytes, source: costSource(target) },
  };
}
