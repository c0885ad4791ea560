/**
 * What the graph view draws for a given state (partitions collapsed, control-flow nodes expanded, folded
 * nodes shown): boxes, clusters and edges. Pure (no DOM): the page lays the scene out and draws it, the
 * tests check it. Keys name things across scenes: `n{i}` plan node i, `s{g}.{k}` node k of subgraph g,
 * `p{id}` a collapsed partition, `i{k}`/`o{k}` graph inputs/outputs, `f{g}.{name}` a subgraph's formal
 * input, `e{g}` the note in an empty subgraph; clusters `c{id}` (partition) and `g{g}` (subgraph).
 */
import type { Plan } from '../plan/schema.js';
import type { Edge } from './derive.js';
import type { ViewModel } from './model.js';

export interface SceneState {
  showFolded: boolean;
  collapsed: ReadonlySet<number>;
  /** Keys of the control-flow nodes drawn with their branches/bodies. */
  expanded: ReadonlySet<string>;
}

export type BoxRef =
  | { kind: 'node'; node: number }
  | { kind: 'sub'; sg: number; node: number }
  | { kind: 'partition'; partition: number }
  | { kind: 'io'; io: number }
  | { kind: 'formal'; sg: number; name: string }
  | { kind: 'empty'; sg: number };

export interface SceneBox {
  key: string;
  ref: BoxRef;
  /** Cluster index; -1 for none. */
  parent: number;
  w: number;
  h: number;
}

export interface SceneCluster {
  key: string;
  ref: { kind: 'partition'; partition: number } | { kind: 'subgraph'; sg: number };
  parent: number;
}

/** 'data': a value; 'outer': a value of an enclosing graph read by a branch/body (or by a collapsed control-flow node); 'out': a branch/body output returned to its node. */
export interface SceneEdge {
  a: number;
  b: number;
  kind: 'data' | 'outer' | 'out';
  /** The values between the two boxes (drawn as one edge). */
  values: string[];
  transfer?: number;
}

export interface Scene {
  boxes: SceneBox[];
  clusters: SceneCluster[];
  edges: SceneEdge[];
  boxOf: Map<string, number>;
}

export interface IoNode {
  id: string;
  name: string;
  input: boolean;
}

export interface IoEdge {
  io: string;
  node: number;
  value: string;
  input: boolean;
  transfer?: number;
}

/** Graph inputs and outputs as boxes, and their edges to the nodes reading/writing them (transfers marked). */
export function ioLinks(plan: Plan, view: ViewModel | undefined): { io: IoNode[]; ioEdges: IoEdge[] } {
  const io: IoNode[] = [
    ...Object.keys(plan.inputs).map((name, k) => ({ id: `i${k}`, name, input: true })),
    ...plan.outputs.map((name, k) => ({ id: `o${k}`, name, input: false })),
  ];
  const ioEdges: IoEdge[] = [];
  if (!view) return { io, ioEdges };
  const transferOf = (value: string, from: string | undefined, to: string | undefined) => {
    const i = plan.steps.findIndex((s) => s.kind === 'transfer' && s.value === value && (from === undefined || s.from === from) && (to === undefined || s.to === to));
    return i < 0 ? undefined : i;
  };
  const readers = new Map<string, number[]>();
  view.nodes.forEach((n, i) => {
    for (const name of new Set(n.inputs)) if (plan.inputs[name]) (readers.get(name) ?? readers.set(name, []).get(name)!).push(i);
  });
  for (const x of io) {
    if (x.input) {
      for (const i of readers.get(x.name) ?? []) ioEdges.push({ io: x.id, node: i, value: x.name, input: true, transfer: plan.nodes[i].folded ? undefined : transferOf(x.name, undefined, plan.nodes[i].processor) });
    } else {
      const p = view.values[x.name]?.producer ?? -1;
      if (p >= 0) ioEdges.push({ io: x.id, node: p, value: x.name, input: false, transfer: plan.nodes[p].folded ? undefined : transferOf(x.name, plan.nodes[p].processor, undefined) });
    }
  }
  return { io, ioEdges };
}

export const nodeWidth = (op: string, control: boolean) => Math.max(54, op.length * 7 + 16) + (control ? 26 : 0);
export const ioWidth = (name: string) => Math.max(70, (name.length + 7) * 6.6 + 20);
export const subKey = (sg: number, k: number) => `s${sg}.${k}`;

/**
 * Where each subgraph is in the model file: the path of (node index, attribute) from the model's graph
 * down, e.g. `2/then_branch/90/else_branch` (subgraph ids are breadth first: a parent's id is smaller).
 */
export function subgraphOrigins(view: ViewModel | undefined): string[] {
  const out: string[] = [];
  view?.subgraphs.forEach((s, g) => (out[g] = `${s.parent < 0 ? '' : `${out[s.parent]}/`}${s.node}/${s.attr}`));
  return out;
}

/** A box's place in the model file: `i` plan node i, `{subgraph origin}/k` node k of a subgraph, `input:x` a graph input, `{origin}/input:x` a formal input. */
export function originOf(box: SceneBox, io: readonly IoNode[], origins: readonly string[]): string {
  const r = box.ref;
  switch (r.kind) {
    case 'node': return String(r.node);
    case 'sub': return `${origins[r.sg]}/${r.node}`;
    case 'io': return `${io[r.io].input ? 'input' : 'output'}:${io[r.io].name}`;
    case 'formal': return `${origins[r.sg]}/input:${r.name}`;
    default: return box.key;
  }
}

/** The key of the node running subgraph `sg`. */
export function ownerKey(view: ViewModel, sg: number): string {
  const s = view.subgraphs[sg];
  return s.parent < 0 ? `n${s.node}` : subKey(s.parent, s.node);
}

/** The name of the node running subgraph `sg`. */
export function ownerName(plan: Plan, view: ViewModel, sg: number): string {
  const s = view.subgraphs[sg];
  return s.parent < 0 ? plan.nodes[s.node].name : view.subgraphs[s.parent].nodes[s.node].name;
}

/** Keys of the control-flow nodes to expand for a node to be drawn, outermost first. */
export function ancestorsOf(view: ViewModel, key: string): string[] {
  const out: string[] = [];
  let m = /^s(\d+)\./.exec(key);
  while (m) {
    const owner = ownerKey(view, Number(m[1]));
    out.unshift(owner);
    m = /^s(\d+)\./.exec(owner);
  }
  return out;
}

/** Every key of a control-flow node (top-level and nested). */
export function controlKeys(view: ViewModel | undefined): string[] {
  if (!view) return [];
  const out: string[] = [];
  view.nodes.forEach((n, i) => {
    if (n.subgraphs) out.push(`n${i}`);
  });
  view.subgraphs.forEach((s, g) => s.nodes.forEach((n, k) => {
    if (n.subgraphs) out.push(subKey(g, k));
  }));
  return out;
}

export interface SceneInput {
  plan: Plan;
  view: ViewModel | undefined;
  /** Plan-node edges (derive.ts nodeEdges) and the graph inputs/outputs (ioLinks). */
  edges: readonly Edge[];
  io: readonly IoNode[];
  ioEdges: readonly IoEdge[];
}

export function buildScene({ plan, view, edges, io, ioEdges }: SceneInput, state: SceneState): Scene {
  const boxes: SceneBox[] = [];
  const clusters: SceneCluster[] = [];
  const boxOf = new Map<string, number>();
  const addBox = (key: string, ref: BoxRef, parent: number, w: number, h: number) => {
    boxOf.set(key, boxes.length);
    boxes.push({ key, ref, parent, w, h });
    return boxes.length - 1;
  };
  const visible = (i: number) => state.showFolded || !plan.nodes[i].folded;
  const shown = new Set<number>();
  for (const n of plan.nodes) if (visible(n.index)) shown.add(n.partition);
  const partCluster = new Map<number, number>(), partBox = new Map<number, number>();
  for (const p of plan.partitions) {
    if (!shown.has(p.id)) continue;
    if (state.collapsed.has(p.id)) partBox.set(p.id, addBox(`p${p.id}`, { kind: 'partition', partition: p.id }, -1, 190, 46));
    else {
      partCluster.set(p.id, clusters.length);
      clusters.push({ key: `c${p.id}`, ref: { kind: 'partition', partition: p.id }, parent: -1 });
    }
  }
  const open: { sg: number; parent: number }[] = [];
  for (const n of plan.nodes) {
    if (!visible(n.index) || state.collapsed.has(n.partition)) continue;
    const subs = view?.nodes[n.index].subgraphs;
    addBox(`n${n.index}`, { kind: 'node', node: n.index }, partCluster.get(n.partition)!, nodeWidth(n.op, !!subs), 24);
    if (subs && state.expanded.has(`n${n.index}`)) for (const sg of subs) open.push({ sg, parent: partCluster.get(n.partition)! });
  }
  // expanded control flow: each branch/body a cluster beside its node, nested ones inside it
  for (let q = 0; q < open.length; q++) {
    const { sg, parent } = open[q];
    const s = view!.subgraphs[sg];
    const c = clusters.length;
    clusters.push({ key: `g${sg}`, ref: { kind: 'subgraph', sg }, parent });
    for (const name of s.inputs) addBox(`f${sg}.${name}`, { kind: 'formal', sg, name }, c, ioWidth(name), 22);
    if (!s.nodes.length && !s.inputs.length) addBox(`e${sg}`, { kind: 'empty', sg }, c, 150, 22);
    s.nodes.forEach((n, k) => {
      addBox(subKey(sg, k), { kind: 'sub', sg, node: k }, c, nodeWidth(n.op, !!n.subgraphs), 24);
      if (n.subgraphs && state.expanded.has(subKey(sg, k))) for (const inner of n.subgraphs) open.push({ sg: inner, parent: c });
    });
  }
  const ioBox = new Map<string, number>();
  for (const x of io) {
    const b = addBox(x.id, { kind: 'io', io: io.indexOf(x) }, -1, ioWidth(x.name), 22);
    if (x.input) ioBox.set(x.name, b);
  }

  // edges, one per pair of boxes
  const out: SceneEdge[] = [];
  const pairs = new Map<number, number>();
  const add = (a: number, b: number, kind: SceneEdge['kind'], value: string, transfer?: number) => {
    if (a < 0 || b < 0 || a === b) return;
    const k = a * boxes.length + b;
    const had = pairs.get(k);
    if (had !== undefined) {
      const e = out[had];
      if (!e.values.includes(value)) e.values.push(value);
      if (transfer !== undefined && e.transfer === undefined) e.transfer = transfer;
      return;
    }
    pairs.set(k, out.length);
    out.push({ a, b, kind, values: [value], ...(transfer !== undefined ? { transfer } : {}) });
  };
  const display = (i: number) => (!visible(i) ? -1 : partBox.get(plan.nodes[i].partition) ?? boxOf.get(`n${i}`) ?? -1);
  for (const e of ioEdges) {
    const node = display(e.node), x = boxOf.get(e.io)!;
    if (e.input) add(x, node, 'data', e.value, e.transfer);
    else add(node, x, 'data', e.value, e.transfer);
  }
  for (const e of edges) add(display(e.from), display(e.to), 'data', e.value, e.transfer);
  /** The box making a value a graph at subgraph `sg` (-1: the model's graph) reads; -1 for weights and what is not drawn. */
  const source = (sg: number, name: string): number => {
    for (let g = sg; g >= 0; g = view!.subgraphs[g].parent) {
      const v = view!.subgraphs[g].values[name];
      if (!v || v.role === 'initializer') return -1;
      if (v.role === 'activation') return boxOf.get(subKey(g, v.producer)) ?? -1;
      if (v.role === 'input') return boxOf.get(`f${g}.${name}`) ?? -1;
    }
    const v = view?.values[name];
    if (!v) return -1;
    return v.producer >= 0 ? display(v.producer) : v.role === 'input' ? ioBox.get(name) ?? -1 : -1;
  };
  if (view) {
    // a collapsed control-flow node reads the outer values of its subgraphs itself
    view.nodes.forEach((n, i) => {
      if (!n.implicit || (boxOf.has(`n${i}`) && state.expanded.has(`n${i}`))) return;
      for (const name of n.implicit) add(source(-1, name), display(i), 'outer', name);
    });
    for (const c of clusters) {
      if (c.ref.kind !== 'subgraph') continue;
      const sg = c.ref.sg, s = view.subgraphs[sg];
      s.nodes.forEach((n, k) => {
        const me = boxOf.get(subKey(sg, k))!;
        for (const name of new Set(n.inputs)) if (name) add(source(sg, name), me, s.values[name]?.role === 'outer' ? 'outer' : 'data', name);
        if (n.implicit && !state.expanded.has(subKey(sg, k))) for (const name of n.implicit) add(source(sg, name), me, 'outer', name);
      });
      const owner = boxOf.get(ownerKey(view, sg))!;
      for (const name of s.outputs) add(source(sg, name), owner, 'out', name);
    }
  }
  return { boxes, clusters, edges: out, boxOf };
}
