/**
 * The memory-ordering problem, abstracted from the IR: run-time nodes, the ordering edges between them,
 * and the values they read and write with their sizes. The order pass and the benchmark both work on it.
 *
 * Step model (the lifetime rule of plan-memory.ts at node granularity): running node u needs every
 * value alive before it plus its outputs; afterwards each input whose last consumer was u is freed
 * (unless it is kept to the end: a graph output, or read after the region). A value nobody reads is
 * freed right after its producer runs. A value with no producer (graph input, or produced before the
 * region) is alive from the start. In place: a node that may overwrite its input (`inplace[u]`, an
 * elementwise activation) writes its output into that input's storage when it is the input's last
 * consumer, the input is not kept, and the sizes are equal — the output then costs nothing extra.
 */

export interface MemValue {
  bytes: number;
  /** Producing node; -1 when alive from the start. */
  producer: number;
  /** Distinct consumer nodes. */
  consumers: number[];
  /** Alive until the end (graph output, or read after the region). */
  keep: boolean;
  name?: string;
}

export interface MemProblem {
  n: number;
  /** Ordering predecessors of each node (distinct). */
  preds: number[][];
  succs: number[][];
  values: MemValue[];
  /** Values each node reads (distinct) and writes. */
  reads: number[][];
  writes: number[][];
  /** The input values a node may overwrite with its (single) output, in order of preference (empty: none). */
  inplace: number[][];
  /** A stable tie-breaking rank per node (the file order). */
  rank?: number[];
  names?: string[];
}

/** Builds preds/succs/reads/writes from a list of values (producer/consumers); extra ordering edges optional. */
export function makeProblem(n: number, values: MemValue[], inplace?: readonly (number | readonly number[])[], extraEdges: [number, number][] = []): MemProblem {
  const predSets: Set<number>[] = Array.from({ length: n }, () => new Set());
  const reads: number[][] = Array.from({ length: n }, () => []);
  const writes: number[][] = Array.from({ length: n }, () => []);
  values.forEach((v, id) => {
    if (v.producer >= 0) writes[v.producer].push(id);
    for (const c of v.consumers) {
      reads[c].push(id);
      if (v.producer >= 0 && v.producer !== c) predSets[c].add(v.producer);
    }
  });
  for (const [a, b] of extraEdges) if (a !== b) predSets[b].add(a);
  const preds = predSets.map((s) => [...s].sort((a, b) => a - b));
  const succs: number[][] = Array.from({ length: n }, () => []);
  preds.forEach((ps, b) => ps.forEach((a) => succs[a].push(b)));
  const cands = Array.from({ length: n }, (_, u) => {
    const c = inplace?.[u];
    return c === undefined ? [] : typeof c === 'number' ? (c >= 0 ? [c] : []) : [...c];
  });
  return { n, preds, succs, values, reads, writes, inplace: cands };
}

/** The input node u writes its output over, when run with `remainingOf(x)` consumers of each input left (counting u); -1 if none. */
export function inplaceInput(p: MemProblem, u: number, remainingOf: (x: number) => number): number {
  if (p.inplace[u].length === 0 || p.writes[u].length !== 1) return -1;
  const out = p.values[p.writes[u][0]];
  for (const x of p.inplace[u]) {
    const vx = p.values[x];
    if (!vx.keep && remainingOf(x) === 1 && out.bytes === vx.bytes) return x;
  }
  return -1;
}

/** Bytes node u saves by writing in place (its output's size, or 0). */
export function inplaceSaving(p: MemProblem, u: number, remainingOf: (x: number) => number): number {
  return inplaceInput(p, u, remainingOf) >= 0 ? p.values[p.writes[u][0]].bytes : 0;
}

/** Most node u could save in place in some order (for lower bounds). */
export function inplaceBound(p: MemProblem, u: number): number {
  if (p.writes[u].length !== 1) return 0;
  const out = p.values[p.writes[u][0]];
  return p.inplace[u].some((x) => !p.values[x].keep && p.values[x].bytes === out.bytes) ? out.bytes : 0;
}

export interface Profile {
  /** Memory while each position's node runs. */
  step: number[];
  peak: number;
  /** Alive bytes at the start (values with no producer). */
  base: number;
}

/** Memory at every step of an order (the order must be topological; nodes not in it are never run). */
export function simulate(p: MemProblem, order: readonly number[]): Profile {
  const remaining = p.values.map((v) => v.consumers.length);
  let cur = 0;
  for (const v of p.values) if (v.producer < 0 && (v.consumers.length > 0 || v.keep)) cur += v.bytes;
  const base = cur;
  let peak = cur;
  const step: number[] = [];
  for (const u of order) {
    let out = 0;
    for (const w of p.writes[u]) out += p.values[w].bytes;
    const s = cur + out - inplaceSaving(p, u, (x) => remaining[x]);
    step.push(s);
    if (s > peak) peak = s;
    cur += out;
    for (const x of p.reads[u]) {
      if (--remaining[x] === 0 && !p.values[x].keep) cur -= p.values[x].bytes;
    }
    for (const w of p.writes[u]) if (p.values[w].consumers.length === 0 && !p.values[w].keep) cur -= p.values[w].bytes;
  }
  return { step, peak, base };
}

/** True when `order` lists every node once, each after its predecessors. */
export function isTopological(p: MemProblem, order: readonly number[]): boolean {
  if (order.length !== p.n) return false;
  const pos = new Array<number>(p.n).fill(-1);
  order.forEach((u, i) => (pos[u] = i));
  if (pos.some((x) => x < 0)) return false;
  for (let u = 0; u < p.n; u++) for (const q of p.preds[u]) if (pos[q] > pos[u]) return false;
  return true;
}

/** The bytes node u needs while it runs, in any order: its inputs and outputs, less what writing in place could save. */
export function nodeWorkingSet(p: MemProblem, u: number): number {
  let ws = 0;
  for (const x of p.reads[u]) ws += p.values[x].bytes;
  for (const w of p.writes[u]) ws += p.values[w].bytes;
  return ws - inplaceBound(p, u);
}

/**
 * THE lower bound on the peak of any order of a problem (the one every figure a plan prints comes from:
 * the order search's, and each memory's in the plan, computed on that memory's buffers): the largest
 * working set of one node, and at least the values alive from start to end.
 */
export function nodeLowerBound(p: MemProblem): number {
  let lb = 0;
  for (let u = 0; u < p.n; u++) lb = Math.max(lb, nodeWorkingSet(p, u));
  // values alive from start to end (kept inputs) are always there
  let always = 0;
  for (const v of p.values) if (v.producer < 0 && v.keep) always += v.bytes;
  return Math.max(lb, always);
}

/** The file order: Kahn's algorithm taking the ready node of lowest rank (what a runtime that ignores memory does). */
export function fileOrder(p: MemProblem): number[] {
  const rank = p.rank ?? Array.from({ length: p.n }, (_, i) => i);
  const indeg = p.preds.map((x) => x.length);
  const heap = new MinHeap((a: number, b: number) => rank[a] - rank[b] || a - b);
  for (let u = 0; u < p.n; u++) if (indeg[u] === 0) heap.push(u);
  const out: number[] = [];
  while (heap.size) {
    const u = heap.pop();
    out.push(u);
    for (const s of p.succs[u]) if (--indeg[s] === 0) heap.push(s);
  }
  return out;
}

export class MinHeap<T> {
  private a: T[] = [];
  constructor(private readonly less: (x: T, y: T) => number) {}
  get size() {
    return this.a.length;
  }
  push(x: T) {
    const a = this.a;
    a.push(x);
    for (let i = a.length - 1; i > 0; ) {
      const q = (i - 1) >> 1;
      if (this.less(a[q], a[i]) <= 0) break;
      [a[q], a[i]] = [a[i], a[q]];
      i = q;
    }
  }
  pop(): T {
    const a = this.a;
    const top = a[0];
    const last = a.pop()!;
    if (a.length) {
      a[0] = last;
      for (let i = 0; ; ) {
        const l = 2 * i + 1, r = l + 1;
        let m = i;
        if (l < a.length && this.less(a[l], a[m]) < 0) m = l;
        if (r < a.length && this.less(a[r], a[m]) < 0) m = r;
        if (m === i) break;
        [a[m], a[i]] = [a[i], a[m]];
        i = m;
      }
    }
    return top;
  }
}

/**
 * Buffer lifetimes of an order (positions inclusive; inputs from 0, kept values to the last position),
 * with in-place writes merged: `group[v]` is the storage a value uses (values of one group never need
 * to be apart), `groups` the storages' lifetimes and sizes.
 */
export function lifetimesOf(p: MemProblem, order: readonly number[]): { start: number[]; end: number[]; group: number[]; groups: { start: number; end: number; bytes: number }[] } {
  const pos = new Array<number>(p.n).fill(-1);
  order.forEach((u, i) => (pos[u] = i));
  const last = order.length - 1;
  const start = p.values.map((v) => (v.producer < 0 ? 0 : pos[v.producer]));
  const end = p.values.map((v, id) => {
    if (v.keep) return Math.max(last, start[id]);
    if (v.producer < 0 && v.consumers.length === 0) return start[id] - 1; // an input nobody reads is never alive
    let e = start[id];
    for (const c of v.consumers) e = Math.max(e, pos[c]);
    return e;
  });
  const group = p.values.map((_, i) => i);
  const find = (x: number): number => (group[x] === x ? x : (group[x] = find(group[x])));
  // in place: replay the order's remaining counts
  const remaining = p.values.map((v) => v.consumers.length);
  for (const u of order) {
    const x = inplaceInput(p, u, (v) => remaining[v]);
    if (x >= 0) group[find(p.writes[u][0])] = find(x);
    for (const x of p.reads[u]) remaining[x]--;
  }
  const gi = new Map<number, number>();
  const groups: { start: number; end: number; bytes: number }[] = [];
  p.values.forEach((v, id) => {
    const r = find(id);
    let g = gi.get(r);
    if (g === undefined) {
      gi.set(r, (g = groups.length));
      groups.push({ start: start[id], end: end[id], bytes: v.bytes });
    } else {
      const G = groups[g];
      G.start = Math.min(G.start, start[id]);
      G.end = Math.max(G.end, end[id]);
      G.bytes = Math.max(G.bytes, v.bytes);
    }
  });
  return { start, end, group: p.values.map((_, id) => gi.get(find(id))!), groups };
}
