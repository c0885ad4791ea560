/**
 * The cost model: the predicted time of a node on a processor is a roofline — the larger of its
 * compute time (FLOPs at the processor's peak rate for the element type, scaled by how much of the
 * peak that class of op reaches) and its memory time (bytes at the processor's bandwidth — its cache's
 * when they fit — scaled, for the streaming classes, by how much of it the class reaches) — plus a
 * per-node dispatch cost; a partition adds a launch overhead; a transfer costs the link's latency plus
 * bytes over its bandwidth. Every figure it returns is a prediction from the target's profile, never a
 * measurement, and it says what it cannot predict (control flow, ops whose work it does not know).
 *
 * The classes (each has one efficiency figure in a profile; see `opClass`):
 *  - conv, dwconv, matmul: compute-bound kernels; efficiency = fraction of the peak rate (dwconv:
 *    depthwise convolutions, and on onnxruntime's x86-64 CPU EP every convolution outside its blocked
 *    layout — see `runsBlocked` — which it runs through im2col and a GEMM per group);
 *  - elementwise: arithmetic per element (Add, Relu, Sigmoid, Softmax, normalizations…); memory-bound
 *    at the full bandwidth (these ops define it), and efficiency = fraction of the peak rate their
 *    arithmetic reaches (vector exp/tanh are far from the peak of a matrix product);
 *  - copy: streaming kernels that are not arithmetic per element — copies (Transpose, Concat, Slice,
 *    Gather, Resize…), pools and reductions; efficiency = fraction of the bandwidth;
 *  - reduce: reductions over a window of neighbours computed element by element in scalar code, with a
 *    fractional power per element (LRN, LpPool, LpNormalization: onnxruntime's CPU kernels call powf per
 *    element) — orders of magnitude slower per element than anything else, whether the tensor is in
 *    cache or not; efficiency = fraction of the peak their arithmetic reaches;
 *  - view (Reshape, Flatten…): dispatch only; control (If, Loop, Scan): see `predictNode`.
 */
import type { DType } from '../ir/dtype.js';
import type { Node } from '../ir/graph.js';
import type { ShapedGraph } from '../ir/infer.js';
import { opTraits, type OpClass } from '../ir/ops/traits.js';
import type { Link, Processor, Target } from './schema.js';

export type { OpClass };

/** The class of a node (its op's, from the op registry's traits; a convolution with one group per channel is depthwise). */
export function opClass(graph: ShapedGraph, node: Node): OpClass {
  const cls = opTraits(node.op).class;
  if (cls !== 'conv') return cls;
  const group = node.attrs.group?.type === 'int' ? node.attrs.group.value : 1;
  const c = graph.values.get(node.inputs[0])?.shape?.[1];
  return group > 1 && group === c ? 'dwconv' : 'conv';
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

/**
 * µs to move `bytes` for one node: as much as fits in the cache at the cache's bandwidth, the rest at the
 * memory's (a working set a little larger than the cache still finds most of itself there).
 */
function moveUs(proc: Processor, bytes: number): number {
  const cache = proc.cacheBytes && proc.cacheBandwidthGBs ? Math.min(bytes, proc.cacheBytes.value) : 0;
  return (cache ? cache / (proc.cacheBandwidthGBs!.value * 1e3) : 0) + (bytes - cache) / (proc.bandwidthGBs.value * 1e3);
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

/** The producer of a node's input when this node is its only consumer. */
function soleProducer(graph: ShapedGraph, name: string | undefined): Node | null {
  const v = name ? graph.values.get(name) : undefined;
  if (!v || v.producer < 0 || v.consumers.length !== 1) return null;
  return graph.nodes[v.producer];
}

/**
 * Backends fold into the convolution or matrix product that feeds a node alone what follows it:
 * a BatchNormalization and a per-channel Add or Mul of a constant given as its second input (into the
 * weights and bias, as onnxruntime's ConvAddFusion/ConvMulFusion do), an Add of a tensor of the
 * output's shape (the residual sum onnxruntime's NCHWc convolution and NPU compilers take), and then one
 * activation. Such a node costs only its dispatch. Returns the op it is folded into, or null.
 */
function fusedProducer(graph: ShapedGraph, node: Node, blocked = false): string | null {
  return fusedRoot(graph, node, blocked)?.op ?? null;
}

/**
 * The convolution or matrix product a node is folded into (see fusedProducer), or null. With `blocked`
 * (onnxruntime's CPU EP on x86-64), a residual sum folds only into a convolution that runs in the
 * blocked layout: its plain convolutions take no second summand.
 */
function fusedRoot(graph: ShapedGraph, node: Node, blocked = false, depth = 0): Node | null {
  if (depth > 3) return null;
  // what onnxruntime's optimizer fuses activations, batch norms and constant scales into (the op traits' fusion roots)
  const into = (p: Node | null): Node | null => (!p ? null : opTraits(p.op).fusionRoot ? p : fusedRoot(graph, p, blocked, depth + 1));
  const fusible = opTraits(node.op).fusible;
  if (fusible === 'activation' || fusible === 'batchnorm') {
    const p = soleProducer(graph, node.inputs[0]);
    // an activation after an activation is not fused (onnxruntime fuses one)
    return p && opTraits(p.op).fusible !== 'activation' ? into(p) : null;
  }
  if ((fusible === 'sum' || fusible === 'scale') && node.inputs.length === 2) {
    const out = graph.values.get(node.outputs[0])?.shape;
    for (const [k, name] of node.inputs.entries()) {
      const p = soleProducer(graph, name);
      const pt = p && opTraits(p.op);
      if (!p || !pt || pt.fusible === 'activation' || (!pt.fusionRoot && !pt.fusible)) continue;
      const other = graph.values.get(node.inputs[1 - k]);
      if (!other) continue;
      const mine = graph.values.get(name)?.shape;
      const constant = other.role === 'initializer' || graph.known.has(other.name);
      if (constant && k !== 0) continue; // the constant must be the second input
      // a constant folds into the weights when it is one value per output channel (or one value)
      const perChannel = constant && !!other.shape && other.shape.reduce<number>((a, d) => a * (typeof d === 'number' ? d : 0), 1) <= (typeof mine?.[1] === 'number' ? mine[1] : 1);
      // a residual sum: another activation of exactly the output's shape (Add only)
      const sum = fusible === 'sum' && !constant && !!out && !!mine && !!other.shape && sameShape(out, mine) && sameShape(out, other.shape);
      if (!perChannel && !sum) continue;
      if (pt.fusible === 'sum' && !perChannel) continue; // one residual sum per conv
      const f = into(p);
      if (f && sum && blocked && !(f.op === 'Conv' && runsBlocked(graph, f))) continue;
      if (f) return f;
    }
  }
  return null;
}

/**
 * onnxruntime's CPU EP on x86-64 runs convolutions (and the pools and channel concatenations between
 * them) in a blocked channel layout, NCHWc, and converts every tensor that crosses to or from an op that
 * does not take that layout (a standalone elementwise op, a Reshape, a Transpose, a grouped convolution
 * with odd channels per group…): one copy of the tensor each way (ReorderInput/ReorderOutput in its
 * profiles). onnxruntime's ARM builds, and other backends, keep one layout. Which processors: an 'ort:cpu'
 * one whose name says it is x86-64 (the host profile names its CPU; the built-in x86 laptop does).
 */
const X86 = /\b(x86|x64|x86-64|amd64|intel|xeon|core i\d|amd|epyc|ryzen)\b/i;
/** Channels come in blocks of 8 (AVX2) or 16 (AVX-512); 8 is what both take. */
const BLOCK = 8;
const BLOCKED_POOLS = new Set(['MaxPool', 'AveragePool', 'GlobalAveragePool', 'GlobalMaxPool']);

export function blockedLayout(proc: Processor): boolean {
  return proc.kind === 'cpu' && proc.backend === 'ort:cpu' && X86.test(proc.name);
}

function producerOf(graph: ShapedGraph, name: string): Node | null {
  const v = graph.values.get(name);
  return v && v.producer >= 0 ? graph.nodes[v.producer] : null;
}

const dim = (shape: readonly (number | string)[] | null | undefined, i: number): number => (typeof shape?.[i] === 'number' ? (shape[i] as number) : -1);

const blockedMemo = new WeakMap<ShapedGraph, Map<number, boolean>>();

/** Whether a node runs in onnxruntime's blocked layout (on a processor that has one); memoized per graph. */
function runsBlocked(graph: ShapedGraph, node: Node): boolean {
  let memo = blockedMemo.get(graph);
  if (!memo) blockedMemo.set(graph, (memo = new Map()));
  const known = memo.get(node.index);
  if (known !== undefined) return known;
  memo.set(node.index, false); // a cycle (there is none in a valid graph) reads as plain
  const r = decideBlocked(graph, node);
  memo.set(node.index, r);
  return r;
}

function decideBlocked(graph: ShapedGraph, node: Node): boolean {
  if (node.op === 'Conv') {
    const w = graph.values.get(node.inputs[1])?.shape, x = graph.values.get(node.inputs[0])?.shape;
    if (!w || w.length !== 4) return false; // 1-D and 3-D convolutions run plain
    const g = node.attrs.group?.type === 'int' ? node.attrs.group.value : 1;
    const cout = dim(w, 0), cinG = dim(w, 1), cin = dim(x, 1);
    if (cout <= 0 || cinG <= 0 || cin <= 0) return false;
    if (g === 1) return cout % BLOCK === 0 && (cin % BLOCK === 0 || cin < BLOCK); // a stem reads a few plain channels
    if (g === cin && cinG === 1) return cout === cin && cin % BLOCK === 0;
    return cinG % BLOCK === 0 && (cout / g) % BLOCK === 0;
  }
  if (BLOCKED_POOLS.has(node.op)) {
    const p = producerOf(graph, node.inputs[0]);
    return !!p && runsBlocked(graph, p);
  }
  if (node.op === 'Concat') {
    const axis = node.attrs.axis?.type === 'int' ? node.attrs.axis.value : 1;
    return axis === 1 && node.inputs.every((n) => {
      const p = producerOf(graph, n);
      return !!p && dim(graph.values.get(n)?.shape, 1) % BLOCK === 0 && runsBlocked(graph, p);
    });
  }
  const root = fusedRoot(graph, node, true);
  return !!root && root.op === 'Conv' && runsBlocked(graph, root);
}

/**
 * onnxruntime's x86-64 SGEMM (MLAS) packs the right-hand matrix in panels of 16 columns and computes
 * whole panels. A convolution outside the blocked layout is a GEMM per group whose columns are the
 * output positions, so one with few of them (a 1-D convolution over a short signal) does the
 * arithmetic of 16: the factor its FLOPs are scaled by.
 */
const SGEMM_COLUMNS = 16;
function gemmColumnPadding(graph: ShapedGraph, node: Node): number {
  const y = graph.values.get(node.outputs[0])?.shape;
  const n = numel(y?.slice(2));
  return n > 0 ? (Math.ceil(n / SGEMM_COLUMNS) * SGEMM_COLUMNS) / n : 1;
}

/** The inputs a node reads as activations (not weights nor folded constants). */
function dataInputs(graph: ShapedGraph, node: Node): string[] {
  if (node.op === 'Conv' || BLOCKED_POOLS.has(node.op)) return [node.inputs[0]];
  return node.inputs.filter((n) => {
    const v = n ? graph.values.get(n) : undefined;
    return !!v && v.role !== 'initializer' && !graph.known.has(n) && !!v.dtype && !!v.shape;
  });
}

/**
 * µs of layout conversions charged to a node: a tensor entering the blocked layout is converted once,
 * by its first blocked consumer; one leaving it, once, by its first plain consumer (or, for a graph
 * output, by the node that makes it). A conversion is a strided copy (priced as class 'copy').
 */
function layoutUs(proc: Processor, graph: ShapedGraph, node: Node): number {
  let bytes = 0;
  const blocked = runsBlocked(graph, node);
  const fused = !!fusedRoot(graph, node, true);
  // a convolution on a few channels (a stem) reads them in the plain layout
  const plainInput = blocked && node.op === 'Conv' && dim(graph.values.get(node.inputs[0])?.shape, 1) < BLOCK;
  for (const name of plainInput ? [] : dataInputs(graph, node)) {
    const v = graph.values.get(name)!;
    const p = v.producer >= 0 ? graph.nodes[v.producer] : null;
    if (fused && p && p.index === fusedRoot(graph, node, true)?.index) continue;
    const from = !!p && runsBlocked(graph, p);
    if (from === blocked) continue;
    // only the first consumer on this side converts it
    const first = v.consumers.find((c) => runsBlocked(graph, graph.nodes[c]) === blocked);
    if (first !== undefined && first !== node.index) continue;
    bytes += valueBytes(graph, name);
  }
  if (blocked) for (const o of node.outputs) if (o && graph.outputs.includes(o)) bytes += valueBytes(graph, o);
  return bytes ? moveUs(proc, 2 * bytes) / (proc.efficiency?.copy?.value ?? 1) : 0;
}

function sameShape(a: readonly (number | string)[], b: readonly (number | string)[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

function numel(shape: readonly (number | string)[] | null | undefined): number {
  if (!shape) return 0;
  let n = 1;
  for (const d of shape) n *= typeof d === 'number' ? d : 1;
  return n;
}

function valueBytes(graph: ShapedGraph, name: string): number {
  const v = graph.values.get(name);
  if (!v?.dtype || !v.shape) return 0;
  return numel(v.shape) * (BYTES[v.dtype] ?? 4);
}

const BYTES: Partial<Record<DType, number>> = { float64: 8, int64: 8, uint64: 8, float32: 4, int32: 4, uint32: 4, float16: 2, bfloat16: 2, int16: 2, uint16: 2, int8: 1, uint8: 1, bool: 1 };

/**
 * The work of a node as the cost model counts it: FLOPs and bytes from shape inference, except where
 * those miscount what a kernel does — a ConvTranspose does (Cout/group)·kh·kw multiply-adds per *input*
 * element, and a copy (Slice, Gather, Transpose, Concat…) moves what it writes, not all it could read.
 */
export function nodeWork(graph: ShapedGraph, index: number): { flops: number; bytes: number } {
  const node = graph.nodes[index];
  const c = graph.costs[index];
  if (node.op === 'ConvTranspose') {
    const x = graph.values.get(node.inputs[0])?.shape, w = graph.values.get(node.inputs[1])?.shape;
    if (x && w && typeof w[0] === 'number' && w[0] > 0) return { flops: 2 * numel(x) * (numel(w) / w[0]), bytes: c.bytes };
  }
  if (opTraits(node.op).movesOutput) {
    let out = 0;
    for (const o of node.outputs) if (o) out += valueBytes(graph, o);
    if (out > 0) return { flops: c.flops, bytes: Math.min(c.bytes, 2 * out) };
  }
  return c;
}

/** Predicted time of one node on a processor. */
export function predictNode(proc: Processor, graph: ShapedGraph, index: number): Prediction {
  const p = predictWork(proc, graph, index);
  if (!blockedLayout(proc)) return p;
  const layout = layoutUs(proc, graph, graph.nodes[index]);
  return layout ? { us: p.us + layout, basis: `${p.basis}; plus ${layout.toFixed(1)} µs converting tensors to or from the blocked (NCHWc) layout` } : p;
}

function predictWork(proc: Processor, graph: ShapedGraph, index: number): Prediction {
  const node = graph.nodes[index];
  let cls = opClass(graph, node);
  // a convolution onnxruntime cannot run in its blocked layout goes through im2col and a GEMM per group:
  // as slow per FLOP as a depthwise one, not as the dense blocked kernel
  const plainGemmConv = cls === 'conv' && node.op === 'Conv' && blockedLayout(proc) && !runsBlocked(graph, node);
  if (plainGemmConv) cls = 'dwconv';
  const overhead = proc.nodeOverheadUs?.value ?? 0;
  if (cls === 'view') return { us: overhead, basis: 'a view: dispatch only' };
  const fusedInto = fusedProducer(graph, node, blockedLayout(proc));
  if (fusedInto) return { us: overhead, basis: `fused into the ${fusedInto} before it` };
  if (cls === 'control') {
    const branches = graph.costs[index].branches;
    if (!branches?.length) return { us: overhead, basis: `cannot predict: ${node.op} runs a subgraph whose work depends on data; dispatch only` };
    // an If: its costlier branch, node by node (the data decides which branch really runs)
    const each = branches.map((b) => subgraphUs(proc, b));
    const k = each.indexOf(Math.max(...each));
    const setup = proc.kernelSetupUs?.[node.op]?.value ?? 0;
    return { us: overhead + setup + each[k], basis: `${node.op}: the costlier of its branches (${branches[k].nodes.length} nodes, priced one by one), assuming the data takes it` };
  }
  const work = nodeWork(graph, index);
  const c = plainGemmConv ? { ...work, flops: work.flops * gemmColumnPadding(graph, node) } : work;
  const dtype = nodeDtype(graph, node);
  const cd = computeDtype(proc, dtype);
  const bytes = cd === 'float16' && dtype === 'float32' ? c.bytes / 2 : c.bytes;
  // arithmetic classes reach a fraction of the peak rate; streaming ones a fraction of the bandwidth
  const eff = proc.efficiency?.[cls]?.value ?? 1;
  const streaming = cls === 'copy';
  const computeUs = c.flops / (peak(proc, cd) * (streaming ? 1 : eff) * 1e3);
  const memoryUs = moveUs(proc, bytes) / (streaming ? eff : 1);
  const setup = proc.kernelSetupUs?.[node.op]?.value ?? 0;
  const groups = groupCalls(proc, graph, node);
  const fixed = setup + groups * (proc.convGroupUs?.value ?? 0);
  return {
    us: overhead + fixed + Math.max(computeUs, memoryUs),
    basis: `${cls}: ${computeUs >= memoryUs ? 'compute' : 'memory'}-bound roofline${setup ? `, plus ${setup.toFixed(1)} µs of kernel set-up` : ''}${groups ? `, plus ${groups} groups computed one at a time` : ''}`,
  };
}

/** Whether the processor's backend is onnxruntime's CPU kernels (its CPU EP, or onnxruntime-web's wasm build of them), which compute some grouped convolutions group by group. */
export function convolvesGroupByGroup(proc: Pick<Processor, 'backend'>): boolean {
  return proc.backend === 'ort:cpu' || proc.backend === 'ort-web:wasm';
}

/**
 * How many groups a convolution is computed in one at a time, or 0: on onnxruntime's CPU kernels, a grouped
 * convolution that neither its blocked kernel nor its 2-D depthwise kernel takes is one GEMM per group.
 */
function groupCalls(proc: Processor, graph: ShapedGraph, node: Node): number {
  if (node.op !== 'Conv' || !convolvesGroupByGroup(proc) || !proc.convGroupUs) return 0;
  const group = node.attrs.group?.type === 'int' ? node.attrs.group.value : 1;
  if (group <= 1 || (blockedLayout(proc) && runsBlocked(graph, node))) return 0;
  const w = graph.values.get(node.inputs[1])?.shape;
  const depthwise2d = w?.length === 4 && w[1] === 1 && group === dim(graph.values.get(node.inputs[0])?.shape, 1);
  return depthwise2d ? 0 : group;
}

/**
 * Predicted µs of a subgraph run node by node. Nodes computed from weights alone cost nothing (backends
 * fold them when they load the model); shape arithmetic does cost its dispatch (inside a subgraph the
 * backend sees symbolic shapes, and runs it).
 */
function subgraphUs(proc: Processor, graph: ShapedGraph): number {
  let us = 0;
  for (const node of graph.nodes) {
    const outs = node.outputs.filter((o) => o !== '');
    if (outs.length && outs.every((o) => graph.values.get(o)?.isConst)) continue;
    us += predictNode(proc, graph, node.index).us;
  }
  return us;
}

export function nodeUs(proc: Processor, graph: ShapedGraph, index: number): number {
  return predictNode(proc, graph, index).us;
}

/**
 * Predicted µs of one launch on a processor that takes `tensors` tensors in and gives them back out
 * (the launch overhead is measured with one of each; each other one costs its binding).
 */
export function launchUs(proc: Processor, tensors = 2): number {
  return proc.launchOverheadUs.value + Math.max(0, tensors - 2) * (proc.tensorIoUs?.value ?? 0);
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
