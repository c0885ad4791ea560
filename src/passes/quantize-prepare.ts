/**
 * The float graph quantization starts from: Constant nodes become weights (initializers), the opset is
 * raised to 21 (opset-upgrade.ts), and each BatchNormalization that follows a Conv is folded into that
 * Conv's weight and bias (so the weight is quantized once, with the scale it really has).
 * Calibration runs this graph, so every activation it measures exists in the quantized one.
 */
import type { Graph } from '../ir/graph.js';
import { bytesToNumbers } from '../ir/tensor-data.js';
import { weightBytes, weightElementCount, type Weight } from '../ir/weight.js';
import { upgradeOpset } from './opset-upgrade.js';
import { editable, initializers, inlineWeight, nameMaker, rebuildGraph, type EditNode } from './quantize-graph.js';

export interface Prepared {
  graph: Graph;
  /** BatchNormalization nodes folded into the Conv before them. */
  foldedBatchNorms: string[];
}

export function floatsOf(w: Weight): Float32Array {
  return Float32Array.from(bytesToNumbers(w.dtype, weightBytes(w), weightElementCount(w)));
}

const f32 = (data: Float32Array) => new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice();

/** Constant nodes holding a tensor become initializers named as their output. */
export function constantsToWeights(graph: Graph): Graph {
  if (!graph.nodes.some((n) => n.op === 'Constant' && n.domain === '' && n.attrs.value?.type === 'tensor')) return graph;
  const weights = initializers(graph);
  const list: EditNode[] = [];
  for (const n of graph.nodes) {
    const value = n.attrs.value;
    if (n.op === 'Constant' && n.domain === '' && value?.type === 'tensor' && !graph.outputs.includes(n.outputs[0])) weights.set(n.outputs[0], { ...value.value, name: n.outputs[0] });
    else list.push(editable(n));
  }
  return rebuildGraph(graph, list, weights);
}

/** Folds BatchNormalization(Conv(x, W, b)) into Conv(x, W', b') where the Conv's output feeds only the BN. */
export function foldBatchNorms(graph: Graph): Prepared {
  const weights = initializers(graph);
  const fresh = nameMaker(graph);
  const folded: string[] = [];
  const replaced = new Map<number, EditNode | null>();
  for (const bn of graph.nodes) {
    if (bn.op !== 'BatchNormalization' || bn.domain !== '' || bn.outputs.filter(Boolean).length !== 1) continue;
    const x = graph.values.get(bn.inputs[0])!;
    const conv = x.producer >= 0 ? graph.nodes[x.producer] : undefined;
    if (!conv || conv.op !== 'Conv' || conv.domain !== '' || x.consumers.length !== 1 || graph.outputs.includes(x.name) || replaced.has(conv.index)) continue;
    const [gamma, beta, mean, variance] = bn.inputs.slice(1, 5).map((n) => weights.get(n));
    const W = weights.get(conv.inputs[1]);
    const B = conv.inputs[2] ? weights.get(conv.inputs[2]) : undefined;
    if (!gamma || !beta || !mean || !variance || !W || W.dtype !== 'float32' || (conv.inputs[2] && !B)) continue;
    const eps = bn.attrs.epsilon?.type === 'float' ? bn.attrs.epsilon.value : 1e-5;
    const [g, bt, m, v] = [gamma, beta, mean, variance].map(floatsOf);
    const M = W.dims[0];
    if (g.length !== M) continue;
    const w = floatsOf(W);
    const per = w.length / M;
    const b = B ? floatsOf(B) : new Float32Array(M);
    const w2 = new Float32Array(w.length), b2 = new Float32Array(M);
    for (let c = 0; c < M; c++) {
      const k = g[c] / Math.sqrt(v[c] + eps);
      for (let i = 0; i < per; i++) w2[c * per + i] = w[c * per + i] * k;
      b2[c] = (b[c] - m[c]) * k + bt[c];
    }
    const wName = fresh(`${conv.inputs[1]}_bnfold`), bName = fresh(`${conv.inputs[2] || conv.name}_bias_bnfold`);
    weights.set(wName, inlineWeight(wName, 'float32', W.dims, f32(w2)));
    weights.set(bName, inlineWeight(bName, 'float32', [M], f32(b2)));
    replaced.set(conv.index, { ...editable(conv), inputs: [conv.inputs[0], wName, bName], outputs: [bn.outputs[0]] });
    replaced.set(bn.index, null);
    folded.push(bn.name);
  }
  if (folded.length === 0) return { graph, foldedBatchNorms: [] };
  const list: EditNode[] = [];
  for (const n of graph.nodes) {
    const r = replaced.get(n.index);
    if (r === undefined) list.push(editable(n));
    else if (r) list.push(r);
  }
  return { graph: rebuildGraph(graph, list, weights), foldedBatchNorms: folded };
}

/** Constants to weights, opset 21, BatchNormalizations folded. */
export function prepareForQuantization(graph: Graph): Prepared {
  return foldBatchNorms(upgradeOpset(constantsToWeights(graph)));
}
