/**
 * Spatial tiling (patch-based / depth-first / cascaded execution, as in MCUNetV2, Arm Vela's cascading
 * and Qualcomm's spatial tiling): a region of ops that are local along the height axis (H of NCHW) is run
 * T times, each time on a band of rows, so its intermediate activations exist a band at a time.
 *
 *   x ─▶ [region] ─▶ y      becomes      Slice(x, rows of tile t, with halo) ─▶ [copy of region] ─▶ y_t
 *                                        y = Concat(y_0 … y_{T-1}, axis H)
 *
 * Row ranges are worked backwards from each region output's band: a k×k window op (Conv, MaxPool,
 * AveragePool) with stride s and top padding p needs input rows [lo·s − p, (hi−1)·s − p + k); the part
 * outside the image becomes the tile copy's own padding, so borders behave exactly as in the original
 * (zero for Conv, ignored for pools). Elementwise ops, BatchNormalization and channel Concat need the same
 * rows; ConvTranspose with kernel == stride needs rows [⌊lo/s⌋, ⌈hi/s⌉). Where an op needs fewer rows
 * than a value's tile copy holds (halos of different widths), a Slice crops it.
 *
 * Regions are the connected sets of such ops, made convex (no path leaves a region and comes back, which
 * would make the tiles wait on their own result). What to tile and how many tiles are chosen by the memory
 * planner's measure: the planned arena (memory-aware order, then the best offset algorithm) of the whole
 * graph, for each region, its prefixes ending at a downsampling op and its suffixes starting at an
 * upsampling op, keeping a choice only when the arena shrinks and the recomputed rows stay under
 * MAX_RECOMPUTE. The whole choice is deterministic (the order search counts work, not time); a plan
 * records it (the node sets and their tile counts), so whoever runs the plan rebuilds the same graph
 * without searching again.
 */
import { byteSize, FLOAT_TYPES, type DType } from '../ir/dtype.js';
import { isConcrete, opsetOf, topoOrder, type Attribute, type Graph, type Node } from '../ir/graph.js';
import type { Weight } from '../ir/weight.js';
import { TesseraError } from '../errors.js';
import { inplaceCandidates, opTraits } from '../ir/ops/traits.js';
import { lifetimesOf, makeProblem, type MemValue } from './memory-graph.js';
import { placeBest } from './memory-offsets.js';
import { orderForMemory } from './order-search.js';

/** The tiled axis: H of NCHW. */
const AXIS = 2;
/** Tile counts tried per region. */
const TILE_COUNTS = [2, 4, 8, 16, 32];
/** Most rows computed by the tiles, against the original's (halos are computed once per tile that needs them). */
const MAX_RECOMPUTE = 1.25;
/** Regions tried, largest first; prefixes (and suffixes) tried per region; planner runs in all (each candidate costs one). */
const MAX_REGIONS = 4;
const MAX_PREFIXES = 6;
const MAX_EVALUATIONS = 40;
/** Work budget of the order search when measuring a candidate (ms of work, not of the clock; the order's peak rarely moves beyond it). */
const MEASURE_BUDGET_MS = 25;
/** Least relative shrink of the arena worth more tiles (each tile copies the region's nodes). */
const MIN_GAIN = 0.02;

/** A node as the rewrites emit it (rewrite.ts builds the graph from these). */
export interface NewNode {
  op: string;
  name: string;
  inputs: string[];
  outputs: string[];
  attrs: Record<string, Attribute>;
}
export type ValueType = { dtype: DType; shape: number[] };
/** Builds the graph with `replace` (per original node: the nodes in its place; empty: removed), new weights, and the types of new values. */
export type Rebuild = (replace: ReadonlyMap<number, NewNode[]>, weights: readonly Weight[], types: ReadonlyMap<string, ValueType>) => Graph;

/** Rows [lo, hi). */
type Rows = [number, number];

/** How an op's output rows depend on its spatial inputs' rows. */
type RowMap =
  | { kind: 'window'; k: number; s: number; pt: number; pb: number }
  | { kind: 'upsample'; s: number }
  | { kind: 'pointwise' };

interface Tileable {
  node: Node;
  map: RowMap;
  /** Inputs tiled along H (the run-time ones); the others (weights, scalars) are read whole. */
  spatial: string[];
  out: string;
}

const ints = (n: Node, k: string) => (n.attrs[k]?.type === 'ints' ? (n.attrs[k] as { value: number[] }).value : undefined);
const int = (n: Node, k: string, d: number) => (n.attrs[k]?.type === 'int' ? (n.attrs[k] as { value: number }).value : d);
const str = (n: Node, k: string, d: string) => (n.attrs[k]?.type === 'string' ? (n.attrs[k] as { value: string }).value : d);

/** How `node` maps rows, or null when it is not a spatially local op on rank-4 float tensors this pass handles. */
function tileable(graph: Graph, node: Node, isStatic: (name: string) => boolean): Tileable | null {
  const outs = node.outputs.filter((o) => o !== '');
  if (node.domain !== '' || node.implicitInputs.length || outs.length !== 1 || node.outputs[0] !== outs[0]) return null;
  const y = graph.values.get(outs[0]);
  if (!y || isStatic(y.name) || !y.dtype || !FLOAT_TYPES.includes(y.dtype) || !isConcrete(y.shape) || y.shape.length !== 4) return null;
  const shape = (x: string) => {
    const s = graph.values.get(x)?.shape;
    return s && isConcrete(s) ? s : null;
  };
  const ins = node.inputs.filter((x) => x !== '');
  const H = y.shape[AXIS];
  // run-time inputs are tiled, except those an elementwise op broadcasts along H (a gate of shape [N,C,1,1]): read whole
  const rowLocal = opTraits(node.op).rowLocal;
  const broadcast = (x: string) => H > 1 && shape(x)?.[AXIS] === 1 && rowLocal === 'pointwise';
  const spatial = [...new Set(ins.filter((x) => !isStatic(x) && !broadcast(x)))];
  if (spatial.some((x) => shape(x)?.length !== 4)) return null;
  const done = (map: RowMap): Tileable => ({ node, map, spatial, out: y.name });
  if (rowLocal === 'window') {
    if (spatial.length !== 1 || spatial[0] !== node.inputs[0] || int(node, 'ceil_mode', 0) !== 0) return null;
    const autoPad = str(node, 'auto_pad', 'NOTSET');
    if (autoPad !== 'NOTSET' && autoPad !== 'VALID') return null;
    const k = ints(node, 'kernel_shape')?.[0] ?? (node.op === 'Conv' ? shape(node.inputs[1])?.[2] : undefined);
    if (k === undefined) return null;
    const d = ints(node, 'dilations')?.[0] ?? 1;
    const pads = autoPad === 'VALID' ? [0, 0, 0, 0] : ints(node, 'pads') ?? [0, 0, 0, 0];
    return done({ kind: 'window', k: (k - 1) * d + 1, s: ints(node, 'strides')?.[0] ?? 1, pt: pads[0], pb: pads[2] });
  }
  if (rowLocal === 'upsample') {
    const w = shape(node.inputs[1]);
    const s = ints(node, 'strides')?.[0] ?? 1;
    const k = ints(node, 'kernel_shape')?.[0] ?? w?.[2];
    const zero = (a?: number[]) => !a || a.every((v) => v === 0);
    const ok = spatial.length === 1 && spatial[0] === node.inputs[0] && k === s && zero(ints(node, 'pads')) && zero(ints(node, 'output_padding'))
      && !node.attrs.output_shape && (ints(node, 'dilations')?.[0] ?? 1) === 1 && str(node, 'auto_pad', 'NOTSET') === 'NOTSET' && shape(spatial[0])![AXIS] * s === H;
    return ok ? done({ kind: 'upsample', s }) : null;
  }
  if (rowLocal !== 'pointwise' && rowLocal !== 'concat') return null;
  if (rowLocal === 'concat' && (ins.length !== spatial.length || ((int(node, 'axis', 0) + 4) % 4) !== 1)) return null;
  if (node.op === 'BatchNormalization' && spatial.length !== 1) return null;
  // run-time inputs have the output's rows; weights must not vary along H (broadcast over it)
  if (spatial.some((x) => shape(x)![AXIS] !== H)) return null;
  for (const x of ins) {
    if (spatial.includes(x)) continue;
    const s = shape(x);
    if (!s || (s.length >= 2 && s[s.length - 2] !== 1) || s.length > 4 || (!isStatic(x) && s.length !== 4)) return null;
  }
  return done({ kind: 'pointwise' });
}

/** Input rows an op needs for output rows `r` (input height `hIn`), and the padding its tile copy gets. */
function inputRows(map: RowMap, r: Rows, hIn: number): { rows: Rows; padTop: number; padBottom: number } {
  if (map.kind === 'pointwise') return { rows: r, padTop: 0, padBottom: 0 };
  if (map.kind === 'upsample') return { rows: [r[0] / map.s, r[1] / map.s], padTop: 0, padBottom: 0 };
  const lo = r[0] * map.s - map.pt, hi = (r[1] - 1) * map.s - map.pt + map.k;
  return { rows: [Math.max(0, lo), Math.min(hIn, hi)], padTop: Math.max(0, -lo), padBottom: Math.max(0, hi - hIn) };
}

/**
 * The connected sets of tileable nodes, made convex; each in topological order. A node reachable from
 * its set through a node outside it is moved to a later generation, and only nodes of one generation
 * join: SE-style gates (Conv → pool → … → Mul with the Conv) split into a region before and one after.
 */
function findRegions(graph: Graph, tiles: ReadonlyMap<number, Tileable>): number[][] {
  const topo = topoOrder(graph) ?? graph.nodes.map((n) => n.index);
  const position = new Map(topo.map((u, i) => [u, i]));
  const generation = new Map([...tiles.keys()].map((u) => [u, 0]));
  const consumersOf = (u: number) => graph.nodes[u].outputs.flatMap((o) => (o && graph.values.get(o)?.consumers) || []);
  for (;;) {
    // union-find over spatial edges between tileable nodes of one generation
    const parent = new Map<number, number>([...tiles.keys()].map((u) => [u, u]));
    const find = (u: number) => {
      while (parent.get(u) !== u) u = parent.get(u)!;
      return u;
    };
    for (const [u, t] of tiles) {
      for (const x of t.spatial) {
        const p = graph.values.get(x)!.producer;
        if (tiles.has(p) && generation.get(p) === generation.get(u)) parent.set(find(u), find(p));
      }
    }
    const groups = new Map<number, number[]>();
    for (const u of topo) if (tiles.has(u)) {
      const r = find(u);
      if (!groups.has(r)) groups.set(r, []);
      groups.get(r)!.push(u);
    }
    let moved = false;
    for (const members of groups.values()) {
      const inRegion = new Set(members);
      const reached = new Set<number>();
      const stack = members.flatMap(consumersOf).filter((c) => !inRegion.has(c));
      while (stack.length) {
        const u = stack.pop()!;
        if (reached.has(u)) continue;
        reached.add(u);
        if (inRegion.has(u)) {
          generation.set(u, generation.get(u)! + 1);
          moved = true;
        }
        stack.push(...consumersOf(u));
      }
    }
    if (!moved) return [...groups.values()].filter((g) => g.length >= 2).map((g) => g.sort((a, b) => position.get(a)! - position.get(b)!));
  }
}

/** Fresh names (deterministic: the same graph gives the same names) and shared int64 constants for the Slices. */
class Names {
  private used: Set<string>;
  private consts = new Map<number, string>();
  readonly weights: Weight[] = [];
  constructor(graph: Graph) {
    this.used = new Set(graph.values.keys());
    for (const n of graph.nodes) this.used.add(n.name);
  }
  fresh(base: string) {
    let k = 0, name: string;
    do name = `${base}__tile${k++}`;
    while (this.used.has(name));
    this.used.add(name);
    return name;
  }
  int64(v: number) {
    let name = this.consts.get(v);
    if (!name) {
      this.consts.set(v, (name = this.fresh(`tile_i64_${v < 0 ? 'm' : ''}${Math.abs(v)}`)));
      this.weights.push({ name, dtype: 'int64', dims: [1], source: { kind: 'inline', bytes: new Uint8Array(BigInt64Array.of(BigInt(v)).buffer) } });
    }
    return name;
  }
}

interface RegionTiling {
  nodes: NewNode[];
  types: Map<string, ValueType>;
  /** Rows computed by the tiles over rows of the original (weighted by row bytes). */
  recompute: number;
}

/** The nodes running `region` as T row tiles, or null when some tile would need no rows of a value. */
function tileRegion(graph: Graph, region: readonly number[], tiles: ReadonlyMap<number, Tileable>, T: number, names: Names): RegionTiling | null {
  const inRegion = new Set(region);
  const produced = new Set(region.map((u) => tiles.get(u)!.out));
  const outputsOfGraph = new Set(graph.outputs);
  const regionOutputs = region.map((u) => tiles.get(u)!.out).filter((y) => outputsOfGraph.has(y) || graph.values.get(y)!.consumers.some((c) => !inRegion.has(c)));
  const shapeOf = (x: string) => graph.values.get(x)!.shape as number[];
  // an input read whole (broadcast) must come from outside: the region's own values exist only in bands
  if (region.some((u) => tiles.get(u)!.node.inputs.some((x) => produced.has(x) && !tiles.get(u)!.spatial.includes(x)))) return null;
  const nodes: NewNode[] = [];
  const types = new Map<string, ValueType>();
  const pieces = new Map<string, string[]>(regionOutputs.map((y) => [y, []]));
  let rowsDone = 0;
  const rowBytes = (x: string) => { const s = shapeOf(x); return (s[0] * s[1] * s[3]); };
  const rowsWhole = region.reduce((a, u) => a + rowBytes(tiles.get(u)!.out) * shapeOf(tiles.get(u)!.out)[AXIS], 0);

  for (let t = 0; t < T; t++) {
    // backwards: the rows of every value this tile needs
    const needed = new Map<string, Rows>();
    const widen = (x: string, r: Rows) => {
      const o = needed.get(x);
      needed.set(x, o ? [Math.min(o[0], r[0]), Math.max(o[1], r[1])] : r);
    };
    for (const y of regionOutputs) {
      const h = shapeOf(y)[AXIS];
      widen(y, [Math.floor((h * t) / T), Math.floor((h * (t + 1)) / T)]);
    }
    const computed = new Map<number, Rows>();
    for (const u of [...region].reverse()) {
      const tl = tiles.get(u)!;
      let r = needed.get(tl.out);
      if (!r) continue;
      if (tl.map.kind === 'upsample') r = [Math.floor(r[0] / tl.map.s) * tl.map.s, Math.ceil(r[1] / tl.map.s) * tl.map.s];
      if (r[1] <= r[0]) return null;
      computed.set(u, r);
      for (const x of tl.spatial) {
        const rows = inputRows(tl.map, r, shapeOf(x)[AXIS]).rows;
        if (rows[1] <= rows[0]) return null; // rows made of padding only
        widen(x, rows);
      }
    }
    // forwards: emit the tile's copy of the region; `local` is what holds each value's rows in this tile
    const local = new Map<string, { name: string; rows: Rows }>();
    const crops = new Map<string, string>();
    const crop = (x: string, r: Rows): string => {
      const have = local.get(x) ?? { name: x, rows: [0, shapeOf(x)[AXIS]] as Rows };
      if (have.rows[0] === r[0] && have.rows[1] === r[1]) return have.name;
      const key = `${have.name}:${r[0]}:${r[1]}`;
      let name = crops.get(key);
      if (!name) {
        crops.set(key, (name = names.fresh(`${x}_t${t}_rows`)));
        const [from, to] = [r[0] - have.rows[0], r[1] - have.rows[0]];
        nodes.push(opsetOf(graph) >= 10
          ? { op: 'Slice', name: names.fresh(`${x}_t${t}_slice`), inputs: [have.name, names.int64(from), names.int64(to), names.int64(AXIS)], outputs: [name], attrs: {} }
          // before opset 10 Slice takes its bounds as attributes
          : { op: 'Slice', name: names.fresh(`${x}_t${t}_slice`), inputs: [have.name], outputs: [name], attrs: { starts: { type: 'ints', value: [from] }, ends: { type: 'ints', value: [to] }, axes: { type: 'ints', value: [AXIS] } } });
        const s = [...shapeOf(x)];
        s[AXIS] = r[1] - r[0];
        types.set(name, { dtype: graph.values.get(x)!.dtype!, shape: s });
      }
      return name;
    };
    for (const u of region) {
      const r = computed.get(u);
      if (!r) continue;
      const { node, map, out } = tiles.get(u)!;
      let pads: Rows = [0, 0];
      const inputs = node.inputs.map((x) => {
        if (!x || !tiles.get(u)!.spatial.includes(x)) return x;
        const need = inputRows(map, r, shapeOf(x)[AXIS]);
        pads = [need.padTop, need.padBottom];
        // a region input is sliced from the whole tensor to the rows all its readers in this tile need
        if (!produced.has(x) && !local.has(x)) {
          const all = needed.get(x)!;
          local.set(x, { name: crop(x, all), rows: all });
        }
        return crop(x, need.rows);
      });
      const name = names.fresh(`${out}_t${t}`);
      const attrs = { ...node.attrs };
      if (map.kind === 'window') {
        const p = ints(node, 'pads') ?? [0, 0, 0, 0];
        attrs.pads = { type: 'ints', value: [pads[0], p[1], pads[1], p[3]] };
        if (attrs.auto_pad) delete attrs.auto_pad;
      }
      nodes.push({ op: node.op, name: names.fresh(`${node.name}_t${t}`), inputs, outputs: [name], attrs });
      const s = [...shapeOf(out)];
      s[AXIS] = r[1] - r[0];
      types.set(name, { dtype: graph.values.get(out)!.dtype!, shape: s });
      local.set(out, { name, rows: r });
      rowsDone += rowBytes(out) * (r[1] - r[0]);
    }
    for (const y of regionOutputs) {
      const h = shapeOf(y)[AXIS];
      pieces.get(y)!.push(crop(y, [Math.floor((h * t) / T), Math.floor((h * (t + 1)) / T)]));
    }
  }
  for (const y of regionOutputs) nodes.push({ op: 'Concat', name: names.fresh(`${y}_tiles`), inputs: pieces.get(y)!, outputs: [y], attrs: { axis: { type: 'int', value: AXIS } } });
  return { nodes, types, recompute: rowsDone / rowsWhole };
}

/** The activation arena the memory planner gives a graph (memory-aware order, in place, best offsets), in bytes. */
export function plannedArena(graph: Graph, isStatic: (name: string) => boolean, budgetMs = MEASURE_BUDGET_MS): number {
  const idx = new Int32Array(graph.nodes.length).fill(-1);
  const run: number[] = [];
  for (const node of graph.nodes) if (node.outputs.some((o) => o && !isStatic(o))) idx[node.index] = run.push(node.index) - 1;
  const values: MemValue[] = [];
  const id = new Map<string, number>();
  const outputs = new Set(graph.outputs);
  const add = (name: string, producer: number) => {
    if (!name || id.has(name) || isStatic(name)) return;
    const v = graph.values.get(name)!;
    const bytes = v.dtype && isConcrete(v.shape) ? byteSize(v.dtype, v.shape.reduce((a, b) => a * b, 1)) : 0;
    id.set(name, values.length);
    values.push({ bytes: Math.ceil(bytes / 64) * 64, producer, consumers: [...new Set(v.consumers.map((c) => idx[c]).filter((c) => c >= 0))], keep: outputs.has(name) });
  };
  graph.inputs.forEach((x) => add(x, -1));
  for (const u of run) for (const o of graph.nodes[u].outputs) add(o, idx[u]);
  const inplace = run.map((u) => {
    const node = graph.nodes[u];
    const y = id.get(node.outputs[0]);
    return y === undefined ? [] : inplaceCandidates(node.op, node.inputs).map((x) => id.get(x)).filter((x): x is number => x !== undefined && values[x].bytes === values[y].bytes);
  });
  const p = makeProblem(run.length, values, inplace);
  p.rank = run.map((_, i) => i);
  const order = orderForMemory(p, { budgetMs }).order;
  return placeBest(lifetimesOf(p, order).groups).arena;
}

/** A set of nodes tiled together (indices in the graph before tiling) and into how many tiles. */
export interface TileChoice {
  nodes: readonly number[];
  count: number;
}

/**
 * Tiles the regions of `graph` (its values shaped) where that shrinks the planned arena; `rebuild` makes
 * the new graph. Returns the graph (the same object when nothing was tiled), how many regions were tiled
 * and the choices. `count` forces that many tiles on every region that can take it, whatever the memory
 * (for tests); `given` applies choices made before (a plan's) without searching.
 */
export function tileForMemory(graph: Graph, isStatic: (name: string) => boolean, rebuild: Rebuild, count?: number, given?: readonly TileChoice[]): { graph: Graph; regions: number; chosen: TileChoice[] } {
  const tiles = new Map<number, Tileable>();
  for (const node of graph.nodes) {
    const t = tileable(graph, node, isStatic);
    if (t) tiles.set(node.index, t);
  }
  const rowsOf = (x: string) => (graph.values.get(x)!.shape as number[])[AXIS];
  const bytesOf = (u: number) => (graph.values.get(tiles.get(u)!.out)!.shape as number[]).reduce((a, b) => a * b, 1);
  const regions = findRegions(graph, tiles)
    .map((r) => ({ r, bytes: r.reduce((a, u) => a + bytesOf(u), 0) }))
    .sort((a, b) => b.bytes - a.bytes || a.r[0] - b.r[0]).slice(0, MAX_REGIONS).map((x) => x.r);
  /** The graph with the chosen node sets tiled; null when a tiling is not possible or recomputes too much. */
  const build = (chosen: readonly TileChoice[], limit = count === undefined): Graph | null => {
    const names = new Names(graph);
    const replace = new Map<number, NewNode[]>();
    const types = new Map<string, ValueType>();
    for (const { nodes, count: T } of chosen) {
      const tiling = tileRegion(graph, nodes, tiles, T, names);
      if (!tiling || (tiling.recompute > MAX_RECOMPUTE && limit)) return null;
      // the tiles take the place of the region's last node (rebuild restores a topological order)
      const last = Math.max(...nodes);
      for (const u of nodes) replace.set(u, u === last ? tiling.nodes : []);
      tiling.types.forEach((v, k) => types.set(k, v));
    }
    return rebuild(replace, names.weights, types);
  };
  if (given) {
    // (never more tiles than rows: a plan is untrusted input, and each tile is nodes of its own)
    const fits = given.every((c) => c.nodes.length >= 2 && c.nodes.every((u) => tiles.has(u)) && new Set(c.nodes).size === c.nodes.length && c.count <= Math.max(...c.nodes.map((u) => rowsOf(tiles.get(u)!.out))));
    const g = fits && given.length ? build(given, false) : given.length ? null : graph;
    if (!g) throw new TesseraError('BAD_PLAN', `${graph.meta.source}: the plan's spatial tiling (${given.map((c) => `${c.nodes.length} nodes in ${c.count} tiles`).join(', ')}) does not fit this model's row-local regions`);
    return { graph: g, regions: given.length, chosen: given.map((c) => ({ nodes: [...c.nodes], count: c.count })) };
  }
  if (regions.length === 0) return { graph, regions: 0, chosen: [] };
  if (count !== undefined) {
    const chosen = regions.filter((nodes) => build([{ nodes, count }])).map((nodes) => ({ nodes, count }));
    return { graph: chosen.length ? build(chosen)! : graph, regions: chosen.length, chosen };
  }
  /** Fewest rows of the set's outputs: every tile produces at least one row of each. */
  const outRows = (nodes: readonly number[]) => {
    const inSet = new Set(nodes);
    const outs = nodes.map((u) => tiles.get(u)!.out).filter((y) => graph.outputs.includes(y) || graph.values.get(y)!.consumers.some((c) => !inSet.has(c)));
    return Math.min(...outs.map(rowsOf));
  };
  /**
   * The sets tried for a region: its prefixes (in topological order) that end at a downsampling op, its
   * suffixes that start at an upsampling op, then the whole region. Halos grow with depth, so the
   * high-resolution stages at either end (an encoder's first, a decoder's last) are often the ones worth
   * tiling alone (as in MCUNetV2). A prefix or suffix of a convex region, and the rest of it, are convex.
   */
  const candidates = (region: readonly number[]) => {
    const changes = (u: number, more: boolean) => tiles.get(u)!.spatial.some((x) => (more ? rowsOf(x) > rowsOf(tiles.get(u)!.out) : rowsOf(x) < rowsOf(tiles.get(u)!.out)));
    const ends = region.flatMap((u, i) => (i < region.length - 1 && changes(u, true) ? [i + 1] : [])).slice(0, MAX_PREFIXES);
    const starts = region.flatMap((u, i) => (i > 0 && changes(u, false) ? [i] : [])).slice(-MAX_PREFIXES);
    return [...ends.map((e) => region.slice(0, e)), ...starts.map((b) => region.slice(b)), region].filter((c) => c.length >= 2);
  };
  // each region in turn (largest first), each candidate set with more and more tiles while the arena shrinks;
  // when a part wins, the rest of the region is tried next
  const chosen: TileChoice[] = [];
  let best = { graph, arena: plannedArena(graph, isStatic) };
  const queue = [...regions];
  let evaluations = 0;
  while (queue.length && evaluations < MAX_EVALUATIONS) {
    const region = queue.shift()!;
    let pick: TileChoice | null = null;
    for (const nodes of candidates(region)) {
      let previous = Infinity;
      for (const T of TILE_COUNTS) {
        if (T > outRows(nodes) || evaluations >= MAX_EVALUATIONS) break;
        const g = build([...chosen, { nodes, count: T }]);
        if (!g) break; // more tiles only recompute more
        evaluations++;
        const arena = plannedArena(g, isStatic);
        if (arena < best.arena * (1 - MIN_GAIN)) {
          best = { graph: g, arena };
          pick = { nodes, count: T };
        }
        if (arena >= previous) break;
        previous = arena;
      }
    }
    if (!pick) continue;
    chosen.push(pick);
    const picked = new Set(pick.nodes);
    const rest = region.filter((u) => !picked.has(u));
    if (rest.length >= 2) queue.unshift(rest);
  }
  return { graph: best.graph, regions: chosen.length, chosen };
}
