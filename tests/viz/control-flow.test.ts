/**
 * Control flow in the viewer, on silero-vad-v5 (684 of its 689 nodes inside If branches, nested 4 deep)
 * and silero-vad-v4-legacy, in headless Chromium. The expectations are read from the ONNX file itself
 * with onnx-buf (not through Tessera's importer): after "Expand all", every If — nested ones too — is
 * drawn with both branches, every node of every branch is drawn once with its op, every value a branch
 * node reads from an enclosing graph is drawn as an edge from the node (or graph input) making it, and a
 * spread sample of branch nodes is found by search and opened by a click. Which top-level branch is
 * pruned is checked against onnxruntime running the model with each sample rate.
 */
import { fromBinary } from '@bufbuild/protobuf';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ModelProtoSchema, type GraphProto } from 'onnx-buf';
import * as ort from 'onnxruntime-node';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parsePlan } from '../../src/plan/schema.js';
import { CORPUS, tempDir, tessera } from '../cli/helpers.js';
import { chromiumMissing, launch, open } from './browser.js';

const tmp = tempDir('viz-cf');
afterAll(() => tmp.cleanup());
const OUTPUT = join(import.meta.dirname, '__output__');
const WAIT = { timeout: 120_000 };

interface Sub {
  origin: string;
  nodes: { op: string; name: string; inputs: string[] }[];
  /** Values made in this graph: node outputs, formal inputs, initializers. */
  made: Map<string, string | null>;
  parent?: Sub;
}

/**
 * Every subgraph of the model with its place in the file (`{node}/{attr}` from the top, as the viewer's
 * data-origin says it) and, per value it makes, the origin of the box drawing it (null: a weight).
 */
function subgraphsOf(model: GraphProto): { subs: Sub[]; top: Sub; ifs: string[] } {
  const made = (g: GraphProto, prefix: string, top: boolean) => {
    const m = new Map<string, string | null>();
    for (const t of g.initializer) m.set(t.name, null);
    for (const i of g.input) if (!m.has(i.name)) m.set(i.name, top ? `input:${i.name}` : `${prefix}input:${i.name}`);
    g.node.forEach((n, j) => n.output.forEach((o) => o && m.set(o, `${prefix}${j}`)));
    return m;
  };
  const top: Sub = { origin: '', nodes: model.node.map((n) => ({ op: n.opType, name: n.name, inputs: [...n.input] })), made: made(model, '', true) };
  const subs: Sub[] = [];
  const ifs: string[] = [];
  const queue: [GraphProto, Sub][] = [[model, top]];
  while (queue.length) {
    const [g, s] = queue.shift()!;
    g.node.forEach((n, j) => {
      const at = s.origin ? `${s.origin}/${j}` : String(j);
      if (n.opType === 'If') ifs.push(at);
      for (const a of n.attribute) {
        if (!a.g) continue;
        const origin = `${at}/${a.name}`;
        const sub: Sub = { origin, nodes: a.g.node.map((x) => ({ op: x.opType, name: x.name, inputs: [...x.input] })), made: made(a.g, `${origin}/`, false), parent: s };
        subs.push(sub);
        queue.push([a.g, sub]);
      }
    });
  }
  return { subs, top, ifs };
}

/** Edges the viewer must draw for values read from enclosing graphs: [from origin, to origin, value]. */
function outerReads(subs: Sub[]): [string, string, string][] {
  const out: [string, string, string][] = [];
  for (const s of subs) {
    s.nodes.forEach((n, k) => {
      for (const x of new Set(n.inputs)) {
        if (!x || s.made.has(x)) continue;
        for (let e = s.parent; e; e = e.parent) {
          if (!e.made.has(x)) continue;
          const from = e.made.get(x);
          if (from) out.push([from, `${s.origin}/${k}`, x]);
          break;
        }
      }
    });
  }
  return out;
}

/** Whether onnxruntime runs the model at these input shapes with this sample rate. */
async function runsWith(path: string, shapes: Record<string, number[]>, sr: number): Promise<boolean> {
  const session = await ort.InferenceSession.create(path);
  try {
    const feeds: Record<string, ort.Tensor> = {};
    for (const [name, dims] of Object.entries(shapes)) {
      feeds[name] = name === 'sr' ? new ort.Tensor('int64', BigInt64Array.from([BigInt(sr)]), []) : new ort.Tensor('float32', new Float32Array(dims.reduce((a, b) => a * b, 1)), dims);
    }
    await session.run(feeds);
    return true;
  } catch {
    return false;
  } finally {
    await session.release();
  }
}

const MODELS = [
  { name: 'silero-vad-v5', shape: 'input=1x576', top: 2 },
  { name: 'silero-vad-v4-legacy', shape: 'input=1x512', top: 1 },
];

describe.skipIf(chromiumMissing)(`control flow in the viewer${chromiumMissing ? ` (skipped: ${chromiumMissing})` : ''}`, () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await launch();
  });
  afterAll(async () => browser?.close());

  for (const m of MODELS) {
    it(`${m.name}: every If expanded into both branches, every branch node drawn, searchable and clickable, outer values drawn as edges`, async () => {
      const path = join(CORPUS, 'models', `${m.name}.onnx`);
      const planPath = join(tmp.dir, `${m.name}.json`), html = join(tmp.dir, `${m.name}.html`);
      const c = tessera('compile', path, '--target', 'snapdragon-8-gen-3', '--input-shape', m.shape, '--out', planPath);
      expect(c.status, c.stderr).toBe(0);
      const plan = parsePlan(readFileSync(planPath, 'utf8'), planPath);
      const v = tessera('viz', planPath, '-o', html);
      expect(v.status, v.stderr).toBe(0);
      const model = fromBinary(ModelProtoSchema, readFileSync(path)).graph!;
      const { subs, ifs } = subgraphsOf(model);
      const subNodes = subs.reduce((a, s) => a + s.nodes.length, 0);
      expect(ifs.length).toBeGreaterThan(5);

      const { page, errors, requests } = await open(browser, html);
      await page.waitForSelector('body[data-graph-state=ready]', WAIT);
      await page.check('#show-folded');
      await page.waitForFunction(() => document.body.dataset.graphState === 'ready', null, WAIT);
      await page.click('#expand-all');
      await page.waitForFunction((n) => document.body.dataset.graphState === 'ready' && document.body.dataset.graphNodes === String(n), plan.nodes.length + subNodes, WAIT);
      await page.screenshot({ path: join(OUTPUT, `${m.name}-expanded.png`) });

      // every If, at any depth, drawn with both its branches, each marked kept, pruned or not inferred
      for (const at of ifs) {
        for (const b of ['then_branch', 'else_branch']) {
          expect(['kept', 'pruned', 'not inferred'], `${at}/${b}`).toContain(await page.locator(`#viewport .branch[data-origin="${at}/${b}"]`).getAttribute('data-status'));
        }
      }
      // every branch node drawn once, with its op
      const drawn = new Map(await page.locator('#viewport .node[data-origin]').evaluateAll((els) => els.map((e) => [e.getAttribute('data-origin')!, e.querySelector('text')!.textContent!] as [string, string])));
      expect(drawn.size).toBe(subNodes);
      for (const s of subs) s.nodes.forEach((n, k) => expect(drawn.get(`${s.origin}/${k}`), `${s.origin}/${k}`).toBe(n.op));
      // nodes of pruned branches drawn as pruned
      for (const origin of await page.locator('#viewport .branch[data-status=pruned]').evaluateAll((els) => els.map((e) => e.getAttribute('data-origin')!))) {
        const s = subs.find((x) => x.origin === origin)!;
        for (let k = 0; k < s.nodes.length; k++) expect(await page.locator(`#viewport .node[data-origin="${origin}/${k}"]`).getAttribute('class')).toContain('pruned');
      }
      // values read from enclosing graphs: an edge from what makes them
      const edges = await page.locator('#viewport path.edge.outer').evaluateAll((els) => els.map((e) => `${e.getAttribute('data-from')}>${e.getAttribute('data-to')}>${e.getAttribute('data-values')}`));
      const expected = outerReads(subs);
      expect(expected.length).toBeGreaterThan(20);
      const missing = expected.filter(([from, to, v]) => !edges.some((e) => e.startsWith(`${from}>${to}>`) && e.split('>')[2].split(' ').includes(v)));
      expect(missing).toEqual([]);

      // the top-level If: a branch pruned exactly when onnxruntime cannot run the model with the sample rate taking it
      const shapes = Object.fromEntries(Object.entries(plan.inputs).map(([k, v]) => [k, v.shape]));
      const failing = (await Promise.all([8000, 16000].map((sr) => runsWith(path, shapes, sr)))).filter((ok) => !ok).length;
      const topIf = ifs.find((x) => !x.includes('/'))!;
      const pruned = await page.locator(`#viewport .branch[data-origin^="${topIf}/"][data-status=pruned]`).evaluateAll((els, t) => els.filter((e) => !e.getAttribute('data-origin')!.slice(t.length + 1).includes('/')).length, topIf);
      expect(pruned).toBe(failing);

      // search covers branch nodes: an op's count over the whole file
      const count = [model.node, ...subs.map((s) => s.nodes)].flat().filter((n) => ('opType' in n ? n.opType : n.op) === 'LSTM').length;
      expect(count).toBeGreaterThan(0);
      await page.fill('#search', 'LSTM');
      await page.waitForFunction((k) => document.body.dataset.searchHits === String(k), count, WAIT);

      // a spread sample of named branch nodes: search reveals it, a click opens it
      const names = new Map<string, number>();
      for (const s of subs) for (const n of s.nodes) names.set(n.name, (names.get(n.name) ?? 0) + 1);
      const candidates = subs.flatMap((s) => s.nodes.map((n, k) => ({ ...n, origin: `${s.origin}/${k}` }))).filter((n) => n.name && names.get(n.name) === 1 && !/[\s'"]/.test(n.name));
      const sample = candidates.filter((_, i) => i % Math.ceil(candidates.length / 16) === 0);
      for (const n of sample) {
        await page.fill('#search', n.name);
        await page.press('#search', 'Enter');
        await page.waitForFunction((o) => !!document.querySelector(`#viewport .node.selected[data-origin="${o}"]`), n.origin, WAIT);
        expect(await page.locator('#details h2').textContent()).toBe(n.name);
        await page.locator('#details .close').click();
        await page.locator(`#viewport .node[data-origin="${n.origin}"]`).click();
        await page.waitForSelector('#details.open');
        expect(await page.locator('#details h2').textContent()).toBe(n.name);
        expect(await page.locator('#details [data-field=op]').textContent()).toBe(n.op);
        expect(await page.locator('#details [data-field=branch]').textContent()).toContain(n.origin.split('/').at(-2)!);
      }
      expect(errors).toEqual([]);
      expect(requests).toEqual([]);
      await page.context().close();
    }, 300_000);
  }
});
