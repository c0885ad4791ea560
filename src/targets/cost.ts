/**
 * The cost model: the predicted time of a node on a processor is a roofline — the larger of its
 * compute time (FLOPs at the processor's peak rate for the element type, scaled by how much of the
 * peak that class of op reaches) and its memory time (bytes at the processor's bandwidth — its cache's
 * when they fit — scaled, for memory-bound classes, by how much of it the class reaches) — plus a
 * per-node dispatch cost; a partition adds a launch overhead; a transfer costs the link's latency plus
 * bytes over its bandwidth. Every figure it returns is a prediction from the target's profile, never a
 * measurement, and it says what it cannot predict (control flow, ops whose work it does not know).
 */
import type { DType } from '../ir/dtype.js';
import type { Node } from '../ir/graph.js';
import type { ShapedGraph } from '../ir/infer.js';
import type { Link, Processor, Target } from './schema.js';

export type OpClass = 'conv' | 'dwconv' | 'matmul' | 'elementwise' | 'reduce' | 'copy' | 'view' | 'control';

const MATMUL = new Set(['MatMul', 'Gemm', 'LSTM', 'GRU', 'RNN', 'Attention', 'Einsum', 'MatMulInteger', 'QLinearMatMul']);
const REDUCE = new Set(['ReduceMean', 'ReduceSum', 'ReduceMax', 'ReduceMin', 'ReduceProd', 'ReduceL1', 'ReduceL2', 'ReduceLogSum', 'ReduceLogSumExp', 'ReduceSumSquare', 'GlobalAveragePool', 'GlobalMaxPool', 'MaxPool', 'AveragePool', 'LpPool', 'Softmax', 'LogSoftmax', 'LayerNormalization', 'LRN', 'InstanceNormalization', 'ArgMax', 'ArgMin', 'TopK']);
const COPY = new Set(['Transpose', 'Concat', 'Split', 'Slice', 'Gather', 'GatherElements', 'Pad', 'Resize', 'Upsample', 'Tile', 'Expand', 'DepthToSpace', 'SpaceToDepth', 'Cast']);
/** Ops that onnxruntime runs as views or no-ops: no data moves. */
const VIEW = new Set(['Reshape', 'Flatten', 'Squeeze', 'Unsqueeze', 'Identity', 'Dropout', 'Constant']);
const CONTROL = new Set(['If', 'Loop', 'Scan']);

export function opClass(graph: ShapedGraph, node: Node): OpClass {
  if (CONTROL.has(node.op)) return 'control';
  if (VIEW.has(node.op)) return 'view';
  if (node.op === 'Conv' || node.op === 'ConvTranspose') {
    const group = node.attrs.group?.type === 'int' ? node.attrs.group.value : 1;
    const c = graph.values.get(node.inputs[0])?.shape?.[1];
    return group > 1 && group === c ? 'dwconv' : 'conv';
  }
  if (MATMUL.has(node.op)) return 'matmul';
  if (REDUCE.has(node.op)) return 'reduce';
  if (COPY.has(node.op)) return 'copy';
  return 'elementwise';
}

/** The element type a processor computes a float32 node in (after legalization). */
export function computeDtype(proc: Processor, dtype: DType | null): DType | null {
  if (dtype === 'float32' && proc.support.legalizeFloat32To && !proc.support.dtypes.includes('float32')) {
    return proc.support.legalizeFloat32To as DType;
  }
  return dtype;
}

function peak(proc: Processor, dtype: DType | null): number {
  const p = proc.peakGflops;
  const f = (dtype && p[dtype]) || p.float32 || p.float16 || Object.values(p)[0];
  return f.value;
}

/** The bandwidth a node moving `bytes` sees: the cache's when they fit in it. */
function bandwidth(proc: Processor, bytes: number): number {
  if (proc.cacheBytes && proc.cacheBandwidthGBs && bytes <= proc.cacheBytes.value) return proc.cacheBandwidthGBs.value;
  return proc.bandwidthGBs.value;
}

/** The main element type of a node: its first typed output (or input). */
export function nodeDtype(graph: ShapedGraph, node: Node): DType | null {
  for (const n of [...node.outputs, ...node.inputs]) {
    const d = n ? graph.values.get(n)?.dtype : null;
    if (d) return d;
  }
  return null;
}

export interface Prediction {
  us: number;
  /** How the figure was reached, or what the model cannot see. */
  basis: string;
}

const PRODUCERS = new Set(['Conv', 'ConvTranspose', 'Gemm', 'MatMul']);
const FUSABLE = new Set(['Relu', 'Clip', 'LeakyRelu', 'Sigmoid', 'HardSigmoid', 'Tanh', 'BatchNormalization']);

/**
 * Backends fuse an activation (or a BatchNormalization) into the convolution or matrix product that
 * feeds it alone — onnxruntime's graph optimizer and NPU compilers alike: such a node costs only its
 * dispatch. Returns the op it is fused into, or null.
 */
function fusedProducer(graph: ShapedGraph, node: Node): string | null {
  if (!FUSABLE.has(node.op) || !node.inputs[0]) return null;
  const v = graph.values.get(node.inputs[0]);
  if (!v || v.producer < 0 || v.consumers.length !== 1) return null;
  const p = graph.nodes[v.producer];
  if (PRODUCERS.has(p.op)) return p.op;
  // Conv → BatchNormalization → Relu: both fold into the conv
  if (p.op === 'BatchNormalization' && node.op !== 'BatchNormalization') return fusedProducer(graph, p) ? 'Conv' : null;
  return null;
}

/** Predicted time of one node on a processor. */
export function predictNode(proc: Processor, graph: ShapedGraph, index: number): Prediction {
  const node = graph.nodes[index];
  const cls = opClass(graph, node);
  const overhead = proc.nodeOverheadUs?.value ?? 0;
  if (cls === 'view') return { us: overhead, basis: 'a view: dispatch only' };
  const fusedInto = fusedProducer(graph, node);
  if (fusedInto) return { us: overhead, basis: `fused into the ${fusedInto} before it` };
  const c = graph.costs[index];
  if (cls === 'control') {
    if (!c.innerNodes) return { us: overhead, basis: `cannot predict: ${node.op} runs a subgraph whose work depends on data; dispatch only` };
    // an If: its costlier branch, as a sequence of nodes (the data decides which branch really runs)
    const eff = proc.efficiency?.matmul?.value ?? 1;
    const us = overhead * (1 + c.innerNodes) + Math.max(c.flops / (peak(proc, nodeDtype(graph, node)) * eff * 1e3), c.bytes / (bandwidth(proc, c.bytes / c.innerNodes) * 1e3));
    return { us, basis: `${node.op}: its costlier branch (${c.innerNodes} nodes), assuming the data takes it` };
  }
  const dtype = nodeDtype(graph, node);
  const cd = computeDtype(proc, dtype);
  const bytes = cd === 'float16' && dtype === 'float32' ? c.bytes / 2 : c.bytes;
  // compute-bound classes reach a fraction of the peak rate; memory-bound ones a fraction of the bandwidth
  const eff = proc.efficiency?.[cls]?.value ?? 1;
  const memoryBound = cls === 'elementwise' || cls === 'reduce' || cls === 'copy';
  const computeUs = c.flops / (peak(proc, cd) * (memoryBound ? 1 : eff) * 1e3);
  const memoryUs = bytes / (bandwidth(proc, bytes) * (memoryBound ? eff : 1) * 1e3);
  return {
    us: overhead + Math.max(computeUs, memoryUs),
    basis: `${cls}: ${computeUs >= memoryUs ? 'compute' : 'memory'}-bound roofline`,
  };
}

export function nodeUs(proc: Processor, graph: ShapedGraph, index: number): number {
  return predictNode(proc, graph, index).us;
}

export function launchUs(proc: Processor): number {
  return proc.launchOverheadUs.value;
}

export function findLink(target: Target, from: string, to: string): Link | undefined {
  return target.links.find((l) => (l.from === from && l.to === to) || (l.from === to && l.to === from));
}

/** Predicted µs to move `bytes` between two processors' memories (through the CPU when there is no direct link). */
export function transferUs(target: Target, from: string, to: string, bytes: number): number {
  if (from === to) return 0;
  const link = findLink(target, from, to);
  if (link) return link.latencyUs.value + bytes / (link.bandwidthGBs.value * 1e3);
  const cpu = target.processors.find((p) => p.kind === 'cpu')!.id;
  return transferUs(target, from, cpu, bytes) + transferUs(target, cpu, to, bytes);
}

export function costSource(target: Target): string {
  return `cost model: ${target.name}`;
}
