/**
 * The QDQ groups of a graph (onnxruntime's "node units", as the QNN HTP EP takes them): a quantized op with
 * the DequantizeLinear nodes that make its float data inputs and the QuantizeLinear nodes that read its
 * outputs. A group is full when every float data input comes out of a DequantizeLinear and every float
 * output goes only into QuantizeLinear nodes; then the op computes on integers (an NPU runs it at its
 * integer rate, onnxruntime's CPU EP fuses it into a QLinear kernel). The values inside groups — what a
 * DequantizeLinear makes and what a QuantizeLinear reads — are exact in float32 and are never legalized to
 * another float type. Computed once per graph.
 */
import type { DType } from './dtype.js';
import type { Graph, Node } from './graph.js';
import { qdqDataInputs, qdqRole, weightAxes } from './ops/quantization.js';

export interface QdqGroup {
  /** The DequantizeLinear nodes making its float data inputs (weights' included), and the QuantizeLinear nodes reading its outputs. */
  dequantize: number[];
  quantize: number[];
  /** Its activations' integer type (the widest of its inputs' and outputs'), its weight's when it has one. */
  activations: DType;
  weights?: DType;
}

export interface QdqGraph {
  /** Values inside QDQ groups: every DequantizeLinear's output and every float value a QuantizeLinear reads. */
  values: ReadonlySet<string>;
  /** Quantized ops in full groups, by node index. */
  groups: ReadonlyMap<number, QdqGroup>;
  /** Quantized ops touching Q/DQ nodes but not in a full group, by node index, with what is missing. */
  partial: ReadonlyMap<number, string>;
}

const EMPTY: QdqGraph = { values: new Set(), groups: new Map(), partial: new Map() };
const memo = new WeakMap<Graph, QdqGraph>();

const width = (t: DType | null | undefined) => (t === 'uint16' || t === 'int16' ? 16 : 8);

/** The QDQ groups of a graph (empty for a graph with no QuantizeLinear/DequantizeLinear). */
export function qdqGraph(graph: Graph): QdqGraph {
  let r = memo.get(graph);
  if (r) return r;
  r = analyse(graph);
  memo.set(graph, r);
  return r;
}

function analyse(graph: Graph): QdqGraph {
  const role = (n: Node) => qdqRole(n.op, n.domain);
  if (!graph.nodes.some(role)) return EMPTY;
  const values = new Set<string>();
  const producer = (name: string) => { const p = graph.values.get(name)?.producer ?? -1; return p >= 0 ? graph.nodes[p] : undefined; };
  for (const n of graph.nodes) {
    if (role(n) === 'dequantize' && n.outputs[0]) values.add(n.outputs[0]);
    if (role(n) === 'quantize' && n.inputs[0]) values.add(n.inputs[0]);
  }
  const groups = new Map<number, QdqGroup>();
  const partial = new Map<number, string>();
  const isFloat = (name: string) => graph.values.get(name)?.dtype === 'float32';
  for (const n of graph.nodes) {
    const data = qdqDataInputs(n.op);
    if (n.domain !== '' || !data || role(n)) continue;
    const inputs = (data === 'all' ? n.inputs.map((_, i) => i) : data).filter((i) => n.inputs[i] && isFloat(n.inputs[i]));
    const outputs = n.outputs.filter((o) => o && isFloat(o));
    const dq = inputs.map((i) => producer(n.inputs[i]));
    const readers = outputs.map((o) => graph.values.get(o)!.consumers.map((c) => graph.nodes[c]));
    // quantized: it reads something dequantized (a weight too) or its output is quantized
    const touches = n.inputs.some((x) => { const p = x ? producer(x) : undefined; return p && role(p) === 'dequantize'; }) || readers.some((rs) => rs.some((c) => role(c) === 'quantize'));
    if (!touches || inputs.length === 0) continue;
    const floatIn = inputs.find((_, k) => !dq[k] || role(dq[k]!) !== 'dequantize');
    const floatOut = outputs.find((o, k) => graph.outputs.includes(o) || readers[k].length === 0 || readers[k].some((c) => role(c) !== 'quantize'));
    if (floatIn !== undefined) { partial.set(n.index, `its input '${n.inputs[floatIn]}' is float, not dequantized`); continue; }
    if (floatOut !== undefined) { partial.set(n.index, `its output '${floatOut}' is read as float, not quantized`); continue; }
    const quantize = readers.flat().map((c) => c.index);
    // every input made by a DequantizeLinear belongs to the group: the data inputs, and a weight's and bias's too
    const dequantize = n.inputs.map((x) => (x ? producer(x) : undefined)).filter((p): p is Node => !!p && role(p) === 'dequantize');
    const w1 = n.inputs[1] ? producer(n.inputs[1]) : undefined;
    const w = weightAxes(n.op, n.attrs, 2) && w1 && role(w1) === 'dequantize' && graph.values.get(w1.inputs[0])?.isConst ? w1 : undefined;
    const activationTypes = [...dq.filter((p) => p !== w).map((p) => graph.values.get(p!.inputs[0])?.dtype), ...quantize.map((c) => graph.values.get(graph.nodes[c].outputs[0])?.dtype)];
    const activations: DType = activationTypes.some((t) => width(t) === 16) ? 'uint16' : 'uint8';
    const weights = w ? graph.values.get(w.inputs[0])?.dtype ?? undefined : undefined;
    groups.set(n.index, { dequantize: [...new Set(dequantize.map((p) => p.index))], quantize: [...new Set(quantize)], activations, ...(weights ? { weights } : {}) });
  }
  return { values, groups, partial };
}

/** The tensors a constant is held as where it is read: a dequantized weight as its integer tensor, scale and zero point (lowering keeps its DequantizeLinear); any other constant as itself. */
export function heldAs(graph: Graph, name: string): string[] {
  const v = graph.values.get(name);
  const p = v && v.isConst && v.producer >= 0 ? graph.nodes[v.producer] : undefined;
  return p && qdqRole(p.op, p.domain) === 'dequantize' ? p.inputs.filter(Boolean) : [name];
}

/** A group's precision as Qualcomm writes it: activation bits and weight bits ('a8w8', 'a16w8', 'a8w4'; 'a8' without a weight). */
export function groupPrecision(g: QdqGroup): string {
  const wbits = g.weights === 'int4' || g.weights === 'uint4' ? 4 : g.weights ? width(g.weights) : 0;
  return `a${width(g.activations)}${wbits ? `w${wbits}` : ''}`;
}
