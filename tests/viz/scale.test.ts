/**
 * The viewer at scale, in headless Chromium: generated deep chains with skips of 10,000 and 100,000
 * nodes (tests/viz/generated.ts) open, "Expand all" lays out every node without error, and every node is
 * found by search and a sample of them, spread over the whole graph, is revealed by search and opened by
 * a click. dagre asked for the 10,000-node graph fails as it did before and the page says so, drawing it
 * with the layered layout. No wall-clock assertions: bench/viz.ts times these.
 */
import type { Browser, Page } from 'playwright-core';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Plan } from '../../src/plan/schema.js';
import { tempDir, tessera } from '../cli/helpers.js';
import { chromiumMissing, launch, open } from './browser.js';
import { writeGenerated } from './generated.js';

const tmp = tempDir('viz-scale');
afterAll(() => tmp.cleanup());
const WAIT = { timeout: 240_000 };

/** Waits until the graph is laid out and drawn with `nodes` nodes in its layout. */
async function laidOut(page: Page, nodes: number): Promise<void> {
  await page.waitForFunction((n) => document.body.dataset.graphState === 'ready' && document.body.dataset.graphNodes === String(n), nodes, WAIT);
}

/** Search by exact name, Enter: the node is revealed (centred, details open); then closed and opened again by a click on it. */
async function searchAndClick(page: Page, plan: Plan, i: number): Promise<void> {
  const n = plan.nodes[i];
  await page.fill('#search', n.name);
  await page.press('#search', 'Enter');
  await page.waitForFunction((k) => document.body.dataset.graphState === 'ready' && document.querySelector('#details.open')?.getAttribute('data-key') === k && !!document.querySelector(`#viewport .node[data-key="${k}"]`), `n${i}`, WAIT);
  expect(await page.locator('#details h2').textContent()).toBe(n.name);
  await page.locator('#details .close').click();
  await page.locator(`#viewport .node[data-node="${i}"]`).click();
  await page.waitForSelector('#details.open');
  expect(await page.locator('#details h2').textContent()).toBe(n.name);
  expect(await page.locator('#details [data-field=op]').textContent()).toBe(n.op);
}

describe.skipIf(chromiumMissing)(`the viewer at scale${chromiumMissing ? ` (skipped: ${chromiumMissing})` : ''}`, () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await launch();
  });
  afterAll(async () => browser?.close());

  for (const [n, samples] of [[10_000, 24], [100_000, 12]] as const) {
    it(`${n} nodes: opens, "Expand all" lays out every node, all found by search, a sample revealed and clicked`, async () => {
      const g = await writeGenerated(n, tmp.dir);
      const html = join(tmp.dir, `chain-${n}.html`);
      const r = tessera('viz', g.plan, '-o', html);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toContain('plan valid');
      const { page, errors, requests } = await open(browser, html);
      await page.waitForSelector('body[data-graph-state=ready]', WAIT);
      await page.click('#expand-all');
      await laidOut(page, n);
      expect(await page.getAttribute('body', 'data-layout-engine')).toBe('layered');
      // drawn in view only: far fewer elements than nodes
      expect(Number(await page.getAttribute('body', 'data-graph-drawn'))).toBeLessThan(n / 10);
      // every node's name has an underscore: a search finding all of them
      await page.fill('#search', '_');
      await page.waitForFunction((k) => document.body.dataset.searchHits === String(k), n, WAIT);
      // first, last, and spread between
      const picks = [0, n - 1, ...Array.from({ length: samples - 2 }, (_, k) => Math.floor(((k + 1) * (n - 1)) / (samples - 1)) + (k % 3))];
      for (const i of picks) await searchAndClick(page, g.compiled, i);
      // zoomed all the way out: the overview, still without error
      await page.click('#fit');
      await page.mouse.move(400, 400);
      for (let k = 0; k < 12; k++) await page.mouse.wheel(0, 1200);
      await page.waitForFunction(() => document.body.dataset.graphMode === 'overview', null, WAIT);
      expect(errors).toEqual([]);
      expect(requests).toEqual([]);
      await page.context().close();
    }, 600_000);
  }

  it('dagre asked for the 10,000-node graph fails, the page says so and draws it with the layered layout', async () => {
    const g = await writeGenerated(10_000, tmp.dir);
    const html = join(tmp.dir, 'chain-dagre.html');
    expect(tessera('viz', g.plan, '-o', html).status).toBe(0);
    const { page, errors } = await open(browser, html);
    await page.waitForSelector('body[data-graph-state=ready]', WAIT);
    await page.click('#expand-all');
    await laidOut(page, 10_000);
    await page.selectOption('#layout-engine', 'dagre');
    await page.waitForFunction(() => document.body.dataset.graphState === 'ready' && /dagre/.test(document.body.dataset.layoutNotes ?? ''), null, WAIT);
    expect(await page.getAttribute('body', 'data-layout-engine')).toBe('layered');
    // dagre overflows its stack (or, on a bigger stack, runs past the watchdog and is stopped)
    expect(await page.locator('#layout-note').textContent()).toMatch(/the dagre layout (failed \(RangeError: Maximum call stack size exceeded\)|ran over \d+ s and was stopped); drawn with the layered layout instead/);
    expect(await page.locator('#viewport .node[data-node]').count()).toBeGreaterThan(0);
    await searchAndClick(page, g.compiled, 9_999);
    expect(errors).toEqual([]);
  }, 600_000);
});
