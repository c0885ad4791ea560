/**
 * What is fixed at compile time. A plan is compiled for concrete input shapes, so besides the weights
 * (values computed only from weights) every value inference folded (shape arithmetic: Shape → Gather →
 * Concat → Reshape) is a constant of the plan. Nodes producing only such values are folded: they are
 * evaluated by the compiler, never scheduled, and create no ordering dependency or buffer.
 */
import { nodeReads, type Node } from '../ir/graph.js';
import type { ShapedGraph } from '../ir/infer.js';
import { opTraits } from '../ir/ops/traits.js';

export interface StaticInfo {
  isStatic(name: string): boolean;
  /** Nodes evaluated at compile time. */
  folded: ReadonlySet<number>;
  /** Values a node needs at run time (static values dropped). */
  runtimeReads(node: Node): string[];
  /** Node indices that read the value at run time. */
  runtimeConsumers(name: string): number[];
}

export function staticInfo(graph: ShapedGraph): StaticInfo {
  const outputs = new Set(graph.outputs);
  const isStatic = (name: string) => {
    const v = graph.values.get(name);
    return !!v && (v.isConst || graph.known.has(name)) && v.role !== 'input';
  };
  const folded = new Set<number>();
  for (const node of graph.nodes) {
    const outs = node.outputs.filter((o) => o !== '');
    if (outs.length === 0 || opTraits(node.op).controlFlow) continue;
    if (outs.every((o) => isStatic(o) && !outputs.has(o))) folded.add(node.index);
  }
  const runtimeReads = (node: Node) => nodeReads(node).filter((r) => !isStatic(r));
  const consumers = new Map<string, number[]>();
  for (const node of graph.nodes) {
    if (folded.has(node.index)) continue;
    for (const r of runtimeReads(node)) {
      let list = consumers.get(r);
      if (!list) consumers.set(r, (list = []));
      list.push(node.index);
    }
  }
  return { isStatic, folded, runtimeReads, runtimeConsumers: (name) => consumers.get(name) ?? [] };
}
