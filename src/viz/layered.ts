/**
 * The layouts for graphs of any size: no recursion, linear-ish time. `layeredLayout` puts each box in a
 * layer (longest path from the sources, in topological order; cycles broken by index order), orders each
 * layer by the mean position of its predecessors and packs it; clusters are laid out inside out, each one a
 * box of its parent's layout. `gridLayout` is the last resort: boxes in index order, row by row.
 * Pure (no DOM): the layout worker runs them, the tests call them directly.
 */
import type { LayoutRequest } from './layout-types.js';

export interface Placed {
  box: Float32Array;
  cluster: Float32Array;
  width: number;
  height: number;
}

const NODESEP = 14, RANKSEP = 26, PAD = 12, PAD_TOP = 26, PAD_BOTTOM = 10, MARGIN = 20;

/** A flat layered layout of n items with sizes w, h and edges (local indices); centres relative to (0, 0), top left. */
/** Also returns the number of layers and the edges' total span in layers (dagre adds a node per layer an edge crosses). */
export function layerFlat(w: ArrayLike<number>, h: ArrayLike<number>, edges: ArrayLike<number>): { x: Float64Array; y: Float64Array; width: number; height: number; layers: number; span: number } {
  const n = w.length;
  const m = edges.length / 2;
  // adjacency in compressed rows
  const outDeg = new Int32Array(n + 1), inDeg = new Int32Array(n + 1);
  for (let e = 0; e < m; e++) {
    outDeg[edges[2 * e] + 1]++;
    inDeg[edges[2 * e + 1] + 1]++;
  }
  for (let i = 0; i < n; i++) {
    outDeg[i + 1] += outDeg[i];
    inDeg[i + 1] += inDeg[i];
  }
  const succ = new Int32Array(m), pred = new Int32Array(m);
  const so = outDeg.slice(0, n), po = inDeg.slice(0, n);
  for (let e = 0; e < m; e++) {
    const a = edges[2 * e], b = edges[2 * e + 1];
    succ[so[a]++] = b;
    pred[po[b]++] = a;
  }
  // topological position: Kahn in index order; what a cycle holds back follows in index order
  const pos = new Int32Array(n).fill(-1);
  const indeg = new Int32Array(n);
  for (let i = 0; i < n; i++) indeg[i] = inDeg[i + 1] - inDeg[i];
  const order = new Int32Array(n);
  let head = 0, tail = 0;
  for (let i = 0; i < n; i++) if (indeg[i] === 0) order[tail++] = i;
  let next = 0;
  while (tail < n) {
    while (head < tail) {
      const u = order[head++];
      pos[u] = head - 1;
      for (let k = outDeg[u]; k < outDeg[u + 1]; k++) if (--indeg[succ[k]] === 0) order[tail++] = succ[k];
    }
    if (tail < n) {
      while (pos[next] >= 0 || indeg[next] === 0) next++; // the first box a cycle holds back
      indeg[next] = 0;
      order[tail++] = next;
    }
  }
  while (head < tail) pos[order[head]] = head++;
  // layers: longest path over forward edges; sources pulled down to just above their first consumer
  const layer = new Int32Array(n);
  for (let t = 0; t < n; t++) {
    const v = order[t];
    for (let k = inDeg[v]; k < inDeg[v + 1]; k++) if (pos[pred[k]] < t) layer[v] = Math.max(layer[v], layer[pred[k]] + 1);
  }
  for (let t = n - 1; t >= 0; t--) {
    const v = order[t];
    let hasPred = false;
    for (let k = inDeg[v]; k < inDeg[v + 1] && !hasPred; k++) hasPred = pos[pred[k]] < t;
    if (hasPred) continue;
    let low = Infinity;
    for (let k = outDeg[v]; k < outDeg[v + 1]; k++) if (pos[succ[k]] > t) low = Math.min(low, layer[succ[k]] - 1);
    if (low !== Infinity) layer[v] = Math.max(layer[v], low);
  }
  let layers = 0;
  for (let i = 0; i < n; i++) layers = Math.max(layers, layer[i] + 1);
  const count = new Int32Array(layers + 1);
  for (let i = 0; i < n; i++) count[layer[i] + 1]++;
  for (let l = 0; l < layers; l++) count[l + 1] += count[l];
  const byLayer = new Int32Array(n);
  const fill = count.slice(0, layers);
  for (let t = 0; t < n; t++) byLayer[fill[layer[order[t]]]++] = order[t];
  // each layer: ordered by the mean centre of its predecessors, packed and centred on x = 0 (centring
  // rather than shifting onto the predecessors: a chain stays in one column however many merges it has)
  const x = new Float64Array(n), y = new Float64Array(n);
  const desired = new Float64Array(n);
  let top = 0, minX = Infinity, maxX = -Infinity;
  for (let l = 0; l < layers; l++) {
    const row = Array.from(byLayer.subarray(count[l], count[l + 1]));
    let rowH = 0, rowW = -NODESEP;
    for (const v of row) {
      let sum = 0, k0 = 0;
      for (let k = inDeg[v]; k < inDeg[v + 1]; k++) if (layer[pred[k]] < l) {
        sum += x[pred[k]];
        k0++;
      }
      desired[v] = k0 ? sum / k0 : Infinity;
      rowH = Math.max(rowH, h[v]);
      rowW += w[v] + NODESEP;
    }
    if (row.length > 1) row.sort((a, b) => (desired[a] === desired[b] ? pos[a] - pos[b] : desired[a] < desired[b] ? -1 : 1));
    let left = -rowW / 2;
    for (const v of row) {
      x[v] = left + w[v] / 2;
      y[v] = top + rowH / 2;
      left += w[v] + NODESEP;
    }
    minX = Math.min(minX, -rowW / 2);
    maxX = Math.max(maxX, rowW / 2);
    top += rowH + RANKSEP;
  }
  let span = 0;
  for (let e = 0; e < m; e++) span += Math.abs(layer[edges[2 * e + 1]] - layer[edges[2 * e]]);
  if (n === 0) return { x, y, width: 0, height: 0, layers, span };
  for (let i = 0; i < n; i++) x[i] -= minX;
  return { x, y, width: maxX - minX, height: top - RANKSEP, layers, span };
}

/** Clusters innermost first (each after every cluster inside it); throws when they nest in a cycle. */
export function insideOut(parents: readonly number[]): number[] {
  const depth = new Int32Array(parents.length).fill(-1);
  for (let c = 0; c < parents.length; c++) {
    const chain: number[] = [];
    let p = c;
    while (p >= 0 && depth[p] < 0) {
      chain.push(p);
      p = parents[p];
      if (chain.length > parents.length) throw new Error('clusters nest in a cycle');
    }
    let d = p >= 0 ? depth[p] : -1;
    for (let k = chain.length - 1; k >= 0; k--) depth[chain[k]] = ++d;
  }
  return Array.from(parents.keys()).sort((a, b) => depth[b] - depth[a]);
}

/** The layered layout of a whole request: every cluster laid out inside out, then placed top down. */
export function layeredLayout(req: Omit<LayoutRequest, 'seq' | 'engine'>): Placed {
  const nb = req.w.length, nc = req.clusters.length;
  const cParent = req.clusters.map((c) => c.parent);
  const nesting = insideOut(cParent);
  // items of each container (cluster c, or nc for the top): boxes as i, clusters as -(c + 1)
  const items: number[][] = Array.from({ length: nc + 1 }, () => []);
  const slot = new Int32Array(nb), cslot = new Int32Array(nc);
  for (let i = 0; i < nb; i++) {
    const c = req.parent[i] < 0 ? nc : req.parent[i];
    slot[i] = items[c].length;
    items[c].push(i);
  }
  for (let c = 0; c < nc; c++) {
    const p = cParent[c] < 0 ? nc : cParent[c];
    cslot[c] = items[p].length;
    items[p].push(-(c + 1));
  }
  // each edge goes to the innermost container holding both ends, between the items that hold them
  const chainOf = (i: number): number[] => {
    const out = [i];
    for (let c = req.parent[i]; c >= 0; c = cParent[c]) out.push(-(c + 1));
    return out;
  };
  const local: number[][] = Array.from({ length: nc + 1 }, () => []);
  for (let e = 0; e < req.edges.length; e += 2) {
    const a = req.edges[e], b = req.edges[e + 1];
    if (req.parent[a] === req.parent[b]) {
      const c = req.parent[a] < 0 ? nc : req.parent[a];
      if (a !== b) local[c].push(slot[a], slot[b]);
      continue;
    }
    const ca = chainOf(a), cb = chainOf(b);
    let ia = ca.length - 1, ib = cb.length - 1;
    while (ia > 0 && ib > 0 && ca[ia] === cb[ib]) {
      ia--;
      ib--;
    }
    if (ca[ia] === cb[ib]) continue; // one end inside the other's cluster: no edge at this level
    const containerOf = (it: number) => (it >= 0 ? req.parent[it] : cParent[-it - 1]);
    const c = containerOf(ca[ia]) < 0 ? nc : containerOf(ca[ia]);
    const s = (it: number) => (it >= 0 ? slot[it] : cslot[-it - 1]);
    local[c].push(s(ca[ia]), s(cb[ib]));
  }
  const cw = new Float64Array(nc), ch = new Float64Array(nc);
  const rel: { x: Float64Array; y: Float64Array }[] = new Array(nc + 1);
  const layOut = (c: number) => {
    const its = items[c];
    return layerFlat(its.map((it) => (it >= 0 ? req.w[it] : cw[-it - 1])), its.map((it) => (it >= 0 ? req.h[it] : ch[-it - 1])), local[c]);
  };
  for (const c of nesting) {
    const r = layOut(c);
    rel[c] = r;
    cw[c] = items[c].length ? r.width + 2 * PAD : 0;
    ch[c] = items[c].length ? r.height + PAD_TOP + PAD_BOTTOM : 0;
  }
  const top = layOut(nc);
  rel[nc] = { x: top.x.map((v) => v + MARGIN), y: top.y.map((v) => v + MARGIN) };
  // top down: a cluster's content starts at its box's top left, inside the padding
  const box = new Float32Array(4 * nb), cluster = new Float32Array(4 * nc);
  const originX = new Float64Array(nc + 1), originY = new Float64Array(nc + 1);
  const place = (c: number) => {
    items[c].forEach((it, k) => {
      const x = originX[c] + rel[c].x[k], y = originY[c] + rel[c].y[k];
      if (it >= 0) box.set([x, y, req.w[it], req.h[it]], 4 * it);
      else {
        const d = -it - 1;
        cluster.set([x, y, cw[d], ch[d]], 4 * d);
        originX[d] = x - cw[d] / 2 + PAD;
        originY[d] = y - ch[d] / 2 + PAD_TOP;
      }
    });
  };
  place(nc);
  for (const c of [...nesting].reverse()) place(c);
  return { box, cluster, width: top.width + 2 * MARGIN, height: top.height + 2 * MARGIN };
}

/** The last resort: boxes in index order, row by row; clusters drawn around what they hold. */
export function gridLayout(req: Omit<LayoutRequest, 'seq' | 'engine'>): Placed {
  const nb = req.w.length, nc = req.clusters.length;
  const perRow = Math.max(1, Math.ceil(Math.sqrt(nb)));
  const box = new Float32Array(4 * nb);
  let x = MARGIN, y = MARGIN, rowH = 0, width = 0;
  for (let i = 0; i < nb; i++) {
    if (i > 0 && i % perRow === 0) {
      x = MARGIN;
      y += rowH + RANKSEP;
      rowH = 0;
    }
    box.set([x + req.w[i] / 2, y + req.h[i] / 2, req.w[i], req.h[i]], 4 * i);
    x += req.w[i] + NODESEP;
    rowH = Math.max(rowH, req.h[i]);
    width = Math.max(width, x);
  }
  const lo = new Float64Array(2 * nc).fill(Infinity), hi = new Float64Array(2 * nc).fill(-Infinity);
  for (let i = 0; i < nb; i++) {
    for (let c = req.parent[i], guard = 0; c >= 0 && guard <= nc; c = req.clusters[c].parent, guard++) {
      lo[2 * c] = Math.min(lo[2 * c], box[4 * i] - box[4 * i + 2] / 2 - PAD);
      lo[2 * c + 1] = Math.min(lo[2 * c + 1], box[4 * i + 1] - box[4 * i + 3] / 2 - PAD_TOP);
      hi[2 * c] = Math.max(hi[2 * c], box[4 * i] + box[4 * i + 2] / 2 + PAD);
      hi[2 * c + 1] = Math.max(hi[2 * c + 1], box[4 * i + 1] + box[4 * i + 3] / 2 + PAD_BOTTOM);
    }
  }
  const cluster = new Float32Array(4 * nc);
  for (let c = 0; c < nc; c++) if (hi[2 * c] > lo[2 * c]) cluster.set([(lo[2 * c] + hi[2 * c]) / 2, (lo[2 * c + 1] + hi[2 * c + 1]) / 2, hi[2 * c] - lo[2 * c], hi[2 * c + 1] - lo[2 * c + 1]], 4 * c);
  return { box, cluster, width: width + MARGIN, height: y + rowH + MARGIN };
}
