/**
 * The plan verifier: proves a plan safe to run on a graph and target before anything runs — a valid
 * topological order, every node in exactly one partition on a processor that supports it, partitions
 * acyclic when contracted, every crossing value transferred, and no two buffers that are alive at the
 * same time overlapping, each at least as large as its tensor (as ExecuTorch's memory planner verifies
 * itself).
 */
import { TesseraError } from '../errors.js';
import { predecessors } from '../ir/graph.js';
import type { ShapedGraph } from '../ir/infer.js';
import type { Partitioning, PlacedNode } from '../passes/partition.js';
import { lifetimes, verifyNoOverlap } from '../passes/plan-memory.js';
import { inplaceCandidates } from '../passes/memory-graph.js';
import { residency, storedDtype } from '../passes/residency.js';
import { partitionPrecision } from '../passes/map.js';
import { staticInfo } from '../passes/static.js';
import type { Target } from '../targets/schema.js';
import { checkSupport } from '../targets/support.js';
import type { Plan } from './plan.js';

function fail(where: string, what: string): never {
  throw new TesseraError('BAD_PLAN', `${where}: ${what}`);
}

export function verifyPlan(plan: Plan, graph: ShapedGraph, target: Target, where = 'plan'): void {
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
  if (plan.target.name !== target.name) fail(where, `compiled for target '${plan.target.name}', not '${target.name}'`);
  const procs = new Map(target.processors.map((p) => [p.id, p]));

  // order: a permutation of all nodes, each after its predecessors
  if (plan.order.length !== n) fail(where, `order lists ${plan.order.length} nodes, the model has ${n}`);
  const pos = new Array<number>(n).fill(-1);
  plan.order.forEach((idx, i) => {
    if (idx >= n || pos[idx] >= 0) fail(where, `order lists node #${idx} ${idx >= n ? 'which does not exist' : 'twice'}`);
    pos[idx] = i;
  });
  for (const node of graph.nodes) {
    for (const p of predecessors(graph, node)) {
      if (pos[p] > pos[node.index]) fail(where, `order puts node '${node.name}' (#${node.index}) before its input's producer '${graph.nodes[p].name}' (#${p})`);
    }
  }

  // partitions: every node exactly once, on a processor that supports it
  const st = staticInfo(graph);
  const partitionOf = new Array<number>(n).fill(-1);
  plan.partitions.forEach((part, id) => {
    if (part.id !== id) fail(where, `partition #${id} has id ${part.id}`);
    const proc = procs.get(part.processor);
    if (!proc) fail(where, `partition ${id} is on unknown processor '${part.processor}'`);
    if (part.backend !== proc.backend) fail(where, `partition ${id} says backend '${part.backend}', but ${proc.id} is lowered for '${proc.backend}'`);
    if (part.precision !== partitionPrecision(proc)) fail(where, `partition ${id} says precision '${part.precision}', but ${proc.id} computes in '${partitionPrecision(proc)}'`);
    for (const i of part.nodes) {
      if (i >= n) fail(where, `partition ${id} lists node #${i}, which does not exist`);
      if (partitionOf[i] >= 0) fail(where, `node #${i} is in partitions ${partitionOf[i]} and ${id}`);
      partitionOf[i] = id;
      const pn = plan.nodes[i];
      if (pn.partition !== id || pn.processor !== part.processor) fail(where, `node #${i} says partition ${pn.partition} on ${pn.processor}, but partition ${id} on ${part.processor} lists it`);
      if (!!pn.folded !== st.folded.has(i)) fail(where, `node '${pn.name}' is ${pn.folded ? '' : 'not '}marked folded, but it ${st.folded.has(i) ? 'is' : 'is not'} a compile-time constant`);
      if (!pn.folded) {
        const s = checkSupport(proc, graph.nodes[i], graph, st.isStatic);
        if (!s.ok) fail(where, `node '${pn.name}' (${pn.op}) is on ${proc.id}, which does not support it: ${s.reason}`);
      }
    }
  });
  const missing = partitionOf.indexOf(-1);
  if (missing >= 0) fail(where, `node '${graph.nodes[missing].name}' (#${missing}) is in no partition`);

  // partition inputs and outputs: exactly the run-time values crossing its boundary
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
    if (!same(ins, part.inputs)) fail(where, `partition ${id} lists inputs [${part.inputs.join(', ')}], but its nodes read [${[...ins].join(', ')}] from outside`);
    if (!same(outs, part.outputs)) fail(where, `partition ${id} lists outputs [${part.outputs.join(', ')}], but others read (or the graph outputs) [${[...outs].join(', ')}]`);
  });

  // contracted partitions acyclic (run-time edges only)
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
      if (state[v] === 1) fail(where, `partitions ${u} and ${v} depend on each other: contracting them makes a cycle`);
      if (state[v] === 0) visit(v);
    }
    state[u] = 2;
  };
  for (let u = 0; u < m; u++) if (state[u] === 0) visit(u);

  // steps: dependencies point backwards and are respected; crossing values are transferred
  const computeOf = new Map<number, number>();
  plan.steps.forEach((s, i) => {
    for (const a of s.after) {
      if (a >= i) fail(where, `step ${i} waits on step ${a}, which is not before it`);
      if (plan.steps[a].endUs > s.startUs + 1e-6) fail(where, `step ${i} starts at ${s.startUs} µs, before step ${a} it waits on ends (${plan.steps[a].endUs} µs)`);
    }
    if (s.kind === 'compute') {
      if (computeOf.has(s.partition)) fail(where, `partition ${s.partition} has two compute steps`);
      computeOf.set(s.partition, i);
    }
  });
  const placement: PlacedNode[] = plan.nodes.map((pn) => ({ processor: pn.processor, rejected: [], folded: !!pn.folded }));
  const parts: Partitioning = {
    placement, partitionOf, source: plan.estimate.source, walk: plan.order,
    partitions: plan.partitions.map((p) => ({ id: p.id, processor: p.processor, nodes: p.nodes, inputs: p.inputs, outputs: p.outputs })),
  };
  const res = residency(graph, target, parts, st);
  plan.steps.forEach((s, i) => {
    if (s.kind !== 'transfer') return;
    const r = res.get(s.value);
    if (!r) fail(where, `step ${i} transfers '${s.value}', which is not a run-time value`);
    if (s.from !== r.home) fail(where, `step ${i} transfers '${s.value}' from ${s.from}, but it lives on ${r.home}`);
    if (!r.copies.includes(s.to)) fail(where, `step ${i} transfers '${s.value}' to ${s.to}, where nothing reads it`);
    const producer = graph.values.get(s.value)!.producer;
    if (producer >= 0) {
      const made = computeOf.get(partitionOf[producer]);
      if (made === undefined || !s.after.includes(made)) fail(where, `step ${i} transfers '${s.value}' without waiting for partition ${partitionOf[producer]}, which makes it`);
    }
  });
  for (const part of plan.partitions) {
    const step = computeOf.get(part.id);
    if (step === undefined) fail(where, `partition ${part.id} has no compute step`);
    for (const v of part.inputs) {
      const r = res.get(v);
      if (!r) fail(where, `partition ${part.id} reads '${v}', which is not a run-time value`);
      if (r.home === part.processor) continue;
      const t = plan.steps.findIndex((s) => s.kind === 'transfer' && s.value === v && s.to === part.processor);
      if (t < 0) fail(where, `value '${v}' lives on ${r.home} but partition ${part.id} on ${part.processor} reads it, and no step transfers it`);
      if (!plan.steps[step].after.includes(t)) fail(where, `partition ${part.id} does not wait for the transfer of '${v}' (step ${t})`);
    }
  }

  // memory: the plan's buffers cover every required lifetime, are large enough, and never overlap when alive together
  const required = lifetimes(graph, target, parts, st, res, plan.order);
  for (const id of Object.keys(plan.memory)) if (!required.has(id)) fail(where, `memory plan for '${id}', which is not a processor of the target`);
  for (const [procId, needs] of required) {
    const mem = plan.memory[procId];
    if (!mem) fail(where, `no memory plan for processor '${procId}'`);
    const byValue = new Map(mem.buffers.map((b) => [b.value, b]));
    const proc = procs.get(procId)!;
    for (const need of needs) {
      const b = byValue.get(need.value);
      if (!b) fail(where, `memory '${procId}' has no buffer for '${need.value}'`);
      const v = graph.values.get(need.value)!;
      const stored = v.dtype ? storedDtype(proc, v.dtype) : null;
      const int16 = stored === 'float16' && b.dtype === 'int16' && (proc.support.dtypes as string[]).includes('int16');
      if (v.dtype && b.dtype !== stored && !int16) fail(where, `memory '${procId}': buffer for '${need.value}' is ${b.dtype}, but ${procId} stores this ${v.dtype} value as ${stored}`);
      if (int16 !== (b.scale !== undefined)) fail(where, `memory '${procId}': buffer for '${need.value}' ${int16 ? 'is int16 without a scale' : 'has a scale but is not int16'}`);
      if (b.bytes < need.bytes) fail(where, `memory '${procId}': buffer for '${need.value}' has ${b.bytes} bytes, the tensor needs ${need.bytes}`);
      if (b.start > need.start || b.end < need.end) fail(where, `memory '${procId}': buffer for '${need.value}' lives ${b.start}-${b.end}, but the value is alive ${need.start}-${need.end}`);
    }
    const top = Math.max(0, ...mem.buffers.map((b) => b.offset + b.bytes));
    if (mem.arenaBytes < top) fail(where, `memory '${procId}': arena of ${mem.arenaBytes} bytes, but a buffer ends at ${top}`);
    // the runtime allocates the arena as the plan says: never more than its buffers take laid end to end
    const stacked = needs.reduce((a, n) => a + Math.ceil(n.bytes / 64) * 64, 0);
    if (mem.arenaBytes > stacked) fail(where, `memory '${procId}': arena of ${mem.arenaBytes} bytes, more than its ${needs.length} buffers take laid end to end (${stacked})`);
    // in place: only an elementwise node that reads the value last and writes this one may share its storage
    for (const b of mem.buffers) {
      if (b.inplaceOf === undefined) continue;
      const idx = plan.order[b.start];
      const node = idx === undefined ? undefined : graph.nodes[idx];
      const src = byValue.get(b.inplaceOf);
      if (!node || !inplaceCandidates(node.op, node.inputs).includes(b.inplaceOf) || !node.outputs.includes(b.value) || !src || src.end !== b.start) {
        fail(where, `memory '${procId}': buffer for '${b.value}' is written in place over '${b.inplaceOf}', but the node at position ${b.start} is not an elementwise op reading '${b.inplaceOf}' for the last time and writing '${b.value}'`);
      }
    }
    try {
      verifyNoOverlap(mem.buffers, procId);
    } catch (err) {
      fail(where, (err as Error).message);
    }
  }
}
