/**
 * Identity rewrites that lower peak activation memory (the graph rewriting of SERENITY, MLSys 2020):
 * the result computes the same function up to float rounding, but lets the order free memory sooner.
 *
 * - sum-chain: `Sum(x1..xk)` (k ≥ 3, no broadcasting) becomes a chain of `Add`s in the order the inputs
 *   are produced, so each input can be added, and freed, as soon as it exists instead of all k waiting
 *   for the last one; each `Add` may write over its accumulator.
 * - concat-conv: `Conv(U(Concat(x1..xk, axis=1)))`, U an optional elementwise unary op, becomes
 *   `Conv1(U(x1)) + … + Convk(U(xk))` with the weight split along its input channels (the bias goes to
 *   the first): convolution is linear in its input channels, so the concatenation is never built and each
 *   part is consumed, and freed, on its own.
 * - spatial-tile: a region of ops local along the image height runs as T row tiles (tile.ts), so its
 *   intermediate activations exist a band at a time; tile counts chosen by the planned arena.
 *
 * Rewriting changes the node list, so a plan compiled from a rewritten graph records which rewrites it
 * applied and whoever runs it applies the same (deterministic) rewrites to the model first.
 */
import { byteSize } from '../ir/dtype.js';
import { TesseraError } from '../errors.js';
import { earliestFirstOrder, nodeReads, topoOrder, type Graph, type Node, type Value } from '../ir/graph.js';
import { inferShapes, type Prober, type ShapedGraph } from '../ir/infer.js';
import { weightBytes, type Weight } from '../ir/weight.js';
import { opTraits } from '../ir/ops/traits.js';
import { REWRITES, type Rewrite } from '../plan/schema.js';
import { tileForMemory, type NewNode, type TileChoice, type ValueType } from './tile.js';

export { REWRITES, type Rewrite };

export interface RewriteResult {
  graph: Graph;
  /** How many places each rewrite changed. */
  applied: Record<Rewrite, number>;
  /** The spatial tiling chosen (a plan records it, so that running the plan does not search again). */
  tiles: TileChoice[];
}

const sameShape = (a: Value | undefined, b: Value | undefined) =>
  !!a?.shape && !!b?.shape && a.dtype === b.dtype && a.shape.length === b.shape.length && a.shape.every((d, i) => typeof d === 'number' && d === b.shape![i]);

/** The channel slice [from, from+count) of a weight [M, C, ...k] along axis 1, as a new inline weight. */
function sliceInputChannels(w: Weight, name: string, from: number, count: number): Weight {
  const [M, C, ...k] = w.dims;
  const inner = k.reduce((a, b) => a * b, 1);
  const el = byteSize(w.dtype, 1);
  const src = weightBytes(w);
  const out = new Uint8Array(M * count * inner * el);
  const rowIn = C * inner * el, rowOut = count * inner * el;
  for (let m = 0; m < M; m++) out.set(src.subarray(m * rowIn + from * inner * el, m * rowIn + (from + count) * inner * el), m * rowOut);
  return { name, dtype: w.dtype, dims: [M, count, ...k], source: { kind: 'inline', bytes: out } };
}

/** The data of a weight: an initializer, a Constant's tensor, or a ConstantOfShape's fill (null when it is anything else). */
function weightOf(graph: Graph, name: string): Weight | null {
  const v = graph.values.get(name);
  if (!v || !v.isConst) return null;
  const p = v.producer >= 0 ? graph.nodes[v.producer] : undefined;
  let w: Weight | undefined;
  if (v.role === 'initializer') w = v.initializer;
  else if (p?.op === 'Constant' && p.attrs.value?.type === 'tensor') w = p.attrs.value.value;
  else if (p?.op === 'ConstantOfShape' && v.shape && v.shape.every((d) => typeof d === 'number') && v.dtype) {
    // filled with the node's value (default float 0): materialized, as the slices have other shapes
    const fill = p.attrs.value?.type === 'tensor' ? weightBytes(p.attrs.value.value) : new Uint8Array(byteSize(v.dtype, 1));
    const count = (v.shape as number[]).reduce((a, b) => a * b, 1);
    const bytes = new Uint8Array(count * fill.length);
    for (let i = 0; i < count; i++) bytes.set(fill, i * fill.length);
    w = { name, dtype: p.attrs.value?.type === 'tensor' ? p.attrs.value.value.dtype : v.dtype, dims: v.shape as number[], source: { kind: 'inline', bytes } };
  }
  return w && w.source.kind !== 'strings' && w.dims.length >= 3 ? w : null;
}

/**
 * The last result per graph: compile asks for all rewrites, then applies those that changed something;
 * leaving out rewrites that changed nothing gives the same graph, so the tiling search is not run twice.
 */
const lastResult = new WeakMap<Graph, { which: readonly Rewrite[]; result: RewriteResult }>();

/**
 * Applies the memory rewrites to a shaped graph; returns a plain Graph (infer its shapes again) and what
 * changed. `tileCount` forces the spatial tiling's count instead of choosing it by memory (for tests);
 * `tiles` applies a spatial tiling chosen before (a plan's) instead of searching.
 */
export function rewriteForMemory(graph: ShapedGraph, which: readonly Rewrite[] = REWRITES, options: { tileCount?: number; tiles?: readonly TileChoice[] } = {}): RewriteResult {
  const searched = options.tileCount === undefined && options.tiles === undefined;
  const last = searched ? lastResult.get(graph) : undefined;
  if (last && which.every((r) => last.which.includes(r)) && last.which.every((r) => which.includes(r) || last.result.applied[r] === 0)) {
    return { graph: last.result.graph, applied: { ...last.result.applied }, tiles: [...last.result.tiles] };
  }
  const result = rewrite(graph, which, options.tileCount, options.tiles);
  if (searched) lastResult.set(graph, { which: [...which], result });
  return result;
}

function rewrite(graph: ShapedGraph, which: readonly Rewrite[], tileCount: number | undefined, tiles: readonly TileChoice[] | undefined): RewriteResult {
  const applied: Record<Rewrite, number> = { 'sum-chain': 0, 'concat-conv': 0, 'spatial-tile': 0 };
  const position = new Map((topoOrder(graph) ?? graph.nodes.map((n) => n.index)).map((n, i) => [n, i]));
  const producedAt = (name: string) => { const p = graph.values.get(name)!.producer; return p < 0 ? -1 : position.get(p)!; };
  const outputs = new Set(graph.outputs);
  const used = new Set(graph.values.keys());
  for (const n of graph.nodes) used.add(n.name);
  const fresh = (base: string) => {
    let k = 0, name: string;
    do name = `${base}__rw${k++}`;
    while (used.has(name));
    used.add(name);
    return name;
  };
  const newWeights: Weight[] = [];
  /** Types of the new values (each like an existing one), so the tiling can work on the result before shapes are inferred again. */
  const types = new Map<string, ValueType>();
  const like = (name: string, as: string) => {
    const v = graph.values.get(as)!;
    if (v.dtype && v.shape?.every((d) => typeof d === 'number')) types.set(name, { dtype: v.dtype, shape: v.shape as number[] });
    return name;
  };
  /** Per original node: the nodes replacing it (placed where it was); absent: kept; empty: removed. */
  const replace = new Map<number, NewNode[]>();

  const addChain = (base: string, terms: string[], out: string, nodes: NewNode[]) => {
    let acc = terms[0];
    terms.slice(1).forEach((t, i) => {
      const y = i === terms.length - 2 ? out : like(fresh(`${out}_acc`), out);
      nodes.push({ op: 'Add', name: fresh(`${base}_add`), inputs: [acc, t], outputs: [y], attrs: {} });
      acc = y;
    });
  };

  if (which.includes('sum-chain')) {
    for (const node of graph.nodes) {
      if (node.op !== 'Sum' || node.domain !== '' || node.inputs.length < 3 || node.inputs.includes('')) continue;
      const out = graph.values.get(node.outputs[0]);
      if (!node.inputs.every((x) => sameShape(graph.values.get(x), out) && !graph.values.get(x)!.isConst)) continue;
      const terms = [...node.inputs].map((x, i) => ({ x, i })).sort((a, b) => producedAt(a.x) - producedAt(b.x) || a.i - b.i).map((t) => t.x);
      const nodes: NewNode[] = [];
      addChain(node.name, terms, node.outputs[0], nodes);
      replace.set(node.index, nodes);
      applied['sum-chain']++;
    }
  }

  if (which.includes('concat-conv')) {
    for (const cat of graph.nodes) {
      if (cat.op !== 'Concat' || cat.domain !== '' || replace.has(cat.index)) continue;
      const y = graph.values.get(cat.outputs[0])!;
      const rank = y.shape?.length ?? 0;
      const axis = cat.attrs.axis?.type === 'int' ? cat.attrs.axis.value : NaN;
      if (rank < 3 || (axis !== 1 && axis !== 1 - rank) || outputs.has(y.name) || y.consumers.length === 0) continue;
      const parts = cat.inputs.map((x) => graph.values.get(x));
      if (cat.inputs.includes('') || parts.some((v) => !v?.shape || typeof v.shape[1] !== 'number' || v.isConst)) continue;
      // each consumer: Conv(concat) or Conv(U(concat)), the Conv's weight an initializer, one group
      const asConv = (c: Node, x: string): Node | null => {
        if (c.op !== 'Conv' || c.domain !== '' || c.inputs[0] !== x || c.inputs.slice(1).includes(x) || replace.has(c.index)) return null;
        const group = c.attrs.group?.type === 'int' ? c.attrs.group.value : 1;
        return group === 1 && weightOf(graph, c.inputs[1]) ? c : null;
      };
      const chainOf = (u: Node): { conv: Node; unary?: Node } | null => {
        const direct = asConv(u, y.name);
        if (direct) return { conv: direct };
        if (opTraits(u.op).inplace !== 'first' || u.domain !== '' || u.inputs.length !== 1 || u.outputs.length !== 1 || replace.has(u.index)) return null;
        const v = graph.values.get(u.outputs[0])!;
        if (outputs.has(v.name) || v.consumers.length !== 1) return null;
        const conv = asConv(graph.nodes[v.consumers[0]], v.name);
        return conv ? { conv, unary: u } : null;
      };
      const chains = [...new Set(y.consumers)].map((c) => chainOf(graph.nodes[c]));
      if (chains.some((c) => c === null)) continue;
      replace.set(cat.index, []);
      for (const ch of chains as { conv: Node; unary?: Node }[]) {
        const { conv, unary } = ch;
        const w = weightOf(graph, conv.inputs[1])!;
        const bias = conv.inputs[2] ?? '';
        const nodes: NewNode[] = [];
        const terms: string[] = [];
        let from = 0;
        cat.inputs.forEach((x, i) => {
          const c = graph.values.get(x)!.shape![1] as number;
          let src = x;
          if (unary) {
            src = like(fresh(`${unary.outputs[0]}_part`), x);
            nodes.push({ op: unary.op, name: fresh(`${unary.name}_part`), inputs: [x], outputs: [src], attrs: { ...unary.attrs } });
          }
          const wName = fresh(`${conv.inputs[1]}_part`);
          newWeights.push(sliceInputChannels(w, wName, from, c));
          from += c;
          const t = cat.inputs.length === 1 ? conv.outputs[0] : like(fresh(`${conv.outputs[0]}_part`), conv.outputs[0]);
          nodes.push({ op: 'Conv', name: fresh(`${conv.name}_part`), inputs: i === 0 && bias ? [src, wName, bias] : [src, wName], outputs: [t], attrs: { ...conv.attrs } });
          terms.push(t);
        });
        addChain(conv.name, terms, conv.outputs[0], nodes);
        if (unary) replace.set(unary.index, []);
        replace.set(conv.index, nodes);
      }
      applied['concat-conv']++;
    }
  }

  let out: Graph = replace.size === 0 ? graph : rebuild(graph, replace, newWeights, types);
  let chosen: TileChoice[] = [];
  if (which.includes('spatial-tile')) {
    // values folded at compile time (weights, shape arithmetic) are not tiled and cost no arena
    const isStatic = (name: string) => { const v = out.values.get(name); return !!v && (v.isConst || graph.known.has(name)) && v.role !== 'input'; };
    const base = out;
    const tiled = tileForMemory(base, isStatic, (r, w, t) => rebuild(base, r, w, t), tileCount, tiles);
    out = tiled.graph;
    applied['spatial-tile'] = tiled.regions;
    chosen = tiled.chosen;
  }
  return { graph: out, applied, tiles: chosen };
}

/**
 * The graph a plan runs: `graph` after the plan's rewrites (with its recorded tiling, when it has one),
 * shapes inferred again for the same inputs (the graph itself when there are none). Compile and every runner of a plan go through this.
 */
export async function applyRewrites(graph: ShapedGraph, rewrites: readonly Rewrite[] | undefined, prober?: Prober, tiles?: readonly TileChoice[]): Promise<ShapedGraph> {
  if (!rewrites?.length) return graph;
  const { graph: g } = rewriteForMemory(graph, rewrites, { tiles });
  return g === graph ? graph : inferShapes(g, { inputShapes: graph.inputShapes, prober });
}

/**
 * A new Graph with the replaced nodes swapped in (at the original's place in the node list, then in a
 * topological order that keeps the list's order where it can); `types` gives new values' dtypes and shapes.
 */
function rebuild(graph: Graph, replace: ReadonlyMap<number, NewNode[]>, newWeights: readonly Weight[], types: ReadonlyMap<string, ValueType> = new Map()): Graph {
  const listed: Omit<Node, 'index'>[] = [];
  for (const node of graph.nodes) {
    const r = replace.get(node.index);
    if (!r) listed.push(node);
    else for (const n of r) listed.push({ name: n.name, op: n.op, domain: '', inputs: n.inputs, outputs: n.outputs, attrs: n.attrs, implicitInputs: [] });
  }
  const nodes = stableTopological(listed).map((n, index) => ({ ...n, index }));
  const values = new Map<string, Value>();
  const readSet = new Set<string>([...graph.outputs, ...graph.inputs]);
  for (const n of nodes) nodeReads(n).forEach((r) => readSet.add(r));
  for (const [name, v] of graph.values) {
    if (v.producer < 0 && readSet.has(name)) values.set(name, { ...v, consumers: [], shape: v.shape && [...v.shape] });
  }
  for (const w of newWeights) {
    values.set(w.name, { name: w.name, role: 'initializer', dtype: w.dtype, shape: [...w.dims], producer: -1, consumers: [], initializer: w, isConst: true, shapeSource: 'declared' });
  }
  for (const n of nodes) {
    for (const o of n.outputs) {
      if (o === '') continue;
      const old = graph.values.get(o);
      values.set(o, old
        ? { ...old, producer: n.index, consumers: [], shape: old.shape && [...old.shape] }
        : { name: o, role: 'activation', dtype: types.get(o)?.dtype ?? null, shape: types.get(o)?.shape.slice() ?? null, producer: n.index, consumers: [], isConst: false });
    }
  }
  for (const n of nodes) for (const r of new Set(nodeReads(n))) values.get(r)!.consumers.push(n.index);
  return { name: graph.name, nodes, values, inputs: graph.inputs, outputs: graph.outputs, meta: graph.meta };
}

/** The nodes in a topological order, each as early in the list as its inputs allow (the list itself when it is one). */
function stableTopological<N extends Omit<Node, 'index'>>(list: readonly N[]): N[] {
  const producer = new Map<string, number>();
  list.forEach((n, i) => n.outputs.forEach((o) => o && producer.set(o, i)));
  const succs: Set<number>[] = list.map(() => new Set());
  list.forEach((n, i) => {
    for (const x of [...n.inputs, ...n.implicitInputs]) {
      const p = producer.get(x);
      if (p !== undefined && p !== i) succs[p].add(i);
    }
  });
  const order = earliestFirstOrder(succs.map((s) => [...s]));
  if (!order) throw new TesseraError('INTERNAL', `a memory rewrite of ${list.length} nodes made a cycle`);
  return order.map((i) => list[i]);
}
