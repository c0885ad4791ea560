/**
 * The viewer's layouts without a browser: the layered layout on graphs far deeper than any recursion
 * could go, clusters holding what they contain, and the fall back from a failing layout to a simpler one
 * saying so (dagre overflowing its stack on a deep chain — the failure the viewer had — and a request
 * no layered layout can take).
 */
import { describe, expect, it } from 'vitest';
import { gridLayout, layeredLayout } from '../../src/viz/layered.js';
import type { LayoutRequest } from '../../src/viz/layout-types.js';
import { layout } from '../../src/viz/layout-worker.js';

/** A chain of n boxes with an edge reaching 8 back every 4th box; boxes grouped in clusters of `group` (nested pairwise: odd clusters inside the even one before them). */
function chain(n: number, group = 0): LayoutRequest {
  const w = new Float32Array(n).map((_, i) => 54 + (i % 3) * 10), h = new Float32Array(n).fill(24), parent = new Int32Array(n).fill(-1);
  const clusters: LayoutRequest['clusters'] = [];
  if (group) {
    for (let c = 0; c < Math.ceil(n / group); c++) clusters.push({ parent: c % 2 ? c - 1 : -1 });
    for (let i = 0; i < n; i++) parent[i] = Math.floor(i / group);
  }
  const e: number[] = [];
  for (let i = 1; i < n; i++) {
    e.push(i - 1, i);
    if (i % 4 === 0 && i >= 8) e.push(i - 8, i);
  }
  return { seq: 0, w, h, parent, clusters, edges: Int32Array.from(e), engine: 'auto' };
}

const at = (box: Float32Array, i: number) => ({ x: box[4 * i], y: box[4 * i + 1], w: box[4 * i + 2], h: box[4 * i + 3] });

describe('the layered layout', () => {
  it('lays out a 100,000-box chain with skips: every box placed, every edge pointing down, no overlap in a row', () => {
    const req = chain(100_000);
    const r = layeredLayout(req);
    const outside: number[] = [], upward: number[] = [];
    for (let i = 0; i < 100_000; i++) {
      const b = at(r.box, i);
      if (!(b.x - b.w / 2 >= 0 && b.x + b.w / 2 <= r.width && b.y - b.h / 2 >= 0 && b.y + b.h / 2 <= r.height)) outside.push(i);
    }
    for (let e = 0; e < req.edges.length; e += 2) if (!(at(r.box, req.edges[e + 1]).y > at(r.box, req.edges[e]).y)) upward.push(e / 2);
    expect(outside).toEqual([]);
    expect(upward).toEqual([]);
    // a chain stays one column wide, however deep
    expect(r.width).toBeLessThan(200);
  });

  it('keeps boxes of one row apart, and each cluster around what it holds (nested ones too)', () => {
    // a fan: one box feeding 40 others, which all feed one: a row of 40
    const n = 42;
    const e: number[] = [];
    for (let i = 1; i <= 40; i++) e.push(0, i, i, 41);
    const wide: LayoutRequest = { seq: 0, w: new Float32Array(n).fill(60), h: new Float32Array(n).fill(24), parent: new Int32Array(n).fill(-1), clusters: [], edges: Int32Array.from(e), engine: 'layered' };
    const r = layeredLayout(wide);
    const row = Array.from({ length: 40 }, (_, k) => at(r.box, k + 1)).sort((a, b) => a.x - b.x);
    for (const b of row) expect(b.y).toBe(row[0].y);
    for (let k = 1; k < row.length; k++) expect(row[k].x - row[k].w / 2).toBeGreaterThanOrEqual(row[k - 1].x + row[k - 1].w / 2);

    const req = chain(600, 50);
    const c = layeredLayout(req);
    const inside = (o: { x: number; y: number; w: number; h: number }, i: { x: number; y: number; w: number; h: number }) =>
      i.x - i.w / 2 >= o.x - o.w / 2 && i.x + i.w / 2 <= o.x + o.w / 2 && i.y - i.h / 2 >= o.y - o.h / 2 && i.y + i.h / 2 <= o.y + o.h / 2;
    for (let i = 0; i < 600; i++) {
      for (let k = req.parent[i]; k >= 0; k = req.clusters[k].parent) expect(inside(at(c.cluster, k), at(c.box, i)), `box ${i} in cluster ${k}`).toBe(true);
    }
    // sibling clusters at the top do not overlap
    const tops = req.clusters.map((x, k) => ({ x, k })).filter(({ x }) => x.parent < 0).map(({ k }) => at(c.cluster, k));
    for (let a = 0; a < tops.length; a++) for (let b = a + 1; b < tops.length; b++) {
      const A = tops[a], B = tops[b];
      expect(Math.abs(A.x - B.x) * 2 >= A.w + B.w || Math.abs(A.y - B.y) * 2 >= A.h + B.h).toBe(true);
    }
  });

  it('survives a cycle (an invalid plan can have one): every box placed', () => {
    const n = 50;
    const e: number[] = [];
    for (let i = 0; i < n; i++) e.push(i, (i + 1) % n);
    const r = layeredLayout({ w: new Float32Array(n).fill(60), h: new Float32Array(n).fill(24), parent: new Int32Array(n).fill(-1), clusters: [], edges: Int32Array.from(e) });
    for (let i = 0; i < n; i++) expect(Number.isFinite(at(r.box, i).y)).toBe(true);
    expect(new Set(Array.from({ length: n }, (_, i) => at(r.box, i).y)).size).toBe(n);
  });
});

describe('choosing and falling back', () => {
  it('auto: dagre for a small shallow graph, the layered layout for a deep one, saying why', () => {
    const small = layout(chain(40));
    expect(small.engine).toBe('dagre');
    expect(small.notes).toEqual([]);
    const deep = layout(chain(10_000));
    expect(deep.engine).toBe('layered');
    expect(deep.notes.join()).toMatch(/10000 boxes: the layered layout/);
  });

  it('dagre asked for a 10,000-deep chain overflows its stack; the layered layout draws it and says so', () => {
    const r = layout({ ...chain(10_000), engine: 'dagre' });
    expect(r.engine).toBe('layered');
    expect(r.notes.join()).toMatch(/the dagre layout failed \(RangeError: Maximum call stack size exceeded\); drawn with the layered layout instead/);
    expect(Number.isFinite(r.box[4 * 9_999 + 1])).toBe(true);
  });

  it('clusters nested in a cycle defeat dagre and the layered layout: the grid draws it, both failures said', () => {
    const req = chain(30, 10);
    req.clusters[0].parent = 1; // 0 in 1 and 1 in 0
    const r = layout({ ...req, engine: 'dagre' });
    expect(r.engine).toBe('grid');
    expect(r.notes).toHaveLength(2);
    expect(r.notes[0]).toMatch(/the dagre layout failed/);
    expect(r.notes[1]).toMatch(/the layered layout failed .*clusters nest in a cycle/);
    const g = gridLayout(req);
    for (let i = 0; i < 30; i++) expect(Number.isFinite(at(g.box, i).x)).toBe(true);
  });
});
