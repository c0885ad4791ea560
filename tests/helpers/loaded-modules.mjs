/**
 * Run as a child (node --import tsx tests/helpers/loaded-modules.mjs STEP…): records every module the
 * process loads — ES modules through a loader hook, CommonJS ones from require's cache — and, after each
 * step, prints one JSON line: the step and the modules loaded so far. Steps (each imports the source
 * through tsx):
 *   entry             the package's main entry imported (src/index.ts: what `import … from 'tessera'` loads)
 *   planless:<model>  an InferenceSession with nothing to plan (executionProviders ['cpu']) created and run once
 *   entry-planless:<model>  the same, InferenceSession and Tensor taken from the main entry
 *   compiler          the `tessera/compiler` entry imported (src/compiler/api.ts)
 *   module:<path>     any module imported by its absolute path (the package test: the installed package's entries)
 *   target            a built-in target file parsed (loads zod)
 *   import:<model>    the model imported (loads the protobuf decoder)
 */
import { createRequire, register } from 'node:module';
import { pathToFileURL } from 'node:url';
import { MessageChannel } from 'node:worker_threads';

const HOOK = `
let port;
export function initialize(data) { port = data.port; }
export async function load(url, context, next) {
  const r = await next(url, context);
  port.postMessage(url);
  return r;
}`;
const esm = new Set();
const { port1, port2 } = new MessageChannel();
let waiting;
port1.on('message', (url) => {
  esm.add(url);
  if (waiting && url.startsWith('data:text/javascript,/*flush')) waiting();
});
register(`data:text/javascript,${encodeURIComponent(HOOK)}`, { data: { port: port2 }, transferList: [port2] });

let flushes = 0;
/** Every load before this point has been reported once a module loaded now is. */
async function flushed() {
  const done = new Promise((resolve) => (waiting = resolve));
  await import(`data:text/javascript,/*flush${flushes++}*/export default 1`);
  await done;
}

const SRC = new URL('../../src/', import.meta.url);
const require = createRequire(import.meta.url);
for (const step of process.argv.slice(2)) {
  const [what, arg] = step.split(/:(.*)/s);
  if (what === 'entry') {
    await import(new URL('index.ts', SRC).href);
  } else if (what === 'module') {
    await import(pathToFileURL(arg).href);
  } else if (what === 'compiler') {
    await import(new URL('compiler/api.ts', SRC).href);
  } else if (what === 'planless' || what === 'entry-planless') {
    const entry = what === 'entry-planless';
    const { InferenceSession } = await import(new URL(entry ? 'index.ts' : 'runtime/inference-session.ts', SRC).href);
    const { Tensor } = await import(new URL(entry ? 'index.ts' : 'backends/tensor.ts', SRC).href);
    const s = await InferenceSession.create(arg, { executionProviders: ['cpu'] });
    const feeds = {};
    for (const m of s.inputMetadata) {
      const shape = m.shape.map((d) => (typeof d === 'number' ? d : 1));
      const n = shape.reduce((a, b) => a * b, 1);
      feeds[m.name] = m.type === 'int64' ? new Tensor('int64', new BigInt64Array(n).fill(16000n), shape) : new Tensor(m.type, new Float32Array(n), shape);
    }
    const out = await s.run(feeds);
    if (Object.keys(out).length !== s.outputNames.length || s.plan !== undefined || s.compiles !== 0) throw new Error('the session compiled: not the nothing-to-plan route');
    await s.release();
  } else if (what === 'target') {
    const { loadTarget } = await import(new URL('targets/index.ts', SRC).href);
    await loadTarget('snapdragon-8-gen-3');
  } else if (what === 'import') {
    const { importOnnxFile } = await import(new URL('ir/onnx-import.ts', SRC).href);
    importOnnxFile(arg);
  } else throw new Error(`unknown step ${step}`);
  await flushed();
  const loaded = [...esm, ...Object.keys(require.cache).map((f) => `file://${f}`)].filter((u) => !u.startsWith('data:'));
  console.log(JSON.stringify({ step: what, loaded }));
}
port1.close();
