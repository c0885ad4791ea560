/**
 * Editing a Graph for the quantization passes: a pass lists the new nodes and weights, and `rebuildGraph`
 * makes the Graph again (node order topological and as close to the list as it allows; producers,
 * consumers and constness recomputed). Every pass returns a new Graph; none mutates its input.
 */
import { TesseraError } from '../errors.js';
import type { DType } from '../ir/dtype.js';
import { earliestFirstOrder, nodeReads, type Attribute, type Graph, type ModelMeta, type Node, type Value } from '../ir/graph.js';
import { opTraits } from '../ir/ops/traits.js';
import type { Weight } from '../ir/weight.js';

/** A node as a pass writes it: `outputTypes` gives the dtypes of outputs that are new values. */
export interface EditNode {
  name: string;
  op: string;
  domain: string;
  inputs: string[];
  outputs: string[];
  attrs: Record<string, Attribute>;
  implicitInputs?: readonly string[];
  outputTypes?: readonly (DType | null)[];
}

export function editable(node: Node): EditNode {
  return { name: node.name, op: node.op, domain: node.domain, inputs: [...node.inputs], outputs: [...node.outputs], attrs: { ...node.attrs }, implicitInputs: node.implicitInputs };
}

/** The weights of a graph: its initializers by name. */
export function initializers(graph: Graph): Map<string, Weight> {
  const out = new Map<string, Weight>();
  for (const v of graph.values.values()) if (v.role === 'initializer' && v.initializer) out.set(v.name, v.initializer);
  return out;
}

/** Fresh names that clash with nothing in the graph (values and nodes) nor with each other. */
export function nameMaker(graph: Graph): (base: string) => string {
  const used = new Set<string>(graph.values.keys());
  for (const n of graph.nodes) used.add(n.name);
  return (base) => {
    let name = base;
    for (let k = 1; used.has(name); k++) name = `${base}_${k}`;
    used.add(name);
    return name;
  };
}


/**
 * The graph with these nodes and weights (weights no node reads are dropped). Values keep what the old
 * graph knew of them (dtype, shape) when their names existed there.
 */
export function rebuildGraph(graph: Graph, list: readonly EditNode[], weights: ReadonlyMap<string, Weight>, meta: Partial<ModelMeta> = {}): Graph {
  const producer = new Map<string, number>();
  list.forEach((n, i) => n.outputs.forEach((o) => o && producer.set(o, i)));
  const succs = list.map(() => new Set<number>());
  list.forEach((n, i) => {
    for (const x of [...n.inputs, ...(n.implicitInputs ?? [])]) {
      const p = producer.get(x);
      if (p !== undefined && p !== i) succs[p].add(i);
    }
  });
  const order = earliestFirstOrder(succs.map((s) => [...s]));
  if (!order) throw new TesseraError('INTERNAL', `a quantization pass made a cycle in ${graph.meta.source}`);
  const nodes: Node[] = order.map((i, index) => {
    const n = list[i];
    return { index, name: n.name, op: n.op, domain: n.domain, inputs: n.inputs, outputs: n.outputs, attrs: n.attrs, implicitInputs: n.implicitInputs ?? [] };
  });
  const values = new Map<string, Value>();
  const reads = new Set<string>(graph.outputs);
  for (const n of nodes) nodeReads(n).forEach((r) => reads.add(r));
  for (const name of graph.inputs) {
    const v = graph.values.get(name)!;
    values.set(name, { ...v, consumers: [] });
  }
  for (const [name, w] of weights) {
    if (!reads.has(name) || producer.has(name)) continue;
    values.set(name, { name, role: 'initializer', dtype: w.dtype, shape: [...w.dims], producer: -1, consumers: [], initializer: w, isConst: true, shapeSource: 'declared' });
  }
  for (const n of nodes) {
    const types = list[order[n.index]].outputTypes;
    n.outputs.forEach((o, k) => {
      if (o === '') return;
      const old = graph.values.get(o);
      const dtype = types?.[k] !== undefined ? types[k] : old?.dtype ?? null;
      values.set(o, { name: o, role: 'activation', dtype, shape: old?.role === 'activation' && dtype === old.dtype ? old.shape && [...old.shape] : null, producer: n.index, consumers: [], isConst: false, typeProto: old?.typeProto });
    });
  }
  // Outer-scope values of a subgraph (read, but defined nowhere here) come through as they were.
  for (const r of reads) {
    if (values.has(r)) continue;
    const old = graph.values.get(r);
    if (!old) throw new TesseraError('INTERNAL', `a quantization pass left value '${r}' with no producer in ${graph.meta.source}`);
    values.set(r, { ...old, consumers: [], producer: -1 });
  }
  for (const n of nodes) for (const r of new Set(nodeReads(n))) values.get(r)!.consumers.push(n.index);
  for (const n of nodes) {
    if (n.domain !== '' || opTraits(n.op).nondeterministic || opTraits(n.op).controlFlow) continue;
    if (nodeReads(n).every((r) => values.get(r)!.isConst)) for (const o of n.outputs) if (o) values.get(o)!.isConst = true;
  }
  return { name: graph.name, nodes, values, inputs: graph.inputs, outputs: graph.outputs, meta: { ...graph.meta, ...meta } };
}

/** A new inline weight. */
export function inlineWeight(name: string, dtype: DType, dims: readonly number[], bytes: Uint8Array): Weight {
  return { name, dtype, dims: [...dims], source: { kind: 'inline', bytes } };
}

export const intAttr = (value: number): Attribute => ({ type: 'int', value });
