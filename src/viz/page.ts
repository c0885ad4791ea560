/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * The viewer page: Graph, Timeline, Memory and Summary views of one plan (and its measured trace), with
 * the plan verifier's finding at the top. Runs in the browser; bundled and inlined by src/viz/html.ts.
 * Reads only the data inlined in the page. The graph view is graph-view.ts.
 */
import type { PlanStep } from '../plan/schema.js';
import { aliveBytes, fmtBytes, fmtCount, fmtUs, lanes, processorColors } from './derive.js';
import { $, h, mark } from './dom.js';
import { initGraphView } from './graph-view.js';
import type { VizData } from './model.js';

const t0 = performance.now();
const data = JSON.parse(document.getElementById('tessera-data')!.textContent!) as VizData;
const { plan, trace, view, check } = data;
const colors = processorColors(plan);
const SVGNS = 'http://www.w3.org/2000/svg';
const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const measuredStep = new Map(trace?.steps.map((s) => [s.step, s]) ?? []);
const runtimeNodes = plan.nodes.filter((n) => !n.folded).length;
/** Buffers the verifier's finding names, per memory (index into its buffers). */
const offending = new Map<string, Set<number>>();
for (const b of check.buffers) (offending.get(b.memory) ?? offending.set(b.memory, new Set()).get(b.memory)!).add(b.index);

/** Above this many buffers in a memory, the arena layout draws them as one shape per colour. */
const BUFFER_RECTS = 5000;

// ---------- shell ----------
const app = $('#app');
const hasTrace = trace !== undefined;
const views = ['graph', 'timeline', 'memory', 'summary'];
const nav = h('nav', {}, ...views.map((v) => h('button', { 'data-view': v }, `${v[0].toUpperCase()}${v.slice(1)}`)));
app.append(
  h('header', {},
    h('h1', {}, `${plan.model.file} → ${plan.target.name}`),
    check.status === 'invalid' ? h('span', { class: 'badge invalid', id: 'invalid-badge' }, 'INVALID PLAN') : '',
    h('span', { class: 'meta' }, `${plan.nodes.length} nodes (${runtimeNodes} run, ${plan.nodes.length - runtimeNodes} folded) · ${plan.partitions.length} partitions · ${plan.steps.length} steps · predicted ${fmtUs(plan.estimate.latencyUs)}${hasTrace ? ` · measured ${fmtUs(trace!.totalUs)}` : ''}`),
    nav),
  h('div', { id: 'check', class: `check ${check.status}`, 'data-status': check.status },
    h('b', {}, check.status === 'valid' ? 'Plan verified' : check.status === 'invalid' ? 'The plan verifier rejects this plan' : 'Plan not verified'),
    ': ', h('span', { id: 'check-message' }, check.message),
    check.buffers.length ? h('span', {}, ` — buffers highlighted in the Memory view: ${check.buffers.map((b) => `${b.value} (${b.memory})`).join(', ')}`) : ''),
  h('main', {},
    h('section', { class: 'view', id: 'graph-view' }),
    ...['timeline', 'memory', 'summary'].map((v) => h('section', { class: 'view pad', id: `${v}-view` }))),
);
mark('check', check.status);

const drawn = new Set<string>();
function show(v: string): void {
  for (const b of nav.querySelectorAll<HTMLButtonElement>('button')) b.classList.toggle('active', b.dataset.view === v);
  for (const name of views) $(`#${name}-view`).classList.toggle('active', name === v);
  if (!drawn.has(v)) {
    drawn.add(v);
    if (v === 'timeline') drawTimeline();
    if (v === 'memory') drawMemory();
    if (v === 'summary') drawSummary();
  }
  if (v === 'graph') graph?.shown();
  mark('view', v);
  history.replaceState(null, '', `#${v}`);
}
nav.addEventListener('click', (e) => {
  const b = (e.target as HTMLElement).closest('button');
  if (b?.dataset.view) show(b.dataset.view);
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
    const bad = offending.get(mem);
    // Up to BUFFER_RECTS buffers, one rectangle each with its tooltip; beyond, one shape per colour (a
    // hundred thousand elements take the page seconds to build), the verifier's buffers still one each.
    const many = m.buffers.length > BUFFER_RECTS;
    const shapes = new Map<number, string[]>();
    const rects: string[] = [];
    m.buffers.forEach((b, k) => {
      const hue = (k * 47) % 360;
      const bx = x(b.start), by = yo(b.offset), bw = Math.max(1, x(Math.min(b.end, positions) + 1) - x(b.start)), bh = Math.max(0.8, yo(b.offset + b.bytes) - yo(b.offset));
      if (many && !bad?.has(k)) (shapes.get(hue) ?? shapes.set(hue, []).get(hue)!).push(`M${bx.toFixed(1)},${by.toFixed(1)}h${bw.toFixed(1)}v${bh.toFixed(1)}h${(-bw).toFixed(1)}z`);
      else rects.push(`<rect class="buffer${bad?.has(k) ? ' offending' : ''}" data-value="${esc(b.value)}" x="${bx}" y="${by}" width="${bw}" height="${bh}" fill="hsl(${hue} 55% 62%)" stroke="#fff" stroke-width=".4"><title>${esc(`${b.value}: ${fmtBytes(b.bytes)} ${b.dtype}${b.scale !== undefined ? ` (scale ${b.scale})` : ''} at offset ${b.offset}, alive at positions ${b.start}–${b.end}`)}</title></rect>`);
    });
    for (const [hue, d] of shapes) rects.unshift(`<path class="buffers" d="${d.join('')}" fill="hsl(${hue} 55% 62%)" stroke="#fff" stroke-width=".4"/>`);
    const ax2: string[] = [];
    for (const t of byteTicks(arena, 4)) if (t <= arena) ax2.push(`<line x1="${left}" x2="${W - right}" y1="${yo(t)}" y2="${yo(t)}"/><text x="${left - 6}" y="${yo(t) + 3}" text-anchor="end">${fmtBytes(t)}</text>`);
    const layoutSvg = `<svg class="arena-layout" width="${W}" height="${AH}" xmlns="${SVGNS}"><g class="axis">${ax2.join('')}</g><rect x="${left}" y="${yo(0)}" width="${W - left - right}" height="${yo(arena) - yo(0)}" fill="none" stroke="#c4cad3"/>${[...rects.filter((r) => !r.includes(' offending')), ...rects.filter((r) => r.includes(' offending'))].join('')}<text x="${W - right + 6}" y="${yo(arena)}" class="mark-label" fill="#5b6472">arena end</text><text x="${left}" y="${AH - 4}" class="note" font-size="10" fill="#5b6472">order position → (offset ↓)</text></svg>`;
    const agree = curveMax === m.peakBytes ? '' : ` <span class="emulated">(the buffers' alive bytes peak at ${fmtBytes(curveMax)}, not the plan's peakBytes)</span>`;
    cards.push(`<div class="card" data-memory="${esc(mem)}" data-curve-max="${curveMax}"><h3>${esc(mem)} memory</h3><p class="note">Alive bytes over the order (${m.buffers.length} buffers): peak ${fmtBytes(m.peakBytes)}, lower bound ${fmtBytes(m.lowerBoundBytes)}, arena ${fmtBytes(m.arenaBytes)}${m.lowerBoundBytes ? ` (peak/lower bound ${(m.peakBytes / m.lowerBoundBytes).toFixed(2)}×)` : ''}; weights ${fmtBytes(m.weightBytes)} (not in the arena)${trace?.arenaBytes[mem] !== undefined ? `; allocated in the run: ${fmtBytes(trace.arenaBytes[mem])}` : ''}.${agree}</p>${chart}<h3>Arena layout</h3><p class="note">One rectangle per buffer: offset in the arena against the order positions it is alive${many ? ` (${m.buffers.length} buffers: drawn without tooltips)` : ''}.${bad?.size ? ` <span class="emulated">Outlined red: the buffers the plan verifier's finding names (${[...bad].map((k) => esc(m.buffers[k].value)).join(', ')}).</span>` : ''}</p>${layoutSvg}</div>`);
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
let graph: ReturnType<typeof initGraphView> | undefined;
show(first);
graph = initGraphView($('#graph-view'), data, t0);
mark('interactive-ms', Math.round(performance.now() - t0));
mark('interactive-at', Math.round(performance.now()));
window.addEventListener('resize', () => {
  for (const v of ['timeline', 'memory']) {
    if (!drawn.has(v)) continue;
    drawn.delete(v);
    if ($(`#${v}-view`).classList.contains('active')) show(v);
  }
});
