/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * The Graph view: the scene (scene.ts) laid out in a web worker (layout-worker.ts), drawn in SVG.
 * Scenes of up to FULL_LIMIT boxes are drawn whole; bigger ones draw only what is in view, and when more
 * than DETAIL_LIMIT boxes are in view, an overview (boxes as filled shapes, no labels or edges) until
 * one zooms in. Search covers every node, those inside branches and bodies too; revealing one expands
 * what hides it. Names are set as text, never as markup.
 */
import type { PlanStep } from '../plan/schema.js';
import { fmtBytes, fmtUs, nodeEdges, processorColors } from './derive.js';
import { detailsOf } from './details.js';
import { $, h, mark, s } from './dom.js';
import { gridLayout } from './layered.js';
import type { LayoutReply, LayoutRequest } from './layout-types.js';
import type { VizData } from './model.js';
import { ancestorsOf, buildScene, controlKeys, ioLinks, originOf, ownerKey, ownerName, subgraphOrigins, type Scene, type SceneState } from './scene.js';
import { searchHits, searchIndex, type SearchEntry } from './search.js';

/** Scenes up to this many boxes and clusters are drawn whole. */
const FULL_LIMIT = 4000;
/** More boxes than this in view: the overview. */
const DETAIL_LIMIT = 2500;
/** A layout still running after this long is stopped and the next simpler one asked for. */
const WATCHDOG_MS = 20_000;

export interface GraphView {
  /** Called when the graph tab is shown. */
  shown(): void;
}

export function initGraphView(host: HTMLElement, data: VizData, t0: number): GraphView {
  const { plan, view, check } = data;
  const colors = processorColors(plan);
  const computeStepOf = new Map<number, number>();
  plan.steps.forEach((st, i) => {
    if (st.kind === 'compute') computeStepOf.set(st.partition, i);
  });
  const runtimeNodes = plan.nodes.filter((n) => !n.folded).length;
  const { io, ioEdges } = ioLinks(plan, view);
  const input = { plan, view, edges: nodeEdges(plan, view), io, ioEdges };
  const origins = subgraphOrigins(view);
  const state: SceneState & { collapsed: Set<number>; expanded: Set<string> } = { showFolded: false, collapsed: new Set(), expanded: new Set() };
  // Very big graphs start with partitions collapsed: the first picture comes fast, expand on demand.
  if (runtimeNodes > 2500) for (const p of plan.partitions) state.collapsed.add(p.id);
  let engine: LayoutRequest['engine'] = 'auto';
  /** Nodes writing the buffers the verifier's finding names. */
  const offending = new Set<string>();
  for (const b of check.buffers) {
    const p = view?.values[b.value]?.producer ?? -1;
    if (p >= 0) offending.add(`n${p}`);
  }

  // ---------- DOM ----------
  const folded = plan.nodes.length - runtimeNodes;
  const searchBox = h('input', { type: 'search', id: 'search', placeholder: 'search node name or op…', autocomplete: 'off' });
  const foldedBox = h('input', { type: 'checkbox', id: 'show-folded' });
  const engineBox = h('select', { id: 'layout-engine', title: 'the layout: auto (dagre for small graphs, the layered layout for big ones), or one of them' },
    ...(['auto', 'dagre', 'layered', 'grid'] as const).map((v) => h('option', { value: v }, `layout: ${v}`)));
  const swatch = (style: string) => h('i', { class: 'swatch', style });
  const legend = h('span', { class: 'legend' },
    ...plan.target.processors.map((p) => h('span', {}, swatch(`background:${colors[p.id]}`), p.id)),
    h('span', {}, swatch('background:#fff;border:1px dashed #9aa3af'), 'folded'),
    h('span', {}, swatch('background:#f28e2b'), 'transfer'),
    ...(view?.subgraphs.length ? [h('span', {}, swatch('background:#8e44ad'), 'outer value'), h('span', {}, swatch('background:#eceef1;border:1px dashed #9aa3af'), 'pruned branch')] : []));
  const toolbar = h('div', { class: 'toolbar' }, searchBox, h('button', { id: 'fit' }, 'Fit'), h('button', { id: 'collapse-all', title: 'collapse every partition and control-flow node' }, 'Collapse all'),
    h('button', { id: 'expand-all', title: 'expand every partition, and every If/Loop/Scan into its branches and bodies' }, 'Expand all'), h('label', {}, foldedBox, ` folded nodes (${folded})`), engineBox, legend);
  const note = h('div', { id: 'layout-note' });
  const results = h('div', { id: 'search-results' });
  const gClusters = s('g', { id: 'g-clusters' }), gEdges = s('g', { id: 'g-edges' }), gNodes = s('g', { id: 'g-nodes' }), gOverview = s('g', { id: 'g-overview' });
  const viewport = s('g', { id: 'viewport' }, gClusters, gEdges, gNodes, gOverview);
  const svg = s('svg', { id: 'graph-svg' }, viewport);
  const status = h('div', { id: 'graph-status' }, 'laying out…');
  const gbox = h('div', { id: 'graph-box' }, results, svg, status);
  const details = h('aside', { id: 'details' });
  host.append(h('div', { id: 'graph-pane' }, toolbar, note, gbox), details);

  // ---------- layout ----------
  let scene: Scene | undefined;
  let reply: LayoutReply | undefined;
  let pending: { key: string; scene: Scene; engine: LayoutRequest['engine'] } | undefined;
  let seq = 0;
  let watchdog: number | undefined;
  let fitted = false;
  let centerAfter: string | undefined;
  const cache = new Map<string, { scene: Scene; reply: LayoutReply }>();
  const workerUrl = URL.createObjectURL(new Blob([document.getElementById('tessera-layout-worker')!.textContent!], { type: 'text/javascript' }));
  let worker = startWorker();

  function startWorker(): Worker {
    const w = new Worker(workerUrl);
    w.onmessage = (ev: MessageEvent<LayoutReply>) => {
      if (ev.data.seq !== seq || !pending) return;
      clearTimeout(watchdog);
      if (cache.size >= 4) cache.delete(cache.keys().next().value!);
      cache.set(pending.key, { scene: pending.scene, reply: ev.data });
      apply(pending.scene, ev.data);
    };
    w.onerror = (e) => {
      e.preventDefault();
      if (!pending) return;
      clearTimeout(watchdog);
      // the worker itself failed: the grid, laid out here
      const r = gridLayout(request(pending.scene, 'grid'));
      apply(pending.scene, { seq, engine: 'grid', notes: [`the layout worker failed (${e.message}); drawn with the grid layout instead`], ...r, ms: 0 });
    };
    return w;
  }

  const stateKey = () => `${engine}|${state.showFolded}|${[...state.collapsed].sort((a, b) => a - b).join(',')}|${[...state.expanded].sort().join(',')}`;

  function request(sc: Scene, eng: LayoutRequest['engine']): LayoutRequest {
    const nb = sc.boxes.length;
    const w = new Float32Array(nb), hh = new Float32Array(nb), parent = new Int32Array(nb);
    sc.boxes.forEach((b, i) => {
      w[i] = b.w;
      hh[i] = b.h;
      parent[i] = b.parent;
    });
    const edges = new Int32Array(2 * sc.edges.length);
    sc.edges.forEach((e, k) => {
      edges[2 * k] = e.a;
      edges[2 * k + 1] = e.b;
    });
    return { seq, w, h: hh, parent, clusters: sc.clusters.map((c) => ({ parent: c.parent })), edges, engine: eng };
  }

  function post(eng: LayoutRequest['engine']): void {
    const req = request(pending!.scene, eng);
    status.textContent = `laying out ${pending!.scene.boxes.length} boxes in a worker…`;
    status.style.display = '';
    mark('graph-state', 'layout');
    worker.postMessage(req, [req.w.buffer, req.h.buffer, req.parent.buffer, req.edges.buffer]);
    clearTimeout(watchdog);
    watchdog = window.setTimeout(() => {
      // too slow: stop it, ask for the next simpler layout
      worker.terminate();
      worker = startWorker();
      const next = eng === 'grid' ? 'grid' : eng === 'layered' ? 'grid' : 'layered';
      stoppedNote = `the ${eng === 'auto' ? 'chosen' : eng} layout ran over ${WATCHDOG_MS / 1000} s and was stopped; drawn with the ${next} layout instead`;
      seq++;
      post(next);
    }, WATCHDOG_MS);
  }
  let stoppedNote = '';

  function requestLayout(): void {
    const key = stateKey();
    const hit = cache.get(key);
    mark('layout-started-at', Math.round(performance.now()));
    if (hit) return apply(hit.scene, hit.reply);
    seq++;
    stoppedNote = '';
    pending = { key, scene: buildScene(input, state), engine };
    post(engine);
  }

  /** Geometry of the laid-out scene, for drawing and culling: per edge its path and bounds. */
  let edgeBounds = new Float32Array(0);
  let edgePath: (string | undefined)[] = [];
  let overviewBuilt = false;
  /** The one edge of each transfer step that carries its label. */
  let labelled = new Map<number, number>();
  const drawnBoxes = new Map<number, SVGGElement>(), drawnClusters = new Map<number, SVGGElement>(), drawnEdges = new Map<number, SVGGElement>();

  function apply(sc: Scene, r: LayoutReply): void {
    scene = sc;
    reply = r;
    pending = undefined;
    for (const m of [drawnBoxes, drawnClusters, drawnEdges]) m.clear();
    gNodes.replaceChildren();
    gClusters.replaceChildren();
    gEdges.replaceChildren();
    gOverview.replaceChildren();
    overviewBuilt = false;
    matchDrawn = new Set(hits.map((x) => drawnHolder(x.key)));
    labelled = new Map();
    sc.edges.forEach((e, k) => {
      if (e.transfer !== undefined && !labelled.has(e.transfer)) labelled.set(e.transfer, k);
    });
    edgeBounds = new Float32Array(4 * sc.edges.length);
    edgePath = new Array(sc.edges.length);
    sc.edges.forEach((_, k) => edgeGeometry(k));
    const notes = [...r.notes, ...(stoppedNote ? [stoppedNote] : [])];
    note.replaceChildren(...(notes.length ? [h('span', { class: r.notes.some((n) => n.includes('failed')) || stoppedNote ? 'warn' : '' }, `${r.engine} layout: ${notes.join('; ')}`)] : []));
    mark('layout-engine', r.engine);
    mark('layout-notes', notes.join(' | '));
    mark('layout-ms', Math.round(r.ms));
    mark('graph-nodes', sc.boxes.filter((b) => b.ref.kind === 'node' || b.ref.kind === 'sub').length);
    status.style.display = 'none';
    if (centerAfter && sc.boxOf.has(centerAfter)) {
      centerOn(centerAfter);
      centerAfter = undefined;
    } else if (!fitted && $('#graph-view').classList.contains('active')) fit();
    else draw();
    mark('graph-state', 'ready');
    mark('ready-ms', Math.round(performance.now() - t0));
    // ms since navigation start (performance.timeOrigin), for the benchmark
    mark('ready-at', Math.round(performance.now()));
  }

  function edgeGeometry(k: number): void {
    const e = scene!.edges[k], b = reply!.box;
    const route = reply!.routes?.[k];
    let d: string;
    let x0: number, y0: number, x1: number, y1: number;
    if (route && route.length >= 4) {
      d = 'M';
      x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
      for (let i = 0; i < route.length; i += 2) {
        d += `${i ? 'L' : ''}${route[i].toFixed(1)},${route[i + 1].toFixed(1)}`;
        x0 = Math.min(x0, route[i]);
        x1 = Math.max(x1, route[i]);
        y0 = Math.min(y0, route[i + 1]);
        y1 = Math.max(y1, route[i + 1]);
      }
    } else {
      const ax = b[4 * e.a], ay = b[4 * e.a + 1] + b[4 * e.a + 3] / 2, bx = b[4 * e.b], by = b[4 * e.b + 1] - b[4 * e.b + 3] / 2;
      const dy = by - ay;
      // a long edge between boxes one above the other bends out to the right, clear of the boxes between
      const bend = Math.abs(bx - ax) < 40 && Math.abs(dy) > 60 ? Math.min(30 + Math.abs(dy) * 0.08, 160) : 0;
      d = `M${ax.toFixed(1)},${ay.toFixed(1)}C${(ax + bend).toFixed(1)},${(ay + dy / 3).toFixed(1)} ${(bx + bend).toFixed(1)},${(by - dy / 3).toFixed(1)} ${bx.toFixed(1)},${by.toFixed(1)}`;
      x0 = Math.min(ax, bx);
      x1 = Math.max(ax, bx) + bend;
      y0 = Math.min(ay, by);
      y1 = Math.max(ay, by);
    }
    edgePath[k] = d;
    edgeBounds.set([x0, y0, x1, y1], 4 * k);
  }

  // ---------- drawing ----------
  const tf = { x: 0, y: 0, k: 1 };
  let frame = 0;
  const applyTf = () => {
    viewport.setAttribute('transform', `translate(${tf.x},${tf.y}) scale(${tf.k})`);
    if (!frame) frame = requestAnimationFrame(() => {
      frame = 0;
      draw();
    });
  };

  function draw(): void {
    if (!scene || !reply) return;
    const sc = scene, b = reply.box, c = reply.cluster;
    const nb = sc.boxes.length, nc = sc.clusters.length;
    const whole = nb + nc <= FULL_LIMIT;
    const rect = gbox.getBoundingClientRect();
    const x0 = -tf.x / tf.k, y0 = -tf.y / tf.k, x1 = x0 + rect.width / tf.k, y1 = y0 + rect.height / tf.k;
    const mx = (x1 - x0) * 0.25, my = (y1 - y0) * 0.25;
    const inView = (cx: number, cy: number, w: number, hh: number) => whole || (cx + w / 2 >= x0 - mx && cx - w / 2 <= x1 + mx && cy + hh / 2 >= y0 - my && cy - hh / 2 <= y1 + my);
    const boxes: number[] = [];
    for (let i = 0; i < nb; i++) if (inView(b[4 * i], b[4 * i + 1], b[4 * i + 2], b[4 * i + 3])) boxes.push(i);
    const overview = !whole && boxes.length > DETAIL_LIMIT;
    gOverview.style.display = overview ? '' : 'none';
    for (const g of [gNodes, gEdges]) g.style.display = overview ? 'none' : '';
    mark('graph-mode', overview ? 'overview' : whole ? 'whole' : 'in-view');
    if (overview) {
      buildOverview();
      sync(drawnBoxes, gNodes, [], boxEl);
      sync(drawnEdges, gEdges, [], edgeEl);
    } else {
      sync(drawnBoxes, gNodes, boxes, boxEl);
      const edges: number[] = [];
      for (let k = 0; k < sc.edges.length; k++) {
        const eb = edgeBounds.subarray(4 * k, 4 * k + 4);
        if (whole || (eb[2] >= x0 - mx && eb[0] <= x1 + mx && eb[3] >= y0 - my && eb[1] <= y1 + my)) edges.push(k);
      }
      sync(drawnEdges, gEdges, edges, edgeEl);
    }
    const clusters: number[] = [];
    for (let k = 0; k < nc; k++) if (c[4 * k + 2] > 0 && inView(c[4 * k], c[4 * k + 1], c[4 * k + 2], c[4 * k + 3])) clusters.push(k);
    sync(drawnClusters, gClusters, clusters, clusterEl);
    status.style.display = overview ? '' : 'none';
    if (overview) status.textContent = `${boxes.length} boxes in view: zoom in (wheel) or search to see them`;
    mark('graph-drawn', drawnBoxes.size);
  }

  function sync(drawn: Map<number, SVGGElement>, g: SVGGElement, want: number[], make: (i: number) => SVGGElement): void {
    const keep = new Set(want);
    for (const [i, e] of drawn) if (!keep.has(i)) {
      e.remove();
      drawn.delete(i);
    }
    const add: SVGGElement[] = [];
    for (const i of want) if (!drawn.has(i)) {
      const e = make(i);
      drawn.set(i, e);
      add.push(e);
    }
    if (add.length) g.append(...add);
  }

  function buildOverview(): void {
    if (overviewBuilt) return;
    overviewBuilt = true;
    const byFill = new Map<string, string[]>();
    const b = reply!.box;
    scene!.boxes.forEach((box, i) => {
      const f = fillOf(box.key) ?? '#9aa3af';
      const x = b[4 * i] - b[4 * i + 2] / 2, y = b[4 * i + 1] - b[4 * i + 3] / 2;
      (byFill.get(f) ?? byFill.set(f, []).get(f)!).push(`M${x.toFixed(0)},${y.toFixed(0)}h${b[4 * i + 2].toFixed(0)}v${b[4 * i + 3].toFixed(0)}h${(-b[4 * i + 2]).toFixed(0)}z`);
    });
    gOverview.replaceChildren(...[...byFill].map(([f, d]) => s('path', { d: d.join(''), fill: f })));
  }

  /** The fill of a node box: its processor's colour; folded white; pruned branches grey. */
  function fillOf(key: string): string | undefined {
    if (key[0] === 'n') {
      const n = plan.nodes[Number(key.slice(1))];
      return n.folded ? '#fff' : colors[n.processor];
    }
    if (key[0] === 's') {
      const g = Number(key.slice(1).split('.')[0]);
      if (view!.subgraphs[g].status === 'pruned') return '#eceef1';
      return colors[plan.nodes[Number(ancestorsOf(view!, key)[0].slice(1))].processor];
    }
    if (key[0] === 'p') return colors[plan.partitions[Number(key.slice(1))].processor];
    return undefined;
  }

  function toggleMark(key: string, subs: number): SVGGElement {
    const open = state.expanded.has(key);
    return s('g', { class: 'toggle', 'data-toggle': key }, s('title', {}, `${open ? 'collapse' : 'expand'} its ${subs} ${subs === 1 ? 'subgraph' : 'branches/bodies'}`), s('rect', { width: 22, height: 24, fill: 'transparent' }), s('text', { x: 3, y: 16 }, `${open ? '▾' : '▸'}${subs}`));
  }

  function boxEl(i: number): SVGGElement {
    const box = scene!.boxes[i], b = reply!.box;
    const x = b[4 * i] - box.w / 2, y = b[4 * i + 1] - box.h / 2;
    const at = `translate(${x.toFixed(1)},${y.toFixed(1)})`;
    const ref = box.ref;
    if (ref.kind === 'node' || ref.kind === 'sub') {
      const isPlan = ref.kind === 'node';
      const n = isPlan ? plan.nodes[ref.node] : view!.subgraphs[ref.sg].nodes[ref.node];
      const subs = isPlan ? view?.nodes[ref.node].subgraphs : view!.subgraphs[ref.sg].nodes[ref.node].subgraphs;
      const foldedNode = isPlan && plan.nodes[ref.node].folded;
      const pruned = !isPlan && view!.subgraphs[ref.sg].status === 'pruned';
      const cls = ['node', isPlan ? '' : 'sub', foldedNode ? 'folded' : '', pruned ? 'pruned' : '', subs ? 'control' : '', box.key === selected ? 'selected' : '', matchDrawn.has(box.key) ? 'match' : '', offending.has(box.key) ? 'offending' : ''].filter(Boolean).join(' ');
      const g = s('g', { class: cls, 'data-key': box.key, ...(isPlan ? { 'data-node': ref.node } : { 'data-sub': box.key.slice(1), 'data-origin': originOf(box, io, origins) }), transform: at },
        s('rect', { width: box.w, height: box.h, fill: fillOf(box.key) }), s('text', { x: 8, y: 16 }, n.op), s('title', {}, n.name));
      if (subs) {
        const t = toggleMark(box.key, subs.length);
        t.setAttribute('transform', `translate(${box.w - 24},0)`);
        g.append(t);
      }
      return g;
    }
    if (ref.kind === 'partition') {
      const p = plan.partitions[ref.partition];
      const count = p.nodes.filter((k) => state.showFolded || !plan.nodes[k].folded).length;
      return s('g', { class: `node collapsed-partition${matchDrawn.has(box.key) ? ' match' : ''}`, 'data-partition': p.id, 'data-key': box.key, transform: at },
        s('rect', { width: box.w, height: box.h, fill: colors[p.processor] }), s('text', { x: 8, y: 18 }, `partition ${p.id} (${p.processor})`), s('text', { x: 8, y: 35, style: 'font-weight:400' }, `${count} nodes · click to expand`));
    }
    if (ref.kind === 'io') {
      const x0 = io[ref.io];
      const v = view?.values[x0.name];
      return s('g', { class: 'io', 'data-io': x0.id, transform: at }, s('rect', { width: box.w, height: box.h, rx: 11, fill: '#fff', stroke: '#1d2430' }),
        s('text', { x: 10, y: 15, 'font-size': 11, fill: '#1d2430' }, `${x0.input ? 'input' : 'output'} ${x0.name}`),
        s('title', {}, `graph ${x0.input ? 'input' : 'output'} ${x0.name}${v ? ` ${v.dtype ?? '?'} [${v.shape?.join('×') ?? '?'}] ${fmtBytes(v.bytes)}` : ''}`));
    }
    if (ref.kind === 'formal') {
      const sg = view!.subgraphs[ref.sg];
      return s('g', { class: 'io formal', 'data-key': box.key, transform: at }, s('rect', { width: box.w, height: box.h, rx: 11, fill: '#fff', stroke: '#8e44ad', 'stroke-dasharray': '3 2' }),
        s('text', { x: 10, y: 15, 'font-size': 11, fill: '#5b2c6f' }, ref.name), s('title', {}, `formal input of the ${sg.attr}: ${ref.name}`));
    }
    return s('g', { class: 'io empty', 'data-key': box.key, transform: at }, s('text', { x: 6, y: 15, 'font-size': 11, fill: '#5b6472' }, 'no nodes (returns outer values)'));
  }

  /** A cluster so big that a dashed outline would take the rasterizer seconds (a dash every few pixels of a 10⁶-pixel outline): drawn solid. */
  const huge = (k: number) => reply!.cluster[4 * k + 2] + reply!.cluster[4 * k + 3] > 20_000;

  function clusterEl(k: number): SVGGElement {
    const c = scene!.clusters[k], r = reply!.cluster;
    const x = r[4 * k] - r[4 * k + 2] / 2, y = r[4 * k + 1] - r[4 * k + 3] / 2;
    if (c.ref.kind === 'partition') {
      const id = c.ref.partition;
      const p = plan.partitions[id];
      const col = colors[p.processor];
      const n = p.nodes.filter((i) => state.showFolded || !plan.nodes[i].folded).length;
      return s('g', { class: `partition${huge(k) ? ' huge' : ''}`, 'data-partition': id }, s('rect', { x, y, width: r[4 * k + 2], height: r[4 * k + 3], rx: 8, stroke: col }),
        s('text', { x: x + 8, y: y + 15, fill: col }, `▾ partition ${id} · ${p.processor} · ${p.precision} · ${n} node${n === 1 ? '' : 's'}`));
    }
    const sg = view!.subgraphs[c.ref.sg];
    const owner = ownerKey(view!, c.ref.sg);
    const name = ownerName(plan, view!, c.ref.sg);
    return s('g', { class: `branch ${sg.status.replace(' ', '-')}${huge(k) ? ' huge' : ''}`, 'data-sg': c.ref.sg, 'data-status': sg.status, 'data-owner': owner, 'data-origin': origins[c.ref.sg] },
      s('rect', { x, y, width: r[4 * k + 2], height: r[4 * k + 3], rx: 6 }),
      s('text', { x: x + 8, y: y + 15 }, `${sg.attr} of ${name} · ${sg.status}`), s('title', {}, `${sg.attr} of ${name}: ${sg.status} — ${sg.why}; ${sg.nodes.length} nodes`));
  }

  function edgeEl(k: number): SVGGElement {
    const e = scene!.edges[k];
    const t = e.transfer;
    const path = s('path', { class: `edge${t !== undefined ? ' transfer' : ''}${e.kind !== 'data' ? ` ${e.kind}` : ''}`, d: edgePath[k]!, ...(t !== undefined ? { 'data-step': t } : {}), 'data-kind': e.kind },
      s('title', {}, `${e.kind === 'outer' ? 'outer value ' : e.kind === 'out' ? 'returned ' : ''}${e.values.join(', ')}`));
    path.setAttribute('data-from', originOf(scene!.boxes[e.a], io, origins));
    path.setAttribute('data-to', originOf(scene!.boxes[e.b], io, origins));
    path.setAttribute('data-values', e.values.join(' '));
    const g = s('g', {}, path);
    if (t !== undefined) {
      const st = plan.steps[t] as Extract<PlanStep, { kind: 'transfer' }>;
      const eb = edgeBounds.subarray(4 * k, 4 * k + 4);
      const mx = (eb[0] + eb[2]) / 2, my = (eb[1] + eb[3]) / 2;
      g.append(s('g', { class: 'transfer-mark', 'data-step': t }, s('circle', { cx: mx, cy: my, r: 4 }), labelled.get(t) === k && s('text', { x: mx + 7, y: my + 3 }, `⇄ ${st.from}→${st.to} ${fmtBytes(st.bytes)}`),
        s('title', {}, `transfer step ${t}: ${st.value} ${fmtBytes(st.bytes)}, predicted ${fmtUs(st.endUs - st.startUs)}`)));
    }
    return g;
  }

  // ---------- pan and zoom ----------
  function fit(): void {
    if (!reply) return;
    const box = gbox.getBoundingClientRect();
    if (box.width === 0) return;
    const k = Math.min(box.width / (reply.width + 40), box.height / (reply.height + 40), 1.5);
    // a tall graph: fit the width, start at the top
    const kk = Math.max(k, Math.min(0.75, box.width / (reply.width + 40)));
    tf.k = kk;
    tf.x = (box.width - reply.width * kk) / 2;
    tf.y = kk === k ? (box.height - reply.height * kk) / 2 : 10;
    fitted = true;
    applyTf();
    draw();
  }
  function centerOn(key: string): void {
    const i = scene?.boxOf.get(key);
    if (i === undefined || !reply) return;
    const box = gbox.getBoundingClientRect();
    tf.k = Math.max(tf.k, 0.9);
    tf.x = box.width / 2 - reply.box[4 * i] * tf.k;
    tf.y = box.height / 2 - reply.box[4 * i + 1] * tf.k;
    fitted = true;
    applyTf();
    draw();
  }
  gbox.addEventListener('wheel', (e) => {
    e.preventDefault();
    const r = gbox.getBoundingClientRect();
    const px = e.clientX - r.left, py = e.clientY - r.top;
    const k = Math.min(4, Math.max(0.002, tf.k * Math.exp(-e.deltaY * 0.0015)));
    tf.x = px - ((px - tf.x) * k) / tf.k;
    tf.y = py - ((py - tf.y) * k) / tf.k;
    tf.k = k;
    applyTf();
  }, { passive: false });
  let drag: { x: number; y: number; moved: boolean } | undefined;
  gbox.addEventListener('mousedown', (e) => {
    if ((e.target as HTMLElement).closest('#search-results')) return;
    drag = { x: e.clientX, y: e.clientY, moved: false };
  });
  window.addEventListener('mousemove', (e) => {
    if (!drag) return;
    const dx = e.clientX - drag.x, dy = e.clientY - drag.y;
    if (!drag.moved && Math.abs(dx) + Math.abs(dy) < 4) return;
    drag.moved = true;
    gbox.classList.add('dragging');
    tf.x += dx;
    tf.y += dy;
    drag.x = e.clientX;
    drag.y = e.clientY;
    applyTf();
  });
  window.addEventListener('mouseup', () => {
    setTimeout(() => (drag = undefined), 0);
    gbox.classList.remove('dragging');
  });

  // ---------- clicks and buttons ----------
  function toggle(key: string): void {
    if (state.expanded.has(key)) state.expanded.delete(key);
    else state.expanded.add(key);
    centerAfter = key;
    requestLayout();
    if (selected === key) select(key);
  }
  svg.addEventListener('click', (e) => {
    if (drag?.moved) return;
    const t = e.target as Element;
    const tog = t.closest('.toggle') as SVGGElement | null;
    if (tog?.dataset.toggle) return toggle(tog.dataset.toggle);
    const node = t.closest('.node') as SVGGElement | null;
    if (node?.dataset.node !== undefined || node?.dataset.sub !== undefined) return select(node.dataset.key!);
    const part = (t.closest('.collapsed-partition') ?? t.closest('.partition text')?.parentElement) as SVGGElement | null;
    if (part?.dataset.partition !== undefined) {
      const p = Number(part.dataset.partition);
      if (state.collapsed.has(p)) state.collapsed.delete(p);
      else state.collapsed.add(p);
      return requestLayout();
    }
    if (gOverview.style.display !== 'none') {
      // the overview: zoom in where clicked
      const r = gbox.getBoundingClientRect();
      const px = (e as MouseEvent).clientX - r.left, py = (e as MouseEvent).clientY - r.top;
      const k = 0.9;
      tf.x = px - ((px - tf.x) * k) / tf.k;
      tf.y = py - ((py - tf.y) * k) / tf.k;
      tf.k = k;
      applyTf();
    }
  });
  $('#fit', toolbar).addEventListener('click', fit);
  $('#collapse-all', toolbar).addEventListener('click', () => {
    for (const p of plan.partitions) state.collapsed.add(p.id);
    state.expanded.clear();
    fitted = false;
    requestLayout();
  });
  $('#expand-all', toolbar).addEventListener('click', () => {
    mark('expand-clicked-at', Math.round(performance.now()));
    state.collapsed.clear();
    for (const k of controlKeys(view)) state.expanded.add(k);
    fitted = false;
    requestLayout();
  });
  foldedBox.addEventListener('change', () => {
    state.showFolded = foldedBox.checked;
    fitted = false;
    requestLayout();
  });
  engineBox.addEventListener('change', () => {
    engine = engineBox.value as LayoutRequest['engine'];
    fitted = false;
    requestLayout();
  });

  // ---------- search ----------
  let index: SearchEntry[] | undefined;
  let query = '';
  let hits: SearchEntry[] = [];
  /** Drawn boxes to highlight for the hits: the node itself, or what holds it when it is not drawn. */
  let matchDrawn = new Set<string>();
  function applySearch(): void {
    matchDrawn = new Set();
    if (query) {
      hits = searchHits((index ??= searchIndex(plan, view)), query);
      for (const x of hits) matchDrawn.add(drawnHolder(x.key));
    } else hits = [];
    viewport.classList.toggle('searching', !!query);
    for (const [i, e] of drawnBoxes) e.classList.toggle('match', matchDrawn.has(scene!.boxes[i].key));
    if (!query) {
      results.style.display = 'none';
      return;
    }
    results.replaceChildren(h('div', { class: 'note' }, `${hits.length} match${hits.length === 1 ? '' : 'es'}${hits.length > 200 ? ' (first 200)' : ''}`),
      ...hits.slice(0, 200).map((x) => h('div', { 'data-key': x.key, ...(x.key[0] === 'n' ? { 'data-node': x.key.slice(1) } : {}) }, `${x.op} · ${x.name}${x.folded ? ' (folded)' : ''}${x.inside ? ` (in ${x.inside})` : ''}`)));
    results.style.display = 'block';
    mark('search-hits', hits.length);
  }
  /** The key of the drawn box standing for a node: itself, the innermost drawn control-flow node holding it, or its collapsed partition. */
  function drawnHolder(key: string): string {
    if (!scene || scene.boxOf.has(key)) return key;
    const chain = key[0] === 's' ? ancestorsOf(view!, key) : [];
    for (let k = chain.length - 1; k >= 0; k--) if (scene.boxOf.has(chain[k])) return chain[k];
    const top = Number((chain[0] ?? key).slice(1));
    return `p${plan.nodes[top].partition}`;
  }
  let searchTimer: number | undefined;
  searchBox.addEventListener('input', () => {
    clearTimeout(searchTimer);
    searchTimer = window.setTimeout(() => {
      query = searchBox.value.trim();
      applySearch();
    }, 120);
  });
  searchBox.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') {
      searchBox.value = '';
      query = '';
      applySearch();
    }
    if (e.key === 'Enter') {
      clearTimeout(searchTimer);
      query = searchBox.value.trim();
      applySearch();
      if (hits.length) reveal(hits[0].key);
    }
  });
  results.addEventListener('click', (e) => {
    const d = (e.target as HTMLElement).closest('div[data-key]') as HTMLElement | null;
    if (d) reveal(d.dataset.key!);
  });

  /** Shows a node: its folded nodes, partition and enclosing control flow expanded if need be, centred, details open. */
  function reveal(key: string): void {
    const chain = key[0] === 's' ? ancestorsOf(view!, key) : [];
    const top = plan.nodes[Number((chain[0] ?? key).slice(1))];
    let relayout = false;
    if (top.folded && !state.showFolded) {
      state.showFolded = true;
      foldedBox.checked = true;
      relayout = true;
    }
    if (state.collapsed.delete(top.partition)) relayout = true;
    for (const a of chain) if (!state.expanded.has(a)) {
      state.expanded.add(a);
      relayout = true;
    }
    select(key);
    results.style.display = 'none';
    if (relayout || !scene?.boxOf.has(key)) {
      centerAfter = key;
      requestLayout();
    } else centerOn(key);
  }

  // ---------- details ----------
  let selected: string | undefined;
  const detailsCtx = { data, colors, computeStepOf, isExpanded: (key: string) => state.expanded.has(key) };
  function select(key: string): void {
    selected = key;
    for (const [i, e] of drawnBoxes) e.classList.toggle('selected', scene!.boxes[i].key === key);
    const d = detailsOf(detailsCtx, key);
    details.replaceChildren(h('button', { class: 'close', title: 'close' }, '×'), h('h2', {}, d.title), ...(d.why ? [d.why] : []), h('table', {}, ...d.rows), ...(d.foot ? [h('p', { class: 'note' }, d.foot)] : []));
    details.classList.add('open');
    details.dataset.node = key.slice(1);
    details.dataset.key = key;
  }
  details.addEventListener('click', (e) => {
    const t = e.target as HTMLElement;
    if (t.classList.contains('close')) {
      details.classList.remove('open');
      for (const el of gNodes.querySelectorAll('.node.selected')) el.classList.remove('selected');
      selected = undefined;
    }
    if (t.dataset.toggle) toggle(t.dataset.toggle);
  });

  requestLayout();
  return {
    shown() {
      if (!fitted && reply) fit();
      else draw();
    },
  };
}
