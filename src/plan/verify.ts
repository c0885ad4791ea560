/**
 * The plan verifier: proves a plan safe to run on a graph and target before anything runs (as ExecuTorch's
 * memory planner verifies itself). Each check is a small function with a name; `verifyPlan` runs them in
 * order and the first that fails throws BAD_PLAN (PLAN_MISMATCH when the plan is for another model):
 *   nodes       — the plan's nodes are the model's, in order
 *   order       — a permutation of all nodes, each after its inputs' producers
 *   partitions  — every node in exactly one partition, on a processor (as bound) that runs it, with the
 *                 backend and precision that processor is lowered for; folded exactly where inference folds
 *   boundaries  — each partition's inputs and outputs are exactly the run-time values crossing its edge
 *   acyclic     — contracting the partitions leaves the graph acyclic
 *   steps       — dependencies point backwards and are respected; one compute step per partition; every
 *                 value read on another processor transferred there first, after it is made
 *   memory      — buffers cover every lifetime the rule requires (plan/lifetimes.ts), in the stored dtype
 *                 the dtype policy gives, large enough, in place only where an op allows, never
 *                 overlapping while alive together
 */
import { TesseraError } from '../errors.js';
import { predecessors, type Node } from '../ir/graph.js';
import type { ShapedGraph } from '../ir/infer.js';
import { inplaceCandidates } from '../ir/ops/traits.js';
import { staticInfo, type StaticInfo } from '../ir/static.js';
import type { Processor, Target } from '../targets/schema.js';
import { partitionPrecision, storageOn } from '../targets/storage.js';
import { qdqGraph } from '../ir/qdq.js';
import { checkSupport, type SupportResult } from '../targets/support.js';
import { lifetimes, mergedLifetimes, peakOf, verifyNoOverlap } from './lifetimes.js';
import type { Partitioning } from './partitioning.js';
import { residency, type Residency } from './residency.js';
import type { Plan } from './schema.js';

export interface VerifyOptions {
  /** Names the plan in messages (default 'plan'). */
  where?: string;
  /** Whether a processor, as bound, runs a node (default: the processor's op table). */
  canRun?: (proc: Processor, node: Node) => SupportResult;
  /** The graph's compile-time constants, when the caller has them. */
  st?: StaticInfo;
}

/** What the checks share: the plan, the graph, the target, and what follows from them. */
interface Subject {
  plan: Plan;
  graph: ShapedGraph;
  target: Target;
  where: string;
  st: StaticInfo;
  procs: Map<string, Processor>;
  canRun: (proc: Processor, node: Node) => SupportResult;
}

function fail(s: Subject, what: string): never {
  throw new TesseraError('BAD_PLAN', `${s.where}: ${what}`);
}

function checkNodes(s: Subject): void {
  const { plan, graph, where } = s;
  const n = graph.nodes.length;
  if (plan.model.nodes !== n || plan.nodes.length !== n) {
    throw new TesseraError('PLAN_MISMATCH', `${where} was compiled for a model with ${plan.model.nodes} nodes; this model has ${n}`);
  }
  plan.nodes.forEach((pn, i) => {
    const node = graph.nodes[i];
    if (pn.index !== i || pn.op !== node.op || pn.name !== node.name) {
      throw new TesseraError('PLAN_MISMATCH', `${where}: node #${i} is ${pn.op} '${pn.name}' in the plan but ${node.op} '${node.name}' in the model`);
    }
  });
  if (plan.target.name !== s.target.name) fail(s, `compiled for target '${plan.target.name}', not '${s.target.name}'`);
}

function checkOrder(s: Subject): void {
  const { plan, graph } = s;
  const n = graph.nodes.length;
  if (plan.order.length !== n) fail(s, `order lists ${plan.order.length} nodes, the model has ${n}`);
  const pos = new Array<number>(n).fill(-1);
  plan.order.forEach((idx, i) => {
    if (idx >= n || pos[idx] >= 0) fail(s, `order lists node #${idx} ${idx >= n ? 'which does not exist' : 'twice'}`);
    pos[idx] = i;
  });
  for (const node of graph.nodes) {
    for (const p of predecessors(graph, node)) {
      if (pos[p] > pos[node.index]) fail(s, `order puts node '${node.name}' (#${node.index}) before its input's producer '${graph.nodes[p].name}' (#${p})`);
    }
  }
}

/** Returns each node's partition. */
function checkPartitions(s: Subject): number[] {
  const { plan, graph, st } = s;
  const n = graph.nodes.length;
  const partitionOf = new Array<number>(n).fill(-1);
  plan.partitions.forEach((part, id) => {
    if (part.id !== id) fail(s, `partition #${id} has id ${part.id}`);
    const proc = s.procs.get(part.processor);
    if (!proc) fail(s, `partition ${id} is on unknown processor '${part.processor}'`);
    if (part.backend !== proc.backend) fail(s, `partition ${id} says backend '${part.backend}', but ${proc.id} is lowered for '${proc.backend}'`);
    if (part.precision !== partitionPrecision(proc)) fail(s, `partition ${id} says precision '${part.precision}', but ${proc.id} computes in '${partitionPrecision(proc)}'`);
    if (part.executable !== undefined) {
      // it runs an earlier partition's executable, its own weights fed (compiler/repeats.ts; the lowering checks the structures match)
      const first = plan.partitions[part.executable];
      if (part.executable >= id || first.executable !== undefined || first.processor !== part.processor) fail(s, `partition ${id} runs the executable of partition ${part.executable}, which is not an earlier partition on ${part.processor} with an executable of its own`);
    }
    for (const i of part.nodes) {
      if (i >= n) fail(s, `partition ${id} lists node #${i}, which does not exist`);
      if (partitionOf[i] >= 0) fail(s, `node #${i} is in partitions ${partitionOf[i]} and ${id}`);
      partitionOf[i] = id;
      const pn = plan.nodes[i];
      if (pn.partition !== id || pn.processor !== part.processor) fail(s, `node #${i} says partition ${pn.partition} on ${pn.processor}, but partition ${id} on ${part.processor} lists it`);
      if (!!pn.folded !== st.folded.has(i)) fail(s, `node '${pn.name}' is ${pn.folded ? '' : 'not '}marked folded, but it ${st.folded.has(i) ? 'is' : 'is not'} a compile-time constant`);
      if (!pn.folded) {
        const r = s.canRun(proc, graph.nodes[i]);
        if (!r.ok) fail(s, `node '${pn.name}' (${pn.op}) is on ${proc.id}, which does not support it: ${r.reason}`);
      }
    }
  });
  const missing = partitionOf.indexOf(-1);
  if (missing >= 0) fail(s, `node '${graph.nodes[missing].name}' (#${missing}) is in no partition`);
  return partitionOf;
}

function checkBoundaries(s: Subject, partitionOf: readonly number[]): void {
  const { plan, graph, st } = s;
  const graphOutputs = new Set(graph.outputs);
  plan.partitions.forEach((part, id) => {
    const ins = new Set<string>(), outs = new Set<string>();
    for (const i of part.nodes) {
      if (st.folded.has(i)) continue;
      for (const r of st.runtimeReads(graph.nodes[i])) {
        const p = graph.values.get(r)!.producer;
        if (p < 0 || partitionOf[p] !== id) ins.add(r);
      }
      for (const o of graph.nodes[i].outputs) {
        if (o && (graphOutputs.has(o) || st.runtimeConsumers(o).some((c) => partitionOf[c] !== id))) outs.add(o);
      }
    }
    const same = (a: Set<string>, b: readonly string[]) => a.size === b.length && b.every((x) => a.has(x));
    if (!same(ins, part.inputs)) fail(s, `partition ${id} lists inputs [${part.inputs.join(', ')}], but its nodes read [${[...ins].join(', ')}] from outside`);
    if (!same(outs, part.outputs)) fail(s, `partition ${id} lists outputs [${part.outputs.join(', ')}], but others read (or the graph outputs) [${[...outs].join(', ')}]`);
  });
}

function checkAcyclic(s: Subject, partitionOf: readonly number[]): void {
  const { plan, graph, st } = s;
  const m = plan.partitions.length;
  const edges = Array.from({ length: m }, () => new Set<number>());
  for (const node of graph.nodes) {
    if (st.folded.has(node.index)) continue;
    for (const r of st.runtimeReads(node)) {
      const p = graph.values.get(r)!.producer;
      if (p >= 0 && partitionOf[p] !== partitionOf[node.index]) edges[partitionOf[p]].add(partitionOf[node.index]);
    }
  }
  const state = new Array<number>(m).fill(0);
  const visit = (u: number): void => {
    state[u] = 1;
    for (const v of edges[u]) {
      if (state[v] === 1) fail(s, `partitions ${u} and ${v} depend on each other: contracting them makes a cycle`);
      if (state[v] === 0) visit(v);
    }
    state[u] = 2;
  };
  for (let u = 0; u < m; u++) if (state[u] === 0) visit(u);
}

function checkSteps(s: Subject, partitionOf: readonly number[], res: ReadonlyMap<string, Residency>): void {
  const { plan, graph } = s;
  const computeOf = new Map<number, number>();
  plan.steps.forEach((step, i) => {
    for (const a of step.after) {
      if (a >= i) fail(s, `step ${i} waits on step ${a}, which is not before it`);
      if (plan.steps[a].endUs > step.startUs + 1e-6) fail(s, `step ${i} starts at ${step.startUs} µs, before step ${a} it waits on ends (${plan.steps[a].endUs} µs)`);
    }
    if (step.kind === 'compute') {
      if (computeOf.has(step.partition)) fail(s, `partition ${step.partition} has two compute steps`);
      computeOf.set(step.partition, i);
    }
  });
  plan.steps.forEach((step, i) => {
    if (step.kind !== 'transfer') return;
    const r = res.get(step.value);
    if (!r) fail(s, `step ${i} transfers '${step.value}', which is not a run-time value`);
    if (step.from !== r.home) fail(s, `step ${i} transfers '${step.value}' from ${step.from}, but it lives on ${r.home}`);
    if (!r.copies.includes(step.to)) fail(s, `step ${i} transfers '${step.value}' to ${step.to}, where nothing reads it`);
    const producer = graph.values.get(step.value)!.producer;
    if (producer >= 0) {
      const made = computeOf.get(partitionOf[producer]);
      if (made === undefined || !step.after.includes(made)) fail(s, `step ${i} transfers '${step.value}' without waiting for partition ${partitionOf[producer]}, which makes it`);
    }
  });
  for (const part of plan.partitions) {
    const step = computeOf.get(part.id);
    if (step === undefined) fail(s, `partition ${part.id} has no compute step`);
    for (const v of part.inputs) {
      const r = res.get(v);
      if (!r) fail(s, `partition ${part.id} reads '${v}', which is not a run-time value`);
      if (r.home === part.processor) continue;
      const t = plan.steps.findIndex((x) => x.kind === 'transfer' && x.value === v && x.to === part.processor);
      if (t < 0) fail(s, `value '${v}' lives on ${r.home} but partition ${part.id} on ${part.processor} reads it, and no step transfers it`);
      if (!plan.steps[step].after.includes(t)) fail(s, `partition ${part.id} does not wait for the transfer of '${v}' (step ${t})`);
    }
  }
}

function checkMemory(s: Subject, parts: Partitioning, res: ReadonlyMap<string, Residency>): void {
  const { plan, graph, target, st } = s;
  const required = lifetimes(graph, target, parts, st, res, plan.order);
  for (const id of Object.keys(plan.memory)) if (!required.has(id)) fail(s, `memory plan for '${id}', which is not a processor of the target`);
  for (const [procId, needs] of required) {
    const mem = plan.memory[procId];
    if (!mem) fail(s, `no memory plan for processor '${procId}'`);
    const byValue = new Map(mem.buffers.map((b) => [b.value, b]));
    const proc = s.procs.get(procId)!;
    for (const need of needs) {
      const b = byValue.get(need.value);
      if (!b) fail(s, `memory '${procId}' has no buffer for '${need.value}'`);
      const v = graph.values.get(need.value)!;
      const stored = v.dtype ? storageOn(proc, v, undefined, qdqGraph(graph).values).dtype : null;
      const int16 = stored === 'float16' && b.dtype === 'int16' && (proc.support.dtypes as string[]).includes('int16');
      if (v.dtype && b.dtype !== stored && !int16) fail(s, `memory '${procId}': buffer for '${need.value}' is ${b.dtype}, but ${procId} stores this ${v.dtype} value as ${stored}`);
      if (int16 !== (b.scale !== undefined)) fail(s, `memory '${procId}': buffer for '${need.value}' ${int16 ? 'is int16 without a scale' : 'has a scale but is not int16'}`);
      if (b.bytes < need.bytes) fail(s, `memory '${procId}': buffer for '${need.value}' has ${b.bytes} bytes, the tensor needs ${need.bytes}`);
      if (b.start > need.start || b.end < need.end) fail(s, `memory '${procId}': buffer for '${need.value}' lives ${b.start}-${b.end}, but the value is alive ${need.start}-${need.end}`);
    }
    const top = Math.max(0, ...mem.buffers.map((b) => b.offset + b.bytes));
    if (mem.arenaBytes < top) fail(s, `memory '${procId}': arena of ${mem.arenaBytes} bytes, but a buffer ends at ${top}`);
    // the runtime allocates the arena as the plan says: never more than its buffers take laid end to end
    const stacked = needs.reduce((a, n) => a + Math.ceil(n.bytes / 64) * 64, 0);
    if (mem.arenaBytes > stacked) fail(s, `memory '${procId}': arena of ${mem.arenaBytes} bytes, more than its ${needs.length} buffers take laid end to end (${stacked})`);
    // in place: only an op that may overwrite the value (an op trait), reading it last and writing this one, shares its storage
    for (const b of mem.buffers) {
      if (b.inplaceOf === undefined) continue;
      const idx = plan.order[b.start];
      const node = idx === undefined ? undefined : graph.nodes[idx];
      const src = byValue.get(b.inplaceOf);
      if (!node || !inplaceCandidates(node.op, node.inputs).includes(b.inplaceOf) || !node.outputs.includes(b.value) || !src || src.end !== b.start) {
        fail(s, `memory '${procId}': buffer for '${b.value}' is written in place over '${b.inplaceOf}', but the node at position ${b.start} is not an elementwise op reading '${b.inplaceOf}' for the last time and writing '${b.value}'`);
      }
    }
    // the figures the plan prints: its peak is its buffers' (in place counted once), and no bound lies above it
    const peak = peakOf(mergedLifetimes(mem.buffers), plan.order.length);
    if (mem.peakBytes !== peak) fail(s, `memory '${procId}': peak of ${mem.peakBytes} bytes, but its buffers peak at ${peak}`);
    if (mem.lowerBoundBytes > peak) fail(s, `memory '${procId}': lower bound of ${mem.lowerBoundBytes} bytes, above the ${peak} bytes its buffers peak at`);
    try {
      verifyNoOverlap(mem.buffers, procId);
    } catch (err) {
      fail(s, (err as Error).message);
    }
  }
}

/** The plan's placement and partitions as the passes represent them. */
function partitioningOf(plan: Plan, partitionOf: number[]): Partitioning {
  return {
    placement: plan.nodes.map((pn) => ({ processor: pn.processor, rejected: [], folded: !!pn.folded })),
    partitionOf, source: plan.estimate.source, walk: plan.order,
    partitions: plan.partitions.map((p) => ({ id: p.id, processor: p.processor, nodes: p.nodes, inputs: p.inputs, outputs: p.outputs })),
  };
}

export function verifyPlan(plan: Plan, graph: ShapedGraph, target: Target, options: VerifyOptions = {}): void {
  const st = options.st ?? staticInfo(graph);
  const s: Subject = {
    plan, graph, target, st, where: options.where ?? 'plan',
    procs: new Map(target.processors.map((p) => [p.id, p])),
    canRun: options.canRun ?? ((proc, node) => checkSupport(proc, node, graph, st.isStatic)),
  };
  checkNodes(s);
  checkOrder(s);
  const partitionOf = checkPartitions(s);
  checkBoundaries(s, partitionOf);
  checkAcyclic(s, partitionOf);
  const parts = partitioningOf(plan, partitionOf);
  const res = residency(graph, target, parts, st);
  checkSteps(s, partitionOf, res);
  checkMemory(s, parts, res);
  const o = plan.orderSearch;
  if (o && o.lowerBoundBytes > o.peakBytes) fail(s, `the order's lower bound (${o.lowerBoundBytes} bytes) is above its peak (${o.peakBytes})`);
}
