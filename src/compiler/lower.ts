/**
 * Lowering a plan: each partition becomes what its backend receives — a standalone ONNX model whose edge
 * values are stored as the plan's buffers say (the dtype policy was applied when the memory was planned;
 * passes/map.ts rewrites the partition to it). Done by the compiler, before anything runs: the runtime
 * binds, allocates and runs what it is given.
 */
import type { Subgraph } from '../backends/backend.js';
import type { DType } from '../ir/dtype.js';
import type { ShapedGraph } from '../ir/infer.js';
import type { StaticInfo } from '../ir/static.js';
import { lowerPartition } from '../passes/map.js';
import type { Plan } from '../plan/schema.js';
import type { Target } from '../targets/schema.js';
import { qdqGraph } from '../ir/qdq.js';
import { storageOn } from '../targets/storage.js';

/** Backends that read a model's external data from disk themselves (onnxruntime-node's execution providers). */
const readsFiles = (backend: string) => backend.startsWith('ort:');

export function lowerPlan(graph: ShapedGraph, plan: Plan, target: Target, st: StaticInfo): Subgraph[] {
  return plan.partitions.map((part) => {
    const proc = target.processors.find((p) => p.id === part.processor)!;
    const slots = new Map(plan.memory[part.processor].buffers.map((b) => [b.value, b]));
    const storage = (name: string) => {
      const b = slots.get(name);
      // values with no buffer are weights computed inside the partition: stored in the legalized type
      return b ? { dtype: b.dtype as DType, ...(b.scale !== undefined ? { scale: b.scale } : {}) } : storageOn(proc, graph.values.get(name)!, undefined, qdqGraph(graph).values);
    };
    // onnxruntime-node reads weights from the model's own files: they are referenced, never copied (held once)
    const referenceIn = readsFiles(part.backend) ? (graph.meta.dataDir ?? undefined) : undefined;
    const lowered = lowerPartition(graph, { id: part.id, processor: part.processor, nodes: part.nodes, inputs: part.inputs, outputs: part.outputs }, proc, st, storage, referenceIn);
    return {
      name: `${graph.meta.source} partition ${part.id} (${part.processor})`, onnx: lowered.bytes, inputs: lowered.inputs.map((i) => i.name), outputs: lowered.outputs.map((o) => o.name),
      ...(lowered.externalDataDir !== undefined ? { externalDataDir: lowered.externalDataDir } : {}),
    };
  });
}
