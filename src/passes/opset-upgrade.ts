/**
 * Raises a model's default-domain opset (to 21, where DequantizeLinear takes per-channel and block-wise
 * int4/int8/uint16 data), rewriting the ops whose signature changed on the way: attributes that became
 * inputs (Clip 11, Slice 10, Pad 11, TopK 10, Squeeze/Unsqueeze/Split/ReduceSum 13, the other Reduce ops 18),
 * Softmax's axis rule (13), Split's num_outputs (18), Dropout's ratio (12), Scatter (→ ScatterElements).
 * An op whose meaning changed in a way not handled here is an UNSUPPORTED_OP naming it, never a silent
 * change. Pure: a new Graph, weights for the new constant inputs.
 */
import type { GraphProto } from 'onnx-buf';
import { TesseraError } from '../errors.js';
import { opsetOf, type Graph, type Node } from '../ir/graph.js';
import type { ShapedGraph } from '../ir/infer.js';
import { numbersToBytes } from '../ir/tensor-data.js';
import type { Weight } from '../ir/weight.js';
import { UPGRADE_RULES } from '../ir/ops/quantization.js';
import { editable, initializers, inlineWeight, nameMaker, rebuildGraph, type EditNode } from './quantize-graph.js';

/** 'rewrite' when the op's signature changed between the opsets in a way a rule rewrites, 'unhandled' when in another way. */
function needsRewrite(op: string, from: number, to: number): 'rewrite' | 'unhandled' | null {
  const rule = UPGRADE_RULES[op];
  if (!rule || !(from < rule.at && to >= rule.at)) return null;
  return rule.rewrite ? 'rewrite' : 'unhandled';
}

function checkSubgraphs(node: Node, from: number, to: number, where: string): void {
  const walk = (g: GraphProto) => {
    for (const n of g.node) {
      if ((n.domain === '' || n.domain === 'ai.onnx') && needsRewrite(n.opType, from, to)) {
        throw new TesseraError('UNSUPPORTED_OP', `${where}: ${n.opType} '${n.name}' inside a subgraph of '${node.name}' changed between opset ${from} and ${to}; upgrading ops inside subgraphs is not supported (export the model at opset ${to})`);
      }
      for (const a of n.attribute) {
        if (a.g) walk(a.g);
        a.graphs.forEach(walk);
      }
    }
  };
  for (const a of Object.values(node.attrs)) {
    if (a.type === 'graph') walk(a.value);
    if (a.type === 'graphs') a.value.forEach(walk);
  }
}

/** The graph at default-domain opset `to` (the graph itself when it is there already). */
export function upgradeOpset(graph: ShapedGraph | Graph, to = 21): Graph {
  const from = opsetOf(graph);
  if (from >= to) return graph;
  if (from < 7) throw new TesseraError('UNSUPPORTED_OP', `${graph.meta.source}: opset ${from} is too old to upgrade (7 or later is needed)`);
  const where = graph.meta.source;
  const weights = initializers(graph);
  const fresh = nameMaker(graph);
  const constant = (base: string, dtype: 'int64' | 'float32', values: number[], dims: number[]) => {
    const w: Weight = inlineWeight(fresh(base), dtype, dims, numbersToBytes(dtype, values));
    weights.set(w.name, w);
    return w.name;
  };
  const ints = (n: Node, base: string, values: number[]) => constant(`${n.name}_${base}`, 'int64', values, [values.length]);
  const list: EditNode[] = [];
  for (const node of graph.nodes) {
    const e = editable(node);
    list.push(e);
    if (node.domain !== '') continue;
    checkSubgraphs(node, from, to, where);
    const how = needsRewrite(node.op, from, to);
    const label = `${where}: ${node.op} '${node.name}'`;
    if (how === 'unhandled') throw new TesseraError('UNSUPPORTED_OP', `${label} changed meaning between opset ${from} and ${to} in a way the opset upgrade does not rewrite; export the model at opset ${to}`);
    if (!how) continue;
    const v = graph.values.get(node.inputs[0]);
    UPGRADE_RULES[node.op].rewrite!({
      node, edit: e, from, label, inputDtype: v?.dtype ?? null, inputRank: v?.shape?.length,
      outputUsed: (i) => !!node.outputs[i] && (!!graph.values.get(node.outputs[i])?.consumers.length || graph.outputs.includes(node.outputs[i])),
      ints: (base, values) => ints(node, base, values),
      float: (base, value) => constant(`${node.name}_${base}`, 'float32', [value], []),
    });
  }
  const opsetImports = graph.meta.opsetImports.map((o) => (o.domain === '' || o.domain === 'ai.onnx' ? { domain: o.domain, version: to } : o));
  return rebuildGraph(graph, list, weights, { opsetImports, irVersion: Math.max(graph.meta.irVersion, 10) });
}
