/**
 * Memory-aware ordering of a MemProblem (see memory-graph.ts): a topological order with the smallest
 * peak of alive bytes.
 *
 * - Divide and conquer: a *cut node* (every other node of its block is its ancestor or its descendant)
 *   splits a block into independent problems; the set of alive values at a cut does not depend on the
 *   order, so the peak is the largest of the parts' peaks. Cut nodes are found in linear time on one
 *   topological order (no edge jumps over the node, no sink before it, no source after it).
 * - Exact search per segment: dynamic programming over frontiers (the set of nodes already run; the
 *   alive bytes depend only on that set), layer by layer, memoized by set, pruned against the best
 *   peak found so far (SERENITY, MLSys 2020). When it finishes the segment's optimum is proven; when it
 *   exceeds its state or time budget the segment keeps the heuristic's order.
 * - Heuristic: greedy list scheduling under two rules (smallest step memory, smallest growth), a beam
 *   search over frontiers (widened 4× at a time, up to 64× the base width, while the budget lasts), then local improvement (moving single nodes within their dependency window)
 *   until the time budget runs out.
 */
import { inplaceSaving, MinHeap, nodeLowerBound, nodeWorkingSet, type MemProblem } from './memory-graph.js';

export interface OrderOptions {
  /** Time budget for the whole problem (heuristic improvement and exact search), ms. */
  budgetMs?: number;
  /** Largest segment the exact search tries. */
  exactMaxNodes?: number;
  /** States the exact search may create per segment before it gives up. */
  maxStates?: number;
  /** Beam width of the heuristic frontier search (0: off). */
  beam?: number;
  /** Skip the exact search (heuristic only). */
  heuristicOnly?: boolean;
}

export interface OrderResult {
  order: number[];
  peak: number;
  /** The lower bound on any order's peak (nodeLowerBound: the one bound every plan figure comes from). */
  lowerBound: number;
  /** True when every segment's order was proven optimal: `peak` is then the exact optimum. */
  exact: boolean;
  segments: number;
  exactSegments: number;
  /** Largest segment (nodes). */
  widest: number;
  ms: number;
}

/**
 * The budget is counted in units of work, not read from the clock, so that the same inputs always give
 * the same order (plans are deterministic); WORK_PER_MS converts, measured roughly on a 2-core machine.
 */
export const WORK_PER_MS = 1500;

class Work {
  used = 0;
  constructor(readonly limit: number) {}
}

/** Mutable run state over the whole problem: remaining consumers per value and alive bytes, with an undo log. */
class Ctx {
  rem: Int32Array;
  cur = 0;
  private log: number[] = [];
  private deltas: number[] = [];
  constructor(readonly p: MemProblem) {
    this.rem = Int32Array.from(p.values, (v) => v.consumers.length);
    for (const v of p.values) if (v.producer < 0 && (v.consumers.length > 0 || v.keep)) this.cur += v.bytes;
  }
  outBytes(u: number) {
    let s = 0;
    for (const w of this.p.writes[u]) s += this.p.values[w].bytes;
    return s;
  }
  /** Memory while u runs now. */
  stepMem(u: number) {
    return this.cur + this.outBytes(u) - inplaceSaving(this.p, u, (x) => this.rem[x]);
  }
  /** Bytes freed after u runs now (inputs it is the last reader of, outputs nobody reads). */
  freed(u: number) {
    const { p } = this;
    let f = 0;
    for (const x of p.reads[u]) if (this.rem[x] === 1 && !p.values[x].keep) f += p.values[x].bytes;
    for (const w of p.writes[u]) if (p.values[w].consumers.length === 0 && !p.values[w].keep) f += p.values[w].bytes;
    return f;
  }
  /** Runs u; returns its step memory. Logged when `undoable`. */
  run(u: number, undoable: boolean) {
    const s = this.stepMem(u);
    const d = this.outBytes(u) - this.freed(u);
    this.cur += d;
    for (const x of this.p.reads[u]) {
      this.rem[x]--;
      if (undoable) this.log.push(x);
    }
    if (undoable) {
      this.log.push(-1); // marker: the step's change of alive bytes is on the delta stack
      this.deltas.push(d);
    }
    return s;
  }
  mark() {
    return this.log.length;
  }
  undo(to: number) {
    while (this.log.length > to) {
      const x = this.log.pop()!;
      if (x < 0) this.cur -= this.deltas.pop()!;
      else this.rem[x]++;
    }
  }
}

/** Peak of running `seq` from the context's current state (the state is left unchanged). */
function evalSeq(ctx: Ctx, seq: readonly number[], work?: Work): { peak: number; sum: number } {
  if (work) work.used += seq.length * 0.05;
  const m = ctx.mark();
  let peak = 0, sum = 0;
  for (const u of seq) {
    const s = ctx.run(u, true);
    if (s > peak) peak = s;
    sum += s;
  }
  ctx.undo(m);
  return { peak, sum };
}

/** Greedy list scheduling over a segment; `rule` 0: smallest max(step, peak so far) then growth; 1: smallest growth then step. */
function greedy(ctx: Ctx, seg: readonly number[], loc: Int32Array, rule: 0 | 1, rank: number[]): number[] {
  const p = ctx.p;
  const indeg = new Int32Array(seg.length);
  seg.forEach((u, i) => {
    let d = 0;
    for (const q of p.preds[u]) if (loc[q] >= 0) d++;
    indeg[i] = d;
  });
  const ready: number[] = [];
  seg.forEach((u, i) => indeg[i] === 0 && ready.push(u));
  const m = ctx.mark();
  const out: number[] = [];
  let peak = 0;
  while (ready.length) {
    let bi = 0, bk1 = Infinity, bk2 = Infinity;
    for (let i = 0; i < ready.length; i++) {
      const u = ready[i];
      const step = ctx.stepMem(u);
      const grow = ctx.outBytes(u) - ctx.freed(u);
      const k1 = rule === 0 ? Math.max(step, peak) : grow;
      const k2 = rule === 0 ? grow : Math.max(step, peak);
      if (k1 < bk1 || (k1 === bk1 && (k2 < bk2 || (k2 === bk2 && rank[u] < rank[ready[bi]])))) {
        bi = i;
        bk1 = k1;
        bk2 = k2;
      }
    }
    const u = ready[bi];
    ready[bi] = ready[ready.length - 1];
    ready.pop();
    peak = Math.max(peak, ctx.run(u, true));
    out.push(u);
    for (const s of p.succs[u]) {
      const j = loc[s];
      if (j >= 0 && --indeg[j] === 0) ready.push(s);
    }
  }
  ctx.undo(m);
  return out;
}

interface FState {
  bits: Uint32Array;
  h1: number;
  h2: number;
  mem: number;
  peak: number;
  ready: number[];
  parent: FState | null;
  node: number;
}

/**
 * Frontier search over a segment from the context's state. `beam` = Infinity: exact (returns null when
 * it runs out of states or time; `proved` when no order beats `ub`). Otherwise keeps the `beam` best
 * frontiers per layer.
 */
function frontierSearch(ctx: Ctx, seg: readonly number[], loc: Int32Array, ub: number, beam: number, maxStates: number, work: Work, limit: number): { order: number[] | null; peak: number; complete: boolean } {
  const p = ctx.p;
  const m = seg.length;
  const words = (m + 31) >>> 5;
  const z1 = new Int32Array(m), z2 = new Int32Array(m);
  let seed = 0x9e3779b9 ^ m;
  const rnd = () => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return seed | 0;
  };
  for (let i = 0; i < m; i++) {
    z1[i] = rnd();
    z2[i] = rnd();
  }
  const has = (bits: Uint32Array, j: number) => (bits[j >>> 5] >>> (j & 31)) & 1;
  const localPreds = seg.map((u) => p.preds[u].map((q) => loc[q]).filter((j) => j >= 0));
  const localSuccs = seg.map((u) => p.succs[u].map((q) => loc[q]).filter((j) => j >= 0));
  // inputs of each node with their remaining count at the segment's start
  const rem0 = ctx.rem;
  const exact = !Number.isFinite(beam);
  let layer: FState[] = [{ bits: new Uint32Array(words), h1: 0, h2: 0, mem: ctx.cur, peak: 0, ready: localPreds.map((ps, j) => (ps.length === 0 ? j : -1)).filter((j) => j >= 0), parent: null, node: -1 }];
  let states = 0;
  const remIn = (bits: Uint32Array, x: number) => {
    let r = rem0[x];
    for (const c of p.values[x].consumers) {
      const j = loc[c];
      if (j >= 0 && has(bits, j)) r--;
    }
    return r;
  };
  for (let k = 0; k < m; k++) {
    const next = new Map<number, FState>();
    for (const st of layer) {
      for (const j of st.ready) {
        const u = seg[j];
        let out = 0;
        for (const w of p.writes[u]) out += p.values[w].bytes;
        const step = st.mem + out - inplaceSaving(p, u, (x) => remIn(st.bits, x));
        const peak = Math.max(st.peak, step);
        if (exact ? peak >= ub : false) continue;
        let freed = 0;
        for (const x of p.reads[u]) if (!p.values[x].keep && remIn(st.bits, x) === 1) freed += p.values[x].bytes;
        for (const w of p.writes[u]) if (p.values[w].consumers.length === 0 && !p.values[w].keep) freed += p.values[w].bytes;
        const h1 = st.h1 ^ z1[j], h2 = st.h2 ^ z2[j];
        const key = h1 * 2097152 + (h2 & 0x1fffff);
        const have = next.get(key);
        if (have && have.peak <= peak) continue;
        const bits = st.bits.slice();
        bits[j >>> 5] |= 1 << (j & 31);
        const ready = st.ready.filter((r) => r !== j);
        for (const s of localSuccs[j]) if (localPreds[s].every((q) => has(bits, q))) ready.push(s);
        next.set(key, { bits, h1, h2, mem: st.mem + out - freed, peak, ready, parent: st, node: u });
        states++;
      }
      work.used += st.ready.length;
    }
    if (next.size === 0) return { order: null, peak: ub, complete: true }; // nothing beats ub
    layer = [...next.values()];
    if (!exact && layer.length > beam) {
      layer.sort((a, b) => a.peak - b.peak || a.mem - b.mem);
      layer.length = beam;
    }
    if (exact && (states > maxStates || work.used > limit)) return { order: null, peak: ub, complete: false };
    if (!exact && work.used > limit) return { order: null, peak: ub, complete: false };
  }
  let best = layer[0];
  for (const s of layer) if (s.peak < best.peak) best = s;
  const order: number[] = [];
  for (let s: FState | null = best; s && s.node >= 0; s = s.parent) order.push(s.node);
  order.reverse();
  return { order, peak: best.peak, complete: true };
}

/** Moves single nodes within their dependency window while the (peak, sum of steps) of the segment drops. */
function improve(ctx: Ctx, seq: number[], work: Work, limit: number): number[] {
  const p = ctx.p;
  let cur = evalSeq(ctx, seq);
  const m = seq.length;
  const inSeg = new Map<number, number>();
  let improved = true;
  while (improved && work.used < limit) {
    improved = false;
    seq.forEach((u, i) => inSeg.set(u, i));
    for (let i = 0; i < m && work.used < limit; i++) {
      const u = seq[i];
      let lo = 0, hi = m - 1;
      for (const q of p.preds[u]) {
        const j = inSeg.get(q);
        if (j !== undefined) lo = Math.max(lo, j + 1);
      }
      for (const s of p.succs[u]) {
        const j = inSeg.get(s);
        if (j !== undefined) hi = Math.min(hi, j - 1);
      }
      // try the extremes of the window and a few positions near them
      const cands = new Set([lo, hi, lo + 1, hi - 1, Math.floor((lo + hi) / 2)].filter((j) => j >= lo && j <= hi && j !== i));
      for (const j of cands) {
        const t = seq.slice();
        t.splice(i, 1);
        t.splice(j, 0, u);
        const e = evalSeq(ctx, t, work);
        if (e.peak < cur.peak || (e.peak === cur.peak && e.sum < cur.sum)) {
          seq = t;
          cur = e;
          improved = true;
          seq.forEach((x, k) => inSeg.set(x, k));
          break;
        }
      }
    }
  }
  return seq;
}

/** Splits a block (in a topological order) at its cut nodes: segments and single cut nodes, in order. */
export function cutSegments(p: MemProblem, block: readonly number[], loc: Int32Array): number[][] {
  const m = block.length;
  if (m <= 1) return block.map((u) => [u]);
  // prefix: furthest local successor of any node so far, and whether every node so far has a local successor
  const okBefore = new Uint8Array(m + 1), okAfter = new Uint8Array(m + 1);
  let reach = -1, sinks = 0;
  okBefore[0] = 1;
  for (let i = 0; i < m; i++) {
    // okBefore[i]: nodes 0..i-1 all reach node i without jumping over it
    const u = block[i];
    let hasSucc = false;
    for (const s of p.succs[u]) {
      const j = loc[s];
      if (j >= 0) {
        hasSucc = true;
        reach = Math.max(reach, j);
      }
    }
    if (!hasSucc) sinks++;
    okBefore[i + 1] = sinks === 0 && reach <= i + 1 ? 1 : 0;
  }
  let back = m, sources = 0;
  okAfter[m - 1] = 1;
  for (let i = m - 1; i >= 1; i--) {
    const u = block[i];
    let hasPred = false;
    for (const q of p.preds[u]) {
      const j = loc[q];
      if (j >= 0) {
        hasPred = true;
        back = Math.min(back, j);
      }
    }
    if (!hasPred) sources++;
    okAfter[i - 1] = sources === 0 && back >= i - 1 ? 1 : 0;
  }
  const out: number[][] = [];
  let seg: number[] = [];
  for (let i = 0; i < m; i++) {
    if (okBefore[i] && okAfter[i]) {
      if (seg.length) out.push(seg);
      out.push([block[i]]);
      seg = [];
    } else seg.push(block[i]);
  }
  if (seg.length) out.push(seg);
  return out;
}

/**
 * Orders each block (blocks run in the given sequence; each must be closed under the order's
 * constraints given the blocks before it) for the smallest peak.
 */
export function orderBlocks(p: MemProblem, blocks: readonly (readonly number[])[], opts: OrderOptions = {}): OrderResult {
  const t0 = performance.now();
  const budget = opts.budgetMs ?? 2000;
  const work = new Work(budget * WORK_PER_MS);
  const exactMax = opts.exactMaxNodes ?? 64;
  const maxStates = opts.maxStates ?? 200_000;
  const beam = opts.beam ?? 24;
  const rank = p.rank ?? Array.from({ length: p.n }, (_, i) => i);
  const ctx = new Ctx(p);
  const loc = new Int32Array(p.n).fill(-1);
  const order: number[] = [];
  let peak = ctx.cur, lower = ctx.cur, exactAll = true, segments = 0, exactSegments = 0, widest = 0;
  // segments of every block (decided before any search, so the budget can be shared by size)
  const plan: number[][] = [];
  for (const block of blocks) {
    block.forEach((u, i) => (loc[u] = i));
    plan.push(...cutSegments(p, block, loc));
    for (const u of block) loc[u] = -1;
  }
  const wholeLb = nodeLowerBound(p);
  const totalWork = plan.reduce((a, s) => a + (s.length > 1 ? s.length : 0), 0) || 1;
  let spentWork = 0;
  for (const seg of plan) {
    segments++;
    widest = Math.max(widest, seg.length);
    seg.forEach((u, i) => (loc[u] = i));
    // a lower bound for the segment: bytes alive through all of it plus the largest node working set
    let through = 0;
    const inSeg = new Set<number>();
    for (const u of seg) for (const x of p.reads[u]) inSeg.add(x);
    // values alive now that no node of the segment reads
    let segLb = 0;
    for (const u of seg) segLb = Math.max(segLb, nodeWorkingSet(p, u));
    through = ctx.cur;
    for (const x of inSeg) if (ctx.rem[x] > 0 && (p.values[x].producer < 0 || loc[p.values[x].producer] < 0)) through -= p.values[x].bytes;
    segLb += through;
    let best: number[];
    let bestPeak: number;
    let proved = false;
    if (seg.length === 1) {
      best = seg;
      bestPeak = ctx.stepMem(seg[0]);
      proved = true;
    } else {
      spentWork += seg.length;
      const left = Math.max(0, work.limit - work.used);
      const segLimit = work.used + Math.max(2000, left * (seg.length / Math.max(1, totalWork - spentWork + seg.length)));
      const cands: number[][] = [[...seg].sort((a, b) => loc[a] - loc[b]), greedy(ctx, seg, loc, 0, rank), greedy(ctx, seg, loc, 1, rank)];
      best = cands[0];
      bestPeak = Infinity;
      let bestSum = Infinity;
      for (const c of cands) {
        const e = evalSeq(ctx, c, work);
        if (e.peak < bestPeak || (e.peak === bestPeak && e.sum < bestSum)) {
          best = c;
          bestPeak = e.peak;
          bestSum = e.sum;
        }
      }
      if (bestPeak <= segLb) proved = true;
      // a segment already under the peak reached so far (or under the bound of the whole problem) cannot lower the overall peak: no search for it
      const settled = () => proved || bestPeak <= Math.max(peak, wholeLb);
      // beam search, widened 4× at a time while the segment's share of the budget lasts
      for (let width = beam; !settled() && width > 0 && seg.length <= 4000 && width <= beam * 64; width *= 4) {
        const b = frontierSearch(ctx, seg, loc, bestPeak, width, Infinity, work, segLimit);
        if (!b.complete) break;
        if (b.order && b.peak < bestPeak) {
          best = b.order;
          bestPeak = b.peak;
          if (bestPeak <= segLb) proved = true;
        }
      }
      if (!settled() && !opts.heuristicOnly && seg.length <= exactMax) {
        const r = frontierSearch(ctx, seg, loc, bestPeak, Infinity, maxStates, work, work.used > work.limit ? work.used + 1000 : Math.max(segLimit, work.used + 10 * WORK_PER_MS));
        if (r.complete) {
          proved = true;
          if (r.order) {
            best = r.order;
            bestPeak = r.peak;
          }
        }
      }
      if (!settled() && seg.length <= 3000 && work.used < segLimit) {
        best = improve(ctx, best, work, segLimit);
        bestPeak = evalSeq(ctx, best).peak;
      }
      if (bestPeak <= segLb) proved = true;
    }
    if (proved) exactSegments++;
    else exactAll = false;
    for (const u of best) {
      const s = ctx.run(u, false);
      if (s > peak) peak = s;
      order.push(u);
    }
    lower = Math.max(lower, segLb);
    for (const u of seg) loc[u] = -1;
  }
  // optimal also when the peak meets the lower bound, though some segment (below the peak) was not proven
  return { order, peak, lowerBound: nodeLowerBound(p), exact: exactAll || peak <= lower, segments, exactSegments, widest, ms: performance.now() - t0 };
}

/** Orders the whole problem (no block constraints): one block in the file order. */
export function orderForMemory(p: MemProblem, opts: OrderOptions = {}): OrderResult {
  const rank = p.rank ?? Array.from({ length: p.n }, (_, i) => i);
  const indeg = p.preds.map((x) => x.length);
  const heap = new MinHeap<number>((a, b) => rank[a] - rank[b] || a - b);
  for (let u = 0; u < p.n; u++) if (indeg[u] === 0) heap.push(u);
  const topo: number[] = [];
  while (heap.size) {
    const u = heap.pop();
    topo.push(u);
    for (const s of p.succs[u]) if (--indeg[s] === 0) heap.push(s);
  }
  return orderBlocks(p, [topo], opts);
}
