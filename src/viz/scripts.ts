/**
 * The viewer's two scripts, the page (page.ts) and its layout worker (layout-worker.ts, with dagre),
 * bundled with esbuild when a page is first written. The browser bundle takes scripts.browser.ts
 * instead: the same two bundles, made when the browser bundle is built (scripts/build.mjs).
 */
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';

const here = (f: string) => fileURLToPath(new URL(f, import.meta.url));

/** One viewer script bundled: an IIFE for the browser, minified. */
export async function bundleViewerScript(entry: string): Promise<string> {
  const r = await build({
    entryPoints: [entry], bundle: true, write: false, format: 'iife', platform: 'browser', target: 'es2020',
    minify: true, legalComments: 'none', logLevel: 'silent',
  });
  return r.outputFiles[0].text;
}

let cached: Promise<{ page: string; worker: string }> | undefined;

export function viewerScripts(): Promise<{ page: string; worker: string }> {
  cached ??= Promise.all([bundleViewerScript(here('./page.ts')), bundleViewerScript(here('./layout-worker.ts'))]).then(([page, worker]) => ({ page, worker }));
  return cached;
}
