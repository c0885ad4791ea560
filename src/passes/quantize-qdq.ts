/**
 * Static int8 quantization in QDQ form (onnxruntime's representation, which the QNN HTP EP takes as
 * quantized groups): each activation read or written by a quantized op gets QuantizeLinear →
 * DequantizeLinear with the scale and zero point of its calibrated range (uint8, or uint16, per tensor);
 * weights of Conv/ConvTranspose/Gemm/MatMul become int8 symmetric per output channel, their biases int32
 * with scale input-scale × weight-scale; other constant inputs of quantized ops take the activation type.
 * Which ops are quantized follows onnxruntime's QDQ registry; everything else stays float and is listed.
 */
import type { Graph, Node } from '../ir/graph.js';
import { hasChannelBias, qdqDataInputs, qdqSharesInputScale, QDQ_OPS } from '../ir/ops/quantization.js';
import type { Weight } from '../ir/weight.js';
import { affineParams, integerBytes, quantizeValue, qrange, roundHalfEven, type QParams, type QuantType } from './quantize-math.js';
import { floatsOf } from './quantize-prepare.js';
import { editable, initializers, inlineWeight, intAttr, nameMaker, rebuildGraph, type EditNode } from './quantize-graph.js';
import { quantizeWeight, weightUse, type QuantizedWeight } from './quantize-weights.js';

export { QDQ_OPS };

export interface Range { min: number; max: number }

export interface QdqOptions {
  /** Calibrated range of each float activation. */
  ranges: ReadonlyMap<string, Range>;
  activationType: 'uint8' | 'uint16';
  /** Activations quantized to uint16 whatever `activationType` says (those 8 bits would lose too much of). */
  wide?: ReadonlySet<string>;
  /** Nodes (by name) or op types to keep in float. */
  exclude?: ReadonlySet<string>;
}

export interface FloatNode { node: string; op: string; reason: string }

export interface QdqResult {
  graph: Graph;
  quantizedNodes: string[];
  floatNodes: FloatNode[];
  /** Activations given a Q/DQ pair. */
  quantizedActivations: number;
  weights: { node: string; weight: string; bytes: number; floatBytes: number; error: number }[];
}

const isFloat = (g: Graph, name: string) => g.values.get(name)?.dtype === 'float32';

export function insertQdq(graph: Graph, options: QdqOptions): QdqResult {
  const weights = initializers(graph);
  const fresh = nameMaker(graph);
  const aType: QuantType = options.activationType;
  const dataInputs = (n: Node) => { const d = qdqDataInputs(n.op) ?? []; return (d === 'all' ? n.inputs.map((_, i) => i) : d).filter((i) => n.inputs[i] && isFloat(graph, n.inputs[i])); };

  // 1. which nodes are quantized, and why the others are not
  const floatNodes: FloatNode[] = [];
  const quantized: Node[] = [];
  const whyFloat = (n: Node): string | null => {
    if (n.domain !== '' || !qdqDataInputs(n.op)) return `${n.op} is not among the quantized ops`;
    if (options.exclude?.has(n.name) || options.exclude?.has(n.op)) return 'kept float as asked';
    if (n.outputs.some((o) => o && !isFloat(graph, o))) return 'an output is not float32';
    if (dataInputs(n).length === 0) return 'no float data input';
    const tensors = [...dataInputs(n).map((i) => n.inputs[i]), ...n.outputs.filter(Boolean)];
    const unmeasured = tensors.find((t) => !graph.values.get(t)!.isConst && !options.ranges.has(t));
    return unmeasured ? `no calibrated range for '${unmeasured}'` : null;
  };
  for (const n of graph.nodes) {
    const reason = whyFloat(n);
    if (!reason) quantized.push(n);
    // nodes with no float32 tensor at all (shape arithmetic) are not listed
    else if ([...n.inputs, ...n.outputs].some((t) => t && isFloat(graph, t))) floatNodes.push({ node: n.name, op: n.op, reason });
  }
  const quantizedSet = new Set(quantized.map((n) => n.index));

  // 2. activation parameters: calibrated, or the input's for ops that only move data
  const params = new Map<string, QParams>();
  const paramsOf = (t: string): QParams | undefined => {
    let p = params.get(t);
    if (!p) {
      const r = options.ranges.get(t);
      if (!r) return undefined;
      p = affineParams(r.min, r.max, options.wide?.has(t) ? 'uint16' : aType);
      params.set(t, p);
    }
    return p;
  };
  // a tensor that only moves data takes its input's type with its parameters
  const typeOf = (t: string): 'uint8' | 'uint16' => {
    for (let v = graph.values.get(t); v; ) {
      if (options.wide?.has(v.name)) return 'uint16';
      const p = v.producer >= 0 ? graph.nodes[v.producer] : undefined;
      v = p && quantizedSet.has(p.index) && qdqSharesInputScale(p.op) ? graph.values.get(p.inputs[0]) : undefined;
    }
    return options.activationType;
  };
  const toQuantize = new Set<string>();
  for (const n of quantized) {
    for (const i of dataInputs(n)) if (!graph.values.get(n.inputs[i])!.isConst) toQuantize.add(n.inputs[i]);
    for (const o of n.outputs) if (o && isFloat(graph, o)) toQuantize.add(o);
  }
  for (const n of graph.nodes) { // node order is topological: an input's parameters are settled before its output's
    if (!quantizedSet.has(n.index) || !qdqSharesInputScale(n.op)) continue;
    const p = paramsOf(n.inputs[0]);
    if (p) for (const o of n.outputs) if (o && isFloat(graph, o) && typeOf(o) === typeOf(n.inputs[0])) params.set(o, p);
  }

  // 3. a Q/DQ pair per activation; every reader reads the dequantized value
  const list: EditNode[] = [];
  const readAs = new Map<string, string>();
  const producerRename = new Map<string, string>();
  const scalar = (base: string, dtype: 'float32' | QuantType, value: number) => {
    const w = inlineWeight(fresh(base), dtype, [], dtype === 'float32' ? new Uint8Array(Float32Array.of(value).buffer) : integerBytes([value], dtype as QuantType));
    weights.set(w.name, w);
    return w.name;
  };
  for (const t of toQuantize) {
    const p = paramsOf(t)!;
    const isOutput = graph.outputs.includes(t);
    const source = isOutput ? fresh(`${t}_float`) : t;
    if (isOutput) producerRename.set(t, source);
    const type = typeOf(t);
    const s = scalar(`${t}_scale`, 'float32', p.scale), z = scalar(`${t}_zero_point`, type, p.zeroPoint);
    const q = fresh(`${t}_QuantizeLinear_Output`), dq = isOutput ? t : fresh(`${t}_DequantizeLinear_Output`);
    list.push({ name: fresh(`${t}_QuantizeLinear`), op: 'QuantizeLinear', domain: '', inputs: [source, s, z], outputs: [q], attrs: {}, outputTypes: [type] });
    list.push({ name: fresh(`${t}_DequantizeLinear`), op: 'DequantizeLinear', domain: '', inputs: [q, s, z], outputs: [dq], attrs: {}, outputTypes: ['float32'] });
    if (!isOutput) readAs.set(t, dq);
  }

  // 4. weights, biases and other constant inputs of the quantized nodes
  const report: QdqResult['weights'] = [];
  const weightCache = new Map<string, QuantizedWeight & { output: string }>();
  const constCache = new Map<string, string>();
  const quantizeConst = (name: string): string => {
    let out = constCache.get(name);
    if (out) return out;
    const w = weights.get(name);
    if (!w || w.dtype !== 'float32') return name;
    const data = floatsOf(w);
    let lo = 0, hi = 0;
    for (const x of data) { lo = Math.min(lo, x); hi = Math.max(hi, x); }
    const p = affineParams(lo, hi, aType);
    const [qmin, qmax] = qrange(aType);
    const qName = fresh(`${name}_quantized`);
    weights.set(qName, inlineWeight(qName, aType as Weight['dtype'], w.dims, integerBytes(Array.from(data, (x) => quantizeValue(x, p.scale, p.zeroPoint, qmin, qmax)), aType)));
    out = fresh(`${name}_DequantizeLinear_Output`);
    list.push({ name: fresh(`${name}_DequantizeLinear`), op: 'DequantizeLinear', domain: '', inputs: [qName, scalar(`${name}_scale`, 'float32', p.scale), scalar(`${name}_zero_point`, aType, p.zeroPoint)], outputs: [out], attrs: {}, outputTypes: ['float32'] });
    constCache.set(name, out);
    return out;
  };
  for (const n of graph.nodes) {
    const e = editable(n);
    e.outputs = e.outputs.map((o) => producerRename.get(o) ?? o);
    e.inputs = e.inputs.map((x) => readAs.get(x) ?? x);
    if (quantizedSet.has(n.index)) {
      const use = weightUse(n, weights);
      let wq: (QuantizedWeight & { output: string }) | undefined;
      if (use) {
        wq = weightCache.get(use.weight);
        if (!wq) {
          const output = fresh(`${use.weight}_DequantizeLinear_Output`);
          wq = { ...quantizeWeight(weights.get(use.weight)!, use, { bits: 8, blockSize: 0 }, output, fresh), output };
          wq.weights.forEach((x) => weights.set(x.name, x));
          list.push(wq.node);
          weightCache.set(use.weight, wq);
          report.push({ node: n.name, weight: use.weight, bytes: wq.bytes, floatBytes: wq.floatBytes, error: wq.error });
        }
        e.inputs[1] = wq.output;
      }
      const bias = hasChannelBias(n.op) ? n.inputs[2] : undefined;
      const inScale = paramsOf(n.inputs[0])?.scale;
      if (bias && wq && inScale !== undefined && weights.get(bias)?.dtype === 'float32' && weights.get(bias)!.dims.length === 1) {
        e.inputs[2] = quantizeBias(weights.get(bias)!, inScale, wq, fresh, weights, list);
      }
      for (const i of dataInputs(n)) {
        if (i === 1 && use) continue;
        if (weights.has(n.inputs[i])) e.inputs[i] = quantizeConst(n.inputs[i]);
      }
      if (bias && e.inputs[2] === bias && weights.has(bias)) e.inputs[2] = quantizeConst(bias);
    }
    list.push(e);
  }
  return { graph: rebuildGraph(graph, list, weights), quantizedNodes: quantized.map((n) => n.name), floatNodes, quantizedActivations: toQuantize.size, weights: report };
}

/** A bias as int32 with scale input-scale × weight-scale (per channel when the weight is), zero point 0. */
function quantizeBias(b: Weight, inScale: number, wq: QuantizedWeight, fresh: (s: string) => string, weights: Map<string, Weight>, list: EditNode[]): string {
  const data = floatsOf(b);
  const ws = wq.channelScales!;
  const perChannel = ws.length === data.length && wq.axis >= 0;
  const scales = Float32Array.from(perChannel ? ws : [ws[0]], (s) => Math.fround(inScale * s));
  const values = Array.from(data, (x, i) => roundHalfEven(x / scales[perChannel ? i : 0]));
  const qName = fresh(`${b.name}_int32`), sName = fresh(`${b.name}_scale`), zName = fresh(`${b.name}_zero_point`);
  const dims = perChannel ? [data.length] : [];
  weights.set(qName, inlineWeight(qName, 'int32', b.dims, integerBytes(values, 'int32')));
  weights.set(sName, inlineWeight(sName, 'float32', dims, new Uint8Array(scales.buffer)));
  weights.set(zName, inlineWeight(zName, 'int32', dims, integerBytes(new Array(scales.length).fill(0), 'int32')));
  const out = fresh(`${b.name}_DequantizeLinear_Output`);
  list.push({ name: fresh(`${b.name}_DequantizeLinear`), op: 'DequantizeLinear', domain: '', inputs: [qName, sName, zName], outputs: [out], attrs: perChannel ? { axis: intAttr(0) } : {}, outputTypes: ['float32'] });
  return out;
}
