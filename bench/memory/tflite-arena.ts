/**
 * The reference arena: TFLite's ArenaPlanner with its default "greedy by size" strategy, written here
 * independently of Tessera's planner (no import from src/passes) so the benchmark and the tests compare
 * against something the planner did not compute.
 *
 * An ONNX model's activations in the file's node order, as TFLite would plan them: every non-constant
 * tensor (graph inputs, node outputs) gets a buffer alive from the node that writes it (position 0 for a
 * graph input) to the last node that reads it (the end for a graph output; a tensor nobody reads dies
 * where it is written). Tensors are sorted by size, largest first (ties: earlier first), and each is
 * placed at the offset of the smallest gap, among the tensors already placed whose lifetimes intersect
 * its own, that fits it (best fit, as tflite/simple_memory_arena.cc); else after the last of them.
 * Offsets and sizes are 64-byte aligned (kDefaultTensorAlignment). No in-place, no reordering.
 */
import type { ShapedGraph } from '../../src/ir/infer.js';

export interface RefTensor {
  name: string;
  bytes: number;
  first: number;
  last: number;
}

const align64 = (n: number) => Math.ceil(n / 64) * 64;

/** Greedy by size, best fit: the arena size (bytes) and each tensor's offset. */
export function greedyBySizeArena(tensors: readonly RefTensor[]): { arena: number; offsets: Map<string, number> } {
  const order = tensors.map((t, i) => ({ t, i })).sort((a, b) => b.t.bytes - a.t.bytes || a.t.first - b.t.first || a.i - b.i);
  const placed: { off: number; t: RefTensor }[] = [];
  const offsets = new Map<string, number>();
  let arena = 0;
  for (const { t } of order) {
    const size = align64(t.bytes);
    if (size === 0) {
      offsets.set(t.name, 0);
      continue;
    }
    const live = placed.filter((p) => p.t.first <= t.last && t.first <= p.t.last).sort((a, b) => a.off - b.off);
    let cur = 0, best = -1, bestFit = Infinity;
    for (const p of live) {
      if (cur + size <= p.off && p.off - cur < bestFit) {
        best = cur;
        bestFit = p.off - cur;
      }
      cur = Math.max(cur, p.off + align64(p.t.bytes));
    }
    const off = best >= 0 ? best : cur;
    placed.push({ off, t });
    offsets.set(t.name, off);
    arena = Math.max(arena, off + size);
  }
  return { arena, offsets };
}

/** Bytes of a shaped value (static shape, known dtype). */
function valueBytes(graph: ShapedGraph, name: string): number {
  const v = graph.values.get(name)!;
  const shape = v.shape ?? [];
  const per: Record<string, number> = { float32: 4, float16: 2, int64: 8, int32: 4, int8: 1, uint8: 1, bool: 1, float64: 8, int16: 2, uint16: 2 };
  let n = 1;
  for (const d of shape) n *= typeof d === 'number' ? d : 1;
  return n * (per[v.dtype ?? 'float32'] ?? 4);
}

/** The tensors of a shaped graph in its file order (initializers and constants take no arena). */
export function fileOrderTensors(graph: ShapedGraph): RefTensor[] {
  const isConst = (name: string) => graph.values.get(name)?.isConst ?? false;
  const out = new Map<string, RefTensor>();
  const end = graph.nodes.length;
  for (const name of graph.inputs) if (!isConst(name)) out.set(name, { name, bytes: valueBytes(graph, name), first: 0, last: 0 });
  graph.nodes.forEach((node, pos) => {
    for (const r of node.inputs) {
      const t = r ? out.get(r) : undefined;
      if (t) t.last = Math.max(t.last, pos);
    }
    for (const o of node.outputs) if (o && !isConst(o)) out.set(o, { name: o, bytes: valueBytes(graph, o), first: pos, last: pos });
  });
  for (const o of graph.outputs) {
    const t = out.get(o);
    if (t) t.last = end;
  }
  return [...out.values()];
}

/** TFLite's greedy-by-size arena of an ONNX model's activations in its file order. */
export function tfliteArena(graph: ShapedGraph): number {
  return greedyBySizeArena(fileOrderTensors(graph)).arena;
}
