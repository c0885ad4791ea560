/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * The viewer page: Graph, Timeline, Memory and Summary views of one plan (and its measured trace).
 * Runs in the browser; bundled and inlined by src/viz/html.ts. Reads only the data inlined in the page.
 * The graph is laid out in a web worker (dagre), so the page stays responsive on big graphs.
 */
import type { PlanStep } from '../plan/schema.js';
import { aliveBytes, fmtBytes, fmtCount, fmtUs, lanes, nodeEdges, processorColors, type Edge } from './derive.js';
import type { LayoutReply, LayoutRequest } from './layout-types.js';
import type { VizData } from './model.js';

const data = JSON.parse(document.getElementById('tessera-data')!.textContent!) as VizData;
const { plan, trace, view } = data;
const colors = processorColors(plan);
const SVGNS = 'http://www.w3.org/2000/svg';
const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const $ = <T extends HTMLElement = HTMLElement>(sel: string, root: ParentNode = document) => root.querySelector(sel) as T;
/** State for tests and the benchmark: set on <body> as data attributes. */
const mark = (k: string, v: string | number) => document.body.setAttribute(`data-${k}`, String(v));

const measuredStep = new Map(trace?.steps.map((s) => [s.step, s]) ?? []);
const computeStepOf = new Map<number, number>();
plan.steps.forEach((s, i) => {
  if (s.kind === 'compute') computeStepOf.set(s.partition, i);
});
const runtimeNodes = plan.nodes.filter((n) => !n.folded).length;

// ---------- shell ----------
const app = $('#app');
const hasTrace = trace !== undefined;
app.innerHTML = `
<header>
  <h1>${esc(plan.model.file)} → ${esc(plan.target.name)}</h1>
  <span class="meta">${plan.nodes.length} nodes (${runtimeNodes} run, ${plan.nodes.length - runtimeNodes} folded) · ${plan.partitions.length} partitions · ${plan.steps.length} steps · predicted ${fmtUs(plan.estimate.latencyUs)}${hasTrace ? ` · measured ${fmtUs(trace!.totalUs)}` : ''}</span>
  <nav>${['graph', 'timeline', 'memory', 'summary'].map((v) => `<button data-view="${v}">${v[0].toUpperCase()}${v.slice(1)}</button>`).join('')}</nav>
</header>
<main>
  <section class="view" id="graph-view">
    <div id="graph-pane">
      <div class="toolbar">
        <input type="search" id="search" placeholder="search node name or op…" autocomplete="off">
        <button id="fit">Fit</button>
        <button id="collapse-all">Collapse partitions</button>
        <button id="expand-all">Expand partitions</button>
        <label><input type="checkbox" id="show-folded"> folded nodes (${plan.nodes.length - runtimeNodes})</label>
        <span class="legend">${plan.target.processors.map((p) => `<span><i class="swatch" style="background:${colors[p.id]}"></i>${esc(p.id)}</span>`).join('')}<span><i class="swatch" style="background:#fff;border:1px dashed #9aa3af"></i>folded</span><span><i class="swatch" style="background:#f28e2b"></i>transfer</span></span>
      </div>
      <div id="graph-box"><div id="search-results"></div><svg id="graph-svg" xmlns="${SVGNS}"><g id="viewport"></g></svg><div id="graph-status">laying out…</div></div>
    </div>
    <aside id="details"></aside>
  </section>
  <section class="view pad" id="timeline-view"></section>
  <section class="view pad" id="memory-view"></section>
  <section class="view pad" id="summary-view"></section>
</main>`;

const views = ['graph', 'timeline', 'memory', 'summary'];
const drawn = new Set<string>();
function show(v: string): void {
  for (const b of document.querySelectorAll<HTMLButtonElement>('nav button')) b.classList.toggle('active', b.dataset.view === v);
  for (const name of views) $(`#${name}-view`).classList.toggle('active', name === v);
  if (!drawn.has(v)) {
    drawn.add(v);
    if (v === 'timeline') drawTimeline();
    if (v === 'memory') drawMemory();
    if (v === 'summary') drawSummary();
  }
  if (v === 'graph' && !fitted && layout) fit();
  mark('view', v);
  history.replaceState(null, '', `#${v}`);
}
$('nav').addEventListener('click', (e) => {
  const b = (e.target as HTMLElement).closest('button');
  if (b?.dataset.view) show(b.dataset.view);
});

// ---------- graph ----------
const edges: Edge[] = nodeEdges(plan, view);
let showFolded = false;
const collapsed = new Set<number>();
// Very big graphs start with partitions collapsed: the first picture comes fast, expand on demand.
if (runtimeNodes > 2500) for (const p of plan.partitions) collapsed.add(p.id);
let layout: LayoutReply | undefined;
let current: { ids: string[]; edges: { a: string; b: string; edge: Edge; count: number }[] } | undefined;
let fitted = false;
let seq = 0;
const cache = new Map<string, { reply: LayoutReply; disp: NonNullable<typeof current> }>();
const workerUrl = URL.createObjectURL(new Blob([document.getElementById('tessera-layout-worker')!.textContent!], { type: 'text/javascript' }));
const worker = new Worker(workerUrl);
let pending: NonNullable<typeof current> | undefined;
let pendingKey = '';
const t0 = performance.now();

/** Graph inputs and outputs as small boxes, so the transfers of inputs and outputs show on edges too. */
const ioNodes: { id: string; name: string; input: boolean }[] = [
  ...Object.keys(plan.inputs).map((name, k) => ({ id: `i${k}`, name, input: true })),
  ...plan.outputs.map((name, k) => ({ id: `o${k}`, name, input: false })),
];
const ioEdges: { io: string; node: number; value: string; input: boolean; transfer?: number }[] = [];
if (view) {
  const transferOf = (value: string, from: string | undefined, to: string | undefined) => {
    const i = plan.steps.findIndex((s) => s.kind === 'transfer' && s.value === value && (from === undefined || s.from === from) && (to === undefined || s.to === to));
    return i < 0 ? undefined : i;
  };
  for (const io of ioNodes) {
    if (io.input) {
      view.nodes.forEach((n, i) => {
        if (n.inputs.includes(io.name)) ioEdges.push({ io: io.id, node: i, value: io.name, input: true, transfer: plan.nodes[i].folded ? undefined : transferOf(io.name, undefined, plan.nodes[i].processor) });
      });
    } else {
      const p = view.values[io.name]?.producer ?? -1;
      if (p >= 0) ioEdges.push({ io: io.id, node: p, value: io.name, input: false, transfer: plan.nodes[p].folded ? undefined : transferOf(io.name, plan.nodes[p].processor, undefined) });
    }
  }
}
const visible = (i: number) => showFolded || !plan.nodes[i].folded;
const displayId = (i: number) => (collapsed.has(plan.nodes[i].partition) ? `p${plan.nodes[i].partition}` : `n${i}`);
const nodeWidth = (op: string) => Math.max(54, op.length * 7 + 16);

function requestLayout(): void {
  const key = `${showFolded}|${[...collapsed].sort((a, b) => a - b).join(',')}`;
  const hit = cache.get(key);
  if (hit) {
    current = hit.disp;
    layout = hit.reply;
    render();
    return;
  }
  const ids: string[] = [];
  const seen = new Set<string>();
  const nodes: LayoutRequest['nodes'] = [];
  const clusters: LayoutRequest['clusters'] = [];
  const partSize = new Map<number, number>();
  for (const n of plan.nodes) if (visible(n.index)) partSize.set(n.partition, (partSize.get(n.partition) ?? 0) + 1);
  for (const p of plan.partitions) {
    if (!partSize.get(p.id)) continue;
    if (collapsed.has(p.id)) {
      ids.push(`p${p.id}`);
      seen.add(`p${p.id}`);
      nodes.push({ id: `p${p.id}`, w: 190, h: 46 });
    } else clusters.push({ id: `c${p.id}`, label: `partition ${p.id}` });
  }
  for (const n of plan.nodes) {
    if (!visible(n.index) || collapsed.has(n.partition)) continue;
    const id = `n${n.index}`;
    ids.push(id);
    nodes.push({ id, w: nodeWidth(n.op), h: 24, parent: `c${n.partition}` });
  }
  for (const io of ioNodes) {
    ids.push(io.id);
    nodes.push({ id: io.id, w: Math.max(70, (io.name.length + 7) * 6.6 + 20), h: 22 });
  }
  const byPair = new Map<string, { a: string; b: string; edge: Edge; count: number }>();
  for (const e of ioEdges) {
    if (!visible(e.node)) continue;
    const a = e.input ? e.io : displayId(e.node), b = e.input ? displayId(e.node) : e.io;
    byPair.set(`${a}>${b}`, { a, b, edge: { from: -1, to: -1, value: e.value, ...(e.transfer !== undefined ? { transfer: e.transfer } : {}) }, count: 1 });
  }
  for (const e of edges) {
    if (!visible(e.from) || !visible(e.to)) continue;
    const a = displayId(e.from), b = displayId(e.to);
    if (a === b) continue;
    const k = `${a}>${b}`;
    const had = byPair.get(k);
    if (had) {
      had.count++;
      if (e.transfer !== undefined && had.edge.transfer === undefined) had.edge = e;
    } else byPair.set(k, { a, b, edge: e, count: 1 });
  }
  pending = { ids, edges: [...byPair.values()] };
  pendingKey = key;
  const req: LayoutRequest = { seq: ++seq, nodes, clusters, edges: pending.edges.map((e) => [e.a, e.b]) };
  $('#graph-status').textContent = `laying out ${nodes.length} boxes in a worker…`;
  $('#graph-status').style.display = '';
  mark('graph-state', 'layout');
  worker.postMessage(req);
}

worker.onmessage = (ev: MessageEvent<LayoutReply>) => {
  if (ev.data.seq !== seq || !pending) return;
  layout = ev.data;
  current = pending;
  cache.set(pendingKey, { reply: layout, disp: current });
  mark('layout-ms', Math.round(layout.ms));
  render();
};
worker.onerror = (e) => {
  $('#graph-status').textContent = `layout failed: ${e.message}`;
  mark('graph-state', 'error');
};

function partitionLabel(id: number): string {
  const p = plan.partitions[id];
  const n = p.nodes.filter(visible).length;
  return `partition ${id} · ${p.processor} · ${p.precision} · ${n} node${n === 1 ? '' : 's'}`;
}

function render(): void {
  if (!layout || !current) return;
  const L = layout;
  const parts: string[] = [];
  for (const [cid, c] of Object.entries(L.clusters)) {
    const id = Number(cid.slice(1));
    const col = colors[plan.partitions[id].processor];
    parts.push(`<g class="partition" data-partition="${id}"><rect x="${c.x - c.w / 2}" y="${c.y - c.h / 2}" width="${c.w}" height="${c.h}" rx="8" stroke="${col}"/><text x="${c.x - c.w / 2 + 8}" y="${c.y - c.h / 2 + 15}" fill="${col}">▾ ${esc(partitionLabel(id))}</text></g>`);
  }
  const marked = new Set<number>();
  current.edges.forEach((e, k) => {
    const pts = L.edges[k];
    if (!pts?.length) return;
    const d = `M${pts.map((p) => `${p[0].toFixed(1)},${p[1].toFixed(1)}`).join('L')}`;
    const t = e.edge.transfer;
    parts.push(`<path class="edge${t !== undefined ? ' transfer' : ''}" d="${d}"${t !== undefined ? ` data-step="${t}"` : ''}><title>${esc(e.edge.value)}${e.count > 1 ? ` (+${e.count - 1} more)` : ''}</title></path>`);
    if (t !== undefined) {
      const labelled = marked.has(t);
      marked.add(t);
      const s = plan.steps[t] as Extract<PlanStep, { kind: 'transfer' }>;
      const m = pts[Math.floor(pts.length / 2)];
      parts.push(`<g class="transfer-mark" data-step="${t}"><circle cx="${m[0]}" cy="${m[1]}" r="4"/>${labelled ? '' : `<text x="${m[0] + 7}" y="${m[1] + 3}">⇄ ${esc(s.from)}→${esc(s.to)} ${fmtBytes(s.bytes)}</text>`}<title>transfer step ${t}: ${esc(s.value)} ${fmtBytes(s.bytes)}, predicted ${fmtUs(s.endUs - s.startUs)}</title></g>`);
    }
  });
  for (const id of current.ids) {
    const l = L.nodes[id];
    if (!l) continue;
    const x = l.x - l.w / 2, y = l.y - l.h / 2;
    if (id[0] === 'i' || id[0] === 'o') {
      const io = ioNodes.find((x) => x.id === id)!;
      const v = view?.values[io.name];
      parts.push(`<g class="io" data-io="${id}" transform="translate(${x},${y})"><rect width="${l.w}" height="${l.h}" rx="11" fill="#fff" stroke="#1d2430"/><text x="10" y="15" font-size="11" fill="#1d2430">${io.input ? 'input' : 'output'} ${esc(io.name)}</text><title>${esc(`graph ${io.input ? 'input' : 'output'} ${io.name}${v ? ` ${v.dtype ?? '?'} [${v.shape?.join('×') ?? '?'}] ${fmtBytes(v.bytes)}` : ''}`)}</title></g>`);
    } else if (id[0] === 'p') {
      const p = Number(id.slice(1));
      const part = plan.partitions[p];
      parts.push(`<g class="node collapsed-partition" data-partition="${p}" transform="translate(${x},${y})"><rect width="${l.w}" height="${l.h}" fill="${colors[part.processor]}"/><text x="8" y="18">partition ${p} (${esc(part.processor)})</text><text x="8" y="35" style="font-weight:400">${part.nodes.filter(visible).length} nodes · click to expand</text></g>`);
    } else {
      const n = plan.nodes[Number(id.slice(1))];
      const fill = n.folded ? '#fff' : colors[n.processor];
      parts.push(`<g class="node${n.folded ? ' folded' : ''}" data-node="${n.index}" transform="translate(${x},${y})"><rect width="${l.w}" height="${l.h}" fill="${fill}"/><text x="8" y="16">${esc(n.op)}</text><title>${esc(n.name)}</title></g>`);
    }
  }
  $('#viewport').innerHTML = parts.join('');
  $('#graph-status').style.display = 'none';
  if (selected !== undefined) $(`.node[data-node="${selected}"]`)?.classList.add('selected');
  applySearch();
  if (!fitted && $('#graph-view').classList.contains('active')) fit();
  mark('graph-nodes', document.querySelectorAll('#viewport .node').length);
  mark('graph-state', 'ready');
  mark('ready-ms', Math.round(performance.now() - t0));
  // ms since navigation start (performance.timeOrigin), for the benchmark
  mark('ready-at', Math.round(performance.now()));
}

// pan and zoom
const tf = { x: 0, y: 0, k: 1 };
const applyTf = () => $('#viewport').setAttribute('transform', `translate(${tf.x},${tf.y}) scale(${tf.k})`);
function fit(): void {
  if (!layout) return;
  const box = $('#graph-box').getBoundingClientRect();
  if (box.width === 0) return;
  const k = Math.min(box.width / (layout.width + 40), box.height / (layout.height + 40), 1.5);
  // a tall graph: fit the width, start at the top
  const kk = Math.max(k, Math.min(0.75, box.width / (layout.width + 40)));
  tf.k = kk;
  tf.x = (box.width - layout.width * kk) / 2;
  tf.y = kk === k ? (box.height - layout.height * kk) / 2 : 10;
  applyTf();
  fitted = true;
}
function centerOn(x: number, y: number): void {
  const box = $('#graph-box').getBoundingClientRect();
  tf.k = Math.max(tf.k, 0.9);
  tf.x = box.width / 2 - x * tf.k;
  tf.y = box.height / 2 - y * tf.k;
  applyTf();
}
const gbox = $('#graph-box');
gbox.addEventListener('wheel', (e) => {
  e.preventDefault();
  const r = gbox.getBoundingClientRect();
  const px = e.clientX - r.left, py = e.clientY - r.top;
  const f = Math.exp(-e.deltaY * 0.0015);
  const k = Math.min(4, Math.max(0.02, tf.k * f));
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
$('#graph-svg').addEventListener('click', (e) => {
  if (drag?.moved) return;
  const t = e.target as Element;
  const node = t.closest('.node') as SVGGElement | null;
  if (node?.dataset.node !== undefined) return select(Number(node.dataset.node));
  const part = (t.closest('.collapsed-partition') ?? t.closest('.partition text')?.parentElement) as SVGGElement | null;
  if (part?.dataset.partition !== undefined) {
    const p = Number(part.dataset.partition);
    if (collapsed.has(p)) collapsed.delete(p);
    else collapsed.add(p);
    requestLayout();
  }
});
$('#fit').addEventListener('click', fit);
$('#collapse-all').addEventListener('click', () => {
  for (const p of plan.partitions) collapsed.add(p.id);
  fitted = false;
  requestLayout();
});
$('#expand-all').addEventListener('click', () => {
  collapsed.clear();
  fitted = false;
  requestLayout();
});
$<HTMLInputElement>('#show-folded').addEventListener('change', (e) => {
  showFolded = (e.target as HTMLInputElement).checked;
  fitted = false;
  requestLayout();
});

// search
let query = '';
function applySearch(): void {
  const vp = $('#viewport');
  const results = $('#search-results');
  for (const el of vp.querySelectorAll('.match')) el.classList.remove('match');
  if (!query) {
    vp.classList.remove('searching');
    results.style.display = 'none';
    return;
  }
  const q = query.toLowerCase();
  const hits = plan.nodes.filter((n) => n.name.toLowerCase().includes(q) || n.op.toLowerCase().includes(q));
  vp.classList.add('searching');
  for (const n of hits) vp.querySelector(`.node[data-node="${n.index}"]`)?.classList.add('match');
  for (const p of collapsed) if (hits.some((n) => n.partition === p)) vp.querySelector(`.collapsed-partition[data-partition="${p}"]`)?.classList.add('match');
  results.innerHTML = `<div class="note">${hits.length} match${hits.length === 1 ? '' : 'es'}${hits.length > 200 ? ' (first 200)' : ''}</div>` +
    hits.slice(0, 200).map((n) => `<div data-node="${n.index}">${esc(n.op)} · ${esc(n.name)}${n.folded ? ' (folded)' : ''}</div>`).join('');
  results.style.display = 'block';
}
let searchTimer: number | undefined;
$<HTMLInputElement>('#search').addEventListener('input', (e) => {
  clearTimeout(searchTimer);
  searchTimer = window.setTimeout(() => {
    query = (e.target as HTMLInputElement).value.trim();
    applySearch();
  }, 120);
});
$<HTMLInputElement>('#search').addEventListener('keydown', (e) => {
  if (e.key === 'Escape') {
    (e.target as HTMLInputElement).value = '';
    query = '';
    applySearch();
  }
  if (e.key === 'Enter') {
    query = (e.target as HTMLInputElement).value.trim();
    applySearch();
    const first = $('#search-results div[data-node]');
    if (first) reveal(Number(first.dataset.node));
  }
});
$('#search-results').addEventListener('click', (e) => {
  const d = (e.target as HTMLElement).closest('div[data-node]') as HTMLElement | null;
  if (d) reveal(Number(d.dataset.node));
});

/** Shows a node: its folded nodes or partition expanded if need be, centred, details open. */
function reveal(i: number): void {
  const n = plan.nodes[i];
  let relayout = false;
  if (n.folded && !showFolded) {
    showFolded = true;
    $<HTMLInputElement>('#show-folded').checked = true;
    relayout = true;
  }
  if (collapsed.delete(n.partition)) relayout = true;
  select(i);
  $('#search-results').style.display = 'none';
  if (relayout) {
    requestLayout();
    const wait = () => (document.body.dataset.graphState === 'ready' && layout?.nodes[`n${i}`] ? centerOn(layout.nodes[`n${i}`].x, layout.nodes[`n${i}`].y) : setTimeout(wait, 50));
    wait();
  } else if (layout?.nodes[`n${i}`]) centerOn(layout.nodes[`n${i}`].x, layout.nodes[`n${i}`].y);
}

// details
let selected: number | undefined;
function row(k: string, v: string): string {
  return `<tr><td>${esc(k)}</td><td>${v}</td></tr>`;
}
function valueText(name: string): string {
  const v = view?.values[name];
  if (!v) return esc(name);
  const shape = v.shape ? `[${v.shape.join('×')}]` : '?';
  return `${esc(name)} <span class="note">${esc(v.dtype ?? '?')} ${shape} ${fmtBytes(v.bytes)}${v.role === 'initializer' ? ' weight' : ''}</span>`;
}
function select(i: number): void {
  selected = i;
  for (const el of document.querySelectorAll('.node.selected')) el.classList.remove('selected');
  $(`.node[data-node="${i}"]`)?.classList.add('selected');
  const n = plan.nodes[i];
  const vn = view?.nodes[i];
  const part = plan.partitions[n.partition];
  const step = computeStepOf.get(n.partition);
  const ps = step !== undefined ? plan.steps[step] : undefined;
  const ms = step !== undefined ? measuredStep.get(step) : undefined;
  const proc = plan.target.processors.find((p) => p.id === n.processor);
  const binding = trace?.bindings.find((b) => b.processor === n.processor);
  const rows: string[] = [
    row('op', `<b data-field="op">${esc(n.op)}</b>`),
    row('processor', `<span data-field="processor"><i class="swatch" style="background:${colors[n.processor]}"></i>${esc(n.processor)}</span>${proc ? ` <span class="note">${esc(proc.name)}</span>` : ''}`),
    row('partition', `<span data-field="partition">${n.partition}</span> <span class="note">${esc(part.backend)}, ${part.precision}, ${part.nodes.filter((x) => !plan.nodes[x].folded).length} run-time nodes</span>`),
  ];
  if (binding) rows.push(row('bound to', `${esc(binding.backend)} <span class="${binding.emulated ? 'emulated' : 'real'}">${binding.emulated ? 'emulated' : 'real'}</span>`));
  if (n.folded) rows.push(row('folded', 'computed at compile time (constant); never runs'));
  if (vn) {
    rows.push(row('inputs', vn.inputs.filter(Boolean).map(valueText).join('<br>') || '—'));
    rows.push(row('outputs', vn.outputs.filter(Boolean).map(valueText).join('<br>') || '—'));
    const attrs = Object.entries(vn.attrs);
    rows.push(row('attributes', attrs.length ? attrs.map(([k, v]) => `${esc(k)} = ${esc(v)}`).join('<br>') : '—'));
    rows.push(row('FLOPs', fmtCount(vn.flops)));
    rows.push(row('bytes', `${fmtBytes(vn.bytes)} <span class="note">read + written</span>`));
    if (vn.predictedUs !== undefined && !n.folded) rows.push(row('predicted (node)', `${fmtUs(vn.predictedUs)} <span class="note">${esc(vn.basis ?? '')}; cost model</span>`));
  }
  if (ps && !n.folded) rows.push(row('predicted (partition)', `${fmtUs(ps.endUs - ps.startUs)} <span class="note">step ${step}, ${fmtUs(ps.startUs)} → ${fmtUs(ps.endUs)}</span>`));
  if (ms && !n.folded) rows.push(row('measured (partition)', `${fmtUs(ms.endUs - ms.startUs)} <span class="note">step ${step}, ${fmtUs(ms.startUs)} → ${fmtUs(ms.endUs)}; per-node times are not measured</span>`));
  const why = n.folded
    ? 'Folded: its value is known at compile time.'
    : n.rejected?.length
      ? `Placed on <b>${esc(n.processor)}</b> because:<br>${n.rejected.map((r) => `• not ${esc(r.processor)}: ${esc(r.reason)}`).join('<br>')}`
      : `Placed on <b>${esc(n.processor)}</b>: the processor the cost model ranks fastest for it.`;
  $('#details').innerHTML = `<button class="close" title="close">×</button><h2>${esc(n.name)}</h2><div class="why" data-field="why">${why}</div><table>${rows.join('')}</table>${view ? '' : `<p class="note">${esc(data.viewMissing ?? '')}</p>`}`;
  $('#details').classList.add('open');
  $('#details').dataset.node = String(i);
}
$('#details').addEventListener('click', (e) => {
  if ((e.target as HTMLElement).classList.contains('close')) {
    $('#details').classList.remove('open');
    for (const el of document.querySelectorAll('.node.selected')) el.classList.remove('selected');
    selected = undefined;
  }
});

// ---------- timeline ----------
/** Nice byte ticks: steps of 1, 2 or 5 (× 10^k) in the unit the figure is shown in (B, KB, MB). */
function byteTicks(max: number, n = 4): number[] {
  const unit = max >= 1024 * 1024 ? 1024 * 1024 : max >= 1024 ? 1024 : 1;
  return ticks(max / unit, n).map((t) => t * unit);
}
function ticks(max: number, n = 8): number[] {
  const raw = max / n;
  const p = 10 ** Math.floor(Math.log10(raw || 1));
  const step = [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw) ?? raw;
  const out: number[] = [];
  for (let t = 0; t <= max + 1e-9; t += step) out.push(t);
  return out;
}
function stepName(s: PlanStep): string {
  return s.kind === 'compute' ? `partition ${s.partition}` : `${s.value} ${s.from}→${s.to}`;
}
let sharedAxis = false;
function drawTimeline(): void {
  const host = $('#timeline-view');
  const ls = lanes(plan);
  const maxP = Math.max(plan.estimate.latencyUs, ...plan.steps.map((s) => s.endUs)) || 1;
  const maxM = Math.max(0, ...(trace?.steps.map((s) => s.endUs) ?? [0])) || 1;
  // Measured times on an emulating host can be far from the predicted ones: each gets its own axis
  // (predicted on top, measured below) unless one shared axis is asked for.
  const shared = !hasTrace || sharedAxis;
  const maxT = shared ? Math.max(maxP, hasTrace ? maxM : 0) : maxP;
  const W = Math.max(700, host.clientWidth - 80);
  const left = 150, right = 24, laneH = hasTrace ? 52 : 34, top = 28;
  const x = (t: number) => left + ((W - left - right) * t) / maxT;
  const xm = shared ? x : (t: number) => left + ((W - left - right) * t) / maxM;
  const H = top + ls.length * laneH + (shared ? 10 : 30);
  const out: string[] = [];
  out.push('<g class="axis">');
  for (const t of ticks(maxT)) out.push(`<line x1="${x(t)}" x2="${x(t)}" y1="${top - 6}" y2="${H - (shared ? 0 : 22)}"/><text x="${x(t)}" y="${top - 10}" text-anchor="middle">${fmtUs(t)}</text>`);
  if (!shared) for (const t of ticks(maxM)) out.push(`<text x="${xm(t)}" y="${H - 8}" text-anchor="middle">${fmtUs(t)}</text><line x1="${xm(t)}" x2="${xm(t)}" y1="${H - 22}" y2="${H - 18}" style="stroke:#5b6472"/>`);
  out.push('</g>');
  ls.forEach((l, k) => {
    const y = top + k * laneH;
    out.push(`<rect x="0" y="${y}" width="${W}" height="${laneH}" fill="${k % 2 ? '#fff' : '#f3f5f8'}" opacity=".6"/>`);
    out.push(`<text class="lane-label" x="8" y="${y + 18}">${esc(l.kind === 'link' ? `link ${l.id}` : l.id)}</text>`);
    if (hasTrace) out.push(`<text x="8" y="${y + 40}" font-size="10" fill="#5b6472">measured ▸</text>`);
  });
  const laneIndex = new Map(ls.map((l, k) => [l.id, k]));
  plan.steps.forEach((s, i) => {
    const k = laneIndex.get(s.lane)!;
    const y = top + k * laneH + 5;
    const proc = s.kind === 'compute' ? plan.partitions[s.partition].processor : s.from;
    const col = colors[proc] ?? '#888';
    const w = Math.max(1.5, x(s.endUs) - x(s.startUs));
    const label = stepName(s);
    const title = `step ${i}: ${label}\npredicted ${fmtUs(s.startUs)} → ${fmtUs(s.endUs)} (${fmtUs(s.endUs - s.startUs)}, cost model)${s.kind === 'transfer' ? `\n${fmtBytes(s.bytes)}` : ''}`;
    out.push(`<g class="bar predicted" data-step="${i}"><rect x="${x(s.startUs)}" y="${y}" width="${w}" height="${hasTrace ? 18 : 22}" fill="${col}" ${s.kind === 'transfer' ? 'fill-opacity=".55" stroke="' + col + '"' : ''} rx="2"/>${w > 60 ? `<text x="${x(s.startUs) + 4}" y="${y + 14}" fill="#fff" font-size="11">${esc(label)}</text>` : ''}<title>${esc(title)}</title></g>`);
    const m = measuredStep.get(i);
    if (m) {
      const mw = Math.max(1.5, xm(m.endUs) - xm(m.startUs));
      out.push(`<g class="bar measured" data-step="${i}"><rect x="${xm(m.startUs)}" y="${y + 22}" width="${mw}" height="18" fill="none" stroke="${col}" stroke-width="2" rx="2"/><rect x="${xm(m.startUs)}" y="${y + 22}" width="${mw}" height="18" fill="${col}" fill-opacity=".25"/><title>${esc(`step ${i}: ${label}\nmeasured ${fmtUs(m.startUs)} → ${fmtUs(m.endUs)} (${fmtUs(m.endUs - m.startUs)})`)}</title></g>`);
    }
  });
  host.innerHTML = `<div class="card"><h3>Timeline</h3><p class="note">One lane per processor and per link; one bar per step (${plan.steps.length}). Predicted times (filled, axis on top): ${esc(plan.estimate.source)}.${hasTrace ? ` Measured (outlined, below${shared ? '' : ', axis at the bottom'}): ${esc(trace!.source)}, total ${fmtUs(trace!.totalUs)}. <label><input type="checkbox" id="shared-axis"${sharedAxis ? ' checked' : ''}> one time axis for both</label>` : ' No trace given: run <code>tessera run --plan plan.json --trace trace.json</code> and pass <code>--trace</code> to see measured times.'}</p>
  <svg id="timeline-svg" width="${W}" height="${H}" xmlns="${SVGNS}">${out.join('')}</svg></div>`;
  mark('timeline-bars', host.querySelectorAll('.bar.predicted').length);
  host.querySelector('#shared-axis')?.addEventListener('change', (e) => {
    sharedAxis = (e.target as HTMLInputElement).checked;
    drawTimeline();
  });
}

// ---------- memory ----------
function drawMemory(): void {
  const host = $('#memory-view');
  const positions = plan.order.length;
  const W = Math.max(700, host.clientWidth - 80);
  const cards: string[] = [];
  for (const [mem, m] of Object.entries(plan.memory)) {
    if (!m.buffers.length) {
      cards.push(`<div class="card" data-memory="${esc(mem)}"><h3>${esc(mem)}</h3><p class="note">no activation buffers in this memory (weights ${fmtBytes(m.weightBytes)})</p></div>`);
      continue;
    }
    const alive = aliveBytes(m.buffers, positions);
    const curveMax = Math.max(...alive);
    const maxB = Math.max(m.arenaBytes, m.peakBytes, m.lowerBoundBytes, curveMax) * 1.12 || 1;
    const left = 70, right = 150, H = 170, top = 10;
    const x = (p: number) => left + ((W - left - right) * p) / Math.max(1, positions);
    const y = (b: number) => top + (H - top - 20) * (1 - b / maxB);
    let d = `M${x(0)},${y(0)}`;
    alive.forEach((b, p) => {
      d += `L${x(p)},${y(b)}L${x(p + 1)},${y(b)}`;
    });
    d += `L${x(positions + 1)},${y(0)}Z`;
    const line = (b: number, cls: string, col: string, text: string, ty: number) =>
      `<line x1="${left}" x2="${W - right}" y1="${y(b)}" y2="${y(b)}" stroke="${col}" stroke-dasharray="5 3" stroke-width="1.5"/><text class="mark-label ${cls}" data-memory="${esc(mem)}" data-bytes="${b}" x="${W - right + 6}" y="${ty}" fill="${col}">${text}</text>`;
    const axis: string[] = [];
    for (const t of byteTicks(maxB / 1.12, 4)) axis.push(`<line x1="${left}" x2="${W - right}" y1="${y(t)}" y2="${y(t)}"/><text x="${left - 6}" y="${y(t) + 3}" text-anchor="end">${fmtBytes(t)}</text>`);
    const marks = [
      { b: m.arenaBytes, cls: 'arena-label', col: '#5b6472', text: `arena ${fmtBytes(m.arenaBytes)}` },
      { b: m.peakBytes, cls: 'peak-label', col: '#c0392b', text: `peak ${fmtBytes(m.peakBytes)}` },
      { b: m.lowerBoundBytes, cls: 'lower-label', col: '#2d7a2d', text: `lower bound ${fmtBytes(m.lowerBoundBytes)}` },
    ].sort((a, b) => b.b - a.b);
    const chart = `<svg class="alive-chart" width="${W}" height="${H}" xmlns="${SVGNS}"><g class="axis">${axis.join('')}</g><path d="${d}" fill="${colors[mem] ?? '#888'}" fill-opacity=".35" stroke="${colors[mem] ?? '#888'}"/>${(() => {
      // labels top to bottom, at least 13 px apart
      let prev = -Infinity;
      return marks.map((k) => {
        const ty = Math.max(y(k.b) + 4, prev + 13);
        prev = ty;
        return line(k.b, k.cls, k.col, k.text, ty);
      }).join('');
    })()}<text x="${left}" y="${H - 4}" class="note" font-size="10" fill="#5b6472">order position 0 … ${positions} →</text></svg>`;
    // arena layout: x = order position, y = offset
    const AH = Math.min(420, Math.max(160, m.buffers.length * 3));
    const arena = m.arenaBytes || 1;
    const yo = (o: number) => top + (AH - top - 20) * (o / arena);
    const rects = m.buffers.map((b, k) => {
      const hue = (k * 47) % 360;
      return `<rect class="buffer" x="${x(b.start)}" y="${yo(b.offset)}" width="${Math.max(1, x(Math.min(b.end, positions) + 1) - x(b.start))}" height="${Math.max(0.8, yo(b.offset + b.bytes) - yo(b.offset))}" fill="hsl(${hue} 55% 62%)" stroke="#fff" stroke-width=".4"><title>${esc(`${b.value}: ${fmtBytes(b.bytes)} ${b.dtype}${b.scale !== undefined ? ` (scale ${b.scale})` : ''} at offset ${b.offset}, alive at positions ${b.start}–${b.end}`)}</title></rect>`;
    });
    const ax2: string[] = [];
    for (const t of byteTicks(arena, 4)) if (t <= arena) ax2.push(`<line x1="${left}" x2="${W - right}" y1="${yo(t)}" y2="${yo(t)}"/><text x="${left - 6}" y="${yo(t) + 3}" text-anchor="end">${fmtBytes(t)}</text>`);
    const layoutSvg = `<svg class="arena-layout" width="${W}" height="${AH}" xmlns="${SVGNS}"><g class="axis">${ax2.join('')}</g><rect x="${left}" y="${yo(0)}" width="${W - left - right}" height="${yo(arena) - yo(0)}" fill="none" stroke="#c4cad3"/>${rects.join('')}<text x="${W - right + 6}" y="${yo(arena)}" class="mark-label" fill="#5b6472">arena end</text><text x="${left}" y="${AH - 4}" class="note" font-size="10" fill="#5b6472">order position → (offset ↓)</text></svg>`;
    const agree = curveMax === m.peakBytes ? '' : ` <span class="emulated">(the buffers' alive bytes peak at ${fmtBytes(curveMax)}, not the plan's peakBytes)</span>`;
    cards.push(`<div class="card" data-memory="${esc(mem)}" data-curve-max="${curveMax}"><h3>${esc(mem)} memory</h3><p class="note">Alive bytes over the order (${m.buffers.length} buffers): peak ${fmtBytes(m.peakBytes)}, lower bound ${fmtBytes(m.lowerBoundBytes)}, arena ${fmtBytes(m.arenaBytes)}${m.lowerBoundBytes ? ` (peak/lower bound ${(m.peakBytes / m.lowerBoundBytes).toFixed(2)}×)` : ''}; weights ${fmtBytes(m.weightBytes)} (not in the arena)${trace?.arenaBytes[mem] !== undefined ? `; allocated in the run: ${fmtBytes(trace.arenaBytes[mem])}` : ''}.${agree}</p>${chart}<h3>Arena layout</h3><p class="note">One rectangle per buffer: offset in the arena against the order positions it is alive.</p>${layoutSvg}</div>`);
  }
  host.innerHTML = cards.join('');
  mark('memory-cards', Object.keys(plan.memory).length);
}

// ---------- summary ----------
function drawSummary(): void {
  const host = $('#summary-view');
  const compute = (p: string, f: (i: number) => number | undefined) => plan.steps.reduce((a, s, i) => a + (s.kind === 'compute' && s.lane === p ? (f(i) ?? 0) : 0), 0);
  const procRows = plan.target.processors.map((p) => {
    const nodes = plan.nodes.filter((n) => n.processor === p.id && !n.folded);
    const flops = view ? nodes.reduce((a, n) => a + view.nodes[n.index].flops, 0) : undefined;
    const b = trace?.bindings.find((x) => x.processor === p.id);
    const bound = b ? `${esc(b.backend)} <span class="${b.emulated ? 'emulated' : 'real'}">${b.emulated ? 'emulated' : 'real'}</span><div class="note">${esc(b.note)}</div>` : '<span class="note">not run (no trace)</span>';
    const measured = hasTrace ? fmtUs(compute(p.id, (i) => (measuredStep.get(i) ? measuredStep.get(i)!.endUs - measuredStep.get(i)!.startUs : undefined))) : '—';
    return `<tr data-processor="${esc(p.id)}"><td><i class="swatch" style="background:${colors[p.id]}"></i><b>${esc(p.id)}</b> (${p.kind})<div class="note">${esc(p.name)}</div></td><td>${esc(p.backend)}</td><td>${bound}</td><td class="num">${nodes.length}</td><td class="num">${plan.partitions.filter((x) => x.processor === p.id).length}</td><td class="num">${flops === undefined ? '?' : fmtCount(flops)}</td><td class="num">${fmtUs(compute(p.id, (i) => plan.steps[i].endUs - plan.steps[i].startUs))}</td><td class="num">${measured}</td></tr>`;
  });
  const transfers = plan.steps.map((s, i) => ({ s, i })).filter((x): x is { s: Extract<PlanStep, { kind: 'transfer' }>; i: number } => x.s.kind === 'transfer');
  const tRows = transfers.map(({ s, i }) => `<tr><td>${i}</td><td>${esc(s.value)}</td><td>${esc(s.from)} → ${esc(s.to)}</td><td class="num">${fmtBytes(s.bytes)}</td><td class="num">${fmtUs(s.endUs - s.startUs)}</td><td class="num">${measuredStep.get(i) ? fmtUs(measuredStep.get(i)!.endUs - measuredStep.get(i)!.startUs) : '—'}</td></tr>`);
  const groups = new Map<string, { op: string; processor: string; reason: string; count: number }>();
  for (const n of plan.nodes) {
    if (n.folded || !n.rejected?.length) continue;
    for (const r of n.rejected) {
      const k = `${n.op}|${n.processor}|${r.processor}|${r.reason}`;
      const g = groups.get(k) ?? { op: n.op, processor: n.processor, reason: `not ${r.processor}: ${r.reason}`, count: 0 };
      g.count++;
      groups.set(k, g);
    }
  }
  const memRows = Object.entries(plan.memory).map(([id, m]) => `<tr><td>${esc(id)}</td><td class="num">${fmtBytes(m.arenaBytes)}</td><td class="num">${fmtBytes(m.peakBytes)}</td><td class="num">${fmtBytes(m.lowerBoundBytes)}</td><td class="num">${fmtBytes(m.weightBytes)}</td><td class="num">${m.buffers.length}</td></tr>`);
  host.innerHTML = `
  <div class="card"><h3>Plan</h3><table class="grid">
    <tr><td>model</td><td>${esc(plan.model.file)} <span class="note">sha256 ${plan.model.sha256.slice(0, 16)}…</span></td></tr>
    <tr><td>target</td><td><b id="summary-target">${esc(plan.target.name)}</b></td></tr>
    <tr><td>inputs</td><td>${Object.entries(plan.inputs).map(([k, v]) => `${esc(k)} ${esc(v.dtype)} [${v.shape.join('×')}]`).join(', ')}</td></tr>
    <tr><td>predicted latency</td><td><b>${fmtUs(plan.estimate.latencyUs)}</b> <span class="note">${esc(plan.estimate.source)}</span></td></tr>
    ${hasTrace ? `<tr><td>measured</td><td><b>${fmtUs(trace!.totalUs)}</b> <span class="note">${esc(trace!.source)}</span></td></tr>` : ''}
    <tr><td>transfers</td><td>${transfers.length} (${fmtBytes(plan.estimate.transferBytes)}), predicted ${fmtUs(transfers.reduce((a, { s }) => a + s.endUs - s.startUs, 0))} on links</td></tr>
    <tr><td>nodes</td><td>${plan.nodes.length}: ${runtimeNodes} run, ${plan.nodes.length - runtimeNodes} folded at compile time; ${plan.partitions.length} partitions</td></tr>
    <tr><td>sources</td><td class="note">${esc(view?.source ?? data.viewMissing ?? '')}<br>per-node predictions: ${esc(view?.costSource ?? '—')}</td></tr>
  </table></div>
  <div class="card"><h3>Processors</h3><table class="grid" id="summary-processors"><tr><th>processor</th><th>planned backend</th><th>bound to</th><th class="num">nodes</th><th class="num">partitions</th><th class="num">FLOPs</th><th class="num">predicted</th><th class="num">measured</th></tr>${procRows.join('')}</table>
  <p class="note">Predicted: compute steps by the cost model. Measured: the trace's compute steps on this host${hasTrace ? '' : ' (no trace given)'}. Bindings are what the run used${hasTrace ? '' : '; pass --trace to see them'}.</p></div>
  <div class="card"><h3>Transfers</h3>${tRows.length ? `<table class="grid"><tr><th>step</th><th>value</th><th>link</th><th class="num">bytes</th><th class="num">predicted</th><th class="num">measured</th></tr>${tRows.join('')}</table>` : '<p class="note">none</p>'}</div>
  <div class="card"><h3>Memory</h3><table class="grid"><tr><th>memory</th><th class="num">arena</th><th class="num">peak</th><th class="num">lower bound</th><th class="num">weights</th><th class="num">buffers</th></tr>${memRows.join('')}</table></div>
  <div class="card"><h3>Placement: nodes not on the processor ranked first</h3>${groups.size ? `<table class="grid"><tr><th>op</th><th>placed on</th><th class="num">nodes</th><th>why</th></tr>${[...groups.values()].sort((a, b) => b.count - a.count).map((g) => `<tr><td>${esc(g.op)}</td><td>${esc(g.processor)}</td><td class="num">${g.count}</td><td>${esc(g.reason)}</td></tr>`).join('')}</table>` : '<p class="note">every run-time node is on the processor the cost model ranks first</p>'}</div>`;
}

// ---------- start ----------
const first = views.includes(location.hash.slice(1)) ? location.hash.slice(1) : 'graph';
show(first);
requestLayout();
mark('interactive-ms', Math.round(performance.now() - t0));
mark('interactive-at', Math.round(performance.now()));
window.addEventListener('resize', () => {
  for (const v of ['timeline', 'memory']) {
    if (!drawn.has(v)) continue;
    drawn.delete(v);
    if ($(`#${v}-view`).classList.contains('active')) show(v);
  }
});
