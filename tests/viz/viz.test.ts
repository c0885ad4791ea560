/**
 * The plan viewer and the trace export, on a corpus model plan (light_inception_v1 on
 * snapdragon-8-gen-3: a GPU and an NPU partition, transfers between them) run once on this host for a
 * measured trace. The page is opened in real headless Chromium (Debian's, driven by playwright-core);
 * screenshots of the views go to tests/viz/__output__/.
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compile } from '../../src/compiler/index.js';
import { serializePlan, type Plan } from '../../src/plan/schema.js';
import { runModel } from '../../src/runtime/run-model.js';
import { fmtBytes } from '../../src/viz/derive.js';
import { withModelPath } from '../../src/viz/find-model.js';
import { parseTraceFile, type TraceFile } from '../../src/viz/trace-file.js';
import { CORPUS, tempDir, tessera } from '../cli/helpers.js';
import { chromiumMissing, launch, open } from './browser.js';

const MODEL = join(CORPUS, 'onnx-node/light/light_inception_v1.onnx');
const OUTPUT = join(import.meta.dirname, '__output__');
const tmp = tempDir('viz');
const planPath = join(tmp.dir, 'plan.json');
const tracePath = join(tmp.dir, 'trace.json');
const htmlPath = join(tmp.dir, 'plan.html');
let plan: Plan;
let trace: TraceFile;

/** Runs `tessera` and returns its standard output, failing on a non-zero exit. */
function cli(...args: string[]): string {
  const r = tessera(...args);
  expect(r.status, r.stderr).toBe(0);
  return r.stdout;
}

beforeAll(async () => {
  plan = withModelPath((await compile(MODEL, 'snapdragon-8-gen-3', { lower: false })).plan, planPath, MODEL);
  writeFileSync(planPath, serializePlan(plan));
  await runModel(MODEL, { plan: planPath, target: 'snapdragon-8-gen-3', trace: tracePath });
  trace = parseTraceFile(readFileSync(tracePath, 'utf8'), tracePath, plan);
  cli('viz', planPath, '--trace', tracePath, '--model', MODEL, '-o', htmlPath);
  mkdirSync(OUTPUT, { recursive: true });
});
afterAll(() => tmp.cleanup());

describe('run --trace', () => {
  it('records every step of the plan, measured, with the bindings', () => {
    expect(plan.partitions.length).toBeGreaterThan(1);
    expect(plan.steps.some((s) => s.kind === 'transfer')).toBe(true);
    expect(trace.steps.map((s) => s.step)).toEqual(plan.steps.map((_, i) => i));
    for (const s of trace.steps) expect(s.endUs).toBeGreaterThanOrEqual(s.startUs);
    expect(trace.bindings.map((b) => b.processor).sort()).toEqual(plan.target.processors.map((p) => p.id).sort());
    expect(trace.bindings.find((b) => b.processor === 'npu')?.emulated).toBe(true);
  });

  it('a trace of another plan is refused', () => {
    const other = { ...plan, model: { ...plan.model, sha256: '0'.repeat(64) } };
    expect(() => parseTraceFile(readFileSync(tracePath, 'utf8'), tracePath, other)).toThrow(/another plan/);
  });
});

describe('tessera trace: Chrome Trace Event Format', () => {
  for (const withTrace of [false, true]) {
    it(`${withTrace ? 'measured' : 'predicted'}: required fields, one X per step, flows for transfers, alive-bytes counters`, () => {
      const out = join(tmp.dir, `events-${withTrace}.json`);
      const stdout = cli('trace', planPath, '-o', out, ...(withTrace ? ['--trace', tracePath] : []));
      expect(Number(/(\d+) steps/.exec(stdout)?.[1])).toBe(plan.steps.length);
      const file = JSON.parse(readFileSync(out, 'utf8')) as { traceEvents: Record<string, unknown>[] };
      expect(Array.isArray(file.traceEvents)).toBe(true);
      for (const e of file.traceEvents) {
        // The Trace Event Format's required fields: name, ph, ts, pid, tid (dur for complete events)
        expect(typeof e.name).toBe('string');
        expect(typeof e.ph).toBe('string');
        expect(Number.isFinite(e.ts)).toBe(true);
        expect(Number.isInteger(e.pid)).toBe(true);
        expect(Number.isInteger(e.tid)).toBe(true);
        if (e.ph === 'X') expect(Number.isFinite(e.dur) && (e.dur as number) >= 0).toBe(true);
        if (e.ph === 's' || e.ph === 'f') expect(e.id).toBeDefined();
        if (e.ph === 'C') expect(typeof (e.args as { bytes: number }).bytes).toBe('number');
      }
      const xs = file.traceEvents.filter((e) => e.ph === 'X');
      expect(xs.length).toBe(plan.steps.length);
      expect(new Set(xs.map((e) => (e.args as { step: number }).step)).size).toBe(plan.steps.length);
      // one pid per processor
      const pids = new Set(file.traceEvents.filter((e) => e.ph === 'M' && e.name === 'process_name').map((e) => e.pid));
      expect(pids.size).toBe(plan.target.processors.length);
      // flows: every s has its f
      const flows = file.traceEvents.filter((e) => e.ph === 's' || e.ph === 'f');
      const transfers = plan.steps.filter((s) => s.kind === 'transfer').length;
      expect(flows.filter((e) => e.ph === 's').length).toBeGreaterThanOrEqual(transfers);
      for (const s of flows.filter((e) => e.ph === 's')) expect(flows.some((f) => f.ph === 'f' && f.id === s.id)).toBe(true);
      // the counter reaches each memory's peak
      for (const [mem, m] of Object.entries(plan.memory)) {
        if (!m.buffers.length) continue;
        const max = Math.max(...file.traceEvents.filter((e) => e.ph === 'C' && e.name === `alive bytes (${mem})`).map((e) => (e.args as { bytes: number }).bytes));
        expect(max).toBe(m.peakBytes);
      }
      if (withTrace) {
        for (const x of xs) {
          const step = (x.args as { step: number }).step;
          expect(x.ts).toBe(trace.steps[step].startUs);
        }
      }
    });
  }
});

describe('tessera viz: the page', () => {
  it('is one self-contained file: no external script, style, image or link', () => {
    const html = readFileSync(htmlPath, 'utf8');
    expect(html).not.toMatch(/<(script|link|img|iframe)[^>]+(src|href)=/i);
    expect(html).not.toMatch(/url\(\s*['"]?https?:/i);
    expect(html).toContain("default-src 'none'");
  });
});

describe.skipIf(chromiumMissing)(`tessera viz in headless Chromium${chromiumMissing ? ` (skipped: ${chromiumMissing})` : ''}`, () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await launch();
  });
  afterAll(async () => browser?.close());

  it('graph, timeline, memory and summary, with no console error and no network request', async () => {
    const { page, errors, requests } = await open(browser, htmlPath);
    await page.waitForSelector('body[data-graph-state=ready]', { timeout: 60_000 });
    const runtime = plan.nodes.filter((n) => !n.folded).length;
    // one graph element per run-time node (folded nodes hidden at first)
    expect(await page.locator('#viewport .node[data-node]').count()).toBe(runtime);
    // transfers marked on the edges that cross memories
    const crossing = await page.locator('#viewport .edge.transfer').count();
    expect(crossing).toBeGreaterThan(0);
    const marked = new Set(await page.locator('#viewport .edge.transfer').evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-step')))));
    for (const s of marked) expect(plan.steps[s].kind).toBe('transfer');
    await page.screenshot({ path: join(OUTPUT, 'graph.png') });

    // click a node: details with its op and processor
    const target = plan.nodes.find((n) => !n.folded && n.processor === 'gpu') ?? plan.nodes.find((n) => !n.folded)!;
    await page.locator(`#viewport .node[data-node="${target.index}"]`).click();
    await page.waitForSelector('#details.open');
    expect(await page.locator('#details [data-field=op]').textContent()).toBe(target.op);
    expect((await page.locator('#details [data-field=processor]').textContent())?.trim()).toBe(target.processor);
    expect(await page.locator('#details h2').textContent()).toBe(target.name);
    await page.screenshot({ path: join(OUTPUT, 'graph-details.png') });

    // a node placed away from a faster processor says why
    const rejected = plan.nodes.find((n) => !n.folded && n.rejected?.length);
    if (rejected) {
      await page.locator(`#viewport .node[data-node="${rejected.index}"]`).click({ force: true });
      expect(await page.locator('#details [data-field=why]').textContent()).toContain(rejected.rejected![0].reason);
    }

    // search by op
    await page.fill('#search', 'LRN');
    await page.press('#search', 'Enter');
    const lrn = plan.nodes.filter((n) => n.op === 'LRN');
    expect(await page.locator('#viewport .node.match').count()).toBe(lrn.filter((n) => !n.folded).length);

    // folded nodes shown: one element per node
    await page.fill('#search', '');
    await page.press('#search', 'Escape');
    await page.check('#show-folded');
    await page.waitForFunction((n) => document.querySelectorAll('#viewport .node[data-node]').length === n && document.body.dataset.graphState === 'ready', plan.nodes.length, { timeout: 60_000 });
    // partitions collapsed: one element per partition
    await page.click('#collapse-all');
    await page.waitForFunction((n) => document.querySelectorAll('#viewport .node.collapsed-partition').length === n && document.body.dataset.graphState === 'ready', plan.partitions.length, { timeout: 60_000 });
    expect(await page.locator('#viewport .node[data-node]').count()).toBe(0);
    await page.screenshot({ path: join(OUTPUT, 'graph-collapsed.png') });
    await page.click('#expand-all');
    await page.waitForFunction((n) => document.querySelectorAll('#viewport .node[data-node]').length === n, plan.nodes.length, { timeout: 60_000 });

    // timeline: one bar per step, predicted and measured
    await page.click('nav button[data-view=timeline]');
    expect(await page.locator('#timeline-view .bar.predicted').count()).toBe(plan.steps.length);
    expect(await page.locator('#timeline-view .bar.measured').count()).toBe(trace.steps.length);
    await page.screenshot({ path: join(OUTPUT, 'timeline.png') });

    // memory: the peak label is the plan's peakBytes, and the buffers' alive bytes reach it
    await page.click('nav button[data-view=memory]');
    for (const [mem, m] of Object.entries(plan.memory)) {
      if (!m.buffers.length) continue;
      const label = page.locator(`#memory-view .peak-label[data-memory="${mem}"]`);
      expect(Number(await label.getAttribute('data-bytes'))).toBe(m.peakBytes);
      expect(await label.textContent()).toBe(`peak ${fmtBytes(m.peakBytes)}`);
      expect(Number(await page.locator(`#memory-view .card[data-memory="${mem}"]`).getAttribute('data-curve-max'))).toBe(m.peakBytes);
      expect(await page.locator(`#memory-view .card[data-memory="${mem}"] .buffer`).count()).toBe(m.buffers.length);
    }
    await page.screenshot({ path: join(OUTPUT, 'memory.png') });

    // summary: target and bindings
    await page.click('nav button[data-view=summary]');
    expect(await page.locator('#summary-target').textContent()).toBe(plan.target.name);
    expect(await page.locator('#summary-processors tr[data-processor="npu"]').textContent()).toContain('emulated');
    await page.screenshot({ path: join(OUTPUT, 'summary.png') });

    expect(errors).toEqual([]);
    expect(requests).toEqual([]);
    expect(existsSync(join(OUTPUT, 'graph.png'))).toBe(true);
  });

  it('without the model (the plan moved away from it), the page still opens and says where it looked', async () => {
    const moved = join(tmp.dir, 'moved', 'deeper', 'plan.json');
    mkdirSync(dirname(moved), { recursive: true });
    copyFileSync(planPath, moved);
    const bare = join(tmp.dir, 'bare.html');
    const out = cli('viz', moved, '-o', bare);
    expect(out).toMatch(/not found/);
    expect(out).toContain(`the recorded path ${plan.model.path}`);
    expect(out).toContain('beside the plan');
    expect(out).toContain('plan unchecked');
    const { page, errors, requests } = await open(browser, bare);
    await page.waitForSelector('body[data-graph-state=ready]', { timeout: 60_000 });
    expect(await page.locator('#viewport .node[data-node]').count()).toBe(plan.nodes.filter((n) => !n.folded).length);
    await page.click('nav button[data-view=summary]');
    expect(await page.locator('#summary-view').textContent()).toContain('--model');
    expect(errors).toEqual([]);
    expect(requests).toEqual([]);
  });
});
