/**
 * Weights of the main graph that only control-flow subgraphs read (silero-vad keeps its Conv and Gemm
 * weights as top-level initializers read inside If branches): which op reads each, so that weight-only
 * quantization can give them the right axes.
 */
import type { GraphProto, NodeProto } from 'onnx-buf';
import { AttributeProto_AttributeType as AT } from 'onnx-buf';
import type { Attribute, Graph } from '../ir/graph.js';
import { initializers } from './quantize-graph.js';
import { weightUse, weightUses, type WeightUse } from './quantize-weights.js';

function plainAttrs(n: NodeProto): Record<string, Attribute> {
  const out: Record<string, Attribute> = {};
  for (const a of n.attribute) if (a.type === AT.INT) out[a.name] = { type: 'int', value: Number(a.i) };
  return out;
}

/** Uses inside subgraphs of weights no top-level weight-reading op already uses (a weight read by two ops keeps the first). */
export function subgraphWeightUses(graph: Graph): WeightUse[] {
  const weights = initializers(graph);
  const top = new Set(weightUses(graph).map((u) => u.weight));
  const out = new Map<string, WeightUse>();
  const walk = (g: GraphProto) => {
    const local = new Set([...g.initializer.map((t) => t.name), ...g.input.map((i) => i.name), ...g.node.flatMap((n) => n.output)]);
    for (const n of g.node) {
      const name = n.input[1];
      if (name && !local.has(name) && !top.has(name) && !out.has(name)) {
        const u = weightUse({ op: n.opType, domain: n.domain === 'ai.onnx' ? '' : n.domain, name: n.name, inputs: n.input, attrs: plainAttrs(n) }, weights);
        if (u) out.set(name, u);
      }
      for (const a of n.attribute) {
        if (a.g) walk(a.g);
        a.graphs.forEach(walk);
      }
    }
  };
  for (const node of graph.nodes) {
    for (const a of Object.values(node.attrs)) {
      if (a.type === 'graph') walk(a.value);
      if (a.type === 'graphs') a.value.forEach(walk);
    }
  }
  return [...out.values()];
}
