/**
 * onnxruntime's cost hooks: where its CPU kernels run a node differently from the plain roofline of the
 * cost model (targets/cost.ts), as analyses of the graph the cost model prices with the processor's
 * figures. Registered with the ort:cpu and ort-web:wasm backends (registry.ts).
 *
 * - On x86-64 its CPU EP runs convolutions (and the pools and channel concatenations between them) in a
 *   blocked channel layout, NCHWc, and converts every tensor that crosses to or from an op that does not
 *   take that layout (a standalone elementwise op, a Reshape, a Transpose, a grouped convolution with odd
 *   channels per group…): one copy of the tensor each way (ReorderInput/ReorderOutput in its profiles).
 *   A convolution outside that layout runs through im2col and a GEMM per group (priced as a depthwise
 *   one), whose SGEMM computes whole panels of 16 output positions; and a residual sum folds only into a
 *   convolution in the blocked layout. onnxruntime's ARM builds, and other backends, keep one layout.
 * - Its CPU kernels (the CPU EP, and onnxruntime-web's wasm build of them) compute a grouped convolution
 *   that neither the blocked kernel nor the 2-D depthwise kernel takes one group at a time.
 */
import type { Node } from '../ir/graph.js';
import type { ShapedGraph } from '../ir/infer.js';
import { fusedRoot } from '../ir/fusion.js';
import { numel, valueBytes } from '../ir/sizes.js';
import { ORT_X86_NCHWC } from './ort-capabilities.js';
import type { EngineCost } from './registry.js';

const { block: BLOCK, sgemmColumns: SGEMM_COLUMNS } = ORT_X86_NCHWC;
const POOLS = new Set(ORT_X86_NCHWC.pools);

function producerOf(graph: ShapedGraph, name: string): Node | null {
  const v = graph.values.get(name);
  return v && v.producer >= 0 ? graph.nodes[v.producer] : null;
}

const dim = (shape: readonly (number | string)[] | null | undefined, i: number): number => (typeof shape?.[i] === 'number' ? (shape[i] as number) : -1);

const blockedMemo = new WeakMap<ShapedGraph, Map<number, boolean>>();

/** Whether a node runs in onnxruntime's blocked layout (on x86-64); memoized per graph. */
export function runsBlocked(graph: ShapedGraph, node: Node): boolean {
  let memo = blockedMemo.get(graph);
  if (!memo) blockedMemo.set(graph, (memo = new Map()));
  const known = memo.get(node.index);
  if (known !== undefined) return known;
  memo.set(node.index, false); // a cycle (there is none in a valid graph) reads as plain
  const r = decideBlocked(graph, node);
  memo.set(node.index, r);
  return r;
}

/** A residual sum folds only into a convolution in the blocked layout. */
const residualInto = (graph: ShapedGraph) => (root: Node) => root.op === 'Conv' && runsBlocked(graph, root);

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
  if (POOLS.has(node.op)) {
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
  const root = fusedRoot(graph, node, residualInto(graph));
  return !!root && root.op === 'Conv' && runsBlocked(graph, root);
}

/**
 * A convolution outside the blocked layout is a GEMM per group whose columns are the output positions:
 * one with few of them (a 1-D convolution over a short signal) does the arithmetic of a whole panel.
 */
function gemmColumnPadding(graph: ShapedGraph, node: Node): number {
  const y = graph.values.get(node.outputs[0])?.shape;
  const n = numel(y?.slice(2));
  return n > 0 ? (Math.ceil(n / SGEMM_COLUMNS) * SGEMM_COLUMNS) / n : 1;
}

/** The inputs a node reads as activations (not weights nor folded constants). */
function dataInputs(graph: ShapedGraph, node: Node): string[] {
  if (node.op === 'Conv' || POOLS.has(node.op)) return [node.inputs[0]];
  return node.inputs.filter((n) => {
    const v = n ? graph.values.get(n) : undefined;
    return !!v && v.role !== 'initializer' && !graph.known.has(n) && !!v.dtype && !!v.shape;
  });
}

/**
 * Bytes of layout conversions charged to a node: a tensor entering the blocked layout is converted once,
 * by its first blocked consumer; one leaving it, once, by its first plain consumer (or, for a graph
 * output, by the node that makes it).
 */
function layoutBytes(graph: ShapedGraph, node: Node): number {
  let bytes = 0;
  const blocked = runsBlocked(graph, node);
  const root = fusedRoot(graph, node, residualInto(graph));
  // a convolution on a few channels (a stem) reads them in the plain layout
  const plainInput = blocked && node.op === 'Conv' && dim(graph.values.get(node.inputs[0])?.shape, 1) < BLOCK;
  for (const name of plainInput ? [] : dataInputs(graph, node)) {
    const v = graph.values.get(name)!;
    const p = v.producer >= 0 ? graph.nodes[v.producer] : null;
    if (root && p && p.index === root.index) continue;
    const from = !!p && runsBlocked(graph, p);
    if (from === blocked) continue;
    // only the first consumer on this side converts it
    const first = v.consumers.find((c) => runsBlocked(graph, graph.nodes[c]) === blocked);
    if (first !== undefined && first !== node.index) continue;
    bytes += valueBytes(graph, name);
  }
  if (blocked) for (const o of node.outputs) if (o && graph.outputs.includes(o)) bytes += valueBytes(graph, o);
  return bytes;
}

/** Groups of a convolution computed one at a time: a grouped convolution that is not 2-D depthwise (and, on x86-64, not blocked). */
function groupCalls(graph: ShapedGraph, node: Node, blocked: boolean): number {
  if (node.op !== 'Conv') return 0;
  const group = node.attrs.group?.type === 'int' ? node.attrs.group.value : 1;
  if (group <= 1 || (blocked && runsBlocked(graph, node))) return 0;
  const w = graph.values.get(node.inputs[1])?.shape;
  const depthwise2d = w?.length === 4 && w[1] === 1 && group === dim(graph.values.get(node.inputs[0])?.shape, 1);
  return depthwise2d ? 0 : group;
}

/** onnxruntime's CPU kernels on x86-64 (its CPU EP there). */
export const ORT_X86_COST: EngineCost = {
  work: (graph, node) => (node.op === 'Conv' && !runsBlocked(graph, node) ? { cls: 'dwconv', flopsFactor: gemmColumnPadding(graph, node) } : undefined),
  residualInto: (graph, root) => residualInto(graph)(root),
  layoutBytes,
  groupCalls: (graph, node) => groupCalls(graph, node, true),
};

/** onnxruntime's CPU kernels elsewhere (its CPU EP on ARM, onnxruntime-web's wasm build of them). */
export const ORT_COST: EngineCost = {
  groupCalls: (graph, node) => groupCalls(graph, node, false),
};
