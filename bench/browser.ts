/**
 * In-page latency of every corpus model in headless Chromium, in one page session: onnxruntime-web
 * alone on its wasm EP and on its WebGPU EP (software here: SwiftShader), TensorFlow.js (Tessera's
 * tfjs backend: onnxruntime-web has no TF.js path), and Tessera's placed plan for the `browser`
 * target (calibrated in the page first, its GPU bound to WebGPU). Each configuration: the session
 * created, one untimed run (the first compiles kernels and shaders), then --runs timed runs in the page
 * (performance.now); the median, with the range. Ratios against onnxruntime-web wasm.
 *
 *   npx tsx bench/browser.ts [--runs 5] [--models a,b] [--no-calibrate] [--gpu-runs 3]
 *
 * Needs Debian's chromium (scripts/setup-browser.sh). On a loaded 2-core machine the figures are
 * provisional: re-run it quietly.
 */
import { corpusCases, loadCase, shapesOf } from '../tests/helpers/models.js';
import { openExample, SOFTWARE_WEBGPU, toWire } from '../tests/browser/page.js';
import { chromiumMissing } from '../tests/viz/browser.js';

const args = process.argv.slice(2);
const flag = (name: string) => args.flatMap((a, i) => (a === name ? [args[i + 1]] : []))[0];
const RUNS = Number(flag('--runs') ?? 5);
const GPU_RUNS = Number(flag('--gpu-runs') ?? 3);
const only = flag('--models')?.split(',');
const calibrateFirst = !args.includes('--no-calibrate');

if (chromiumMissing) {
  console.error(`bench/browser: ${chromiumMissing}`);
  process.exit(2);
}

/** Runs in the page: one configuration of one model, timed. A string, so that nothing of the bundler leaks into it. */
const IN_PAGE = `async ({ url, wire, how, runs, options }) => {
  const ex = window.example, t = ex.tessera;
  const A = { float32: Float32Array, int64: BigInt64Array };
  const bytesOf = (b64) => Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const times = [];
  let run, release, note = '';
  if (how === 'ort-wasm' || how === 'ort-webgpu') {
    window.__ort ??= await import('/ort/ort.min.mjs');
    const ort = window.__ort;
    ort.env.wasm.wasmPaths = '/ort/';
    ort.env.wasm.numThreads = t.ortWebThreads();
    const feeds = Object.fromEntries(Object.entries(wire).map(([k, v]) => { const b = bytesOf(v.b64); return [k, new ort.Tensor(v.type, new A[v.type](b.buffer, 0, b.byteLength / A[v.type].BYTES_PER_ELEMENT), v.dims)]; }));
    const s = await ort.InferenceSession.create(url, { executionProviders: [how === 'ort-wasm' ? 'wasm' : 'webgpu'] });
    run = () => s.run(feeds);
    release = () => s.release();
  } else {
    const feeds = Object.fromEntries(Object.entries(wire).map(([k, v]) => { const b = bytesOf(v.b64); return [k, new t.Tensor(v.type, new A[v.type](b.buffer, 0, b.byteLength / A[v.type].BYTES_PER_ELEMENT), v.dims)]; }));
    const s = await t.InferenceSession.create(url, { ...options, sampleFeeds: feeds });
    run = () => s.run(feeds);
    release = () => s.release();
    const parts = {};
    for (const p of s.plan.partitions) parts[p.processor] = (parts[p.processor] ?? 0) + p.nodes.length;
    note = Object.entries(parts).map(([k, n]) => k + ' ' + n + ' nodes').join(', ') + (s.fallbacks.length ? ', ' + s.fallbacks.length + ' fallbacks' : '');
  }
  try {
    await run();
    for (let i = 0; i < runs; i++) { const t0 = performance.now(); await run(); times.push(performance.now() - t0); }
  } finally {
    await release();
  }
  return { times, note };
}`;

const CONFIGS = [
  { how: 'ort-wasm', label: 'onnxruntime-web wasm', gpu: false },
  { how: 'ort-webgpu', label: 'onnxruntime-web WebGPU (SwiftShader)', gpu: true },
  { how: 'tfjs', label: 'TensorFlow.js (wasm)', gpu: false },
  { how: 'tessera', label: "Tessera's placed plan", gpu: false },
] as const;

const p = await openExample(SOFTWARE_WEBGPU);
try {
  const found = await p.page.evaluate('window.example.backends()') as { id: string; available: boolean; software: boolean; detail: string }[];
  console.log(`backends in the page: ${found.map((b) => `${b.id} ${b.available ? (b.software ? 'yes (software)' : 'yes') : 'no'} (${b.detail})`).join('; ')}`);
  const threads = await p.page.evaluate('window.example.tessera.ortWebThreads()');
  console.log(`onnxruntime-web wasm threads: ${threads}`);
  if (calibrateFirst) {
    const t0 = Date.now();
    const c = await p.page.evaluate(`window.example.tessera.calibrate({ minMs: 40, budgetMs: 30000, tfjs: false }).then((c) => ({
      n: c.measurements.length, skipped: c.skipped,
      procs: c.target.processors.map((q) => q.id + ': ' + q.peakGflops.float32?.value.toFixed(1) + ' GFLOPS, launch ' + q.launchOverheadUs.value.toFixed(0) + ' µs'),
    }))`) as { n: number; skipped: string[]; procs: string[] };
    console.log(`calibrated in the page: ${c.n} measurements in ${((Date.now() - t0) / 1000).toFixed(0)} s (kept in IndexedDB for this device): ${c.procs.join('; ')}`);
    if (c.skipped.length) console.log(`  skipped (the engine could not run them): ${c.skipped.join('; ')}`);
  }
  const target = await p.page.evaluate('window.example.tessera.browserTarget()') as { processors: { id: string }[] };
  const hasGpu = target.processors.some((q) => q.id === 'gpu');
  const rows: string[] = [];
  for (const m of corpusCases().filter((c) => c.kind === 'npm' && (!only || only.includes(c.name)))) {
    const { feeds } = await loadCase(m);
    const wire = toWire(feeds);
    const cells: string[] = [];
    let base: number | undefined;
    for (const c of CONFIGS) {
      const options = c.how === 'tfjs' ? { inputShapes: shapesOf(feeds), bind: { cpu: 'tfjs' }, target: { ...target, processors: target.processors.filter((q) => q.id === 'cpu'), links: [] } }
        : { inputShapes: shapesOf(feeds), ...(hasGpu ? { bind: { gpu: 'webgpu' } } : {}) };
      try {
        const r = await p.page.evaluate(`(${IN_PAGE})(${JSON.stringify({ url: `/models/${m.name}.onnx`, wire, how: c.how, runs: c.gpu ? GPU_RUNS : RUNS, options })})`) as { times: number[]; note: string };
        const s = [...r.times].sort((a, b) => a - b);
        const med = s[Math.floor(s.length / 2)];
        base ??= med;
        const ms = (x: number) => (x >= 10 ? x.toFixed(1) : x.toPrecision(2));
        cells.push(`${ms(med)} (${ms(s[0])}–${ms(s[s.length - 1])}) ×${(med / base).toPrecision(3)}${r.note ? ` [${r.note}]` : ''}`);
      } catch (err) {
        cells.push(`failed: ${(err as Error).message.split('\n')[0].slice(0, 120)}`);
      }
      console.error(`${m.name} / ${c.label}: ${cells[cells.length - 1]}`);
    }
    rows.push(`| ${m.name} | ${cells.join(' | ')} |`);
  }
  console.log(`\nIn-page latency, ms: median (min–max) of ${RUNS} runs (${GPU_RUNS} on WebGPU) after one untimed run, ×ratio to onnxruntime-web wasm\n`);
  console.log(`| model | ${CONFIGS.map((c) => c.label).join(' | ')} |`);
  console.log(`|---|${CONFIGS.map(() => '---').join('|')}|`);
  for (const r of rows) console.log(r);
  console.log(`\ncommand: npx tsx bench/browser.ts ${args.join(' ')}`.trimEnd());
} finally {
  await p.close();
}
