#!/usr/bin/env node
/**
 * Builds the package into dist/: `tsc -p tsconfig.build.json` (JavaScript and .d.ts beside each other,
 * one file per source file), then copies the files the code reads from beside itself at run time:
 * the built-in target profiles (src/targets/index.ts reads builtin/*.json) and the viewer's browser
 * sources (src/viz/html.ts bundles page.ts and layout-worker.ts with esbuild when it writes a page).
 * Then the browser build: one ES module, dist/browser/tessera.js (scripts/browser-bundle.mjs), the
 * package's `tessera/browser` export (its types: dist/browser/index.d.ts from tsc).
 * dist/ is removed first, so a file moved or deleted in src/ leaves nothing stale behind.
 * Run by `npm run build`, and by `prepare` (npm ci, npm pack, npm install from git).
 */
import { spawnSync } from 'node:child_process';
import { cpSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { bundleBrowser } from './browser-bundle.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
process.chdir(root);

const ASSETS = ['targets/builtin', 'viz/page.ts', 'viz/layout-worker.ts'];

rmSync('dist', { recursive: true, force: true });
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const r = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
if (r.status !== 0) {
  console.error('build: tsc failed (dist/ is incomplete)');
  process.exit(r.status ?? 1);
}
for (const a of ASSETS) cpSync(`src/${a}`, `dist/${a}`, { recursive: true });
await bundleBrowser({ outfile: 'dist/browser/tessera.js' });
