/**
 * The memory-aware order, checked by brute force: on seeded random small DAGs (with shared inputs,
 * kept outputs, dead values and in-place ops over one or any of several inputs) every topological order is enumerated; the exact search
 * must return a valid order whose peak is the true optimum, and say it is exact. The heuristic alone
 * must return a valid order no better than the optimum, and the lower bound must never exceed it.
 */
import { describe, expect, it } from 'vitest';
import { fileOrder, isTopological, lifetimesOf, makeProblem, nodeLowerBound, simulate, type MemProblem, type MemValue } from '../../src/passes/memory-graph.js';
import { cutSegments, orderBlocks, orderForMemory } from '../../src/passes/order-search.js';
import { peakAlive } from '../../src/passes/memory-offsets.js';
import { seeded } from '../helpers/models.js';

function randomProblem(r: () => number, n: number): MemProblem {
  const values: MemValue[] = [];
  const inputs = 1 + Math.floor(r() * 2);
  for (let i = 0; i < inputs; i++) values.push({ bytes: 64 * (1 + Math.floor(r() * 8)), producer: -1, consumers: [], keep: false });
  const inplace: number[][] = Array.from({ length: n }, () => []);
  for (let u = 0; u < n; u++) {
    // reads 1-3 earlier values (at least one), writes one value (sometimes two)
    const k = 1 + Math.floor(r() * 3);
    const reads = new Set<number>();
    for (let j = 0; j < k; j++) reads.add(Math.floor(r() * values.length));
    for (const x of reads) values[x].consumers.push(u);
    const outs = r() < 0.15 ? 2 : 1;
    const first = values.length;
    for (let j = 0; j < outs; j++) values.push({ bytes: 64 * (1 + Math.floor(r() * 8)), producer: u, consumers: [], keep: false });
    if (outs === 1 && r() < 0.3) {
      // unary (first input only) or n-ary elementwise (any input of the output's size)
      const x = [...reads][0];
      values[first].bytes = values[x].bytes;
      inplace[u] = r() < 0.5 ? [x] : [...reads].filter((y) => values[y].bytes === values[x].bytes);
    }
  }
  for (const v of values) if (v.consumers.length === 0 && v.producer >= 0 && r() < 0.7) v.keep = true;
  return makeProblem(n, values, inplace);
}

/** Minimum peak over every topological order, by enumeration. */
function bruteOptimum(p: MemProblem): { peak: number; orders: number } {
  const indeg = p.preds.map((x) => x.length);
  const seq: number[] = [];
  let best = Infinity, count = 0;
  const rec = () => {
    if (seq.length === p.n) {
      count++;
      best = Math.min(best, simulate(p, seq).peak);
      return;
    }
    for (let u = 0; u < p.n; u++) {
      if (indeg[u] !== 0 || seq.includes(u)) continue;
      seq.push(u);
      for (const s of p.succs[u]) indeg[s]--;
      rec();
      for (const s of p.succs[u]) indeg[s]++;
      seq.pop();
    }
  };
  rec();
  return { peak: best, orders: count };
}

describe('memory-aware order against exhaustive enumeration of topological orders', () => {
  const TRIALS = 300;

  it(`exact search returns the true optimum and says so (${TRIALS} random DAGs of 2-9 nodes)`, () => {
    const r = seeded(2024);
    let multi = 0;
    for (let t = 0; t < TRIALS; t++) {
      const p = randomProblem(r, 2 + Math.floor(r() * 8));
      const brute = bruteOptimum(p);
      if (brute.orders > 1) multi++;
      const res = orderForMemory(p, { budgetMs: 10_000 });
      expect(isTopological(p, res.order), `trial ${t}`).toBe(true);
      expect(simulate(p, res.order).peak, `trial ${t}`).toBe(res.peak);
      expect(res.exact, `trial ${t}`).toBe(true);
      expect(res.peak, `trial ${t}: ${brute.orders} orders`).toBe(brute.peak);
      expect(res.lowerBound, `trial ${t}`).toBeLessThanOrEqual(brute.peak);
      expect(nodeLowerBound(p), `trial ${t}`).toBeLessThanOrEqual(brute.peak);
    }
    expect(multi).toBeGreaterThan(TRIALS / 2); // most graphs have a real choice of order
  });

  it('the heuristic alone gives valid orders, never below the optimum, never worse than the file order', () => {
    const r = seeded(77);
    for (let t = 0; t < 150; t++) {
      const p = randomProblem(r, 2 + Math.floor(r() * 8));
      const brute = bruteOptimum(p);
      const res = orderForMemory(p, { heuristicOnly: true, beam: 0, budgetMs: 0 });
      expect(isTopological(p, res.order), `trial ${t}`).toBe(true);
      expect(res.peak, `trial ${t}`).toBeGreaterThanOrEqual(brute.peak);
      expect(res.peak, `trial ${t}`).toBeLessThanOrEqual(simulate(p, fileOrder(p)).peak);
    }
  });

  it('exact on larger random DAGs (12-16 nodes) beats or ties the heuristic and the file order', () => {
    const r = seeded(5);
    for (let t = 0; t < 40; t++) {
      const p = randomProblem(r, 12 + Math.floor(r() * 5));
      const ex = orderForMemory(p, { budgetMs: 10_000 });
      const h = orderForMemory(p, { heuristicOnly: true, beam: 0 });
      expect(isTopological(p, ex.order)).toBe(true);
      expect(ex.exact, `trial ${t}`).toBe(true);
      expect(ex.peak).toBeLessThanOrEqual(h.peak);
      expect(ex.peak).toBeLessThanOrEqual(simulate(p, fileOrder(p)).peak);
    }
  });

  it('cut nodes split a chain of diamonds into independent segments without losing the optimum', () => {
    // x -> a -> {b, c} -> d -> {e, f} -> g ... : a, d, g are cut nodes
    const values: MemValue[] = [{ bytes: 64, producer: -1, consumers: [0], keep: false }];
    const n = 10;
    const v = (bytes: number, producer: number, consumers: number[], keep = false) => values.push({ bytes, producer, consumers, keep }) - 1;
    v(128, 0, [1, 2]);
    v(512, 1, [3]);
    v(64, 2, [3]);
    v(128, 3, [4, 5]);
    v(64, 4, [6]);
    v(1024, 5, [6]);
    v(128, 6, [7, 8]);
    v(256, 7, [9]);
    v(256, 8, [9]);
    v(64, 9, [], true);
    const p = makeProblem(n, values);
    const loc = new Int32Array(n).fill(-1);
    const topo = fileOrder(p);
    topo.forEach((u, i) => (loc[u] = i));
    const segs = cutSegments(p, topo, loc);
    expect(segs.filter((s) => s.length === 1).map((s) => s[0])).toEqual(expect.arrayContaining([0, 3, 6, 9]));
    const res = orderBlocks(p, [topo], { budgetMs: 1000 });
    expect(res.exact).toBe(true);
    expect(res.peak).toBe(bruteOptimum(p).peak);
  });

  it('lifetimes of an order hold exactly its simulated peak (in-place storage counted once)', () => {
    const r = seeded(9);
    for (let t = 0; t < 200; t++) {
      const p = randomProblem(r, 2 + Math.floor(r() * 10));
      const order = orderForMemory(p, { budgetMs: 1000 }).order;
      expect(peakAlive(lifetimesOf(p, order).groups), `trial ${t}`).toBe(simulate(p, order).peak);
    }
  });
});
