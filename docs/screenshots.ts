/**
 * Makes the README's viewer screenshots (docs/viewer-*.png) in headless Chromium:
 *
 *   npx tsx docs/screenshots.ts
 *
 * light_inception_v1 compiled for snapdragon-8-gen-3, run once here with --trace, then `tessera viz`;
 * and silero-vad-v5 (input 1x576) with its If expanded into its branches (docs/viewer-control-flow.png).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launch, open } from '../tests/viz/browser.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const MODEL = resolve(ROOT, '../shared/corpus/onnx-node/light/light_inception_v1.onnx');
const SILERO = resolve(ROOT, '../shared/corpus/models/silero-vad-v5.onnx');
const dir = mkdtempSync(join(tmpdir(), 'tessera-shots-'));
const cli = (...a: string[]) => execFileSync(process.execPath, [join(ROOT, 'bin/tessera.js'), ...a], { cwd: ROOT, stdio: 'inherit' });
try {
  const plan = join(dir, 'plan.json'), trace = join(dir, 'trace.json'), html = join(dir, 'plan.html');
  cli('compile', MODEL, '--target', 'snapdragon-8-gen-3', '--out', plan);
  cli('run', MODEL, '--plan', plan, '--target', 'snapdragon-8-gen-3', '--trace', trace);
  cli('viz', plan, '--trace', trace, '--model', MODEL, '-o', html);
  const browser = await launch();
  const { page, errors } = await open(browser, html, { width: 1280, height: 720 });
  await page.waitForSelector('body[data-graph-state=ready]');
  // the graph around the GPU → NPU boundary, a node's details open
  const gpuLast = await page.evaluate(() => {
    const els = [...document.querySelectorAll('#viewport .edge.transfer')];
    return els.length;
  });
  if (!gpuLast) throw new Error('no transfer edge drawn');
  // search an op, jump to its first node (details open, centred), clear the search
  await page.fill('#search', 'LRN');
  await page.press('#search', 'Enter');
  await page.waitForSelector('#details.open');
  await page.press('#search', 'Escape');
  await page.waitForTimeout(200);
  await page.screenshot({ path: join(ROOT, 'docs/viewer-graph.png') });
  for (const v of ['timeline', 'memory', 'summary']) {
    await page.click(`nav button[data-view=${v}]`);
    if (v === 'memory') {
      // the memory with the most buffers
      const mem = await page.evaluate(() => [...document.querySelectorAll<HTMLElement>('#memory-view .card')].sort((a, b) => b.querySelectorAll('.buffer').length - a.querySelectorAll('.buffer').length)[0].dataset.memory);
      await page.evaluate((m) => {
        const card = document.querySelector<HTMLElement>(`#memory-view .card[data-memory="${m}"]`)!;
        document.querySelector('#memory-view')!.scrollTop = card.offsetTop - 12;
      }, mem);
      await page.screenshot({ path: join(ROOT, 'docs/viewer-memory.png') });
    } else await page.screenshot({ path: join(ROOT, `docs/viewer-${v}.png`) });
  }
  // silero-vad-v5: the top-level If expanded (the kept branch in colour, the pruned one grey, outer values in purple), its details open
  const vplan = join(dir, 'silero.json'), vhtml = join(dir, 'silero.html');
  cli('compile', SILERO, '--target', 'snapdragon-8-gen-3', '--input-shape', 'input=1x576', '--out', vplan);
  cli('viz', vplan, '-o', vhtml);
  const silero = await open(browser, vhtml, { width: 1400, height: 1000 });
  await silero.page.waitForSelector('body[data-graph-state=ready]');
  await silero.page.click('#viewport .node.control .toggle');
  await silero.page.waitForFunction(() => document.body.dataset.graphState === 'ready' && document.querySelectorAll('#viewport .branch').length > 0);
  await silero.page.click('#viewport .node.control > rect');
  await silero.page.click('#fit');
  await silero.page.waitForTimeout(200);
  await silero.page.screenshot({ path: join(ROOT, 'docs/viewer-control-flow.png') });
  errors.push(...silero.errors);
  await browser.close();
  if (errors.length) throw new Error(errors.join('\n'));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
