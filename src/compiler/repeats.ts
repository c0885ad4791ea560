/**
 * Repeated blocks (a transformer's layers): a run of run-time nodes, in file order, that repeats with
 * the same structure — same ops and attributes, the same wiring inside the block, the same kind of value
 * on every input — and different weights of the same shapes. Such a block is compiled once, with its
 * weights as inputs (compiler/stream.ts), and each instance runs it with its own weights fed.
 *
 * Found in two steps: the period and first instance from a token per node (op, attributes, kind and
 * shape of each input), then every instance checked against the first by a name mapping that must be
 * one-to-one (instance 0's value → instance k's value) for values made inside, values read from
 * outside, and weights; a weight whose name is the same in every instance is shared (not fed).
 */
import type { Node, Value } from '../ir/graph.js';
import type { ShapedGraph } from '../ir/infer.js';
import type { StaticInfo } from '../ir/static.js';

export interface RepeatedBlocks {
  /** Run-time node indices of each instance, in file order; instance k's node t corresponds to instance 0's node t. */
  instances: number[][];
  /** Per instance: instance 0's value name → this instance's (values made inside, read from outside, fed weights). */
  maps: Map<string, string>[];
  /** Weights (instance 0's names) that differ between instances: fed to the shared block as inputs. */
  fed: Set<string>;
}

const jsonSafe = (_k: string, v: unknown) => (typeof v === 'bigint' ? v.toString() : v instanceof Uint8Array ? Array.from(v.subarray(0, 64)).join(',') + `#${v.length}` : v);

function token(graph: ShapedGraph, st: StaticInfo, node: Node): string {
  if (node.implicitInputs.length || Object.values(node.attrs).some((a) => a.type === 'graph' || a.type === 'graphs')) return `#${node.index}`; // control flow: never part of a block
  const inputs = node.inputs.map((r) => {
    if (!r) return '-';
    const v = graph.values.get(r)!;
    const shape = `${v.dtype}[${v.shape?.join(',')}]`;
    if (v.initializer) return `W${shape}`;
    return (st.isStatic(r) ? 'K' : 'A') + shape;
  });
  return `${node.domain}:${node.op}(${inputs.join(' ')})${node.outputs.length}${JSON.stringify(node.attrs, jsonSafe)}`;
}

/** The period, start and count of the longest repetition of node tokens (at least 2 instances), or null. */
function period(names: readonly string[]): { start: number; length: number; count: number } | null {
  const ids = new Map<string, number>();
  const tokens = names.map((t) => ids.get(t) ?? (ids.set(t, ids.size), ids.size - 1));
  const n = tokens.length;
  let best: { start: number; length: number; count: number; covered: number } | null = null;
  for (let p = 1; p <= n / 2; p++) {
    let run = 0;
    for (let j = 0; j + p < n; j++) {
      run = tokens[j] === tokens[j + p] ? run + 1 : 0;
      if (run >= p) {
        const start = j - run + 1;
        const count = Math.floor((run + p) / p);
        const covered = count * p;
        if (!best || covered > best.covered) best = { start, length: p, count, covered };
      }
    }
  }
  return best && { start: best.start, length: best.length, count: best.count };
}

/** Instance k's names for instance 0's, or null when the two are not the same block. */
function mapInstance(graph: ShapedGraph, st: StaticInfo, first: readonly number[], other: readonly number[], fed: Set<string>): Map<string, string> | null {
  const inFirst = new Set(first), inOther = new Set(other);
  const map = new Map<string, string>(), back = new Map<string, string>();
  const bind = (x: string, y: string) => {
    if (map.has(x) || back.has(y)) return map.get(x) === y && back.get(y) === x;
    map.set(x, y);
    back.set(y, x);
    return true;
  };
  const kind = (r: string, inside: Set<number>) => {
    const v = graph.values.get(r)!;
    if (v.initializer) return 'weight';
    if (st.isStatic(r)) return 'static';
    return v.producer >= 0 && inside.has(v.producer) ? 'inside' : 'outside';
  };
  for (let t = 0; t < first.length; t++) {
    const a = graph.nodes[first[t]], b = graph.nodes[other[t]];
    if (a.inputs.length !== b.inputs.length || a.outputs.length !== b.outputs.length) return null;
    for (let i = 0; i < a.inputs.length; i++) {
      const x = a.inputs[i], y = b.inputs[i];
      if (!x || !y) {
        if (x !== y) return null;
        continue;
      }
      const kx = kind(x, inFirst);
      if (kx !== kind(y, inOther)) return null;
      if (kx === 'inside') {
        if (map.get(x) !== y) return null;
      } else if (kx === 'static') {
        // a constant of the plan (shape arithmetic): the same value in both
        if (x !== y && JSON.stringify(graph.known.get(x), jsonSafe) !== JSON.stringify(graph.known.get(y), jsonSafe)) return null;
      } else {
        if (!bind(x, y)) return null;
        if (kx === 'weight' && x !== y) fed.add(x);
      }
    }
    for (let o = 0; o < a.outputs.length; o++) {
      if (!a.outputs[o] !== !b.outputs[o]) return null;
      if (a.outputs[o] && !bind(a.outputs[o], b.outputs[o])) return null;
    }
  }
  return map;
}

/** The longest repeated block among the run-time nodes (file order), every instance checked; null when none repeats. */
export function findRepeatedBlocks(graph: ShapedGraph, st: StaticInfo): RepeatedBlocks | null {
  const runtime = graph.nodes.filter((n) => !st.folded.has(n.index));
  const found = period(runtime.map((n) => token(graph, st, n)));
  if (!found) return null;
  const instances = Array.from({ length: found.count }, (_, k) => runtime.slice(found.start + k * found.length, found.start + (k + 1) * found.length).map((n) => n.index));
  const fed = new Set<string>();
  const maps: Map<string, string>[] = [];
  for (const inst of instances) {
    const m = mapInstance(graph, st, instances[0], inst, fed);
    if (!m) break; // instances from here on differ: the repetition ends before
    maps.push(m);
  }
  if (maps.length < 2) return null;
  // a weight fed in one instance is fed in all (its name may coincide in some)
  return { instances: instances.slice(0, maps.length), maps, fed };
}

/** The graph with the weights named fed turned into inputs: what a shared executable is lowered from (its weights fed at run time). */
export function weightsAsInputs(graph: ShapedGraph, fed: Iterable<string>): ShapedGraph {
  const values = new Map(graph.values);
  for (const w of fed) values.set(w, { ...graph.values.get(w)!, role: 'input', initializer: undefined } as Value);
  return { ...graph, values };
}

interface Shareable {
  processor: string;
  nodes: readonly number[];
  inputs: readonly string[];
  outputs: readonly string[];
}

/**
 * Partitions that can run one executable, their weights fed as inputs: on the same processor, their
 * run-time nodes (ascending, as lowered) the same block by the tokens and the name mapping of repeated
 * blocks above (same ops, attributes, shapes and wiring; weights of the same shapes), and their inputs
 * and outputs each other's under that mapping. Per partition: the partition whose executable it runs
 * (itself when it is the first of its kind). `shareable` says which processors may (native precision:
 * a lowering that stores values narrower bakes each value's scale into the model).
 */
export function sharedExecutables(graph: ShapedGraph, st: StaticInfo, parts: readonly Shareable[], shareable: (processor: string) => boolean): number[] {
  const firsts = new Map<string, number[]>();
  const runOf = (p: Shareable) => p.nodes.filter((i) => !st.folded.has(i));
  const same = (a: readonly string[], b: readonly string[], map: Map<string, string>) => a.length === b.length && new Set(a.map((x) => map.get(x) ?? x)).size === a.length && a.every((x) => b.includes(map.get(x) ?? x));
  return parts.map((p, id) => {
    const run = runOf(p);
    if (run.length === 0 || !shareable(p.processor) || run.length !== p.nodes.length) return id;
    const key = `${p.processor}|${run.map((i) => token(graph, st, graph.nodes[i])).join(';')}`;
    const known = firsts.get(key) ?? [];
    for (const f of known) {
      const map = mapInstance(graph, st, runOf(parts[f]), run, new Set());
      if (map && same(parts[f].inputs, p.inputs, map) && same(parts[f].outputs, p.outputs, map)) return f;
    }
    known.push(id);
    firsts.set(key, known);
    return id;
  });
}

/** For a partition that runs `first`'s executable: its names for the executable's (instance 0's) values, and the weights fed (instance 0's names) across all `members`. */
export function shareMapping(graph: ShapedGraph, st: StaticInfo, first: readonly number[], members: readonly (readonly number[])[]): { maps: Map<string, string>[]; fed: Set<string> } | null {
  const fed = new Set<string>();
  const maps: Map<string, string>[] = [];
  for (const m of members) {
    const map = mapInstance(graph, st, first, m, fed);
    if (!map) return null;
    maps.push(map);
  }
  return { maps, fed };
}
