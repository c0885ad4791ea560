/**
 * The process's resident memory, predicted: what running a plan holds at its peak, by category —
 *   floor      the runtime process with its engine loaded and one trivial session run (the target's
 *              `memory.floorBytes`: measured by `tessera calibrate`, or its uncalibrated default), plus
 *              the engine's structures per node of the model, subgraphs' nodes included
 *              (`memory.nodeBytes`), plus Tessera's graph and plan per node (PLAN_NODE_BYTES, 2 KB) unless the
 *              plan runs as the model itself: then `tessera run --plan` drops the compile before the
 *              engine allocates (runtime/run-model.ts) and holds nothing per node
 *   sessions   each further engine session (`memory.sessionBytes`)
 *   weights    the weights the partitions read, held once by the engine, times `memory.weightFactor`
 *              (the engine's prepacked copies of Conv/MatMul weights)
 *   arenas     the pages of Tessera's arenas a run writes (the buffers of values crossing partition edges;
 *              a plan of one partition runs on the caller's tensors: its inputs and outputs)
 *   workspace  what the engine allocates itself: a session that computes intermediates keeps them in its
 *              own arena (their peak in the file order, as the engine plans them, summed over such
 *              sessions: each has its own arena), plus the largest kernel scratch of any node
 *              (kernelScratchBytes), freed after each run.
 * The objective 'memory' chooses the plan by this figure; `tessera run --memory` prints it beside the
 * measured peak.
 */
import { valueByteSize } from '../ir/infer.js';
import { subgraphNodeCount, type Node } from '../ir/graph.js';
import type { Partitioning } from '../plan/partitioning.js';
import type { Target } from '../targets/schema.js';
import type { CompileContext } from './context.js';
import type { MemoryPlan } from './plan-memory.js';

export interface ResidentPrediction {
  floorBytes: number;
  sessionBytes: number;
  weightBytes: number;
  arenaBytes: number;
  workspaceBytes: number;
  /** The sum: the predicted peak resident bytes of the process. */
  peakBytes: number;
  /** Where the per-target figures came from. */
  source: string;
}

/** The memory figures of a target (its own, or the uncalibrated defaults measured on this project's VMs). */
export function memoryFigures(target: Target): { floorBytes: number; nodeBytes: number; sessionBytes: number; weightFactor: number; source: string } {
  const m = target.memory;
  return {
    floorBytes: m?.floorBytes?.value ?? DEFAULT_MEMORY.floorBytes,
    nodeBytes: m?.nodeBytes?.value ?? DEFAULT_MEMORY.nodeBytes,
    sessionBytes: m?.sessionBytes?.value ?? DEFAULT_MEMORY.sessionBytes,
    weightFactor: m?.weightFactor?.value ?? DEFAULT_MEMORY.weightFactor,
    source: m?.floorBytes ? m.floorBytes.source : DEFAULT_MEMORY.source,
  };
}

/**
 * Measured with /usr/bin/time on the 2-core x86-64 VMs of this project (2026-12-07): `tessera run` of a 1-node model (floor); ppocr-v4-det split into 341 sessions (per session); the 134.6 MB MLP of bench/models/mlp.ts (weight factor).
 * Per node: the engine's own, fitted on onnxruntime-node's whole-model processes of the corpus (bench/memory-budget.ts, 2026-12-08: from
 * wakeword-hello-deepa's 29 nodes to silero-vad-v4-legacy's 250, silero-vad-v5's 689 and ppocr-v4-rec's 765, less their weights: 21–28 KB a node).
 */
export const DEFAULT_MEMORY = {
  floorBytes: 100e6, nodeBytes: 25e3, sessionBytes: 0.6e6, weightFactor: 1.25, source: 'uncalibrated default: measured on a 2-core x86-64 VM of this project with onnxruntime-node 1.30 (tessera calibrate measures this host)',
  /** Cold reads (the file evicted from the page cache, 8 MB reads, 4 in flight) of the VM's virtual disk: 0.29–2.2 GB/s over runs as other sessions read (2026-12-08). */
  storageReadGBs: 1, storageSource: "uncalibrated default: cold reads of a 2 GB file from the virtual disk of a 2-core x86-64 VM of this project, 0.29–2.2 GB/s over runs as other sessions read (tessera calibrate measures this host's)",
};

/**
 * Scratch a kernel allocates for one run of a node, beyond its inputs and outputs: a ConvTranspose's
 * column buffer (Cout/group·k·k·Hin·Win elements). onnxruntime's k×k convolutions unfold their input in
 * a bounded working buffer per thread (MLAS), so they count nothing.
 */
export function kernelScratchBytes(ctx: CompileContext, node: Node): number {
  if (node.op !== 'ConvTranspose') return 0;
  const x = ctx.graph.values.get(node.inputs[0]), w = ctx.graph.values.get(node.inputs[1]);
  const xs = x?.shape, ws = w?.shape;
  if (!xs || !ws || [...xs, ...ws].some((d) => typeof d !== 'number')) return 0;
  const group = node.attrs.group?.type === 'int' ? node.attrs.group.value : 1;
  const k = (ws as number[]).slice(2).reduce((a, b) => a * b, 1);
  const coutPerGroup = ws[1] as number;
  const spatial = (xs as number[]).slice(2).reduce((a, b) => a * b, 1);
  return coutPerGroup * k * spatial * group * (valueByteSize(x!) / (xs as number[]).reduce((a, b) => a * b, 1));
}

/** Bytes of an arena the run writes: the union of the ranges of the buffers of values crossing a partition edge (pages never written are not resident). */
function touchedBytes(buffers: readonly { value: string; offset: number; bytes: number }[], crossing: (v: string) => boolean): number {
  const ranges = buffers.filter((b) => crossing(b.value)).map((b) => [b.offset, b.offset + b.bytes] as const).sort((a, b) => a[0] - b[0]);
  let total = 0, end = -1;
  for (const [a, b] of ranges) {
    if (b <= end) continue;
    total += b - Math.max(a, end);
    end = b;
  }
  return total;
}

/** What makes a node's session differ from another's: op, attributes' names, weights read, output shapes. */
function sessionKey(ctx: CompileContext, node: Node): string {
  const weights = node.inputs.filter((r) => r && ctx.graph.values.get(r)?.isConst);
  const shapes = node.outputs.map((o) => (o ? JSON.stringify(ctx.graph.values.get(o)?.shape ?? null) : ''));
  return `${node.op}(${weights.join(',')})${shapes.join(',')}`;
}

/**
 * Tessera's graph and plan per node, held while its runner runs the plan (a Session). Measured 2026-12-08 with the built CLI on generated
 * chains of tiny Conv, Mul pairs (tests/cli/resident-per-node.test.ts's), the same one-partition plan run by the runner (`--trace`) and as the
 * model (without): +3.1–4.8 MB more for 2400 more nodes, 1.3–2.0 KB a node. Not counted for a plan run as the model itself (one partition, the
 * model's own bytes on the CPU EP: `tessera run --plan` drops the compile before the engine allocates): its process measures 13–18 MB over
 * onnxruntime's on every corpus model, 29 nodes or 765 (bench/memory-budget.ts). (The 70 KB a node fitted on the corpus on 2026-12-07, while
 * the run still held the compile and the model's bytes, counted both in one figure: 25 KB is the engine's.)
 */
export const PLAN_NODE_BYTES = 2e3;

/** onnxruntime's CPU arena extends in steps (and holds kernel scratch beside the planned intermediates): what a session holds for them, fitted on the corpus (bench/memory-budget.ts). */
const ENGINE_ARENA_FACTOR = 1.5;

/** Peak bytes of the values a session computes and consumes itself (not its outputs), in the file order of its nodes. */
function internalPeak(ctx: CompileContext, nodes: readonly number[]): number {
  const { graph, st } = ctx;
  const inside = new Set(nodes);
  const sorted = [...nodes].filter((i) => !st.folded.has(i)).sort((a, b) => a - b);
  const lastUse = new Map<string, number>();
  for (const i of sorted) for (const r of st.runtimeReads(graph.nodes[i])) lastUse.set(r, i);
  let cur = 0, peak = 0;
  const internal = (name: string) => {
    const v = graph.values.get(name)!;
    return v.producer >= 0 && inside.has(v.producer) && !graph.outputs.includes(name) && st.runtimeConsumers(name).every((c) => inside.has(c));
  };
  for (const i of sorted) {
    const node = graph.nodes[i];
    for (const o of node.outputs) if (o && internal(o)) cur += valueByteSize(graph.values.get(o)!);
    peak = Math.max(peak, cur);
    for (const r of new Set(st.runtimeReads(node))) if (lastUse.get(r) === i && internal(r)) cur -= valueByteSize(graph.values.get(r)!);
  }
  return peak;
}

/**
 * The predicted peak resident bytes of running a plan's partitioning with its memories. `asTheModel`: the plan runs as the model
 * itself (compiler/index.ts asTheModel lowers it to the model's own bytes), so the runner holds no graph or plan per node.
 */
export function predictResident(ctx: CompileContext, parts: Partitioning, memory: Record<string, MemoryPlan>, executableOf?: readonly number[], asTheModel = false): ResidentPrediction {
  const f = memoryFigures(ctx.target);
  const sessions = new Set<string>();
  let workspace = 0, scratch = 0;
  for (const p of parts.partitions) {
    const run = p.nodes.filter((i) => !ctx.st.folded.has(i));
    if (run.length === 0) continue;
    // identical chunks (same ops, weights and shapes) share one session (see backends/ort.ts)
    // and partitions that run another's executable (their weights fed as inputs: executableOf) share its session
    const shared = executableOf?.[p.id];
    sessions.add(shared !== undefined && (shared !== p.id || executableOf!.some((e, q) => e === p.id && q !== p.id)) ? `#${shared}` : `${p.processor}|${run.map((i) => sessionKey(ctx, ctx.graph.nodes[i])).join(';')}`);
    // the engine holds more than the planned peak of its intermediates (ENGINE_ARENA_FACTOR)
    workspace += ENGINE_ARENA_FACTOR * internalPeak(ctx, run);
    for (const i of run) scratch = Math.max(scratch, kernelScratchBytes(ctx, ctx.graph.nodes[i]));
  }
  const weightBytes = Math.round(f.weightFactor * Object.values(memory).reduce((a, m) => a + m.weightBytes, 0));
  // a plan of one partition runs directly on the caller's tensors (no arena): its inputs and outputs; otherwise what the arenas' edge buffers touch
  const { graph, st } = ctx;
  const crossing = (v: string) => {
    const val = graph.values.get(v)!;
    const home = val.producer >= 0 ? parts.partitionOf[val.producer] : -1;
    return home < 0 || graph.outputs.includes(v) || st.runtimeConsumers(v).some((c) => parts.partitionOf[c] !== home);
  };
  const ioBytes = [...graph.inputs, ...graph.outputs].reduce((a, v) => a + valueByteSize(graph.values.get(v)!), 0);
  const arenaBytes = Math.round(parts.partitions.length === 1 ? ioBytes : Object.values(memory).reduce((a, m) => a + touchedBytes(m.buffers, crossing), 0));
  const sessionBytes = Math.round(Math.max(0, sessions.size - 1) * f.sessionBytes);
  const workspaceBytes = Math.round(workspace + scratch);
  const floorBytes = Math.round(f.floorBytes + (f.nodeBytes + (asTheModel ? 0 : PLAN_NODE_BYTES)) * (graph.nodes.length + subgraphNodeCount(graph)));
  return { floorBytes, sessionBytes, weightBytes, arenaBytes, workspaceBytes, peakBytes: floorBytes + sessionBytes + weightBytes + arenaBytes + workspaceBytes, source: f.source };
}
