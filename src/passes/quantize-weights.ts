/**
 * Weights as DequantizeLinear of integers: int8/int16 symmetric per output channel, int4 block-wise along
 * the reduction axis (ONNX DequantizeLinear-21 `block_size`, the layout onnxruntime fuses into MatMulNBits)
 * or per channel. The weight-only schemes (w8, w4, mixed) are this pass alone; the int8 scheme uses its
 * helpers for the weights of a QDQ graph.
 */
import { TesseraError } from '../errors.js';
import type { Graph, Node } from '../ir/graph.js';
import type { Weight } from '../ir/weight.js';
import { dequantizeSymmetric, integerBytes, quantizeSymmetric, relativeError, type QuantType } from './quantize-math.js';
import { floatsOf } from './quantize-prepare.js';
import { weightAxes } from '../ir/ops/quantization.js';
import { editable, initializers, inlineWeight, intAttr, nameMaker, rebuildGraph, type EditNode } from './quantize-graph.js';

export type WeightBits = 4 | 8 | 16;

/** Where a weight sits: the op reading it, which input, and its axes. */
export interface WeightUse {
  /** The node that reads the weight (for a weight read inside a subgraph: the node in the subgraph). */
  node: string;
  op: string;
  weight: string;
  dims: readonly number[];
  /** The output-channel axis (one scale per index) — -1 when only one scale fits (a grouped ConvTranspose). */
  channelAxis: number;
  /** The reduction axis block-wise int4 cuts into blocks, or -1 where blocks do not apply. */
  blockAxis: number;
}

/** The weight input (index 1) of Conv, ConvTranspose, Gemm and MatMul, when it is a float32 weight of rank ≥ 2. */
export function weightUse(node: Pick<Node, 'op' | 'domain' | 'name' | 'inputs' | 'attrs'>, weights: ReadonlyMap<string, Weight>): WeightUse | null {
  const axes = node.domain === '' ? weightAxes(node.op, node.attrs, weights.get(node.inputs[1] ?? '')?.dims.length ?? 0) : null;
  const w = weights.get(node.inputs[1] ?? '');
  if (!axes || !w || w.dtype !== 'float32' || w.dims.length < 2) return null;
  return { node: node.name, op: node.op, weight: w.name, dims: w.dims, ...axes };
}

/** Whether int4 blocks of `blockSize` fit the weight's reduction axis (otherwise int4 could only be per channel). */
export function blockable(use: WeightUse, blockSize: number): boolean {
  return use.blockAxis >= 0 && use.dims[use.blockAxis] >= blockSize;
}

export interface WeightChoice {
  bits: WeightBits;
  /** For 4 bits: the block size along the reduction axis (0: per channel). */
  blockSize: number;
}

export interface QuantizedWeight {
  /** The weights (integers, scales, zero points) and the DequantizeLinear node that makes the float weight. */
  weights: Weight[];
  node: EditNode;
  /** Bytes of the quantized form (integers + scales + zero points) and of the float32 original. */
  bytes: number;
  floatBytes: number;
  /** ‖W − dequantized‖² / ‖W‖². */
  error: number;
  /** The scale per output channel (for a bias quantized with it), or one scale; null for block-wise. */
  channelScales: Float32Array | null;
  /** The axis of those scales in the weight (-1: one scale). */
  axis: number;
}

const TYPE: Record<WeightBits, QuantType> = { 4: 'int4', 8: 'int8', 16: 'int16' };

/** Quantizes one weight as `choice` says; `output` is the name the DequantizeLinear writes. */
export function quantizeWeight(w: Weight, use: WeightUse, choice: WeightChoice, output: string, fresh: (base: string) => string): QuantizedWeight {
  const type = TYPE[choice.bits];
  const data = floatsOf(w);
  // blocks along the reduction axis where it holds a block at least; per output channel otherwise (a depthwise Conv)
  const blocked = choice.bits === 4 && choice.blockSize > 0 && blockable(use, choice.blockSize);
  if (blocked && choice.blockSize < 16) throw new TesseraError('BAD_ARGUMENT', `block size ${choice.blockSize}: expected 16 or more`);
  const axis = blocked ? use.blockAxis : use.channelAxis;
  const q = quantizeSymmetric(data, w.dims, axis, type, blocked ? choice.blockSize : 0);
  const deq = dequantizeSymmetric(q, w.dims, axis, blocked ? choice.blockSize : 0);
  const qName = fresh(`${w.name}_${type}`), sName = fresh(`${w.name}_scale`);
  const weights: Weight[] = [
    inlineWeight(qName, type, w.dims, integerBytes(q.values, type)),
    inlineWeight(sName, 'float32', q.scaleDims, new Uint8Array(q.scales.buffer.slice(0))),
  ];
  const inputs = [qName, sName];
  // int8/int16 carry explicit zero points (zeros); int4 leaves them out (zero by default)
  if (type !== 'int4') {
    const zName = fresh(`${w.name}_zero_point`);
    weights.push(inlineWeight(zName, type, q.scaleDims, integerBytes(new Int32Array(q.scales.length), type)));
    inputs.push(zName);
  }
  const attrs: EditNode['attrs'] = {};
  if (axis >= 0) attrs.axis = intAttr(axis);
  if (blocked) attrs.block_size = intAttr(choice.blockSize);
  const node: EditNode = { name: fresh(`${w.name}_DequantizeLinear`), op: 'DequantizeLinear', domain: '', inputs, outputs: [output], attrs, outputTypes: ['float32'] };
  const bytes = weights.reduce((a, x) => a + Math.ceil((x.dims.reduce((p, d) => p * d, 1) * (x.dtype === 'float32' ? 32 : Number(x.dtype.replace(/\D/g, '')))) / 8), 0);
  return { weights, node, bytes, floatBytes: data.length * 4, error: relativeError(deq, data), channelScales: blocked ? null : q.scales, axis: blocked ? -1 : axis };
}

export interface LayerReport {
  node: string;
  op: string;
  weight: string;
  bits: WeightBits | 32;
  blockSize: number;
  bytes: number;
  floatBytes: number;
  /** Relative squared error of the weight itself. */
  weightError: number;
}

export interface WeightOnlyResult {
  graph: Graph;
  layers: LayerReport[];
}

/** Every quantizable weight use in the graph (top level), in node order; a weight read by two nodes counts once, at its first. */
export function weightUses(graph: Graph): WeightUse[] {
  const weights = initializers(graph);
  const seen = new Set<string>();
  const out: WeightUse[] = [];
  for (const n of graph.nodes) {
    const u = weightUse(n, weights);
    if (u && !seen.has(u.weight)) { seen.add(u.weight); out.push(u); }
  }
  return out;
}

/**
 * Weight-only quantization: each weight named in `choices` becomes DequantizeLinear(integers); all its
 * readers read the dequantized float. Weights read only inside subgraphs are given as `extraUses` (their
 * DequantizeLinear runs in the main graph, under the weight's own name, so the subgraph is untouched).
 */
export function quantizeWeightsOnly(graph: Graph, choices: ReadonlyMap<string, WeightChoice>, extraUses: readonly WeightUse[] = []): WeightOnlyResult {
  const weights = initializers(graph);
  const fresh = nameMaker(graph);
  const uses = [...weightUses(graph), ...extraUses.filter((u) => !weightUses(graph).some((x) => x.weight === u.weight))];
  const renamed = new Map<string, string>();
  const added: EditNode[] = [];
  const layers: LayerReport[] = [];
  for (const use of uses) {
    const choice = choices.get(use.weight);
    const w = weights.get(use.weight)!;
    if (!choice) {
      layers.push({ node: use.node, op: use.op, weight: use.weight, bits: 32, blockSize: 0, bytes: w.dims.reduce((a, b) => a * b, 4), floatBytes: w.dims.reduce((a, b) => a * b, 4), weightError: 0 });
      continue;
    }
    const subgraphOnly = extraUses.includes(use);
    const out = subgraphOnly ? use.weight : fresh(`${use.weight}_dq`);
    const q = quantizeWeight(w, use, choice, out, fresh);
    if (subgraphOnly) weights.delete(use.weight);
    else renamed.set(use.weight, out);
    q.weights.forEach((x) => weights.set(x.name, x));
    added.push(q.node);
    layers.push({ node: use.node, op: use.op, weight: use.weight, bits: choice.bits, blockSize: q.channelScales ? 0 : choice.blockSize, bytes: q.bytes, floatBytes: q.floatBytes, weightError: q.error });
  }
  const list: EditNode[] = [...added];
  for (const n of graph.nodes) {
    const e = editable(n);
    e.inputs = e.inputs.map((x) => renamed.get(x) ?? x);
    list.push(e);
  }
  return { graph: rebuildGraph(graph, list, weights), layers };
}
