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
import { TesseraError } from '../errors.js';
import type { Weight } from '../ir/weight.js';
import { shareMapping, weightsAsInputs } from './repeats.js';

/** Backends that read a model's external data from disk themselves (onnxruntime-node's execution providers). */
const readsFiles = (backend: string) => backend.startsWith('ort:');

export function lowerPlan(graph: ShapedGraph, plan: Plan, target: Target, st: StaticInfo): Subgraph[] {
  const shared = sharing(graph, plan, st);
  const lowered: Subgraph[] = [];
  for (const part of plan.partitions) {
    const s = shared.get(part.id);
    if (!s) {
      lowered.push(lowerOne(graph, plan, target, st, part, graph));
      continue;
    }
    // one executable for the partitions of one structure: the first's, lowered with the weights that differ as inputs
    const first = s.members[0];
    const base = s.member === 0 ? lowerOne(graph, plan, target, st, plan.partitions[first], weightsAsInputs(graph, s.fed)) : lowered[first];
    const map = s.maps[s.member];
    const fed: Record<string, Weight> = {};
    for (const w of s.fed) fed[w] = graph.values.get(map.get(w) ?? w)!.initializer!;
    const names: Record<string, string> = {};
    for (const x of [...base.inputs, ...base.outputs]) if (!(x in fed)) names[x] = map.get(x) ?? x;
    lowered.push({ ...base, name: `${graph.meta.source} partition ${part.id} (${part.processor}, the executable of partition ${first})`, fed, names });
  }
  return lowered;
}

/** The partitions that share an executable (plan.partitions[].executable): for each, its group (first first), its place in it, the name maps and the weights fed. */
function sharing(graph: ShapedGraph, plan: Plan, st: StaticInfo): Map<number, { members: number[]; member: number; maps: Map<string, string>[]; fed: Set<string> }> {
  const groups = new Map<number, number[]>();
  for (const p of plan.partitions) if (p.executable !== undefined) groups.set(p.executable, [...(groups.get(p.executable) ?? [p.executable]), p.id]);
  const out = new Map<number, { members: number[]; member: number; maps: Map<string, string>[]; fed: Set<string> }>();
  const runOf = (id: number) => plan.partitions[id].nodes.filter((i) => !st.folded.has(i));
  for (const [first, members] of groups) {
    if (first >= members[1] || plan.partitions[first]?.executable !== undefined) throw new TesseraError('BAD_PLAN', `partition ${members[1]} runs the executable of partition ${first}, which is not an earlier partition with an executable of its own`);
    const m = shareMapping(graph, st, runOf(first), members.map(runOf));
    if (!m) throw new TesseraError('BAD_PLAN', `partitions ${members.join(', ')} share one executable but are not the same structure`);
    members.forEach((id, k) => out.set(id, { members, member: k, ...m }));
  }
  return out;
}

function lowerOne(graph: ShapedGraph, plan: Plan, target: Target, st: StaticInfo, part: Plan['partitions'][number], view: ShapedGraph): Subgraph {
  {
    const proc = target.processors.find((p) => p.id === part.processor)!;
    const slots = new Map(plan.memory[part.processor].buffers.map((b) => [b.value, b]));
    const storage = (name: string) => {
      const b = slots.get(name);
      // values with no buffer are weights computed inside the partition: stored in the legalized type
      return b ? { dtype: b.dtype as DType, ...(b.scale !== undefined ? { scale: b.scale } : {}) } : storageOn(proc, graph.values.get(name)!, undefined, qdqGraph(graph).values);
    };
    // onnxruntime-node reads weights from the model's own files: they are referenced, never copied (held once)
    const referenceIn = readsFiles(part.backend) ? (graph.meta.dataDir ?? undefined) : undefined;
    const lowered = lowerPartition(view, { id: part.id, processor: part.processor, nodes: part.nodes, inputs: part.inputs, outputs: part.outputs }, proc, st, storage, referenceIn);
    return {
      name: `${graph.meta.source} partition ${part.id} (${part.processor})`, onnx: lowered.bytes, inputs: lowered.inputs.map((i) => i.name), outputs: lowered.outputs.map((o) => o.name),
      ...(lowered.externalDataDir !== undefined ? { externalDataDir: lowered.externalDataDir } : {}),
    };
  }
}
