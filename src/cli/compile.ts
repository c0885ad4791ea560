/**
 * `tessera compile`: compiles a model for a target, writes the plan (atomically) and prints where every
 * op went, the predicted timeline and the peak memory against its lower bound.
 */
import { measureRanges, ortProber } from '../backends/ort.js';
import { randomFeeds, type TensorMap } from '../backends/tensor.js';
import { inferShapes, type ShapedGraph } from '../ir/infer.js';
import { importOnnx, readModelFile } from '../ir/onnx-import.js';
import { storedDtype, type Ranges } from '../passes/residency.js';
import { compilePlan } from '../scheduler/compile.js';
import { serializePlan, type Plan } from '../scheduler/plan.js';
import { verifyPlan } from '../scheduler/verify.js';
import { loadTarget, type Target } from '../targets/index.js';
import { writeFilesAtomically } from './atomic.js';
import { canRun } from '../passes/partition.js';
import { staticInfo } from '../passes/static.js';
import { applyRewrites, REWRITES, rewriteForMemory, type Rewrite } from '../passes/rewrite.js';
import type { TileChoice } from '../passes/tile.js';
import { launchUs, nodeUs } from '../targets/cost.js';
import { formatBytes, formatUs } from './format.js';
import { withModelPath } from '../viz/find-model.js';

export interface CompileOptions {
  target: string;
  inputShapes?: Record<string, number[]>;
  out?: string;
  /** Representative inputs (shape probe and calibration); seeded random data otherwise. */
  sampleFeeds?: TensorMap;
  placement?: 'cost' | 'capability';
  /** Budget of the memory-aware order search, ms (default 2000). */
  orderBudgetMs?: number;
  /** 'memory': split partitions so the runtime follows the planned order where it lowers the peak. */
  split?: 'memory' | 'none';
  /** Elementwise ops may write over their input's buffer. */
  inplace?: boolean;
  /** Try the memory rewrites (Sum → chain of Adds, Conv over a Concat → per-part Convs, spatial tiling); kept when they give smaller arenas. */
  rewrite?: boolean;
}

export interface CompileResult {
  plan: Plan;
  graph: ShapedGraph;
  target: Target;
  /** Things the user should know about this compile (e.g. a calibration run that failed). */
  warnings: string[];
  /** The placement search's account of itself (absent for the capability-only placement). */
  placementLog: string[];
}

export async function compileModel(path: string, options: CompileOptions): Promise<CompileResult> {
  const bytes = readModelFile(path);
  const target = await loadTarget(options.target);
  const graph = await inferShapes(importOnnx(bytes, { path }), { inputShapes: options.inputShapes, prober: ortProber, feeds: options.sampleFeeds });
  const warnings: string[] = [];
  let ranges: Ranges | undefined;
  if (target.processors.some((p) => storedDtype(p, 'float32') !== 'float32')) {
    try {
      ranges = await measureRanges(graph, options.sampleFeeds ?? randomFeeds(graph, graph.inputShapes));
    } catch (err) {
      warnings.push(`calibration run failed (${(err as Error).message.split('\n')[0]}); float32 values on float16 processors are legalized without range checks — give representative inputs with --data`);
    }
  }
  let placementLog: string[] = [];
  const compile = (g: ShapedGraph, rewrites?: Rewrite[], tiles?: readonly TileChoice[]) => {
    let log: string[] = [];
    const plan = compilePlan({ graph: g, modelBytes: bytes, modelFile: path, target, ranges, placement: options.placement, onPlacement: (r) => (log = r.log), orderBudgetMs: options.orderBudgetMs, split: options.split, inplace: options.inplace, rewrites, tiles });
    return { plan, graph: g, log };
  };
  let best = compile(graph);
  if (options.rewrite) {
    const { applied, tiles } = rewriteForMemory(graph);
    const used = REWRITES.filter((r) => applied[r] > 0);
    const arenas = (p: Plan) => Object.values(p.memory).reduce((a, m) => a + m.arenaBytes, 0);
    if (used.length) {
      const rw = compile(await applyRewrites(graph, used, ortProber, tiles), used, tiles);
      if (arenas(rw.plan) < arenas(best.plan)) best = rw;
      else warnings.push(`the memory rewrites (${used.map((r) => `${r} ×${applied[r]}`).join(', ')}) did not make the arenas smaller (${formatBytes(arenas(rw.plan))} against ${formatBytes(arenas(best.plan))}): not used`);
    } else warnings.push('no memory rewrite applies to this model (no Sum of 3 or more inputs, no Conv reading a Concat, no region of row-local ops whose tiling shrinks the arena)');
  }
  const plan = options.out ? withModelPath(best.plan, options.out, path) : best.plan;
  placementLog = best.log;
  verifyPlan(plan, best.graph, target);
  if (options.out) writeFilesAtomically([{ path: options.out, bytes: serializePlan(plan) }]);
  return { plan, graph: best.graph, target, warnings, placementLog };
}

export interface CompileSummary {
  model: string;
  /** The memory rewrites the plan applies to the model (absent: none). */
  rewrites?: string[];
  warnings: string[];
  target: string;
  processors: { id: string; kind: string; nodes: number; partitions: number; flops: number; predictedUs: number; arenaBytes: number; peakBytes: number; lowerBoundBytes: number; weightBytes: number; onChipBytes?: number; spillBytes?: number }[];
  /** The memory-aware order: its peak, lower bound, and whether the search proved it optimal. */
  order?: Plan['orderSearch'];
  partitions: number;
  folded: number;
  transfers: { count: number; bytes: number; predictedUs: number };
  latencyUs: number;
  source: string;
  /** Run-time nodes not on the processor the cost model ranked first, grouped by op and reason. */
  fallbacks: { op: string; processor: string; count: number; reason: string }[];
}

export function summarize({ plan, graph, warnings }: CompileResult): CompileSummary {
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
    };
  });
  const transfers = plan.steps.filter((s) => s.kind === 'transfer');
  const groups = new Map<string, { op: string; processor: string; count: number; reason: string }>();
  for (const n of plan.nodes) {
    if (n.folded || !n.rejected?.length) continue;
    // group by the reason with value names and figures left out: one line per kind of fallback
    const reason = n.rejected.map((r) => `${r.processor}: ${r.reason.replace(/'[^']*'/g, "'…'").replace(/(?<![\w.-])\d+(\.\d+)?(e[+-]?\d+)?(?![\w-])/g, '…')}`).join('; ');
    const key = `${n.op}\u0000${n.processor}\u0000${reason}`;
    const g = groups.get(key) ?? { op: n.op, processor: n.processor, count: 0, reason };
    g.count++;
    groups.set(key, g);
  }
  return {
    model: plan.model.file,
    ...(plan.model.rewrites ? { rewrites: plan.model.rewrites } : {}),
    warnings,
    target: plan.target.name,
    processors,
    ...(plan.orderSearch ? { order: plan.orderSearch } : {}),
    partitions: plan.partitions.length,
    folded: plan.nodes.filter((n) => n.folded).length,
    transfers: { count: transfers.length, bytes: plan.estimate.transferBytes, predictedUs: transfers.reduce((a, s) => a + s.endUs - s.startUs, 0) },
    latencyUs: plan.estimate.latencyUs,
    source: plan.estimate.source,
    fallbacks: [...groups.values()].sort((a, b) => b.count - a.count || a.op.localeCompare(b.op)),
  };
}

export function formatCompile(s: CompileSummary, out?: string): string {
  const lines = [`${s.model} → ${s.target}${out ? `: plan written to ${out}` : ''}`];
  const totalFlops = s.processors.reduce((a, p) => a + p.flops, 0) || 1;
  lines.push(`  ${'processor'.padEnd(10)}${'nodes'.padStart(7)}${'parts'.padStart(7)}${'FLOPs'.padStart(8)}${'time*'.padStart(11)}${'arena'.padStart(11)}${'peak'.padStart(11)}${'lower bd'.padStart(11)}${'weights'.padStart(11)}`);
  for (const p of s.processors) {
    lines.push(`  ${`${p.id} (${p.kind})`.padEnd(10)}${String(p.nodes).padStart(7)}${String(p.partitions).padStart(7)}${`${((100 * p.flops) / totalFlops).toFixed(0)}%`.padStart(8)}${formatUs(p.predictedUs).padStart(11)}${formatBytes(p.arenaBytes).padStart(11)}${formatBytes(p.peakBytes).padStart(11)}${formatBytes(p.lowerBoundBytes).padStart(11)}${formatBytes(p.weightBytes).padStart(11)}`);
  }
  if (s.order) {
    const o = s.order;
    lines.push(`  order (all memories, node granularity): peak ${formatBytes(o.peakBytes)}${o.exact ? ' = the exact optimum (search finished)' : `, lower bound ${formatBytes(o.lowerBoundBytes)}`} (file order ${formatBytes(o.fileOrderPeakBytes)}); ${o.exactSegments}/${o.segments} segments proven optimal; budget ${o.budgetMs} ms${o.kept === 'walk' ? "; the partitioner's walk kept (its arenas were smaller)" : ''}`);
    if (o.splitFrom !== s.partitions) lines.push(`  partitions split to follow the order: ${o.splitFrom} → ${s.partitions}`);
    if (s.rewrites) lines.push(`  memory rewrites applied (the plan runs the rewritten graph): ${s.rewrites.join(', ')}`);
  }
  for (const p of s.processors) if (p.onChipBytes !== undefined) lines.push(`  ${p.id}: ${formatBytes(p.spillBytes ?? 0)} of buffers beyond its ${formatBytes(p.onChipBytes)} on-chip memory (would spill to DRAM)`);
  lines.push(`  folded at compile time: ${s.folded} nodes (weights computed from weights, shape arithmetic)`);
  lines.push(`  transfers: ${s.transfers.count} (${formatBytes(s.transfers.bytes)}), ${formatUs(s.transfers.predictedUs)} on links*`);
  lines.push(`  predicted latency: ${formatUs(s.latencyUs)}*`);
  if (s.fallbacks.length) {
    lines.push('  not on the processor the cost model ranked first:');
    for (const f of s.fallbacks.slice(0, 12)) lines.push(`    ${f.op} ×${f.count} → ${f.processor}: ${f.reason}`);
    if (s.fallbacks.length > 12) lines.push(`    … and ${s.fallbacks.length - 12} more groups (see the plan's nodes[].rejected)`);
  }
  lines.push(`  * predicted by the ${s.source} (figures from the target profile), not measured`);
  for (const w of s.warnings) lines.push(`  warning: ${w}`);
  return lines.join('\n');
}

/** `compile --explain`: why each partition went where it went (the costs compared), each boundary, the timeline. */
export function formatExplain({ plan, graph, target, placementLog }: CompileResult): string {
  const st = staticInfo(graph);
  const lines = ['placement:', ...placementLog.map((l) => `  ${l}`), 'partitions (predicted compute time on each processor that takes all of the partition):'];
  for (const part of plan.partitions) {
    const nodes = part.nodes.filter((i) => !plan.nodes[i].folded);
    const ops = new Map<string, number>();
    for (const i of nodes) ops.set(graph.nodes[i].op, (ops.get(graph.nodes[i].op) ?? 0) + 1);
    const alternatives = target.processors.map((p) => {
      const no = nodes.map((i) => canRun(p, graph.nodes[i], graph, st)).find((r) => !r.ok);
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
