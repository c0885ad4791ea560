/**
 * `tessera compile`, printed: per processor where the ops went, the predicted timeline and the peak memory
 * against its lower bound (`summarize`, `formatCompile`), and with --explain why each partition went where
 * it went (`formatExplain`). The compile itself is the compiler driver's (src/compiler).
 */
import type { Compilation } from '../compiler/index.js';
import { formatBytes, formatUs } from '../format.js';
import { describeFixedDims, type FixedDim } from '../ir/infer.js';
import type { Plan } from '../plan/schema.js';
import { launchUs, nodeUs } from '../targets/cost.js';

export interface CompileSummary {
  model: string;
  /** The memory rewrites the plan applies to the model (absent: none). */
  rewrites?: string[];
  warnings: string[];
  /** Each symbolic input dim and the size the plan has for it (given, or 1 by default). */
  fixedDims: FixedDim[];
  target: string;
  processors: { id: string; kind: string; nodes: number; partitions: number; flops: number; predictedUs: number; arenaBytes: number; peakBytes: number; lowerBoundBytes: number; weightBytes: number; onChipBytes?: number; spillBytes?: number;
    /** Run-time nodes per precision they compute in ('a8w8', 'float16', …: the plan's nodes[].precision). */
    precision: Record<string, number> }[];
  /** The memory-aware order: its peak, lower bound, and whether the search proved it optimal. */
  order?: Plan['orderSearch'];
  /** The objective, and the process's predicted peak resident bytes by category. */
  resident?: Plan['resident'];
  /** Under a memory budget: which plan (or streamed run) was chosen, and why. */
  budget?: Compilation['budget'];
  partitions: number;
  /** Distinct executables, when partitions of one structure share one (plan.partitions[].executable). */
  executables?: number;
  folded: number;
  transfers: { count: number; bytes: number; predictedUs: number };
  latencyUs: number;
  source: string;
  /** Run-time nodes not on the processor the cost model ranked first, grouped by op and reason. */
  fallbacks: { op: string; processor: string; count: number; reason: string }[];
}

export function summarize({ plan, graph, warnings, fixedDims, budget }: Pick<Compilation, 'plan' | 'graph' | 'warnings' | 'fixedDims'> & Partial<Pick<Compilation, 'budget'>>): CompileSummary {
  const processors = plan.target.processors.map((p) => {
    const nodes = plan.nodes.filter((n) => n.processor === p.id && !n.folded);
    const mem = plan.memory[p.id];
    return {
      id: p.id, kind: p.kind, nodes: nodes.length,
      partitions: plan.partitions.filter((x) => x.processor === p.id).length,
      flops: nodes.reduce((a, n) => a + graph.costs[n.index].flops, 0),
      predictedUs: plan.steps.filter((s) => s.kind === 'compute' && s.lane === p.id).reduce((a, s) => a + s.endUs - s.startUs, 0),
      arenaBytes: mem.arenaBytes, peakBytes: mem.peakBytes, lowerBoundBytes: mem.lowerBoundBytes, weightBytes: mem.weightBytes,
      ...(mem.onChipBytes !== undefined ? { onChipBytes: mem.onChipBytes, spillBytes: mem.spillBytes } : {}),
      precision: nodes.reduce<Record<string, number>>((a, n) => (n.precision ? { ...a, [n.precision]: (a[n.precision] ?? 0) + 1 } : a), {}),
    };
  });
  const transfers = plan.steps.filter((s) => s.kind === 'transfer');
  const groups = new Map<string, { op: string; processor: string; count: number; reason: string; varies: boolean }>();
  for (const n of plan.nodes) {
    if (n.folded || !n.rejected?.length) continue;
    // grouped by the reason with value names and figures left out (one line per kind of fallback); printed with the first node's own
    const reason = n.rejected.map((r) => `${r.processor}: ${r.reason}`).join('; ');
    const kind = reason.replace(/'[^']*'/g, "''").replace(/(?<![\w.-])\d+(\.\d+)?(e[+-]?\d+)?(?![\w-])/g, '#');
    const key = `${n.op}\u0000${n.processor}\u0000${kind}`;
    const g = groups.get(key) ?? { op: n.op, processor: n.processor, count: 0, reason, varies: false };
    g.count++;
    g.varies ||= g.reason !== reason;
    groups.set(key, g);
  }
  return {
    model: plan.model.file,
    ...(plan.model.rewrites ? { rewrites: plan.model.rewrites } : {}),
    warnings,
    fixedDims,
    target: plan.target.name,
    processors,
    ...(plan.orderSearch ? { order: plan.orderSearch } : {}),
    ...(plan.resident ? { resident: plan.resident } : {}),
    ...(budget ? { budget } : {}),
    partitions: plan.partitions.length,
    ...(plan.partitions.some((x) => x.executable !== undefined) ? { executables: plan.partitions.filter((x) => x.executable === undefined).length } : {}),
    folded: plan.nodes.filter((n) => n.folded).length,
    transfers: { count: transfers.length, bytes: plan.estimate.transferBytes, predictedUs: transfers.reduce((a, s) => a + s.endUs - s.startUs, 0) },
    latencyUs: plan.estimate.latencyUs,
    source: plan.estimate.source,
    fallbacks: [...groups.values()].sort((a, b) => b.count - a.count || a.op.localeCompare(b.op)).map(({ varies, ...g }) => (varies ? { ...g, reason: `${g.reason} (the first of ${g.count}: names and figures differ among them)` } : g)),
  };
}

export function formatCompile(s: CompileSummary, out?: string): string {
  const lines = [`${s.model} → ${s.target}${out ? `: plan written to ${out}` : ''}`];
  const totalFlops = s.processors.reduce((a, p) => a + p.flops, 0) || 1;
  const w = Math.max(10, ...s.processors.map((p) => `${p.id} (${p.kind})`.length + 1));
  lines.push(`  ${'processor'.padEnd(w)}${'nodes'.padStart(7)}${'parts'.padStart(7)}${'FLOPs'.padStart(8)}${'time*'.padStart(11)}${'arena'.padStart(11)}${'peak'.padStart(11)}${'lower bd'.padStart(11)}${'weights'.padStart(11)}`);
  for (const p of s.processors) {
    lines.push(`  ${`${p.id} (${p.kind})`.padEnd(w)}${String(p.nodes).padStart(7)}${String(p.partitions).padStart(7)}${`${((100 * p.flops) / totalFlops).toFixed(0)}%`.padStart(8)}${formatUs(p.predictedUs).padStart(11)}${formatBytes(p.arenaBytes).padStart(11)}${formatBytes(p.peakBytes).padStart(11)}${formatBytes(p.lowerBoundBytes).padStart(11)}${formatBytes(p.weightBytes).padStart(11)}`);
  }
  if (s.order) {
    const o = s.order;
    lines.push(`  order (all memories, node granularity): peak ${formatBytes(o.peakBytes)}${o.exact ? ' = the exact optimum (search finished)' : `, lower bound ${formatBytes(o.lowerBoundBytes)}`} (file order ${formatBytes(o.fileOrderPeakBytes)}); ${o.exactSegments}/${o.segments} segments proven optimal; budget ${o.budgetMs} ms${o.kept === 'walk' ? "; the partitioner's walk kept (its arenas were smaller)" : ''}`);
    if (o.splitFrom !== s.partitions) {
      // each chunk is one call holding its inputs and outputs throughout: the plan's peak is above the order's at node granularity
      const planPeak = s.processors.reduce((a, p) => a + p.peakBytes, 0);
      const above = planPeak > o.peakBytes ? `; each chunk holds its inputs and outputs for its whole call, so the plan's memories peak at ${formatBytes(planPeak)}, ${((planPeak / o.peakBytes - 1) * 100).toFixed(1)}% above the order's ${o.exact ? 'optimum' : 'peak'}` : '';
      const shared = s.executables !== undefined ? ` (${s.executables} executables: chunks of one structure share one, their weights fed)` : '';
      lines.push(`  partitions split to follow the order: ${o.splitFrom} → ${s.partitions}${shared}${above}`);
    }
    if (s.rewrites) lines.push(`  memory rewrites applied (the plan runs the rewritten graph): ${s.rewrites.join(', ')}`);
  }
  if (s.resident) lines.push(`  ${formatResident(s.resident)}*`);
  if (s.budget) lines.push(`  memory budget ${formatBytes(s.budget.budgetBytes)} (${s.budget.budgetBytes} bytes, beyond the engine floor): ${s.budget.choice === 'streamed' ? 'streamed run (weights read from the model files; the plan shown is the memory-objective plan)' : `the ${s.budget.choice} plan`}, because ${s.budget.reason}`);
  for (const p of s.processors) if (p.onChipBytes !== undefined) lines.push(`  ${p.id}: ${formatBytes(p.spillBytes ?? 0)} of buffers beyond its ${formatBytes(p.onChipBytes)} on-chip memory (would spill to DRAM)`);
  // a quantized model: what each processor computes in (QDQ groups on integers, 'a8w8': 8-bit activations, 8-bit weights)
  if (s.processors.some((p) => Object.keys(p.precision).some((k) => k.startsWith('a')))) {
    const each = s.processors.filter((p) => p.nodes).map((p) => `${p.id} ${Object.entries(p.precision).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ×${v}`).join(', ')}`);
    lines.push(`  precision (run-time nodes; aNwM: QDQ groups on N-bit activations, M-bit weights): ${each.join('; ')}`);
  }
  lines.push(`  folded at compile time: ${s.folded} nodes (weights computed from weights, shape arithmetic)`);
  lines.push(`  transfers: ${s.transfers.count} (${formatBytes(s.transfers.bytes)}), ${formatUs(s.transfers.predictedUs)} on links*`);
  lines.push(`  predicted latency: ${formatUs(s.latencyUs)}*`);
  if (s.fallbacks.length) {
    lines.push('  not on the processor the cost model ranked first:');
    for (const f of s.fallbacks.slice(0, 12)) lines.push(`    ${f.op} ×${f.count} → ${f.processor}: ${f.reason}`);
    if (s.fallbacks.length > 12) lines.push(`    … and ${s.fallbacks.length - 12} more groups (see the plan's nodes[].rejected)`);
  }
  lines.push(`  * predicted by the ${s.source} (figures from the target profile), not measured`);
  const dims = formatFixedDims(s.fixedDims);
  if (dims) lines.push(`  ${dims}`);
  for (const w of s.warnings) lines.push(`  warning: ${w}`);
  return lines.join('\n');
}

/** The predicted peak resident bytes of the process, by category (passes/resident.ts). */
export function formatResident(r: NonNullable<Plan['resident']>): string {
  return `objective ${r.objective}: predicted peak resident ${formatBytes(r.peakBytes)} = engine floor ${formatBytes(r.floorBytes)} + sessions ${formatBytes(r.sessionBytes)} + weights ${formatBytes(r.weightBytes)} + arenas ${formatBytes(r.arenaBytes)} + engine workspace ${formatBytes(r.workspaceBytes)}`;
}

/** `compile --explain`: why each partition went where it went (the costs compared), each boundary, the timeline. */
export function formatExplain({ plan, graph, target, placementLog, context }: Compilation): string {
  const lines = ['placement:', ...placementLog.map((l) => `  ${l}`), ...formatRefusals(plan, context), 'partitions (predicted compute time on each processor that takes all of the partition):'];
  for (const part of plan.partitions) {
    const nodes = part.nodes.filter((i) => !plan.nodes[i].folded);
    const ops = new Map<string, number>();
    for (const i of nodes) ops.set(graph.nodes[i].op, (ops.get(graph.nodes[i].op) ?? 0) + 1);
    const alternatives = target.processors.map((p) => {
      const no = nodes.map((i) => context.runs(p, graph.nodes[i])).find((r) => !r.ok);
      if (no && !no.ok) return `${p.id}: cannot (${no.reason})`;
      const us = launchUs(p, part.inputs.length + part.outputs.length) + nodes.reduce((a, i) => a + nodeUs(p, graph, i), 0);
      return `${p.id}${p.id === part.processor ? ' (chosen)' : ''}: ${formatUs(us)}`;
    });
    lines.push(`  #${part.id} on ${part.processor}: ${nodes.length} nodes (${[...ops].map(([k, v]) => `${k} ${v}`).join(', ')})`);
    lines.push(`      ${alternatives.join('; ')}`);
  }
  lines.push('boundaries (transfers):');
  for (const s of plan.steps) {
    if (s.kind !== 'transfer') continue;
    lines.push(`  '${s.value}' ${s.from} → ${s.to}: ${formatBytes(s.bytes)}, ${formatUs(s.endUs - s.startUs)}`);
  }
  lines.push('predicted timeline:');
  plan.steps.forEach((s, i) => {
    const what = s.kind === 'compute' ? `compute partition #${s.partition}` : `transfer '${s.value}'`;
    lines.push(`  ${String(i).padStart(3)} ${s.lane.padEnd(9)} ${formatUs(s.startUs).padStart(10)} → ${formatUs(s.endUs).padStart(10)}  ${what}${s.after.length ? ` (after ${s.after.join(', ')})` : ''}`);
  });
  lines.push(`  (all times predicted by the ${plan.estimate.source}, not measured)`);
  return lines.join('\n');
}

/**
 * What each processor refuses that it would otherwise take: nodes its bound backend does not run, and a
 * processor that gets no work here — grouped by reason, with where those nodes went instead.
 */
function formatRefusals(plan: Plan, context: Compilation['context']): string[] {
  const lines: string[] = [];
  for (const p of context.target.processors) {
    const groups = new Map<string, { count: number; went: Set<string> }>();
    for (const [i, reason] of context.refusedByBinding.get(p.id) ?? []) {
      const g = groups.get(reason) ?? { count: 0, went: new Set<string>() };
      g.count++;
      g.went.add(plan.nodes[i].processor);
      groups.set(reason, g);
    }
    if (!groups.size) continue;
    lines.push(`${p.id} (bound to ${p.backend}) does not take:`);
    for (const [reason, g] of [...groups].sort((a, b) => b[1].count - a[1].count)) lines.push(`  ${g.count} node(s) → ${[...g.went].join(', ')}: ${reason}`);
  }
  return lines;
}

/** The symbolic input dims a compile fixed, and to what; a hint when some were set to 1 by default. */
export function formatFixedDims(dims: readonly FixedDim[]): string {
  if (dims.length === 0) return '';
  const defaulted = dims.filter((d) => !d.given);
  return `symbolic dims fixed: ${describeFixedDims(dims)}${defaulted.length ? ` — the plan is for these sizes only; give --input-shape ${[...new Set(defaulted.map((d) => d.input))].map((i) => `${i}=…`).join(' ')} for the sizes you will run` : ''}`;
}
