/**
 * The browser build: src/browser/index.ts bundled by esbuild into one ES module, with
 *  - a module's browser variant taken in its place: an import of `./x.js` whose `x.browser.ts` exists
 *    beside `x.ts` gets the variant (the browser's own WebGPU probe, target, engine files, viewer scripts);
 *  - Node's built-in modules replaced by src/browser/node/*.ts (path and sha256 in plain JavaScript, the
 *    page's MessageChannel; no file system: what would read a file fails saying so), and onnxruntime-node
 *    by onnxruntime-web (src/browser/onnxruntime-node.ts);
 *  - onnxruntime-web's build that loads its wasm glue from the URL the page sets (not inlined), and
 *    TensorFlow.js' wasm backend fetching its files the same way;
 *  - the plan viewer's page and layout worker bundled first and defined as strings (src/viz/scripts.browser.ts);
 *  - `process.env` defined as {}: a page has no environment variables.
 * Used by scripts/build.mjs (dist/browser/tessera.js) and by the browser example's server, which bundles
 * the current source when it starts.
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));
const src = join(root, 'src');

/** Node built-ins the library imports, and what stands in for each in a page. */
const NODE = ['fs', 'path', 'crypto', 'os', 'url', 'worker_threads'];

const browserVariants = {
  name: 'browser-variants',
  setup(build) {
    build.onResolve({ filter: /^node:/ }, (args) => {
      const name = args.path.slice(5);
      if (!NODE.includes(name)) return { errors: [{ text: `node:${name} has no browser stand-in (imported by ${args.importer}); keep it out of what the browser entry reaches, or add src/browser/node/${name}.ts` }] };
      return { path: join(src, 'browser/node', `${name}.ts`) };
    });
    build.onResolve({ filter: /^onnxruntime-node$/ }, () => ({ path: join(src, 'browser/onnxruntime-node.ts') }));
    build.onResolve({ filter: /^\.\.?\/.*\.js$/ }, (args) => {
      if (!args.importer.startsWith(src)) return undefined;
      const ts = resolve(dirname(args.importer), args.path.replace(/\.js$/, '.ts'));
      const variant = ts.replace(/\.ts$/, '.browser.ts');
      // a variant importing its own Node module (for what they share) gets that module
      if (existsSync(variant) && variant !== args.importer) return { path: variant };
      return existsSync(ts) ? { path: ts } : undefined;
    });
  },
};

async function viewerScript(entry) {
  const r = await esbuild.build({
    entryPoints: [join(src, 'viz', entry)], bundle: true, write: false, format: 'iife', platform: 'browser', target: 'es2020',
    minify: true, legalComments: 'none', logLevel: 'silent',
  });
  return r.outputFiles[0].text;
}

/**
 * Bundles the browser build. With `outfile`, writes it (and its source map) there; returns the module's
 * text and the metafile either way.
 */
export async function bundleBrowser({ outfile, minify = true } = {}) {
  const [page, worker] = await Promise.all([viewerScript('page.ts'), viewerScript('layout-worker.ts')]);
  const r = await esbuild.build({
    entryPoints: [join(src, 'browser/index.ts')], bundle: true, format: 'esm', platform: 'browser', target: 'es2022',
    outfile: outfile ?? join(root, 'dist/browser/tessera.js'), write: Boolean(outfile), metafile: true, minify, legalComments: 'none', logLevel: 'silent',
    conditions: ['onnxruntime-web-use-extern-wasm'],
    // a page has no environment variables (the library reads debugging switches from process.env)
    define: { TESSERA_VIEWER_PAGE: JSON.stringify(page), TESSERA_VIEWER_WORKER: JSON.stringify(worker), 'process.env': '{}' },
    plugins: [browserVariants],
  });
  const text = outfile ? undefined : r.outputFiles[0].text;
  return { text, metafile: r.metafile };
}
