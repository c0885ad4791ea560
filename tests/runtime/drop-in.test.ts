/**
 * InferenceSession as a drop-in for onnxruntime-node's: ONE script source, written against onnxruntime's
 * API, run twice in fresh processes — once importing onnxruntime-node, once importing Tessera (the only
 * difference is the import's specifier) — on every corpus model, fed from each model's JSON sidecar
 * (its ortCheck feed: shapes, dtypes and fills; uniform fills drawn from a seeded generator), two runs
 * each with different data (a recurrent model's state fed back from its output). The names, the value
 * metadata and every output must agree; outputs to fp32 tolerance (rtol 1e-3, atol 1e-4).
 *
 * With its default options on a host whose target as bound is the CPU EP alone (a software GPU gets no
 * work), Tessera's session compiles nothing: the model is one engine call. So the script also runs a
 * third time importing a module that is Tessera's InferenceSession with one option fixed — a target of
 * two CPUs, the second taking Conv, MatMul and Gemm — so that every model is compiled for the shapes it
 * is fed (the OCR models into plans of several partitions, run by the plan runner).
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { CORPUS, ROOT, tempDir } from '../cli/helpers.js';

const MODELS = join(CORPUS, 'models');
const models = readdirSync(MODELS).filter((f) => f.endsWith('.onnx')).map((f) => f.slice(0, -5)).sort();

/** The app: onnxruntime's API only. `__IMPORT__` is the one thing that differs between the two runs. */
const SCRIPT = `import { InferenceSession, Tensor } from '__IMPORT__';
import { readFileSync, writeFileSync } from 'node:fs';

const [model, sidecar, out] = process.argv.slice(2);
const feedSpec = JSON.parse(readFileSync(sidecar, 'utf8')).ortCheck.feed;
let seed = 12345;
const random = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 4294967296);
const ARRAYS = { float: Float32Array, float32: Float32Array, int64: BigInt64Array, int32: Int32Array };
const TYPES = { float: 'float32', float32: 'float32', int64: 'int64', int32: 'int32' };
function feed(spec) {
  const n = spec.shape.reduce((a, b) => a * b, 1);
  const Arr = ARRAYS[spec.dtype];
  const value = (x) => (Arr === BigInt64Array ? BigInt(Math.round(x)) : x);
  const data = new Arr(n);
  for (let i = 0; i < n; i++) data[i] = value(spec.fill === 'zeros' ? 0 : typeof spec.fill === 'number' ? spec.fill : random() * 2 - 1);
  return new Tensor(TYPES[spec.dtype], data, spec.shape);
}

const session = await InferenceSession.create(model);
const results = { inputNames: session.inputNames, outputNames: session.outputNames, inputMetadata: session.inputMetadata, outputMetadata: session.outputMetadata, runs: [] };
let feeds = Object.fromEntries(Object.entries(feedSpec).map(([name, spec]) => [name, feed(spec)]));
for (let run = 0; run < 2; run++) {
  const outputs = await session.run(feeds);
  results.runs.push(Object.fromEntries(Object.entries(outputs).map(([name, t]) => [name, { type: t.type, dims: t.dims, data: Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength).toString('base64') }])));
  // next run: new data; a recurrent model's state (an input of the output's shape and type) fed back
  const next = Object.fromEntries(Object.entries(feedSpec).map(([name, spec]) => [name, feed(spec)]));
  for (const [name, t] of Object.entries(outputs)) {
    const input = session.inputNames.find((i) => i !== name && next[i] && next[i].type === t.type && next[i].dims.join() === t.dims.join() && /state|^h$|^c$/.test(i) && (/state/.test(name) || name === i + 'n'));
    if (input) next[input] = t;
  }
  feeds = next;
}
await session.release();
writeFileSync(out, JSON.stringify(results));
`;

const tmp = tempDir('drop-in');
afterAll(() => tmp.cleanup());

function runScript(specifier: string, model: string, label: string) {
  const file = join(tmp.dir, `${model}.${label}.mjs`);
  const out = join(tmp.dir, `${model}.${label}.json`);
  writeFileSync(file, SCRIPT.replace('__IMPORT__', specifier));
  // through tsx: Tessera is imported from its TypeScript source (the built package is tests/package's)
  const r = spawnSync(process.execPath, ['--import', import.meta.resolve('tsx'), file, join(MODELS, `${model}.onnx`), join(MODELS, `${model}.json`), out], { cwd: tmp.dir, encoding: 'utf8', timeout: 300_000 });
  expect(r.status, `${label} on ${model}: ${r.stderr.slice(-3000)}`).toBe(0);
  return { ...JSON.parse(readFileSync(out, 'utf8')), stderr: r.stderr };
}

const floats = (o: { type: string; data: string }) => {
  const b = Buffer.from(o.data, 'base64');
  const copy = new Uint8Array(b).buffer;
  return o.type === 'float32' ? Array.from(new Float32Array(copy)) : o.type === 'int64' ? Array.from(new BigInt64Array(copy), Number) : Array.from(new Uint8Array(copy));
};

/** Tessera's InferenceSession with a two-CPU target fixed: compiled plans of several partitions. */
const SHIM = join(tmp.dir, 'two-cpus.ts');
writeFileSync(SHIM, `import { InferenceSession as Base, Tensor } from ${JSON.stringify(pathToFileURL(join(ROOT, 'src/index.ts')).href)};
import { makeTarget } from ${JSON.stringify(pathToFileURL(join(ROOT, 'tests/helpers/models.ts')).href)};
export { Tensor };
const target = makeTarget('two-cpus', [{ id: 'cpu', kind: 'cpu', ops: '*' }, { id: 'cpu2', kind: 'cpu', ops: ['Conv', 'MatMul', 'Gemm'], gflops: 5000 }]);
export const InferenceSession = {
  create: async (model: string, options = {}) => {
    const s = await Base.create(model, { ...options, target, orderBudgetMs: 50 });
    const release = s.release.bind(s);
    // what was compiled, said on stderr for the test: partitions of the last plan, compiles
    s.release = async () => { console.error(JSON.stringify({ partitions: s.plan?.partitions.length ?? 0, compiles: s.compiles })); await release(); };
    return s;
  },
};
`);

describe('the same onnxruntime script, importing onnxruntime-node or tessera', () => {
  it.each(models)('%s', (model) => {
    const ort = runScript(import.meta.resolve('onnxruntime-node'), model, 'ort');
    const tessera = runScript(pathToFileURL(join(ROOT, 'src/index.ts')).href, model, 'tessera');
    const compiled = runScript(pathToFileURL(SHIM).href, model, 'compiled');
    const said = JSON.parse(compiled.stderr.trim().split('\n').filter((l: string) => l.startsWith('{"partitions"')).pop());
    // the OCR models' convolutions go to the second CPU: plans of several partitions (silero's top level is control flow,
    // whole on the CPU; the wake-word MLP is too small for a transfer to pay: one partition each, one engine call)
    if (model.startsWith('ppocr')) expect(said.partitions, model).toBeGreaterThan(1);
    expect(said.compiles, model).toBeGreaterThanOrEqual(1);
    compare(model, ort, compiled);
    compare(model, ort, tessera);
  }, 600_000);
});

type Result = { inputNames: string[]; outputNames: string[]; inputMetadata: unknown; outputMetadata: unknown; runs: Record<string, { type: string; dims: number[]; data: string }>[] };

function compare(model: string, ort: Result, tessera: Result): void {
  {
    expect(tessera.inputNames).toEqual(ort.inputNames);
    expect(tessera.outputNames).toEqual(ort.outputNames);
    expect(tessera.inputMetadata).toEqual(ort.inputMetadata);
    expect(tessera.outputMetadata).toEqual(ort.outputMetadata);
    expect(tessera.runs).toHaveLength(2);
    for (const [run, outputs] of ort.runs.entries()) {
      expect(Object.keys(tessera.runs[run]).sort()).toEqual(Object.keys(outputs).sort());
      for (const [name, want] of Object.entries(outputs)) {
        const got = tessera.runs[run][name];
        expect(got.type, `${name} (run ${run})`).toBe(want.type);
        expect(got.dims, `${name} (run ${run})`).toEqual(want.dims);
        const a = floats(got), b = floats(want);
        const bad = a.findIndex((x, i) => !(Math.abs(x - b[i]) <= 1e-4 + 1e-3 * Math.abs(b[i])));
        expect(bad, `${model} ${name} run ${run}: element ${bad}: ${a[bad]} against onnxruntime's ${b[bad]}`).toBe(-1);
      }
    }
  }
}
