/**
 * `tessera viz` finding the model and checking the plan, as a user runs it: a plan compiled from one
 * directory is drawn from another (the plan records the model's path relative to itself); a model changed
 * since the compile is not taken, and the viewer says every place it looked; a hand-edited plan with two
 * buffers overlapping (brute-force checked here) is drawn all the same, with the verifier's own error at the
 * top of the page, marked invalid, the two buffers outlined, and exit code 1.
 */
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compile } from '../../src/compiler/index.js';
import { TesseraError } from '../../src/errors.js';
import { parsePlan, serializePlan, type Plan } from '../../src/plan/schema.js';
import { verifyPlan } from '../../src/plan/verify.js';
import type { VizData } from '../../src/viz/model.js';
import { CORPUS, tempDir, tesseraIn } from '../cli/helpers.js';
import { chromiumMissing, launch, open } from './browser.js';

const MODEL = join(CORPUS, 'onnx-node/light/light_squeezenet.onnx');
const OTHER = join(CORPUS, 'onnx-node/light/light_bvlc_alexnet.onnx');
const tmp = tempDir('viz-check');
afterAll(() => tmp.cleanup());

/** The data a page was made from. */
const pageData = (html: string) => JSON.parse(/<script id="tessera-data" type="application\/json">(.*?)<\/script>/s.exec(readFileSync(html, 'utf8'))![1]) as VizData;

describe('tessera viz finds the model', () => {
  it('compiled from one directory, drawn from another: found from the path the plan records, sha256 checked', () => {
    const a = join(tmp.dir, 'a'), b = join(tmp.dir, 'b');
    mkdirSync(join(a, 'plans'), { recursive: true });
    mkdirSync(b, { recursive: true });
    const c = tesseraIn(a, 'compile', relative(a, MODEL), '--target', 'snapdragon-8-gen-3', '--out', 'plans/p.json');
    expect(c.status, c.stderr).toBe(0);
    const plan = parsePlan(readFileSync(join(a, 'plans/p.json'), 'utf8'), 'p.json');
    expect(plan.model.path).toBe(relative(join(a, 'plans'), MODEL));
    const v = tesseraIn(b, 'viz', '../a/plans/p.json', '-o', 'p.html');
    expect(v.status, v.stderr).toBe(0);
    expect(v.stdout).toContain(`the recorded path ${plan.model.path}, relative to the plan; sha256 matches the plan`);
    const data = pageData(join(b, 'p.html'));
    expect(data.view?.nodes.length).toBe(plan.nodes.length);
    expect(data.check.status).toBe('valid');
  });

  it('a model changed since the compile is not taken: the page is written and says where it looked', () => {
    const dir = join(tmp.dir, 'changed');
    mkdirSync(dir, { recursive: true });
    copyFileSync(MODEL, join(dir, 'm.onnx'));
    expect(tesseraIn(dir, 'compile', 'm.onnx', '--target', 'snapdragon-8-gen-3', '--out', 'm.json').status).toBe(0);
    copyFileSync(OTHER, join(dir, 'm.onnx'));
    const v = tesseraIn(tmp.dir, 'viz', join(dir, 'm.json'), '-o', join(dir, 'm.html'));
    expect(v.status, v.stderr).toBe(0);
    expect(v.stdout).toMatch(/the model was not found — looked at \S+m\.onnx \(the recorded path m\.onnx, relative to the plan\): sha256 [0-9a-f]{12}…, not the plan's/);
    expect(v.stdout).toContain('in the working directory');
    expect(v.stdout).toContain('plan unchecked');
    expect(pageData(join(dir, 'm.html')).view).toBeUndefined();
  });
});

describe('a plan with overlapping buffers', () => {
  let plan: Plan;
  let message: string;
  let pair: { memory: string; a: string; b: string };
  const edited = join(tmp.dir, 'overlap.json'), html = join(tmp.dir, 'overlap.html');

  beforeAll(async () => {
    const r = await compile(MODEL, 'snapdragon-8-gen-3', { lower: false });
    plan = structuredClone(r.plan);
    // two buffers of one memory alive at the same time at different offsets: move the second onto the first
    found: for (const [memory, m] of Object.entries(plan.memory)) {
      for (const x of m.buffers) for (const y of m.buffers) {
        if (x === y || x.inplaceOf || y.inplaceOf || !x.bytes || !y.bytes || x.offset === y.offset) continue;
        if (x.start <= y.end && y.start <= x.end && y.offset + y.bytes > x.offset) {
          y.offset = x.offset;
          pair = { memory, a: x.value, b: y.value };
          break found;
        }
      }
    }
    expect(pair).toBeDefined();
    // brute force: the two byte ranges intersect while both are alive
    const [x, y] = [pair.a, pair.b].map((v) => plan.memory[pair.memory].buffers.find((b) => b.value === v)!);
    expect(x.offset < y.offset + y.bytes && y.offset < x.offset + x.bytes && x.start <= y.end && y.start <= x.end).toBe(true);
    try {
      verifyPlan(plan, r.graph, r.target);
    } catch (err) {
      expect(err).toBeInstanceOf(TesseraError);
      message = (err as Error).message;
    }
    expect(message).toMatch(/overlap/);
    writeFileSync(edited, serializePlan(plan));
  });

  it('tessera viz draws it, says the verifier rejects it, exit code 1', () => {
    const v = tesseraIn(tmp.dir, 'viz', edited, '--model', MODEL, '-o', html);
    expect(v.status).toBe(1);
    expect(v.stdout).toContain(`plan invalid: BAD_PLAN: ${message}`);
    const data = pageData(html);
    expect(data.check.status).toBe('invalid');
    expect(data.check.buffers.map((b) => `${b.memory}:${b.value}`).sort()).toEqual([`${pair.memory}:${pair.a}`, `${pair.memory}:${pair.b}`].sort());
  });

  describe.skipIf(chromiumMissing)(`in headless Chromium${chromiumMissing ? ` (skipped: ${chromiumMissing})` : ''}`, () => {
    let browser: Browser;
    beforeAll(async () => {
      browser = await launch();
    });
    afterAll(async () => browser?.close());

    it("opens with the verifier's error at the top, marked invalid, the graph drawn and the two buffers outlined", async () => {
      const { page, errors } = await open(browser, html);
      await page.waitForSelector('body[data-graph-state=ready]', { timeout: 60_000 });
      expect(await page.getAttribute('#check', 'data-status')).toBe('invalid');
      expect(await page.locator('#check-message').textContent()).toBe(`BAD_PLAN: ${message}`);
      expect(await page.locator('#invalid-badge').isVisible()).toBe(true);
      expect(await page.locator('#viewport .node[data-node]').count()).toBe(plan.nodes.filter((n) => !n.folded).length);
      await page.click('nav button[data-view=memory]');
      const outlined = await page.locator(`#memory-view .card[data-memory="${pair.memory}"] .buffer.offending`).evaluateAll((els) => els.map((e) => e.getAttribute('data-value')));
      expect(outlined.sort()).toEqual([pair.a, pair.b].sort());
      expect(await page.locator('#memory-view .buffer.offending').count()).toBe(2);
      await page.screenshot({ path: join(import.meta.dirname, '__output__', 'invalid-plan.png') });
      expect(errors).toEqual([]);
    });
  });
});
