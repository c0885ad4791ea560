/**
 * The plan viewer at scale, in headless Chromium (Debian's, through playwright-core): light_densenet121
 * on snapdragon-8-gen-3 (1,746 nodes), and generated deep chains with skips of 10,000 and 100,000 nodes
 * (tests/viz/generated.ts). Per graph, over `runs` loads:
 *
 *   npx tsx bench/viz.ts [runs=3]
 *
 * - time to interactive: navigation start → the first graph drawn and painted, taking input;
 * - expand all: from collapsed (folded nodes shown), the click on "Expand all" → every node, folded ones
 *   too, laid out, drawn and painted;
 * - memory of the page: the page's JS heap after a garbage collection (CDP; the layout worker's heap is
 *   not in it), and the resident memory of the renderer process (page and worker; /proc), after expand all.
 * Targets: 10,000 nodes interactive < 2 s, expand all < 5 s; 100,000 nodes < 5 s and < 30 s.
 * Times are measured on this machine and depend on its load; memory figures do not.
 */
import { readdirSync, readFileSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { writeFileSync } from 'node:fs';
import { compile } from '../src/compiler/index.js';
import { serializePlan } from '../src/plan/schema.js';
import { withModelPath } from '../src/viz/find-model.js';
import { vizPlan } from '../src/cli/viz.js';
import { chromiumMissing, launch, open } from '../tests/viz/browser.js';
import { writeGenerated } from '../tests/viz/generated.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DENSENET = resolve(ROOT, '../shared/corpus/onnx-node/light/light_densenet121.onnx');
const runs = Number(process.argv.slice(2).find((a) => /^\d+$/.test(a)) ?? 3);
const WAIT = { timeout: 300_000 };

if (chromiumMissing) {
  console.log(`bench/viz: skipped: ${chromiumMissing}`);
  process.exit(0);
}

/** ms since navigation start once the next frame is painted. */
const painted = (page: Page) => page.evaluate(() => new Promise<number>((r) => requestAnimationFrame(() => requestAnimationFrame(() => r(performance.now())))));

/** Resident memory (MB) of the biggest renderer process under this process: the one page open. */
function rendererRssMb(): number {
  const parent = new Map<number, number>(), cmd = new Map<number, string>(), rss = new Map<number, number>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const st = readFileSync(`/proc/${d}/stat`, 'utf8');
      parent.set(Number(d), Number(st.slice(st.lastIndexOf(')') + 2).split(' ')[1]));
      cmd.set(Number(d), readFileSync(`/proc/${d}/cmdline`, 'utf8'));
      rss.set(Number(d), Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${d}/status`, 'utf8'))?.[1] ?? 0) / 1024);
    } catch {
      // gone meanwhile
    }
  }
  const mine = (pid: number) => {
    for (let p = pid, k = 0; p > 1 && k < 20; p = parent.get(p) ?? 0, k++) if (p === process.pid) return true;
    return false;
  };
  return Math.max(0, ...[...cmd].filter(([pid, c]) => c.includes('--type=renderer') && mine(pid)).map(([pid]) => rss.get(pid) ?? 0));
}

interface Row { interactive: number; expand: number; heapMb: number; rssMb: number; domNodes: number; drawn: number; engine: string }

async function measure(html: string, nodes: number): Promise<Row[]> {
  const browser = await launch();
  const rows: Row[] = [];
  try {
    for (let i = 0; i < runs; i++) {
      const { page, errors } = await open(browser, html);
      await page.waitForSelector('body[data-graph-state=ready]', WAIT);
      const interactive = await painted(page);
      // from collapsed with folded nodes shown (a state never laid out before: no cached layout) to everything expanded
      await page.click('#collapse-all');
      await page.waitForFunction(() => document.body.dataset.graphState === 'ready' && document.body.dataset.graphNodes === '0', null, WAIT);
      const before = Number(await page.getAttribute('body', 'data-ready-at'));
      await page.check('#show-folded');
      await page.waitForFunction((t) => document.body.dataset.graphState === 'ready' && Number(document.body.dataset.readyAt) > t, before, WAIT);
      await page.click('#expand-all');
      await page.waitForFunction((n) => document.body.dataset.graphState === 'ready' && document.body.dataset.graphNodes === String(n), nodes, WAIT);
      const expand = (await painted(page)) - Number(await page.getAttribute('body', 'data-expand-clicked-at'));
      const cdp = await page.context().newCDPSession(page);
      await cdp.send('HeapProfiler.collectGarbage');
      await cdp.send('Performance.enable');
      const metrics = new Map((await cdp.send('Performance.getMetrics')).metrics.map((m) => [m.name, m.value]));
      if (errors.length) throw new Error(`console errors: ${errors.join('; ')}`);
      rows.push({
        interactive, expand, heapMb: (metrics.get('JSHeapUsedSize') ?? 0) / 2 ** 20, rssMb: rendererRssMb(), domNodes: metrics.get('Nodes') ?? 0,
        drawn: Number(await page.getAttribute('body', 'data-graph-drawn')), engine: (await page.getAttribute('body', 'data-layout-engine')) ?? '?',
      });
      await page.context().close();
    }
  } finally {
    await browser.close();
  }
  return rows;
}

const dir = mkdtempSync(join(tmpdir(), 'tessera-bench-viz-'));
try {
  const cases: { name: string; plan: string; nodes: number; targets?: [number, number] }[] = [];
  const dn = await compile(DENSENET, 'snapdragon-8-gen-3', { lower: false });
  writeFileSync(join(dir, 'densenet.json'), serializePlan(withModelPath(dn.plan, join(dir, 'densenet.json'), DENSENET)));
  cases.push({ name: `light_densenet121 (${dn.plan.nodes.length} nodes, ${dn.plan.nodes.filter((n) => !n.folded).length} run)`, plan: join(dir, 'densenet.json'), nodes: dn.plan.nodes.length });
  for (const [n, targets] of [[10_000, [2000, 5000]], [100_000, [5000, 30_000]]] as const) {
    const g = await writeGenerated(n, dir);
    cases.push({ name: `generated chain, ${n.toLocaleString('en')} nodes`, plan: g.plan, nodes: n, targets: [...targets] });
  }
  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const fmt = (xs: number[]) => `${med(xs).toFixed(0)} ms (${Math.min(...xs).toFixed(0)}–${Math.max(...xs).toFixed(0)})`;
  console.log(`bench/viz: the plan viewer in headless Chromium (/usr/bin/chromium), ${runs} loads each; times measured here (median, min–max), provisional on a loaded machine`);
  for (const c of cases) {
    const html = join(dir, `${c.name.split(' ')[0]}-${c.nodes}.html`);
    const t0 = performance.now();
    await vizPlan(c.plan, { out: html });
    const vizMs = performance.now() - t0;
    const rows = await measure(html, c.nodes);
    const ti = med(rows.map((r) => r.interactive)), te = med(rows.map((r) => r.expand));
    console.log(`\n${c.name}: page ${(statSync(html).size / 2 ** 20).toFixed(1)} MB, written by tessera viz in ${(vizMs / 1000).toFixed(1)} s`);
    console.log(`  time to interactive (first graph painted, from navigation start): ${fmt(rows.map((r) => r.interactive))}${c.targets ? `  target < ${c.targets[0]} ms: ${ti < c.targets[0] ? 'met' : 'NOT met'} (${(ti / c.targets[0]).toFixed(2)}× the target)` : ''}`);
    console.log(`  expand all, ${c.nodes.toLocaleString('en')} nodes laid out (${rows[0].engine} layout) and painted: ${fmt(rows.map((r) => r.expand))}${c.targets ? `  target < ${c.targets[1]} ms: ${te < c.targets[1] ? 'met' : 'NOT met'} (${(te / c.targets[1]).toFixed(2)}× the target)` : ''}`);
    console.log(`  memory after expand all: page JS heap ${med(rows.map((r) => r.heapMb)).toFixed(0)} MB, renderer resident ${med(rows.map((r) => r.rssMb)).toFixed(0)} MB; ${med(rows.map((r) => r.domNodes))} DOM nodes (${rows[0].drawn} graph boxes drawn: those in view)`);
  }
  console.log(`\ncommand: npx tsx bench/viz.ts ${runs}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
