/** What a model holds (`tessera inspect`), with the inferred dtype and shape of every value: the compiler's front end, reported. */
import { subgraphNodeCount } from '../ir/graph.js';
import { valueByteSize, type ShapedGraph } from '../ir/infer.js';
import { loadModel } from './index.js';

export { subgraphNodeCount };

export interface InspectReport {
  model: string;
  nodes: number;
  nodesInSubgraphs: number;
  ops: Record<string, number>;
  weightBytes: number;
  activationBytes: number;
  inputs: { name: string; dtype: string | null; shape: number[] }[];
  outputs: string[];
  values: { name: string; dtype: string | null; shape: (number | string)[] | null; bytes: number; shapeSource: string }[];
}

export function weightBytesOf(graph: ShapedGraph): number {
  let total = 0;
  for (const v of graph.values.values()) {
    if (!v.isConst) continue;
    const usedAtRunTime = v.consumers.some((c) => graph.nodes[c].outputs.some((o) => o !== '' && !graph.values.get(o)!.isConst));
    if (usedAtRunTime) total += valueByteSize(v);
  }
  return total;
}

export async function inspectModel(path: string, inputShapes?: Record<string, number[]>): Promise<InspectReport> {
  const { graph } = await loadModel(path, { inputShapes });
  const ops: Record<string, number> = {};
  for (const n of graph.nodes) ops[n.op] = (ops[n.op] ?? 0) + 1;
  const values = [...graph.values.values()]
    .filter((v) => v.role === 'activation' && !v.isConst)
    .map((v) => ({ name: v.name, dtype: v.dtype, shape: v.shape, bytes: valueByteSize(v), shapeSource: v.shapeSource ?? 'static' }));
  return {
    model: path,
    nodes: graph.nodes.length,
    nodesInSubgraphs: subgraphNodeCount(graph),
    ops: Object.fromEntries(Object.entries(ops).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))),
    weightBytes: weightBytesOf(graph),
    activationBytes: values.reduce((a, v) => a + v.bytes, 0),
    inputs: graph.inputs.map((name) => ({ name, dtype: graph.values.get(name)!.dtype, shape: graph.inputShapes[name] })),
    outputs: [...graph.outputs],
    values,
  };
}
