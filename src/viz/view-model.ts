/**
 * The view model: what the viewer shows of the model beside the plan — edges, shapes, bytes, FLOPs,
 * attributes in words, each node's predicted time, and the branches and bodies of control-flow nodes
 * (nested ones too), each marked kept or pruned by what shape inference found — assembled from the graph
 * the plan runs (for the plan's input shapes) and the target. Node-side: the page gets the result.
 */
import type { Attribute, Graph } from '../ir/graph.js';
import { valueByteSize, type ShapedGraph } from '../ir/infer.js';
import { graphFromProto } from '../ir/onnx-import.js';
import { subgraphSource } from '../ir/weight.js';
import type { Plan } from '../plan/schema.js';
import { costSource, predictNode } from '../targets/cost.js';
import type { Target } from '../targets/schema.js';
import type { ViewModel, ViewNode, ViewSubgraph, ViewSubNode, ViewSubValue, ViewValue } from './model.js';

/** An attribute's value in words: long lists cut, tensors and graphs summarized. */
export function attrText(a: Attribute): string {
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

export function attrsText(attrs: Graph['nodes'][number]['attrs']): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, a] of Object.entries(attrs)) out[k] = attrText(a);
  return out;
}

/** Same nodes in the same order: a shaped branch is a copy of the subgraph imported from the same proto. */
const sameNodes = (a: Graph, b: Graph) => a.nodes.length === b.nodes.length && a.nodes.every((n, i) => n.name === b.nodes[i].name && n.op === b.nodes[i].op);

interface Work {
  graph: Graph;
  /** The graph as inference shaped it; absent when it was not inferred (then `why` says why). */
  shaped?: ShapedGraph;
  why: string;
  /** Subgraph id of `graph`; -1 for the model's graph. */
  id: number;
  /** Names defined in `graph` and the graphs enclosing it. */
  scope: ReadonlySet<string>;
}

/**
 * Every branch and body of the graph's control-flow nodes, breadth first (a subgraph's id is its index);
 * `of.get(node)` lists the top-level node's subgraphs. Status per branch: an If whose condition is known
 * at compile time keeps the branch it takes; otherwise inference keeps the branches that can run with the
 * plan's input shapes (a branch whose shapes provably fail is pruned); Loop and Scan bodies are not inferred.
 */
export function viewSubgraphs(graph: ShapedGraph): { subgraphs: ViewSubgraph[]; of: Map<number, number[]> } {
  const subgraphs: ViewSubgraph[] = [];
  const of = new Map<number, number[]>();
  const mb = subgraphSource(graph.meta); // subgraph weights: external data by the same rule and limits as the import
  const queue: Work[] = [{ graph, shaped: graph, why: '', id: -1, scope: new Set(graph.values.keys()) }];
  const nodesOf = new Map<number, ViewSubNode[]>();
  for (let q = 0; q < queue.length; q++) {
    const w = queue[q];
    for (const node of w.graph.nodes) {
      const protos = Object.entries(node.attrs).flatMap(([k, a]) => (a.type === 'graph' ? [[k, a.value] as const] : a.type === 'graphs' ? a.value.map((g, j) => [`${k}[${j}]`, g] as const) : []));
      if (!protos.length) continue;
      const ids: number[] = [];
      const shapedBranches = w.shaped?.costs[node.index]?.branches;
      const cond = node.op === 'If' ? w.shaped?.known.get(node.inputs[0]) : undefined;
      for (const [attr, proto] of protos) {
        const sub = graphFromProto(proto, graph.meta, mb, `${graph.meta.source}: ${node.name}.${attr}`, w.scope);
        const match = shapedBranches?.find((b) => sameNodes(b, sub));
        let status: ViewSubgraph['status'];
        let why: string;
        if (!w.shaped) [status, why] = ['not inferred', w.why];
        else if (cond) {
          const taken = cond.data[0] ? 'then_branch' : 'else_branch';
          [status, why] = attr === taken ? ['kept', `the condition is known at compile time (${cond.data[0] ? 'true' : 'false'})`] : ['pruned', `never taken: the condition is known at compile time (${cond.data[0] ? 'true' : 'false'})`];
        } else if (node.op === 'If' && shapedBranches) {
          [status, why] = match ? ['kept', "it can run with the plan's input shapes"] : ['pruned', "it cannot run with the plan's input shapes (inference proved its shapes fail)"];
        } else if (match) [status, why] = ['kept', 'inferred with the enclosing graph'];
        else [status, why] = ['not inferred', node.op === 'If' ? "the If's outputs were measured by a probe run; its branches were not inferred" : `${node.op} bodies are not inferred (the node's outputs were measured by a probe run)`];
        const source = match ?? sub;
        const values: Record<string, ViewSubValue> = {};
        const outer: string[] = [];
        for (const v of source.values.values()) {
          const isOuter = v.role === 'input' && !source.inputs.includes(v.name);
          if (isOuter) outer.push(v.name);
          values[v.name] = { dtype: v.dtype, shape: v.shape ? [...v.shape] : null, bytes: valueByteSize(v), producer: v.producer, role: isOuter ? 'outer' : v.role };
        }
        const nodes: ViewSubNode[] = source.nodes.map((n, k) => ({
          name: n.name, op: n.op, inputs: [...n.inputs], outputs: [...n.outputs], attrs: attrsText(n.attrs),
          ...(match ? { flops: match.costs[k].flops, bytes: match.costs[k].bytes } : {}),
          ...(n.implicitInputs.length ? { implicit: [...n.implicitInputs] } : {}),
        }));
        const id = subgraphs.length;
        subgraphs.push({ parent: w.id, node: node.index, attr, status, why, inputs: [...source.inputs], outputs: [...source.outputs], outer, nodes, values });
        nodesOf.set(id, nodes);
        ids.push(id);
        const inner = match ? '' : status === 'pruned' ? `its enclosing ${attr} is pruned` : `its enclosing ${attr} was not inferred`;
        queue.push({ graph: sub, ...(match ? { shaped: match } : {}), why: inner, id, scope: new Set([...w.scope, ...sub.values.keys()]) });
      }
      if (w.id < 0) of.set(node.index, ids);
      else nodesOf.get(w.id)![node.index].subgraphs = ids;
    }
  }
  return { subgraphs, of };
}

/** The model-derived data the viewer needs, for the plan's input shapes. */
export function buildViewModel(plan: Plan, graph: ShapedGraph, target: Target | undefined, source: string): ViewModel {
  const procs = new Map(target?.processors.map((p) => [p.id, p]) ?? []);
  const values: Record<string, ViewValue> = {};
  const sub = viewSubgraphs(graph);
  const nodes: ViewNode[] = graph.nodes.map((n, i) => {
    for (const name of [...n.inputs, ...n.outputs, ...n.implicitInputs]) {
      if (!name || values[name]) continue;
      const v = graph.values.get(name);
      if (!v) continue;
      values[name] = { dtype: v.dtype, shape: v.shape ? [...v.shape] : null, bytes: valueByteSize(v), producer: v.producer, role: v.role };
    }
    const p = plan.nodes[i];
    const proc = p && !p.folded ? procs.get(p.processor) : undefined;
    const pred = proc ? predictNode(proc, graph, i) : undefined;
    return {
      inputs: [...n.inputs], outputs: [...n.outputs], attrs: attrsText(n.attrs), flops: graph.costs[i].flops, bytes: graph.costs[i].bytes,
      ...(pred ? { predictedUs: pred.us, basis: pred.basis } : {}),
      ...(sub.of.has(i) ? { implicit: [...n.implicitInputs], subgraphs: sub.of.get(i)! } : {}),
    };
  });
  return { source, nodes, values, costSource: target ? costSource(target) : `no per-node predictions: target '${plan.target.name}' is not a built-in target here`, subgraphs: sub.subgraphs };
}
