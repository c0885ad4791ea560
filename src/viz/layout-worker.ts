/**
 * The graph layout, in a web worker so the page never freezes: dagre's layered layout, with partitions
 * as compound (cluster) nodes. Bundled into the page by src/viz/html.ts.
 */
import dagre from '@dagrejs/dagre';
import type { LayoutReply, LayoutRequest } from './layout-types.js';

/** The worker's global scope, typed by hand (the project compiles without the DOM/webworker libs). */
const ctx = globalThis as unknown as { onmessage: ((ev: { data: LayoutRequest }) => void) | null; postMessage(m: LayoutReply): void };
ctx.onmessage = (ev) => {
  const req = ev.data;
  const t0 = performance.now();
  // One group: a flat layout (much faster in dagre) and the group's box drawn around its nodes.
  const compound = req.clusters.length > 1;
  const g = new dagre.graphlib.Graph({ compound, multigraph: false });
  g.setGraph({ rankdir: 'TB', nodesep: 14, ranksep: 26, edgesep: 6, marginx: 20, marginy: 20 });
  g.setDefaultEdgeLabel(() => ({}));
  if (compound) for (const c of req.clusters) g.setNode(c.id, { label: c.label, paddingTop: 24 });
  for (const n of req.nodes) {
    g.setNode(n.id, { width: n.w, height: n.h });
    if (n.parent && compound) g.setParent(n.id, n.parent);
  }
  for (const [a, b] of req.edges) g.setEdge(a, b);
  dagre.layout(g);
  const nodes: LayoutReply['nodes'] = {};
  for (const n of req.nodes) {
    const l = g.node(n.id);
    nodes[n.id] = { x: l.x, y: l.y, w: n.w, h: n.h };
  }
  const clusters: LayoutReply['clusters'] = {};
  for (const c of req.clusters) {
    if (compound) {
      const l = g.node(c.id);
      if (l && l.width !== undefined) clusters[c.id] = { x: l.x, y: l.y, w: l.width, h: l.height };
      continue;
    }
    const kids = req.nodes.filter((n) => n.parent === c.id).map((n) => nodes[n.id]);
    if (!kids.length) continue;
    const x0 = Math.min(...kids.map((k) => k.x - k.w / 2)) - 12, x1 = Math.max(...kids.map((k) => k.x + k.w / 2)) + 12;
    const y0 = Math.min(...kids.map((k) => k.y - k.h / 2)) - 26, y1 = Math.max(...kids.map((k) => k.y + k.h / 2)) + 10;
    clusters[c.id] = { x: (x0 + x1) / 2, y: (y0 + y1) / 2, w: x1 - x0, h: y1 - y0 };
  }
  const edges = req.edges.map(([a, b]) => (g.edge(a, b)?.points ?? []).map((p: { x: number; y: number }) => [p.x, p.y] as [number, number]));
  const gg = g.graph();
  const reply: LayoutReply = { seq: req.seq, nodes, clusters, edges, width: gg.width ?? 0, height: gg.height ?? 0, ms: performance.now() - t0 };
  ctx.postMessage(reply);
};
