/**
 * Where each run-time value lives: its home memory (the processor that produces it; the CPU for graph
 * inputs, which the application hands over in host memory) and the memories it is copied into
 * (every other processor that reads it; the CPU for a graph output produced elsewhere).
 */
import type { ShapedGraph } from '../ir/infer.js';
import type { Target } from '../targets/schema.js';
import type { StaticInfo } from '../ir/static.js';
import type { Partitioning } from './partitioning.js';

export interface Residency {
  home: string;
  /** Other memories the value is transferred into, in processor order. */
  copies: string[];
}

export function hostProcessor(target: Target): string {
  return target.processors.find((p) => p.kind === 'cpu' && p.support.ops === '*')!.id;
}

export function residency(graph: ShapedGraph, target: Target, parts: Partitioning, st: StaticInfo): Map<string, Residency> {
  const host = hostProcessor(target);
  const out = new Map<string, Residency>();
  const procOrder = target.processors.map((p) => p.id);
  const add = (name: string, home: string) => {
    if (out.has(name)) return;
    const where = new Set<string>();
    for (const c of st.runtimeConsumers(name)) where.add(parts.placement[c].processor);
    if (graph.outputs.includes(name)) where.add(host);
    where.delete(home);
    out.set(name, { home, copies: procOrder.filter((p) => where.has(p)) });
  };
  for (const name of graph.inputs) add(name, host);
  for (const node of graph.nodes) {
    if (parts.placement[node.index].folded) continue;
    for (const o of node.outputs) if (o) add(o, parts.placement[node.index].processor);
  }
  return out;
}
