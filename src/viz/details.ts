/// <reference lib="dom" />
/**
 * The details pane of the graph view: what a clicked node is, where it runs and why, its values with
 * shapes and bytes, and for control flow its branches/bodies with what inference kept or pruned. Built
 * with DOM calls (names are text, never markup).
 */
import { fmtBytes, fmtCount, fmtUs } from './derive.js';
import { h } from './dom.js';
import type { VizData, ViewSubgraph } from './model.js';
import { ownerName } from './scene.js';

type Child = Node | string;

export interface DetailsContext {
  data: VizData;
  colors: Record<string, string>;
  computeStepOf: ReadonlyMap<number, number>;
  /** Whether a control-flow node is drawn expanded. */
  isExpanded(key: string): boolean;
}

const row = (k: string, ...v: (Child | false | undefined)[]) => h('tr', {}, h('td', {}, k), h('td', {}, ...v.filter((x): x is Child => !!x)));
const note = (text: string) => h('span', { class: 'note' }, text);
const lines = (items: Child[]) => (items.length ? items.flatMap((x, i) => (i ? [h('br'), x] : [x])) : ['—']);

function valueLine(name: string, v: { dtype: string | null; shape: (number | string)[] | null; bytes: number; role: string } | undefined, extra = ''): Child {
  if (!v) return h('span', {}, name, extra ? note(` ${extra}`) : '');
  if (!v.dtype && !v.shape) return h('span', {}, name, ' ', note(`shape not inferred${extra ? ` ${extra}` : ''}`));
  const shape = v.shape ? `[${v.shape.join('×')}]` : '?';
  return h('span', {}, name, ' ', note(`${v.dtype ?? '?'} ${shape} ${fmtBytes(v.bytes)}${v.role === 'initializer' ? ' weight' : ''}${extra ? ` ${extra}` : ''}`));
}

/** The value a subgraph reads by that name: its own, or an enclosing graph's. */
function lookup(data: VizData, sg: number, name: string) {
  const view = data.view!;
  for (let g = sg; g >= 0; g = view.subgraphs[g].parent) {
    const v = view.subgraphs[g].values[name];
    if (v && v.role !== 'outer') return v;
  }
  return view.values[name];
}

function branchRows(ctx: DetailsContext, key: string, subs: readonly number[]): HTMLElement[] {
  const view = ctx.data.view!;
  const items = subs.map((g) => {
    const b: ViewSubgraph = view.subgraphs[g];
    return h('span', { 'data-branch': b.attr, 'data-status': b.status }, h('b', {}, b.attr), ` ${b.status} `, note(`(${b.nodes.length} nodes; ${b.why}${b.outer.length ? `; reads ${b.outer.length} outer value${b.outer.length === 1 ? '' : 's'}: ${b.outer.join(', ')}` : ''})`));
  });
  const open = ctx.isExpanded(key);
  return [
    row('branches', ...lines(items)),
    row('', h('button', { 'data-field': 'expand', 'data-toggle': key }, open ? 'collapse branches' : 'expand branches')),
  ];
}

/** The pane's content for a node key (`n{i}` or `s{g}.{k}`). */
export function detailsOf(ctx: DetailsContext, key: string): { title: string; why?: HTMLElement; rows: HTMLElement[]; foot?: string } {
  const { data } = ctx;
  const { plan, view, trace } = data;
  if (key.startsWith('s')) {
    const [g, k] = key.slice(1).split('.').map(Number);
    const b = view!.subgraphs[g];
    const n = b.nodes[k];
    const chain: number[] = [];
    for (let x = g; x >= 0; x = view!.subgraphs[x].parent) chain.unshift(x);
    const pn = plan.nodes[view!.subgraphs[chain[0]].node];
    const where = chain.map((x) => {
      const sb = view!.subgraphs[x];
      return `${ownerName(plan, view!, x)} › ${sb.attr} (${sb.status})`;
    }).join(' › ');
    const outerNote = (name: string) => (b.values[name]?.role === 'outer' ? 'from the enclosing graph' : b.values[name]?.role === 'input' ? `formal input of the ${b.attr}` : '');
    const rows: HTMLElement[] = [
      row('op', h('b', { 'data-field': 'op' }, n.op)),
      row('inside', h('span', { 'data-field': 'branch' }, where)),
      row('branch', h('span', { 'data-field': 'status' }, b.status), ' ', note(b.why)),
      row('processor', h('span', { 'data-field': 'processor' }, h('i', { class: 'swatch', style: `background:${ctx.colors[pn.processor]}` }), pn.processor), ' ', note(`runs inside ${pn.op} '${pn.name}' (partition ${pn.partition})`)),
      row('inputs', ...lines(n.inputs.filter(Boolean).map((x) => valueLine(x, lookup(data, g, x), outerNote(x))))),
      row('outputs', ...lines(n.outputs.filter(Boolean).map((x) => valueLine(x, b.values[x], b.outputs.includes(x) ? `returned by the ${b.attr}` : '')))),
      row('attributes', ...lines(Object.entries(n.attrs).map(([a, v]) => `${a} = ${v}`))),
    ];
    if (n.flops !== undefined) rows.push(row('FLOPs', fmtCount(n.flops)), row('bytes', fmtBytes(n.bytes ?? 0), ' ', note('read + written')));
    if (n.implicit?.length) rows.push(row('outer values', n.implicit.join(', ')));
    if (n.subgraphs) rows.push(...branchRows(ctx, key, n.subgraphs));
    return { title: n.name, rows };
  }
  const i = Number(key.slice(1));
  const n = plan.nodes[i];
  const vn = view?.nodes[i];
  const part = plan.partitions[n.partition];
  const step = ctx.computeStepOf.get(n.partition);
  const ps = step !== undefined ? plan.steps[step] : undefined;
  const ms = step !== undefined ? trace?.steps.find((x) => x.step === step) : undefined;
  const proc = plan.target.processors.find((p) => p.id === n.processor);
  const binding = trace?.bindings.find((b) => b.processor === n.processor);
  const rows: HTMLElement[] = [
    row('op', h('b', { 'data-field': 'op' }, n.op)),
    row('processor', h('span', { 'data-field': 'processor' }, h('i', { class: 'swatch', style: `background:${ctx.colors[n.processor]}` }), n.processor), proc && ' ', proc && note(proc.name)),
    row('partition', h('span', { 'data-field': 'partition' }, String(n.partition)), ' ', note(`${part.backend}, ${part.precision}, ${part.nodes.filter((x) => !plan.nodes[x].folded).length} run-time nodes`)),
  ];
  if (n.precision) rows.push(row('precision', h('span', { 'data-field': 'precision' }, n.precision), ' ', note(n.precision.startsWith('a') ? 'a QDQ group on integers: activation bits, weight bits' : 'float values stored as this type')));
  if (binding) rows.push(row('bound to', `${binding.backend} `, h('span', { class: binding.emulated ? 'emulated' : 'real' }, binding.emulated ? 'emulated' : 'real')));
  if (n.folded) rows.push(row('folded', 'computed at compile time (constant); never runs'));
  if (vn) {
    rows.push(row('inputs', ...lines(vn.inputs.filter(Boolean).map((x) => valueLine(x, view!.values[x])))));
    rows.push(row('outputs', ...lines(vn.outputs.filter(Boolean).map((x) => valueLine(x, view!.values[x])))));
    rows.push(row('attributes', ...lines(Object.entries(vn.attrs).map(([a, v]) => `${a} = ${v}`))));
    rows.push(row('FLOPs', fmtCount(vn.flops)));
    rows.push(row('bytes', fmtBytes(vn.bytes), ' ', note('read + written')));
    if (vn.predictedUs !== undefined && !n.folded) rows.push(row('predicted (node)', fmtUs(vn.predictedUs), ' ', note(`${vn.basis ?? ''}; cost model`)));
    if (vn.implicit?.length) rows.push(row('outer values', ...lines(vn.implicit.map((x) => valueLine(x, view!.values[x], 'read by its subgraphs')))));
    if (vn.subgraphs) rows.push(...branchRows(ctx, key, vn.subgraphs));
  }
  if (ps && !n.folded) rows.push(row('predicted (partition)', fmtUs(ps.endUs - ps.startUs), ' ', note(`step ${step}, ${fmtUs(ps.startUs)} → ${fmtUs(ps.endUs)}`)));
  if (ms && !n.folded) rows.push(row('measured (partition)', fmtUs(ms.endUs - ms.startUs), ' ', note(`step ${step}, ${fmtUs(ms.startUs)} → ${fmtUs(ms.endUs)}; per-node times are not measured`)));
  const why = h('div', { class: 'why', 'data-field': 'why' });
  if (n.folded) why.append('Folded: its value is known at compile time.');
  else if (n.rejected?.length) why.append('Placed on ', h('b', {}, n.processor), ' because:', ...n.rejected.flatMap((r) => [h('br'), `• not ${r.processor}: ${r.reason}`]));
  else why.append('Placed on ', h('b', {}, n.processor), ': the processor the cost model ranks fastest for it.');
  return { title: n.name, why, rows, ...(view ? {} : { foot: data.viewMissing ?? '' }) };
}

