/**
 * Names carrying HTML and script into the plan viewer render as inert text. A model whose node and
 * value names are markup (an <img onerror>, a closing </script>, an <svg onload>, an iframe with a
 * javascript: URL, a <style>) is compiled and drawn; a plan whose processor, target, backend and model
 * file names are markup is drawn without its model. In real headless Chromium, after searching, selecting
 * a node, collapsing a partition and opening every view: no script of theirs ran, no element or event
 * handler of theirs exists, and their text is shown as text. The page's Content-Security-Policy allows
 * its one script by hash and nothing else inline: a page with an injected <script> and on* attributes
 * (as if escaping had failed) still works and runs neither.
 */
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HOSTILE_NAMES, makeSandbox, namedModel, type Sandbox } from '../../bench/hostile-models.js';
import { tessera } from '../cli/helpers.js';
import { chromiumMissing, launch, open } from '../viz/browser.js';

const MARKUP = HOSTILE_NAMES.filter((n) => /[<>"']/.test(n));
/** Markup without '/' (a plan's target and model file names are names, not paths). */
const NAME = `<img src=x onerror="window.__pwned=1">`;

let sb: Sandbox;
let browser: Browser | undefined;
let namesHtml: string;
let craftedHtml: string;
let nodeNames: string[];

beforeAll(async () => {
  sb = makeSandbox('sec-viewer');
  const model = join(sb.modelDir, 'names.onnx');
  nodeNames = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9].map((i) => `${MARKUP[i % MARKUP.length]}#${i}`);
  writeFileSync(model, namedModel((i) => nodeNames[i]));
  const plan = join(sb.modelDir, 'names.json');
  const c = tessera('compile', model, '--target', 'snapdragon-8-gen-3', '--out', plan);
  expect(c.status, c.stderr).toBe(0);
  namesHtml = join(sb.root, 'names.html');
  const v = tessera('viz', plan, '--model', model, '-o', namesHtml);
  expect(v.status, v.stderr).toBe(0);

  // the same plan with every name the plan holds itself made markup
  const p = JSON.parse(readFileSync(plan, 'utf8'));
  const proc = (id: string) => (id === 'cpu' ? `<svg onload="window.__pwned=2">` : id);
  p.target.name = NAME;
  p.model.file = `${NAME}.onnx`;
  p.estimate.source = `</script><script>window.__pwned=3</script>`;
  for (const t of p.target.processors) Object.assign(t, { id: proc(t.id), name: `<b onmouseover="window.__pwned=4">${t.name}</b>`, backend: `<i onclick="window.__pwned=5">${t.backend}</i>` });
  for (const n of p.nodes) {
    n.processor = proc(n.processor);
    n.rejected = [{ processor: proc('cpu'), reason: `<iframe src="javascript:window.__pwned=6"></iframe>` }];
  }
  for (const part of p.partitions) Object.assign(part, { processor: proc(part.processor), backend: `<u onclick="window.__pwned=7">b</u>` });
  for (const s of p.steps) {
    s.lane = s.lane.split('->').map(proc).join('->');
    if (s.kind === 'transfer') Object.assign(s, { from: proc(s.from), to: proc(s.to) });
  }
  p.memory = Object.fromEntries(Object.entries(p.memory).map(([k, m]) => [proc(k), m]));
  const crafted = join(sb.root, 'crafted.json');
  writeFileSync(crafted, JSON.stringify(p));
  craftedHtml = join(sb.root, 'crafted.html');
  const v2 = tessera('viz', crafted, '-o', craftedHtml);
  expect(v2.status, v2.stderr).toBe(0);
  if (!chromiumMissing) browser = await launch();
});
afterAll(async () => {
  await browser?.close();
  sb.cleanup();
});

/** What a page holds that its own code did not put there. */
async function injected(page: Page): Promise<{ pwned: unknown; title: string; handlers: string[]; foreign: number; scripts: number; styles: number }> {
  return page.evaluate(() => ({
    pwned: (window as unknown as { __pwned?: unknown }).__pwned,
    title: document.title,
    handlers: [...document.querySelectorAll('*')].flatMap((e) => [...e.attributes].filter((a) => a.name.startsWith('on')).map((a) => `${e.tagName} ${a.name}`)),
    foreign: document.querySelectorAll('img, iframe, b[onmouseover], i[onclick], u[onclick], object, embed').length,
    scripts: document.querySelectorAll('script').length,
    styles: document.querySelectorAll('style').length,
  }));
}

/** Every view opened, a search typed, a node selected, a partition collapsed. */
async function exercise(page: Page, search: string): Promise<void> {
  await page.waitForSelector('body[data-graph-state=ready]', { timeout: 60_000 });
  await page.fill('#search', search);
  await page.waitForTimeout(200);
  await page.fill('#search', '');
  await page.click('#viewport .node[data-node]');
  await page.waitForSelector('#details.open');
  const label = page.locator('#viewport .partition text').first();
  if (await label.count()) await label.click();
  for (const view of ['timeline', 'memory', 'summary', 'graph']) await page.click(`nav button[data-view=${view}]`);
}

describe.skipIf(!!chromiumMissing)('names carrying HTML and script render as text', () => {
  it('a model whose node and value names are markup: nothing of theirs runs or becomes an element', async () => {
    const { page, errors, requests } = await open(browser!, namesHtml);
    await page.waitForSelector('body[data-graph-state=ready]', { timeout: 60_000 });
    // shown as text: every node's name is in the drawing (SVG titles)
    const titles = await page.evaluate(() => [...document.querySelectorAll('#viewport .node title')].map((e) => e.textContent));
    expect(titles.sort()).toEqual([nodeNames[3], nodeNames[5], nodeNames[7], nodeNames[9]].sort());
    await exercise(page, '<img');
    const got = await injected(page);
    expect(got.pwned).toBeUndefined();
    expect(got.title).not.toMatch(/pwned/);
    expect(got.handlers).toEqual([]);
    expect(got.foreign).toBe(0);
    expect(got.scripts).toBe(3); // the data, the layout worker's text, the page
    expect(got.styles).toBe(1);
    // and the selected node's name in its details
    expect(nodeNames).toContain(await page.locator('#details h2').textContent());
    expect(errors).toEqual([]); // no CSP violation either: nothing tried to run
    expect(requests).toEqual([]);
  });

  it("a plan whose processor, target, backend and file names are markup (drawn without its model)", async () => {
    const { page, errors, requests } = await open(browser!, craftedHtml);
    await exercise(page, 'Relu');
    // collapse every partition, so partition labels are drawn as collapsed nodes too
    await page.click('nav button[data-view=graph]');
    const got = await injected(page);
    expect(got.pwned).toBeUndefined();
    expect(got.handlers).toEqual([]);
    expect(got.foreign).toBe(0);
    expect(got.scripts).toBe(3);
    expect(await page.locator('header h1').textContent()).toContain(`${NAME}.onnx`);
    await page.click('nav button[data-view=summary]');
    const summary = await page.locator('#summary-view').textContent();
    expect(summary).toContain('<svg onload="window.__pwned=2">');
    expect(summary).toContain('</script><script>window.__pwned=3</script>');
    expect(errors).toEqual([]);
    expect(requests).toEqual([]);
  });
});

describe("the viewer's Content-Security-Policy", () => {
  const policy = () => {
    const html = readFileSync(namesHtml, 'utf8');
    const csp = /<meta http-equiv="Content-Security-Policy" content="([^"]+)">/.exec(html)![1];
    const directives = new Map(csp.split(';').map((d) => d.trim().split(/\s+/)).map(([k, ...v]) => [k, v]));
    return { html, directives };
  };

  it("allows the page's one script by its hash, and no inline script or handler otherwise ('unsafe-inline' absent)", () => {
    const { html, directives } = policy();
    expect(directives.get('default-src')).toEqual(["'none'"]);
    const scriptSrc = directives.get('script-src')!;
    expect(scriptSrc).not.toContain("'unsafe-inline'");
    expect(scriptSrc).not.toContain("'unsafe-eval'");
    expect(scriptSrc).not.toContain("'unsafe-hashes'");
    // the hash is the page script's, computed here from the file
    const inline = [...html.matchAll(/<script>([\s\S]*?)<\/script>/g)].map((m) => m[1]);
    expect(inline.length).toBe(1);
    expect(scriptSrc).toContain(`'sha256-${createHash('sha256').update(inline[0]).digest('base64')}'`);
  });

  it.skipIf(!!chromiumMissing)('a page with an injected <script> and on* attributes (escaping gone wrong) runs neither, and still works', async () => {
    const { html } = policy();
    const tampered = join(sb.root, 'tampered.html');
    writeFileSync(tampered, html.replace('<body>', `<body><img src="data:," onerror="window.__pwned=1"><svg onload="window.__pwned=2"></svg><script>window.__pwned=3</script>`));
    const { page, errors } = await open(browser!, tampered);
    await page.waitForSelector('body[data-graph-state=ready]', { timeout: 60_000 });
    expect(await page.evaluate(() => (window as unknown as { __pwned?: unknown }).__pwned)).toBeUndefined();
    expect(errors.some((e) => /Content Security Policy/.test(e))).toBe(true);
  });
});
