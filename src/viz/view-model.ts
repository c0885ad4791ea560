/**
 * The view model: what the viewer shows of the model beside the plan — edges, shapes, bytes, FLOPs,
 * attributes and each node's predicted time — assembled from the graph the plan runs (for the plan's
 * input shapes) and the target.
 */
import type { Attribute } from '../ir/graph.js';
import { valueByteSize, type ShapedGraph } from '../ir/infer.js';
import type { Plan } from '../plan/schema.js';
import { costSource, predictNode } from '../targets/cost.js';
import type { Target } from '../targets/schema.js';
import type { ViewModel, ViewNode, ViewValue } from './model.js';

function attrText(a: Attribute): string {
  const list = (xs: readonly unknown[]) => (xs.length > 16 ? `[${xs.slice(0, 16).join(', ')}, … ${xs.length} values]` : `[${xs.join(', ')}]`);
  switch (a.type) {
    case 'float': case 'int': return String(a.value);
    case 'string': return JSON.stringify(a.value.length > 200 ? `${a.value.slice(0, 200)}…` : a.value);
    case 'floats': case 'ints': case 'strings': return list(a.value);
    case 'tensor': return `tensor ${a.value.dtype} [${a.value.dims.join('×')}]`;
    case 'tensors': return `${a.value.length} tensors`;
    case 'graph': return `graph (${a.value.node.length} nodes)`;
    case 'graphs': return `${a.value.length} graphs`;
    default: return a.type;
  }
}

/** The model-derived data the viewer needs, for the plan's input shapes. */
export function buildViewModel(plan: Plan, graph: ShapedGraph, target: Target | undefined, source: string): ViewModel {
  const procs = new Map(target?.processors.map((p) => [p.id, p]) ?? []);
  const values: Record<string, ViewValue> = {};
  const nodes: ViewNode[] = graph.nodes.map((n, i) => {
    for (const name of [...n.inputs, ...n.outputs]) {
      if (!name || values[name]) continue;
      const v = graph.values.get(name);
      if (!v) continue;
      values[name] = { dtype: v.dtype, shape: v.shape ? [...v.shape] : null, bytes: valueByteSize(v), producer: v.producer, role: v.role };
    }
    const attrs: Record<string, string> = {};
    for (const [k, a] of Object.entries(n.attrs)) attrs[k] = attrText(a);
    const p = plan.nodes[i];
    const proc = p && !p.folded ? procs.get(p.processor) : undefined;
    const pred = proc ? predictNode(proc, graph, i) : undefined;
    return {
      inputs: [...n.inputs], outputs: [...n.outputs], attrs, flops: graph.costs[i].flops, bytes: graph.costs[i].bytes,
      ...(pred ? { predictedUs: pred.us, basis: pred.basis } : {}),
    };
  });
  return { source, nodes, values, costSource: target ? costSource(target) : `no per-node predictions: target '${plan.target.name}' is not a built-in target here` };
}
