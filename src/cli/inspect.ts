/** `tessera inspect`: what a model holds, with the inferred dtype and shape of every value. */
import type { GraphProto } from 'onnx-buf';
import { ortProber } from '../backends/ort.js';
import { formatShape, type Graph } from '../ir/graph.js';
import { inferShapes, valueByteSize, type ShapedGraph } from '../ir/infer.js';
import { importOnnxFile } from '../ir/onnx-import.js';
import { formatBytes } from './format.js';

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

function countSubgraphNodes(g: GraphProto): number {
  let n = 0;
  for (const node of g.node) {
    n++;
    for (const a of node.attribute) {
      if (a.g) n += countSubgraphNodes(a.g);
      for (const sg of a.graphs) n += countSubgraphNodes(sg);
    }
  }
  return n;
}

/** Bytes of the weights the model reads at run time: constant values consumed by non-constant nodes. */
export function weightBytesOf(graph: ShapedGraph): number {
  let total = 0;
  for (const v of graph.values.values()) {
    if (!v.isConst) continue;
    const usedAtRunTime = v.consumers.some((c) => graph.nodes[c].outputs.some((o) => o !== '' && !graph.values.get(o)!.isConst));
    if (usedAtRunTime) total += valueByteSize(v);
  }
  return total;
}

export function subgraphNodeCount(graph: Graph): number {
  let n = 0;
  for (const node of graph.nodes) {
    for (const a of Object.values(node.attrs)) {
      if (a.type === 'graph') n += countSubgraphNodes(a.value);
      if (a.type === 'graphs') for (const g of a.value) n += countSubgraphNodes(g);
    }
  }
  return n;
}

export async function inspectModel(path: string, inputShapes?: Record<string, number[]>): Promise<InspectReport> {
  const graph = await inferShapes(importOnnxFile(path), { inputShapes, prober: ortProber });
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

export function formatInspect(r: InspectReport): string {
  const lines: string[] = [];
  lines.push(`${r.model}`);
  lines.push(`  nodes: ${r.nodes} top level, ${r.nodesInSubgraphs} inside subgraphs`);
  lines.push(`  weights: ${formatBytes(r.weightBytes)}   activations: ${formatBytes(r.activationBytes)} (sum over all values, for the input shapes below)`);
  lines.push(`  inputs: ${r.inputs.map((i) => `${i.name} ${i.dtype} ${formatShape(i.shape)}`).join(', ')}`);
  lines.push(`  outputs: ${r.outputs.join(', ')}`);
  lines.push(`  ops: ${Object.entries(r.ops).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  const probed = r.values.filter((v) => v.shapeSource === 'probe').length;
  lines.push(`  values (${r.values.length}; ${probed} measured by a probe run on onnxruntime, the rest inferred statically):`);
  const w = Math.min(60, Math.max(...r.values.map((v) => v.name.length), 4));
  for (const v of r.values) {
    lines.push(`    ${v.name.padEnd(w)}  ${String(v.dtype).padEnd(8)} ${formatShape(v.shape).padEnd(20)} ${formatBytes(v.bytes).padStart(10)}${v.shapeSource === 'probe' ? '  (probe)' : ''}`);
  }
  return lines.join('\n');
}
