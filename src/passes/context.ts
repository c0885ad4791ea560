/**
 * The compile context: what several passes need, computed once per compile and handed down to them —
 * the graph's compile-time constants, which processor (as bound) can run which node and why not, where
 * values live for a given partitioning (memoized) — so a fact travels downhill through the passes
 * instead of being recomputed in each.
 *
 * Support of a node on a processor is the processor's op table (targets/support.ts), intersected with
 * the table of the backend the processor is bound to (`backendSupport`, from the backend registry: the
 * compiler passes it in), and room for the node's values in the processor's types. A processor in `idle`
 * takes no node (a software GPU the runtime would not bind by default), with the reason given.
 */
import type { Node } from '../ir/graph.js';
import type { ShapedGraph } from '../ir/infer.js';
import { qdqGraph } from '../ir/qdq.js';
import { staticInfo, type StaticInfo } from '../ir/static.js';
import type { Partitioning } from '../plan/partitioning.js';
import { hostProcessor, residency, type Residency } from '../plan/residency.js';
import type { Processor, Target } from '../targets/schema.js';
import { storable, type Ranges } from '../targets/storage.js';
import { checkSupport, type SupportResult } from '../targets/support.js';

/** For each node, whether each processor can run it (folded nodes: no entry). */
export type SupportTable = (Map<string, SupportResult> | null)[];

export interface ContextOptions {
  /** Calibrated magnitudes of float32 values (for the float16 legalization). */
  ranges?: Ranges;
  /**
   * Whether the backend a processor is bound to takes a node (absent: the processor's table decides
   * alone). `quiet`: a refusal that is no limitation of the processor (a fallback processor declining what
   * its sibling's backend runs), left out of `refusedByBinding`.
   */
  backendSupport?: (proc: Processor, node: Node, graph: ShapedGraph) => SupportResult & { quiet?: boolean };
  /** Processors that get no work in this plan, and why. */
  idle?: ReadonlyMap<string, string>;
}

export interface CompileContext {
  readonly graph: ShapedGraph;
  readonly target: Target;
  readonly st: StaticInfo;
  readonly ranges?: Ranges;
  /** The processor that takes every op: graph inputs and outputs live in its memory. */
  readonly host: string;
  /** Per node and processor: can it run there (capability, and not idle). */
  readonly support: SupportTable;
  /** Whether a processor, as bound, can run a node (what the verifier checks: capability only). */
  runs(proc: Processor, node: Node): SupportResult;
  /** Processors that get no work in this plan, and why. */
  readonly idle: ReadonlyMap<string, string>;
  /** Per processor: the run-time nodes its own table takes but its binding refuses (its bound backend's table, or idle), and why. */
  readonly refusedByBinding: ReadonlyMap<string, ReadonlyMap<number, string>>;
  proc(id: string): Processor;
  /** Where each run-time value lives under a partitioning (computed once per partitioning). */
  residency(parts: Partitioning): ReadonlyMap<string, Residency>;
}

/** Support from the processor's table and its bound backend's, and room for the node's values in the processor's types. */
function capability(proc: Processor, node: Node, graph: ShapedGraph, st: StaticInfo, options: ContextOptions): SupportResult & { by?: 'backend' } {
  const s = checkSupport(proc, node, graph, st.isStatic);
  if (!s.ok) return s;
  const b = options.backendSupport?.(proc, node, graph);
  if (b && !b.ok) return b.quiet ? { ok: false, reason: b.reason } : { ok: false, reason: b.reason, by: 'backend' };
  const ranges = options.ranges;
  for (const name of [...st.runtimeReads(node), ...node.outputs.filter((o) => o !== '')]) {
    const v = graph.values.get(name)!;
    if (!storable(proc, v, ranges, qdqGraph(graph).values)) {
      return { ok: false, reason: `value '${name}' reaches ${ranges!.get(name)!.toExponential(2)} in calibration, beyond float16's range, and the ${proc.name} has no int16` };
    }
  }
  return s;
}

export function makeContext(graph: ShapedGraph, target: Target, options: ContextOptions = {}): CompileContext {
  const st = staticInfo(graph);
  const procs = new Map(target.processors.map((p) => [p.id, p]));
  const runs = (proc: Processor, node: Node): SupportResult => {
    const r = capability(proc, node, graph, st, options);
    return r.ok ? { ok: true } : { ok: false, reason: r.reason };
  };
  const refused = new Map(target.processors.map((p) => [p.id, new Map<number, string>()]));
  const support: SupportTable = graph.nodes.map((node) => {
    if (st.folded.has(node.index)) return null;
    return new Map(target.processors.map((p): [string, SupportResult] => {
      const r = capability(p, node, graph, st, options);
      const idle = options.idle?.get(p.id);
      if (r.ok && idle) refused.get(p.id)!.set(node.index, idle);
      if (!r.ok && r.by === 'backend') refused.get(p.id)!.set(node.index, r.reason);
      return [p.id, idle ? { ok: false, reason: idle } : r.ok ? { ok: true } : { ok: false, reason: r.reason }];
    }));
  });
  const memo = new WeakMap<Partitioning, ReadonlyMap<string, Residency>>();
  return {
    graph, target, st, ranges: options.ranges, host: hostProcessor(target), support, runs, refusedByBinding: refused, idle: options.idle ?? new Map(),
    proc: (id) => procs.get(id)!,
    residency(parts) {
      let r = memo.get(parts);
      if (!r) memo.set(parts, (r = residency(graph, target, parts, st)));
      return r;
    },
  };
}
