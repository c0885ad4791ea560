/**
 * What Tessera's InferenceSession costs an app against onnxruntime-node's, per corpus model:
 *
 *  1. Time to first result: a fresh process creates a session and runs it once on the model's sidecar
 *     feed (ortCheck.feed), Tessera's InferenceSession (the built package, target 'host') and
 *     onnxruntime-node's InferenceSession taken in turns, several rounds. Measured inside the process:
 *     `import` (the library), `create + first run` (the figure the target is about), and the whole
 *     process's wall time from spawn to exit.
 *  2. Peak resident memory: `tessera run MODEL --data DIR` (the sidecar feed written as test data) against
 *     a node script that runs onnxruntime-node on the same data, each under GNU time (%M), in turns.
 *  3. A repeated shape's run time: one process, one any-shape InferenceSession and one onnxruntime session
 *     of ppocr-v4-rec, each width compiled once, then runs alternating between the two; the ratio of
 *     medians per width.
 *
 *   npm run build && npx tsx bench/ttfr.ts [--runs 5] [--model NAME]... [--skip ttfr,rss,repeat] [--also-build DIR]...
 *
 * --also-build DIR (repeatable; time to first result only): another build of src/ (a copy of an older
 * dist/ inside the repository, so it finds node_modules) taken in the same turns, one more row per model.
 *
 * Needs a build (dist/) and GNU time at /usr/bin/time. Times are wall clock on this machine and move
 * with its load: read the ratios, each taken in one run with the processes alternating.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const MODELS = join(ROOT, '../shared/corpus/models');
const args = process.argv.slice(2);
const flag = (name: string) => args.flatMap((a, i) => (a === name ? [args[i + 1]] : []));
const runs = Number(flag('--runs')[0] ?? 5);
const skip = new Set((flag('--skip')[0] ?? '').split(',').filter(Boolean));
const models = flag('--model').length ? flag('--model') : readdirSync(MODELS).filter((f) => f.endsWith('.onnx')).map((f) => f.slice(0, -5)).sort();
const DIST = join(ROOT, 'dist/index.js');
if (!existsSync(DIST)) {
  console.error('bench/ttfr: no dist/index.js (run npm run build)');
  process.exit(2);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const range = (xs: number[], digits = 0) => `${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)}`;

/** The child: imports a library, creates a session, runs the sidecar feed once; prints its times as JSON. */
const CHILD = (specifier: string) => `
const t0 = performance.now();
const { InferenceSession, Tensor } = await import(${JSON.stringify(specifier)});
const t1 = performance.now();
const [model, sidecar] = process.argv.slice(1);
const { readFileSync } = await import('node:fs');
const spec = JSON.parse(readFileSync(sidecar, 'utf8')).ortCheck.feed;
const ARR = { float: Float32Array, int64: BigInt64Array };
const feeds = {};
let s = 1;
for (const [name, f] of Object.entries(spec)) {
  const n = f.shape.reduce((a, b) => a * b, 1);
  const Arr = ARR[f.dtype];
  const data = new Arr(n);
  for (let i = 0; i < n; i++) {
    const x = f.fill === 'zeros' ? 0 : typeof f.fill === 'number' ? f.fill : ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 4294967296) * 2 - 1;
    data[i] = Arr === BigInt64Array ? BigInt(Math.round(x)) : x;
  }
  feeds[name] = new Tensor(f.dtype === 'float' ? 'float32' : f.dtype, data, f.shape);
}
const t2 = performance.now();
const session = await InferenceSession.create(model);
const out = await session.run(feeds);
const t3 = performance.now();
if (Object.keys(out).length === 0) throw new Error('no outputs');
console.log(JSON.stringify({ importMs: t1 - t0, firstResultMs: t3 - t2 }));
process.exit(0);
`;

const LIBS = [
  { label: 'onnxruntime-node', specifier: 'onnxruntime-node' },
  { label: 'dist', specifier: pathToFileURL(DIST).href },
  ...flag('--also-build').map((d) => ({ label: d, specifier: pathToFileURL(join(ROOT, d, 'index.js')).href })),
];

function ttfr(): void {
  console.log(`\n## Time to first result (create + first run), fresh process each, ${runs} rounds alternating; ms, median (range)`);
  console.log(`${'model'.padEnd(24)}${'ort import'.padStart(12)}${'ort first'.padStart(16)}${'tessera import'.padStart(16)}${'tessera first'.padStart(18)}${'ratio'.padStart(8)}${'process ratio'.padStart(15)}`);
  for (const model of models) {
    const samples = LIBS.map(() => ({ importMs: [] as number[], firstResultMs: [] as number[], processMs: [] as number[] }));
    for (let r = 0; r < runs; r++) {
      LIBS.forEach((lib, i) => {
        const t = performance.now();
        const c = spawnSync(process.execPath, ['--input-type=module', '-e', CHILD(lib.specifier), join(MODELS, `${model}.onnx`), join(MODELS, `${model}.json`)], { cwd: ROOT, encoding: 'utf8' });
        const wall = performance.now() - t;
        if (c.status !== 0) throw new Error(`${lib.label} on ${model} failed: ${c.stderr.slice(-1500)}`);
        const j = JSON.parse(c.stdout.trim().split('\n').pop()!) as { importMs: number; firstResultMs: number };
        samples[i].importMs.push(j.importMs);
        samples[i].firstResultMs.push(j.firstResultMs);
        samples[i].processMs.push(wall);
      });
    }
    const [o, ...builds] = samples;
    const cell = (xs: number[]) => `${median(xs).toFixed(0)} (${range(xs)})`;
    for (const [b, t] of builds.entries()) console.log(`${(builds.length > 1 ? `${model} [${LIBS[b + 1].label}]` : model).padEnd(24)}${median(o.importMs).toFixed(0).padStart(12)}${cell(o.firstResultMs).padStart(16)}${median(t.importMs).toFixed(0).padStart(16)}${cell(t.firstResultMs).padStart(18)}${(median(t.firstResultMs) / median(o.firstResultMs)).toFixed(2).padStart(8)}${(median(t.processMs) / median(o.processMs)).toFixed(2).padStart(15)}`);
  }
  console.log('ratio: tessera first result / onnxruntime first result (medians); process ratio: whole process, spawn to exit (import included)');
}

/** Writes the sidecar feed as ONNX test data (input_N.pb), with Tessera's own tensor-file writer. */
async function writeTestData(model: string, dir: string): Promise<void> {
  const { Tensor } = await import('../src/backends/tensor.js');
  const { weightFromTensor } = await import('../src/backends/tensor.js');
  const { tensorFileBytes } = await import('../src/ir/tensor-file.js');
  const { importOnnxFile } = await import('../src/ir/onnx-import.js');
  const spec = JSON.parse(readFileSync(join(MODELS, `${model}.json`), 'utf8')).ortCheck.feed as Record<string, { dtype: string; shape: number[]; fill: string | number }>;
  const inputs = importOnnxFile(join(MODELS, `${model}.onnx`)).inputs;
  mkdirSync(dir, { recursive: true });
  let s = 1;
  inputs.forEach((name, i) => {
    const f = spec[name];
    const n = f.shape.reduce((a, b) => a * b, 1);
    const value = () => (f.fill === 'zeros' ? 0 : typeof f.fill === 'number' ? f.fill : ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 4294967296) * 2 - 1);
    const t = f.dtype === 'int64' ? new Tensor('int64', BigInt64Array.from({ length: n }, () => BigInt(Math.round(value()))), f.shape) : new Tensor('float32', Float32Array.from({ length: n }, value), f.shape);
    writeFileSync(join(dir, `input_${i}.pb`), tensorFileBytes(weightFromTensor(t, name)));
  });
}

/** onnxruntime-node on the same test data, as a plain app would (reading the .pb files with onnx-buf). */
const ORT_RUN = `
const ort = await import('onnxruntime-node');
const { readFileSync, readdirSync } = await import('node:fs');
const { fromBinary } = await import('@bufbuild/protobuf');
const { TensorProtoSchema } = await import('onnx-buf');
const [model, dir] = process.argv.slice(1);
const session = await ort.InferenceSession.create(model);
const feeds = {};
readdirSync(dir).filter((f) => f.startsWith('input_')).sort().forEach((f, i) => {
  const t = fromBinary(TensorProtoSchema, readFileSync(dir + '/' + f));
  const raw = new Uint8Array(t.rawData).buffer;
  feeds[session.inputNames[i]] = new ort.Tensor(t.dataType === 7 ? 'int64' : 'float32', t.dataType === 7 ? new BigInt64Array(raw) : new Float32Array(raw), t.dims.map(Number));
});
await session.run(feeds);
`;

async function rss(): Promise<void> {
  if (!existsSync('/usr/bin/time')) {
    console.log('\n(peak RSS skipped: needs GNU time at /usr/bin/time)');
    return;
  }
  const tmp = join(tmpdir(), `tessera-ttfr-${process.pid}`);
  console.log(`\n## Peak resident memory, MB: tessera run --data (the built CLI, target host) against a node script running onnxruntime-node on the same data; median of ${runs} alternating (range)`);
  console.log(`${'model'.padEnd(24)}${'onnxruntime'.padStart(18)}${'tessera run'.padStart(18)}${'difference'.padStart(12)}`);
  try {
    for (const model of models) {
      const dir = join(tmp, model);
      await writeTestData(model, dir);
      const onnx = join(MODELS, `${model}.onnx`);
      const cmds = [
        [process.execPath, '--input-type=module', '-e', ORT_RUN, onnx, dir],
        [process.execPath, join(ROOT, 'dist/cli/main.js'), 'run', onnx, '--data', dir],
      ];
      const kb: number[][] = cmds.map(() => []);
      for (let r = 0; r < runs; r++) {
        cmds.forEach((c, i) => {
          const x = spawnSync('/usr/bin/time', ['-f', '%M', ...c], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'] });
          if (x.status !== 0) throw new Error(`${c.slice(0, 4).join(' ')} failed on ${model}: ${x.stderr.slice(-1500)}`);
          kb[i].push(Number(x.stderr.trim().split('\n').pop()) / 1024);
        });
      }
      const [o, t] = kb;
      console.log(`${model.padEnd(24)}${`${median(o).toFixed(0)} (${range(o)})`.padStart(18)}${`${median(t).toFixed(0)} (${range(t)})`.padStart(18)}${`${(median(t) - median(o)) >= 0 ? '+' : ''}${(median(t) - median(o)).toFixed(0)}`.padStart(12)}`);
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

async function repeatedShape(): Promise<void> {
  const ort = await import('onnxruntime-node');
  const { InferenceSession, Tensor } = (await import(pathToFileURL(DIST).href)) as typeof import('../src/index.js');
  const model = join(MODELS, 'ppocr-v4-rec.onnx');
  const widths = [64, 320, 1024];
  const iterations = Math.max(40, runs * 8);
  const t = await InferenceSession.create(model);
  const o = await ort.InferenceSession.create(model);
  const control = await ort.InferenceSession.create(model); // a second onnxruntime session: the noise band of the ratio
  console.log(`\n## Repeated shape, ppocr-v4-rec: one any-shape InferenceSession against one onnxruntime session, same process, ${iterations} runs each per width alternating (after one warm-up run each); ms, median (range); control: a second onnxruntime session against the first, the same way`);
  console.log(`${'width'.padEnd(8)}${'onnxruntime'.padStart(24)}${'tessera'.padStart(24)}${'ratio'.padStart(8)}${'control'.padStart(9)}`);
  for (const w of widths) {
    const dims = [1, 3, 48, w];
    const data = Float32Array.from({ length: 3 * 48 * w }, (_, i) => Math.sin(i * 0.37));
    const ft = { x: new Tensor('float32', data, dims) };
    const fo = { x: new ort.Tensor('float32', data, dims) };
    await t.run(ft);
    await o.run(fo);
    await control.run(fo);
    const ts: number[] = [], os: number[] = [], cs: number[] = [];
    for (let i = 0; i < iterations; i++) {
      let a = performance.now();
      await o.run(fo);
      os.push(performance.now() - a);
      a = performance.now();
      await t.run(ft);
      ts.push(performance.now() - a);
      a = performance.now();
      await control.run(fo);
      cs.push(performance.now() - a);
    }
    console.log(`${String(w).padEnd(8)}${`${median(os).toFixed(2)} (${range(os, 2)})`.padStart(24)}${`${median(ts).toFixed(2)} (${range(ts, 2)})`.padStart(24)}${(median(ts) / median(os)).toFixed(2).padStart(8)}${(median(cs) / median(os)).toFixed(2).padStart(9)}`);
  }
  console.log(`compiles by the tessera session: ${t.compiles} for ${widths.length} widths (one engine call for every shape: ${t.anyShapeWithoutRecompiling})`);
  await t.release();
  await o.release();
  await control.release();
}

console.log(`# npx tsx bench/ttfr.ts --runs ${runs}${flag('--model').map((m) => ` --model ${m}`).join('')}${skip.size ? ` --skip ${[...skip].join(',')}` : ''}   (${new Date().toISOString()}, node ${process.version})`);
if (!skip.has('ttfr')) ttfr();
if (!skip.has('rss')) await rss();
if (!skip.has('repeat')) await repeatedShape();
