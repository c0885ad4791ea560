/**
 * Placement by cost: choose a processor for every node so that the predicted latency of the whole
 * schedule — compute, transfers at the cuts, launch overheads — is smallest, with few partitions.
 *
 * 1. A dynamic program over the nodes in topological order (the Viterbi recurrence of a chain: each
 *    node on each processor that takes it, paying the launch and the transfer of its inputs whenever
 *    it is not where the previous node was) gives a first placement in O(nodes × processors²).
 * 2. Local moves, each judged by the real schedule (group into partitions, schedule over lanes and
 *    links): move a whole partition to another processor that takes all of it, or move the nodes at a
 *    partition's edge to the neighbouring partition's processor; keep a move when the latency drops.
 * 3. The capability-only placement, and every placement of all run-time nodes on one processor that
 *    takes them all, are scored the same way; the fastest of these and the search's is kept (fewer
 *    partitions breaking a tie), so the result is never predicted slower than the baseline nor than the
 *    best single processor. (A rule that kept the baseline whenever the search needed more partitions
 *    let a plan 20× slower stand: the whole model on a software GPU.)
 * Throughout, a quantized op on a processor with rules for quantized work takes its QDQ group along
 * (`withQdqGroups`).
 */
import { topoOrder } from '../ir/graph.js';
import { qdqGraph } from '../ir/qdq.js';
import { valueByteSize } from '../ir/infer.js';
import type { PlacedNode } from '../plan/partitioning.js';
import { residency } from '../plan/residency.js';
import { costSource, launchUs, nodeUs, transferUs } from '../targets/cost.js';
import type { CompileContext } from './context.js';

/** A predicted time for a reason: one decimal, or two significant digits below 1 µs. */
const us = (t: number) => `${t < 1 ? Number(t.toPrecision(2)) : t.toFixed(1)} µs`;
import { capabilityPlacement, groupPartitions } from './partition.js';
import { schedule } from './schedule.js';

export interface PlacementScore {
  latencyUs: number;
  partitions: number;
  transferBytes: number;
}

export interface PlacementResult {
  placement: PlacedNode[];
  score: PlacementScore;
  baseline: PlacementScore;
  /** How the search went, for --explain. */
  log: string[];
}

/** Scores a placement by the schedule it makes. */
export function scorePlacement(ctx: CompileContext, placement: PlacedNode[]): PlacementScore {
  const { graph, target, st } = ctx;
  const grouped = groupPartitions(graph, placement, st);
  const parts = { placement, ...grouped, source: costSource(target) };
  const sched = schedule(ctx, parts, residency(graph, target, parts, st));
  return { latencyUs: sched.latencyUs, partitions: grouped.partitions.length, transferBytes: sched.transferBytes };
}

/** Lower is better: latency first, then fewer partitions (a partition is worth a microsecond). */
const better = (a: PlacementScore, b: PlacementScore) => a.latencyUs + a.partitions < b.latencyUs + b.partitions - 1e-9;

function chainDp(ctx: CompileContext): PlacedNode[] {
  const { graph, target, st, support, host } = ctx;
  const procs = target.processors;
  const seq = (topoOrder(graph) ?? graph.nodes.map((n) => n.index)).filter((i) => support[i]);
  const back: Map<string, string>[] = [];
  let prev = new Map<string, number>([[host, 0]]);
  for (const i of seq) {
    const inBytes = st.runtimeReads(graph.nodes[i]).reduce((a, r) => a + valueByteSize(graph.values.get(r)!), 0);
    const cur = new Map<string, number>();
    const ptr = new Map<string, string>();
    for (const p of procs) {
      if (!support[i]!.get(p.id)!.ok) continue;
      let best = Infinity, from = '';
      for (const [q, c] of prev) {
        const sw = q === p.id ? 0 : launchUs(p) + transferUs(target, q, p.id, inBytes);
        if (c + sw < best) { best = c + sw; from = q; }
      }
      cur.set(p.id, best + nodeUs(p, graph, i));
      ptr.set(p.id, from);
    }
    back.push(ptr);
    prev = cur;
  }
  let last = [...prev.entries()].sort((a, b) => a[1] - b[1])[0]?.[0] ?? host;
  const chosen = new Map<number, string>();
  for (let k = seq.length - 1; k >= 0; k--) {
    chosen.set(seq[k], last);
    last = back[k].get(last)!;
  }
  return graph.nodes.map((n) => (support[n.index] ? { processor: chosen.get(n.index)!, rejected: [], folded: false } : { processor: host, rejected: [], folded: true }));
}

/**
 * A quantized op placed on a processor with rules for quantized work (an NPU) takes its QDQ group along:
 * the group's run-time QuantizeLinear/DequantizeLinear nodes go where it goes (its support there says they
 * can), so the group runs whole, on integers. Returns the placement itself when nothing moves.
 */
export function withQdqGroups(ctx: CompileContext, placement: PlacedNode[]): PlacedNode[] {
  let out = placement;
  for (const [i, g] of qdqGraph(ctx.graph).groups) {
    const p = placement[i];
    if (p.folded || !ctx.proc(p.processor).support.quantized) continue;
    for (const m of [...g.dequantize, ...g.quantize]) {
      if (out[m].folded || out[m].processor === p.processor) continue;
      if (out === placement) out = placement.map((x) => ({ ...x }));
      out[m].processor = p.processor;
    }
  }
  return out;
}

export interface PlaceOptions {
  /** Stop improving after this long (default 5 s). */
  budgetMs?: number;
}

export function placeByCost(ctx: CompileContext, options: PlaceOptions = {}): PlacementResult {
  const { graph, target, st, support } = ctx;
  const deadline = performance.now() + (options.budgetMs ?? 5000);
  const log: string[] = [];
  const baselinePlacement = capabilityPlacement(ctx);
  const baseline = scorePlacement(ctx, baselinePlacement);
  log.push(`capability-only placement: ${baseline.partitions} partitions, ${baseline.latencyUs.toFixed(1)} µs predicted`);

  let placement = withQdqGroups(ctx, chainDp(ctx));
  let score = scorePlacement(ctx, placement);
  log.push(`dynamic program over the chain: ${score.partitions} partitions, ${score.latencyUs.toFixed(1)} µs`);

  const tryMove = (nodes: number[], to: string): boolean => {
    if (!nodes.every((i) => support[i]!.get(to)!.ok)) return false;
    let cand = placement.map((p) => ({ ...p }));
    for (const i of nodes) cand[i].processor = to;
    cand = withQdqGroups(ctx, cand);
    const s = scorePlacement(ctx, cand);
    if (!better(s, score)) return false;
    placement = cand;
    score = s;
    return true;
  };
  let moves = 0;
  for (let round = 0; round < 20 && performance.now() < deadline; round++) {
    let improved = false;
    const { partitions, partitionOf } = groupPartitions(graph, placement, st);
    for (const part of partitions) {
      if (performance.now() > deadline) break;
      const nodes = part.nodes.filter((i) => support[i]);
      // neighbours' processors first: merging removes launches and transfers
      const neighbourProcs = new Set<string>();
      for (const i of nodes) {
        for (const r of st.runtimeReads(graph.nodes[i])) {
          const p = graph.values.get(r)!.producer;
          if (p >= 0 && support[p] && partitionOf[p] !== part.id) neighbourProcs.add(placement[p].processor);
        }
        for (const o of graph.nodes[i].outputs) if (o) for (const c of st.runtimeConsumers(o)) if (partitionOf[c] !== part.id) neighbourProcs.add(placement[c].processor);
      }
      const targets = [...neighbourProcs, ...target.processors.map((p) => p.id)].filter((p, k, a) => p !== part.processor && a.indexOf(p) === k);
      for (const to of targets) {
        if (tryMove(nodes, to)) {
          moves++;
          improved = true;
          break;
        }
      }
      if (improved) break; // partitions changed: regroup
      // edge nodes: a partition's first and last run-time nodes may sit better with their neighbours
      for (const edge of [nodes[0], nodes[nodes.length - 1]]) {
        if (edge === undefined) continue;
        for (const to of neighbourProcs) {
          if (to !== part.processor && tryMove([edge], to)) {
            moves++;
            improved = true;
            break;
          }
        }
        if (improved) break;
      }
      if (improved) break;
    }
    if (!improved) break;
  }
  log.push(`local moves: ${moves} kept; ${score.partitions} partitions, ${score.latencyUs.toFixed(1)} µs`);

  // The fastest of the search's, the baseline and each single processor's; fewer partitions break a tie.
  const candidates: { what: string; placement: PlacedNode[]; score: PlacementScore }[] = [{ what: 'the search', placement, score }, { what: 'the capability-only placement', placement: baselinePlacement, score: baseline }];
  for (const p of target.processors) {
    if (!support.every((s) => !s || s.get(p.id)!.ok)) continue;
    const whole = graph.nodes.map((n): PlacedNode => (support[n.index] ? { processor: p.id, rejected: [], folded: false } : { processor: ctx.host, rejected: [], folded: true }));
    const s = scorePlacement(ctx, whole);
    log.push(`everything on ${p.id}: ${s.partitions} partitions, ${s.latencyUs.toFixed(1)} µs`);
    candidates.push({ what: `everything on ${p.id}`, placement: whole, score: s });
  }
  const faster = (a: PlacementScore, b: PlacementScore) => a.latencyUs < b.latencyUs - 1e-9 || (Math.abs(a.latencyUs - b.latencyUs) <= 1e-9 && a.partitions < b.partitions);
  const best = candidates.reduce((a, c) => (faster(c.score, a.score) ? c : a));
  if (best.what !== 'the search') log.push(`${best.what} is kept: ${best.score.latencyUs.toFixed(1)} µs with ${best.score.partitions} partitions, against the search's ${score.latencyUs.toFixed(1)} µs with ${score.partitions}`);
  placement = best.placement;
  score = best.score;

  // Say, node by node, why a processor the node runs faster on was not used.
  const out = placement.map((p, i) => {
    if (p.folded) return { ...p, rejected: [] };
    const here = target.processors.find((x) => x.id === p.processor)!;
    const mine = nodeUs(here, graph, i);
    const rejected: { processor: string; reason: string }[] = [];
    for (const q of target.processors) {
      if (q.id === p.processor || ctx.idle.has(q.id)) continue; // an idle processor is no candidate: the compile says so once
      const t = nodeUs(q, graph, i);
      if (t >= mine) continue;
      const s = support[i]!.get(q.id)!;
      rejected.push({ processor: q.id, reason: s.ok ? `placement search: ${us(t)} there vs ${us(mine)} on ${p.processor}, but moving it costs more in transfers and launches than it saves (cost model)` : s.reason });
    }
    return { ...p, rejected };
  });
  return { placement: out, score, baseline, log };
}
