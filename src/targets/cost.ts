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
 *    layout, which it runs through im2col and a GEMM per group);
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
 * A quantized op in a full QDQ group (ir/qdq.ts) on a processor with rules for quantized work (an NPU) is
 * priced at the processor's integer rate — `peakGflops.int8` for 8-bit activations, `int16` for 16-bit —
 * moving one (two) bytes per element, half a byte per int4 weight (a8w4 computes at the int8 rate); its
 * QuantizeLinear/DequantizeLinear nodes are inside its kernel.
 * An op's class is a trait of the op registry (ir/ops/traits.ts). Where an engine runs a node otherwise
 * (onnxruntime's blocked x86-64 layout, its convolutions computed group by group), the cost hooks of the
 * backend the processor is lowered for (backends/ort-cost.ts, keyed by backend id) say how, and the cost
 * model prices it with the processor's figures.
 */
import { engineCost, type EngineCost } from '../backends/registry.js';
import type { DType } from '../ir/dtype.js';
import { fusedRoot } from '../ir/fusion.js';
import type { Node } from '../ir/graph.js';
import type { ShapedGraph } from '../ir/infer.js';
import { qdqRole } from '../ir/ops/quantization.js';
import { opTraits, type OpClass } from '../ir/ops/traits.js';
import { qdqGraph } from '../ir/qdq.js';
import { numel, valueBytes } from '../ir/sizes.js';
import type { Link, Processor, Target } from './schema.js';
import { storedDtype } from './storage.js';

export type { OpClass };

/** The class of a node (its op's, from the op registry's traits; a convolution with one group per channel is depthwise). */
export function opClass(graph: ShapedGraph, node: Node): OpClass {
  const cls = opTraits(node.op).class;
  if (cls !== 'conv') return cls;
  const group = node.attrs.group?.type === 'int' ? node.attrs.group.value : 1;
  const c = graph.values.get(node.inputs[0])?.shape?.[1];
  return group > 1 && group === c ? 'dwconv' : 'conv';
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
  const engine = engineCost(proc);
  const p = predictWork(proc, engine, graph, index);
  // an engine with a layout of its own converts the tensors crossing into and out of it: a strided copy each way
  const bytes = engine?.layoutBytes?.(graph, graph.nodes[index]) ?? 0;
  const layout = bytes ? moveUs(proc, 2 * bytes) / (proc.efficiency?.copy?.value ?? 1) : 0;
  return layout ? { us: p.us + layout, basis: `${p.basis}; plus ${layout.toFixed(1)} µs converting tensors to or from the blocked (NCHWc) layout` } : p;
}

function predictWork(proc: Processor, engine: EngineCost | undefined, graph: ShapedGraph, index: number): Prediction {
  const node = graph.nodes[index];
  let cls = opClass(graph, node);
  // how the engine really computes it (onnxruntime's x86-64 convolution outside its blocked layout: im2col
  // and a GEMM per group, as slow per FLOP as a depthwise one, in whole panels of output positions)
  const engineWork = cls === 'conv' ? engine?.work?.(graph, node) : undefined;
  if (engineWork) cls = engineWork.cls;
  const overhead = proc.nodeOverheadUs?.value ?? 0;
  if (cls === 'view') return { us: overhead, basis: 'a view: dispatch only' };
  const residual = engine?.residualInto;
  const fusedInto = fusedRoot(graph, node, residual && ((root) => residual(graph, root)))?.op;
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
  // a processor with rules for quantized work runs a full QDQ group on integers, its Q/DQ nodes inside the group's kernel
  const quantized = proc.support.quantized ? qdqGraph(graph) : undefined;
  if (quantized && qdqRole(node.op, node.domain)) return { us: overhead, basis: 'fused into its QDQ group (integer kernel)' };
  const group = quantized?.groups.get(index);
  const work = nodeWork(graph, index);
  const c = engineWork ? { ...work, flops: work.flops * engineWork.flopsFactor } : work;
  const dtype = nodeDtype(graph, node);
  const cd: DType | null = group ? (group.activations === 'uint16' ? 'int16' : 'int8') : dtype && storedDtype(proc, dtype);
  // a group moves its activations' integers, and its weight's: half a byte each for int4
  const int4 = group?.weights === 'int4' || group?.weights === 'uint4' ? numel(graph.values.get(node.inputs[1])?.shape ?? []) / 2 : 0;
  const bytes = group ? (c.bytes * (cd === 'int16' ? 2 : 1)) / 4 - int4 : cd === 'float16' && dtype === 'float32' ? c.bytes / 2 : c.bytes;
  // arithmetic classes reach a fraction of the peak rate; streaming ones a fraction of the bandwidth
  const eff = proc.efficiency?.[cls]?.value ?? 1;
  const streaming = cls === 'copy';
  const computeUs = c.flops / (peak(proc, cd) * (streaming ? 1 : eff) * 1e3);
  const memoryUs = moveUs(proc, bytes) / (streaming ? eff : 1);
  const setup = proc.kernelSetupUs?.[node.op]?.value ?? 0;
  const groups = proc.convGroupUs ? engine?.groupCalls?.(graph, node) ?? 0 : 0;
  const fixed = setup + groups * (proc.convGroupUs?.value ?? 0);
  return {
    us: overhead + fixed + Math.max(computeUs, memoryUs),
    basis: `${cls}${group ? ` (${cd}, a QDQ group)` : ''}: ${computeUs >= memoryUs ? 'compute' : 'memory'}-bound roofline${setup ? `, plus ${setup.toFixed(1)} µs of kernel set-up` : ''}${groups ? `, plus ${groups} groups computed one at a time` : ''}`,
  };
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
