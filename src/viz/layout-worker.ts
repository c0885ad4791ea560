/**
 * The graph layout, in a web worker so the page never freezes. dagre's layered layout (clusters as
 * compound nodes) for scenes up to DAGRE_MAX_BOXES boxes; the linear layered layout of layered.ts above
 * that. A layout that fails falls back to the next simpler one (dagre → layered → grid) and says so in
 * the reply's notes. Bundled into the page by src/viz/html.ts.
 */
import dagre from '@dagrejs/dagre';
import { gridLayout, insideOut, layerFlat, layeredLayout, type Placed } from './layered.js';
import type { LayoutReply, LayoutRequest } from './layout-types.js';

/**
 * dagre's cost grows much faster than linearly, with the depth most, and it recurses along paths: here
 * light_densenet121's 670 boxes in 670 layers take it 1.2 s, a chain of 1,000 with skips 6 s, and a chain
 * of 2,000 overflows its stack. Above these, the layered layout.
 */
export const DAGRE_MAX_BOXES = 1200, DAGRE_MAX_LAYERS = 800;

function dagreLayout(req: LayoutRequest): Placed & { routes: Float32Array[] } {
  const nb = req.w.length, nc = req.clusters.length;
  const nesting = insideOut(req.clusters.map((c) => c.parent)); // (dagre itself loops forever on clusters nested in a cycle)
  // Clusters holding no box are left out (dagre cannot size them); one flat cluster is drawn around its boxes.
  const holds = new Uint8Array(nc);
  for (let i = 0; i < nb; i++) for (let c = req.parent[i]; c >= 0 && !holds[c]; c = req.clusters[c].parent) holds[c] = 1;
  const nested = req.clusters.some((c, k) => holds[k] && c.parent >= 0);
  const compound = nested || req.clusters.filter((_, k) => holds[k]).length > 1;
  const g = new dagre.graphlib.Graph({ compound, multigraph: false });
  g.setGraph({ rankdir: 'TB', nodesep: 14, ranksep: 26, edgesep: 6, marginx: 20, marginy: 20 });
  g.setDefaultEdgeLabel(() => ({}));
  if (compound) {
    for (let c = 0; c < nc; c++) if (holds[c]) g.setNode(`c${c}`, {});
    for (let c = 0; c < nc; c++) if (holds[c] && req.clusters[c].parent >= 0) g.setParent(`c${c}`, `c${req.clusters[c].parent}`);
  }
  for (let i = 0; i < nb; i++) {
    g.setNode(`b${i}`, { width: req.w[i], height: req.h[i] });
    if (compound && req.parent[i] >= 0) g.setParent(`b${i}`, `c${req.parent[i]}`);
  }
  for (let e = 0; e < req.edges.length; e += 2) g.setEdge(`b${req.edges[e]}`, `b${req.edges[e + 1]}`);
  dagre.layout(g);
  const box = new Float32Array(4 * nb);
  for (let i = 0; i < nb; i++) {
    const l = g.node(`b${i}`);
    box.set([l.x, l.y, req.w[i], req.h[i]], 4 * i);
  }
  const cluster = new Float32Array(4 * nc);
  for (let c = 0; c < nc; c++) {
    if (!holds[c]) continue;
    if (compound) {
      const l = g.node(`c${c}`);
      if (l?.width !== undefined) cluster.set([l.x, l.y, l.width, l.height], 4 * c);
      continue;
    }
    let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
    for (let i = 0; i < nb; i++) {
      if (req.parent[i] !== c) continue;
      x0 = Math.min(x0, box[4 * i] - req.w[i] / 2 - 12);
      x1 = Math.max(x1, box[4 * i] + req.w[i] / 2 + 12);
      y0 = Math.min(y0, box[4 * i + 1] - req.h[i] / 2 - 26);
      y1 = Math.max(y1, box[4 * i + 1] + req.h[i] / 2 + 10);
    }
    cluster.set([(x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0], 4 * c);
  }
  if (compound) {
    // dagre leaves no room for a cluster's label: each cluster's top rises to 18 px above its inner clusters' tops
    for (const c of nesting) {
      const p = req.clusters[c].parent;
      if (p < 0 || !holds[c] || !holds[p]) continue;
      const top = cluster[4 * c + 1] - cluster[4 * c + 3] / 2 - 18, ptop = cluster[4 * p + 1] - cluster[4 * p + 3] / 2;
      if (top >= ptop) continue;
      const bottom = cluster[4 * p + 1] + cluster[4 * p + 3] / 2;
      cluster[4 * p + 1] = (top + bottom) / 2;
      cluster[4 * p + 3] = bottom - top;
    }
  }
  const routes: Float32Array[] = [];
  for (let e = 0; e < req.edges.length; e += 2) {
    const pts = (g.edge(`b${req.edges[e]}`, `b${req.edges[e + 1]}`)?.points ?? []) as { x: number; y: number }[];
    routes.push(Float32Array.from(pts.flatMap((p) => [p.x, p.y])));
  }
  const gg = g.graph();
  return { box, cluster, routes, width: gg.width ?? 0, height: gg.height ?? 0 };
}

/** The layout a request asks for, falling back to simpler ones when one throws. */
export function layout(req: LayoutRequest): Omit<LayoutReply, 'seq' | 'ms'> {
  const notes: string[] = [];
  let engine: LayoutReply['engine'] = req.engine === 'auto' ? 'dagre' : req.engine;
  if (req.engine === 'auto' && req.w.length > DAGRE_MAX_BOXES) {
    engine = 'layered';
    notes.push(`${req.w.length} boxes: the layered layout (dagre lays out up to ${DAGRE_MAX_BOXES})`);
  } else if (req.engine === 'auto') {
    const layers = layerFlat(req.w, req.h, req.edges).layers;
    if (layers > DAGRE_MAX_LAYERS) {
      engine = 'layered';
      notes.push(`${layers} layers deep: the layered layout (dagre lays out up to ${DAGRE_MAX_LAYERS})`);
    }
  }
  for (;;) {
    try {
      const placed = engine === 'dagre' ? dagreLayout(req) : engine === 'layered' ? layeredLayout(req) : gridLayout(req);
      return { engine, notes, ...placed };
    } catch (err) {
      if (engine === 'grid') throw err;
      const next = engine === 'dagre' ? 'layered' : 'grid';
      notes.push(`the ${engine} layout failed (${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}); drawn with the ${next} layout instead`);
      engine = next;
    }
  }
}

/** The worker's global scope, typed by hand (the project compiles without the DOM/webworker libs). */
const ctx = globalThis as unknown as { onmessage: ((ev: { data: LayoutRequest }) => void) | null; postMessage(m: LayoutReply, transfer?: unknown[]): void };
ctx.onmessage = (ev) => {
  const t0 = performance.now();
  const r = layout(ev.data);
  const reply: LayoutReply = { seq: ev.data.seq, ...r, ms: performance.now() - t0 };
  ctx.postMessage(reply, [reply.box.buffer, reply.cluster.buffer, ...(reply.routes ?? []).map((x) => x.buffer)]);
};
