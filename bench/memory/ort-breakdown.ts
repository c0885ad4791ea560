/**
 * Where onnxruntime-node's resident memory goes on a model (ppocr-v4-det at 1×3×640×640 by default):
 * the same whole-model run (bench/memory/ort-whole.ts's script, plain `node`, nothing of Tessera loaded)
 * under session options and glibc malloc settings, each a separate process measured by
 * `/usr/bin/time -f %M`, ranges over `--runs` processes:
 *   - node with onnxruntime-node loaded and nothing run (the floor), the session created and not run;
 *   - onnxruntime's default options; arena off; memory patterns off; both; one intra-op thread;
 *     graph optimization basic (no NCHWc layout) and disabled;
 *   - glibc malloc in the child: MALLOC_ARENA_MAX=1, and MALLOC_TRIM_THRESHOLD_/MALLOC_MMAP_THRESHOLD_
 *     lowered (freed blocks go back to the system at once), with the engine's arena and patterns off;
 *   - the default run at smaller input sizes (how the excess scales with the image), and a one-node model
 *     (a Relu on 4 floats: what the first session of a process costs whatever the model);
 *   - with `--parts` (ppocr-v4-det only; what running parts band by band can save):
 *       the model without its 320×320 stem (fed the stem's 160×160 output), also without the head's two
 *       2× ConvTransposes, and without the 160×160 neck branch (their activations gone: an upper bound);
 *       its prefixes up to each stage (where the peak builds up);
 *       the model as 3 consecutive sessions, kept or created and released in turn;
 *       the stem alone whole, and in 4/8/16 bands of rows (the spatial-tile rewrite's bands): each band its
 *       own session slicing the whole input, or fed its rows by the process with bands of one shape
 *       sharing one session (3 sessions), engine arena on and off; the shared bands' rows are checked
 *       against the whole stem's output in a process of its own (not the measured ones).
 *   npx tsx bench/memory/ort-breakdown.ts [--runs 2] [--model path.onnx] [--size 640] [--only name,name] [--parts]
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { randomFeeds } from '../../src/backends/tensor.js';
import { GraphBuilder } from '../../src/ir/builder.js';
import { inferShapes, resolveInputShapes, type ShapedGraph } from '../../src/ir/infer.js';
import { exportOnnx } from '../../src/ir/onnx-export.js';
import { importOnnx, importOnnxFile } from '../../src/ir/onnx-import.js';
import { ortProber } from '../../src/backends/ort.js';
import { rewriteForMemory } from '../../src/passes/rewrite.js';
import { createHash } from 'node:crypto';
import { fromBinary, toBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema } from 'onnx-buf';
import { weightBytes } from '../../src/ir/weight.js';
import { writeRawTensors } from './ort-whole.js';
import { measure } from './measure.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url)).replace(/\/$/, '');
const args = process.argv.slice(2);
const opt = (k: string) => (args.includes(k) ? args[args.indexOf(k) + 1] : undefined);
const RUNS = Number(opt('--runs') ?? 2);
const MODEL = resolve(opt('--model') ?? join(ROOT, '../shared/corpus/models/ppocr-v4-det.onnx'));
const SIZE = Number(opt('--size') ?? 640);
const ONLY = opt('--only')?.split(',');
const WORK = join(tmpdir(), `tessera-ort-breakdown-${process.pid}`);
const MB = 1e6;

// the measured script: options as JSON in argv, the run timed, VmHWM printed beside %M
const SCRIPT = `import { readFileSync } from 'node:fs';
import { join } from 'node:path';
const ort = await import(ORT_URL);
const [model, inDir, optsJson, mode] = process.argv.slice(2);
const ARRAYS = { float32: Float32Array, int64: BigInt64Array };
const feeds = {};
for (const r of JSON.parse(readFileSync(join(inDir, 'tensors.json'), 'utf8'))) {
  const b = readFileSync(join(inDir, r.file));
  feeds[r.name] = new ort.Tensor(r.dtype, new ARRAYS[r.dtype](b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength)), r.dims);
}
let runMs = null;
if (mode !== 'floor') {
  const session = await ort.InferenceSession.create(model, JSON.parse(optsJson));
  if (mode === 'run') {
    const t0 = performance.now();
    await session.run(feeds);
    runMs = performance.now() - t0;
  }
  await session.release();
}
console.log(JSON.stringify({ runMs }));
`;

// the chained run: sub-models in sequence, values passed between them in JS; 'keep' creates every session first, 'transient' creates, runs and releases each in turn
const CHAIN = `import { readFileSync } from 'node:fs';
import { join } from 'node:path';
const ort = await import(ORT_URL);
const [listJson, inDir, optsJson, mode] = process.argv.slice(2);
const models = JSON.parse(listJson), opts = JSON.parse(optsJson);
const ARRAYS = { float32: Float32Array, int64: BigInt64Array };
let values = {};
for (const r of JSON.parse(readFileSync(join(inDir, 'tensors.json'), 'utf8'))) {
  const b = readFileSync(join(inDir, r.file));
  values[r.name] = new ort.Tensor(r.dtype, new ARRAYS[r.dtype](b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength)), r.dims);
}
const kept = mode === 'keep' ? await Promise.all(models.map((m) => ort.InferenceSession.create(m, opts))) : [];
const t0 = performance.now();
for (let i = 0; i < models.length; i++) {
  const s = kept[i] ?? await ort.InferenceSession.create(models[i], opts);
  const feeds = Object.fromEntries(s.inputNames.map((n) => [n, values[n]]));
  const out = await s.run(feeds);
  Object.assign(values, out);
  if (!kept[i]) await s.release();
}
const runMs = performance.now() - t0;
console.log(JSON.stringify({ runMs }));
`;

// bands sharing sessions: each band's rows of x copied out (all channels), run on the session of its model, its output rows kept
const SHARED = `import { readFileSync } from 'node:fs';
import { join } from 'node:path';
const ort = await import(ORT_URL);
const [bandsJson, inDir, optsJson, reference] = process.argv.slice(2);
const bands = JSON.parse(bandsJson), opts = JSON.parse(optsJson);
const r = JSON.parse(readFileSync(join(inDir, 'tensors.json'), 'utf8'))[0];
const b = readFileSync(join(inDir, r.file));
const x = new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
const [N, C, H, W] = r.dims;
const sessions = new Map();
for (const band of bands) if (!sessions.has(band.model)) sessions.set(band.model, await ort.InferenceSession.create(band.model, opts));
const pieces = [];
const t0 = performance.now();
for (const band of bands) {
  const rows = band.hi - band.lo, data = new Float32Array(N * C * rows * W);
  for (let c = 0; c < N * C; c++) data.set(x.subarray((c * H + band.lo) * W, (c * H + band.hi) * W), c * rows * W);
  const s = sessions.get(band.model);
  const out = await s.run({ [s.inputNames[0]]: new ort.Tensor('float32', data, [N, C, rows, W]) });
  pieces.push(out[s.outputNames[0]]);
}
const runMs = performance.now() - t0;
// checked (after the measured part) against the whole model: the band rows in order are its output
let maxAbs = null;
if (reference) {
  const ref = await ort.InferenceSession.create(reference);
  const want = (await ref.run({ x: new ort.Tensor('float32', x, r.dims) }))[ref.outputNames[0]];
  const [, Co, Ho, Wo] = want.dims;
  let h0 = 0;
  maxAbs = 0;
  for (const p of pieces) {
    const hp = p.dims[2];
    for (let c = 0; c < Co; c++) for (let i = 0; i < hp * Wo; i++) maxAbs = Math.max(maxAbs, Math.abs(p.data[c * hp * Wo + i] - want.data[(c * Ho + h0) * Wo + i]));
    h0 += hp;
  }
  if (h0 !== Ho) maxAbs = Infinity;
}
console.log(JSON.stringify({ runMs, sessions: sessions.size, maxAbs }));
`;

interface Variant { name: string; mode: 'floor' | 'load' | 'run' | 'keep' | 'transient' | 'shared'; shared?: () => Promise<{ model: string; lo: number; hi: number }[]>; options?: object; env?: Record<string, string>; size?: number; model?: () => string; inputs?: () => string; models?: () => Promise<string[]> }
const lean = { enableCpuMemArena: false, enableMemPattern: false };
const trim = { MALLOC_TRIM_THRESHOLD_: '0', MALLOC_MMAP_THRESHOLD_: '65536' };
const variants: Variant[] = [
  { name: 'floor: node + onnxruntime-node, no session', mode: 'floor' },
  { name: 'session created, not run', mode: 'load' },
  { name: 'default options', mode: 'run' },
  { name: 'arena off', mode: 'run', options: { enableCpuMemArena: false } },
  { name: 'memory patterns off', mode: 'run', options: { enableMemPattern: false } },
  { name: 'arena + patterns off', mode: 'run', options: lean },
  { name: 'one intra-op thread', mode: 'run', options: { intraOpNumThreads: 1 } },
  { name: 'arena + patterns off, one thread', mode: 'run', options: { ...lean, intraOpNumThreads: 1 } },
  { name: 'graph optimization basic (no NCHWc)', mode: 'run', options: { graphOptimizationLevel: 'basic' } },
  { name: 'graph optimization extended', mode: 'run', options: { graphOptimizationLevel: 'extended' } },
  { name: 'graph optimization disabled', mode: 'run', options: { graphOptimizationLevel: 'disabled' } },
  { name: 'weight prepacking off', mode: 'run', options: { extra: { session: { 'session.disable_prepacking': '1' } } } },
  { name: 'MALLOC_ARENA_MAX=1', mode: 'run', env: { MALLOC_ARENA_MAX: '1' } },
  { name: 'malloc trim/mmap thresholds low', mode: 'run', env: trim },
  { name: 'arena + patterns off, malloc trim/mmap low', mode: 'run', options: lean, env: trim },
  { name: 'arena + patterns off, malloc low, basic, one thread', mode: 'run', options: { ...lean, graphOptimizationLevel: 'basic', intraOpNumThreads: 1 }, env: { ...trim, MALLOC_ARENA_MAX: '1' } },
  ...[32, 320, 480].map((size): Variant => ({ name: `default options at ${size}×${size}`, mode: 'run', size })),
  { name: 'a one-node model (Relu of 4 floats), default options', mode: 'run', model: () => tiny().model, inputs: () => tiny().inputs },
  ...(args.includes('--parts') ? [
    ...([['', {}, undefined], [', arena + patterns off, malloc low', lean, trim]] as const).flatMap(([how, options, env]) => [
      { name: `without the 320×320 stem${how}`, mode: 'run', options, env, model: () => part('stem').model, inputs: () => part('stem').inputs },
      { name: `without the stem and the head's 2× ConvTransposes${how}`, mode: 'run', options, env, model: () => part('stem+head').model, inputs: () => part('stem+head').inputs },
      { name: `without the 160×160 neck branch, concat and head${how}`, mode: 'run', options, env, model: () => part('neck160').model, inputs: () => part('neck160').inputs },
    ]),
    ...[['', {}], [', arena + patterns off', lean]].flatMap(([how, options]) => [
      { name: `the model up to p2o.Add.19 (the 320×320 stem), whole, one session${how}`, mode: 'keep', options, models: async () => [prefix('p2o.Add.19')] },
      ...[4, 8, 16].map((T) => ({ name: `the stem in ${T} bands of rows, ${T} sessions kept${how}`, mode: 'keep', options, models: () => stemBands(T) })),
      ...[8, 16].map((T) => ({ name: `the stem in ${T} bands of rows fed their rows, bands of one shape sharing a session${how}`, mode: 'shared', options, shared: () => sharedStemBands(T) })),
    ] as Variant[]),
    ...['p2o.Add.15', 'p2o.Add.43', 'p2o.Add.71', 'p2o.Add.147', 'p2o.Add.215', 'p2o.Add.253', 'p2o.Concat.1'].flatMap((v) => [['', {}, undefined], [', arena + patterns off, malloc low', lean, trim]].map(([how, options, env]) => (
      { name: `the model up to ${v}${how}`, mode: 'run', options, env, model: () => prefix(v), inputs: () => inputDir(SIZE) } as Variant))),
    ...(['keep', 'transient'] as const).flatMap((mode) => [['', {}], [', arena + patterns off', lean]].map(([how, options]) => (
      { name: `in 3 sessions (stem+160, rest of backbone and neck, 160 neck+head), ${mode}${how}`, mode, options } as Variant))),
  ] as Variant[] : []),
];

mkdirSync(WORK, { recursive: true });
const ortUrl = pathToFileURL(createRequire(import.meta.url).resolve('onnxruntime-node')).href;
const script = join(WORK, 'ort-variant.mjs');
writeFileSync(script, SCRIPT.replace('ORT_URL', JSON.stringify(ortUrl)));
const chainScript = join(WORK, 'ort-chain.mjs');
writeFileSync(chainScript, CHAIN.replace('ORT_URL', JSON.stringify(ortUrl)));
const sharedScript = join(WORK, 'ort-shared.mjs');
writeFileSync(sharedScript, SHARED.replace('ORT_URL', JSON.stringify(ortUrl)));
const graph = importOnnxFile(MODEL);
const inputs = new Map<number, string>();
const inputDir = (size: number) => {
  if (!inputs.has(size)) {
    const dir = join(WORK, `in-${size}`);
    const shapes = Object.fromEntries(graph.inputs.map((x) => [x, [1, 3, size, size]]));
    writeRawTensors(dir, randomFeeds(graph, resolveInputShapes(graph, shapes)), graph.inputs);
    inputs.set(size, dir);
  }
  return inputs.get(size)!;
};
/** A one-node model and its input. */
let tinyModel: { model: string; inputs: string } | undefined;
function tiny() {
  if (!tinyModel) {
    const b = new GraphBuilder('tiny', { opset: 17 });
    b.input('x', 'float32', [1, 4]);
    b.output(b.node('Relu', ['x'], 'y'), 'float32');
    const model = join(WORK, 'tiny.onnx'), inputs = join(WORK, 'tiny-in');
    writeFileSync(model, b.toBytes());
    const g = importOnnx(b.toBytes());
    writeRawTensors(inputs, randomFeeds(g, resolveInputShapes(g)), g.inputs);
    tinyModel = { model, inputs };
  }
  return tinyModel;
}

/** ppocr-v4-det without its stem (nodes up to the 160×160 value p2o.Add.19), and also without the head after batch_norm_0.tmp_4. */
let shaped: ShapedGraph | undefined;
const parts = new Map<string, { model: string; inputs: string }>();
function part(which: 'stem' | 'stem+head' | 'neck160') {
  if (!parts.has(which)) {
    if (!shaped) throw new Error('--parts: shapes not inferred');
    const g = shaped;
    const producer = (v: string) => g.values.get(v)!.producer;
    const closure = (from: string, up: boolean) => {
      const seen = new Set<number>();
      const stack = [producer(from)];
      while (stack.length) {
        const u = stack.pop()!;
        if (u < 0 || seen.has(u)) continue;
        seen.add(u);
        if (up) stack.push(...g.nodes[u].inputs.filter((x) => x).map(producer));
        else for (const o of g.nodes[u].outputs) stack.push(...(g.values.get(o)?.consumers ?? []));
      }
      return seen;
    };
    if (which === 'neck160') {
      // everything but the descendants of conv2d_469 (the neck's 160×160 branch, its SE blocks, the concat and the head): outputs the backbone's and the coarser neck's maps
      const tail = closure('conv2d_469.tmp_0', false);
      const keep = g.nodes.map((n) => n.index).filter((u) => !tail.has(u) && g.nodes[u].op !== 'Constant');
      const exported = exportOnnx(g, keep);
      const model = join(WORK, 'det-neck160.onnx'), inputs = inputDir(SIZE);
      writeFileSync(model, exported.bytes);
      parts.set(which, { model, inputs });
      return parts.get(which)!;
    }
    const stem = closure('p2o.Add.19', true);
    const head = which === 'stem+head' ? closure('batch_norm_0.tmp_4', false) : new Set<number>();
    head.delete(producer('batch_norm_0.tmp_4'));
    const keep = g.nodes.map((n) => n.index).filter((u) => !stem.has(u) && !head.has(u) && !(g.nodes[u].op === 'Constant'));
    const exported = exportOnnx(g, keep, which === 'stem+head' ? { outputs: ['batch_norm_0.tmp_4'] } : {});
    const model = join(WORK, `det-${which.replace('+', '-')}.onnx`), inputs = join(WORK, `in-${which.replace('+', '-')}`);
    writeFileSync(model, exported.bytes);
    const sub = importOnnx(exported.bytes);
    writeRawTensors(inputs, randomFeeds(sub, resolveInputShapes(sub)), sub.inputs);
    parts.set(which, { model, inputs });
  }
  return parts.get(which)!;
}
/** The run-time nodes `value` depends on. */
function prefixNodes(value: string): number[] {
  const g = shaped!;
  const seen = new Set<number>();
  const stack = [g.values.get(value)!.producer];
  while (stack.length) {
    const u = stack.pop()!;
    if (u < 0 || seen.has(u)) continue;
    seen.add(u);
    stack.push(...g.nodes[u].inputs.filter((x) => x).map((x) => g.values.get(x)!.producer));
  }
  return [...seen].filter((u) => g.nodes[u].op !== 'Constant');
}

/** The model's nodes that `value` depends on, with `value` as its output. */
function prefix(value: string): string {
  const path = join(WORK, `det-upto-${value}.onnx`);
  writeFileSync(path, exportOnnx(shaped!, prefixNodes(value), { outputs: [value] }).bytes);
  return path;
}

/**
 * The model up to p2o.Add.19 (the 320×320 stem and its stride-2 exit) cut by the spatial-tile rewrite
 * into `T` bands of rows, each band its own model (input the whole x, sliced inside; output its rows of
 * p2o.Add.19), so a process runs them one session after another, collecting the rows.
 */
const bandSets = new Map<number, string[]>();
const tiledStem = new Map<number, import("../../src/ir/graph.js").Graph>();
async function stemBands(T: number): Promise<string[]> {
  if (bandSets.has(T)) return bandSets.get(T)!;
  const bytes = exportOnnx(shaped!, prefixNodes('p2o.Add.19'), { outputs: ['p2o.Add.19'] }).bytes;
  const g = await inferShapes(importOnnx(bytes), { inputShapes: { x: [1, 3, SIZE, SIZE] }, prober: ortProber });
  const { graph: tiled, applied } = rewriteForMemory(g, ['spatial-tile'], { tileCount: T });
  if (!applied['spatial-tile']) throw new Error(`the stem did not tile into ${T} bands`);
  tiledStem.set(T, tiled);
  const concat = tiled.nodes.find((n) => n.op === 'Concat' && n.outputs[0] === 'p2o.Add.19')!;
  const paths = concat.inputs.map((piece, t) => {
    const seen = new Set<number>();
    const stack = [tiled.values.get(piece)!.producer];
    while (stack.length) {
      const u = stack.pop()!;
      if (u < 0 || seen.has(u)) continue;
      seen.add(u);
      stack.push(...tiled.nodes[u].inputs.filter((x) => x).map((x) => tiled.values.get(x)!.producer));
    }
    const path = join(WORK, `det-stem-band${T}-${t}.onnx`);
    writeFileSync(path, exportOnnx(tiled, [...seen], { outputs: [piece] }).bytes);
    return path;
  });
  bandSets.set(T, paths);
  return paths;
}

/**
 * The same bands fed their rows of x (copied out by the process, the halo included) instead of slicing x
 * themselves, every model's names canonical (by position), so bands of one shape and padding are one
 * model and share one session: top, interior and bottom bands, 3 sessions whatever T.
 */
const sharedSets = new Map<number, { model: string; lo: number; hi: number }[]>();
async function sharedStemBands(T: number) {
  if (sharedSets.has(T)) return sharedSets.get(T)!;
  await stemBands(T);
  const tiled = tiledStem.get(T)!;
  const concat = tiled.nodes.find((n) => n.op === 'Concat' && n.outputs[0] === 'p2o.Add.19')!;
  const i64 = (name: string) => Number(new BigInt64Array(weightBytes(tiled.values.get(name)!.initializer!).slice().buffer)[0]);
  const out = concat.inputs.map((piece, t) => {
    const seen = new Set<number>();
    const stack = [tiled.values.get(piece)!.producer];
    while (stack.length) {
      const u = stack.pop()!;
      if (u < 0 || seen.has(u)) continue;
      seen.add(u);
      stack.push(...tiled.nodes[u].inputs.filter((x) => x).map((x) => tiled.values.get(x)!.producer));
    }
    const cut = [...seen].filter((u) => tiled.nodes[u].op === 'Slice' && tiled.nodes[u].inputs[0] === 'x');
    if (cut.length !== 1) throw new Error(`band ${t}: ${cut.length} slices of x`);
    const sl = tiled.nodes[cut[0]];
    seen.delete(cut[0]);
    const model = fromBinary(ModelProtoSchema, exportOnnx(tiled, [...seen], { outputs: [piece] }).bytes);
    const names = new Map<string, string>();
    const name = (x: string) => (x ? (names.get(x) ?? (names.set(x, `v${names.size}`), `v${names.size - 1}`)) : x);
    const g = model.graph!;
    g.name = 'band';
    for (const v of g.input) v.name = name(v.name);
    for (const w of g.initializer) w.name = name(w.name);
    g.node.forEach((n, k) => { n.name = `n${k}`; n.input = n.input.map(name); n.output = n.output.map(name); });
    for (const v of g.output) v.name = name(v.name);
    g.valueInfo = [];
    const bytes = toBinary(ModelProtoSchema, model);
    const path = join(WORK, `det-stem-shared${T}-${createHash('sha256').update(bytes).digest('hex').slice(0, 12)}.onnx`);
    writeFileSync(path, bytes);
    return { model: path, lo: i64(sl.inputs[1]), hi: i64(sl.inputs[2]) };
  });
  sharedSets.set(T, out);
  return out;
}

/** ppocr-v4-det as 3 sub-models: the ancestors of p2o.Add.43 (stem and the 160×160 stage), the descendants of conv2d_469.tmp_0 (the neck at 160×160 and the head), the rest. */
let chain: string[] | undefined;
function chainModels(): string[] {
  if (chain) return chain;
  const g = shaped!;
  const producer = (v: string) => g.values.get(v)!.producer;
  const reach = (from: number, up: boolean) => {
    const seen = new Set<number>();
    const stack = [from];
    while (stack.length) {
      const u = stack.pop()!;
      if (u < 0 || seen.has(u)) continue;
      seen.add(u);
      if (up) stack.push(...g.nodes[u].inputs.filter((x) => x).map(producer));
      else for (const o of g.nodes[u].outputs) stack.push(...(g.values.get(o)?.consumers ?? []));
    }
    return seen;
  };
  const first = reach(producer('p2o.Add.43'), true), last = reach(producer('conv2d_469.tmp_0'), false);
  const runtime = g.nodes.filter((n) => n.op !== 'Constant').map((n) => n.index);
  const sets = [runtime.filter((u) => first.has(u)), runtime.filter((u) => !first.has(u) && !last.has(u)), runtime.filter((u) => last.has(u))];
  chain = sets.map((set, i) => {
    const path = join(WORK, `det-chain-${i}.onnx`);
    writeFileSync(path, exportOnnx(g, set).bytes);
    return path;
  });
  return chain;
}
if (args.includes('--parts')) shaped = await inferShapes(graph, { inputShapes: Object.fromEntries(graph.inputs.map((x) => [x, [1, 3, SIZE, SIZE]])), prober: ortProber });

const range = (xs: number[], d = 0) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[0] === s[s.length - 1] ? s[0].toFixed(d) : `${s[0].toFixed(d)}–${s[s.length - 1].toFixed(d)}`;
};
console.log(`command: npx tsx bench/memory/ort-breakdown.ts --runs ${RUNS} --size ${SIZE}  (${MODEL}; peak RSS by /usr/bin/time -f %M; ranges over ${RUNS} processes; run ms provisional, machine shared)`);
try {
  for (const v of variants) {
    if (ONLY && !ONLY.some((o) => v.name.includes(o))) continue;
    const rss: number[] = [], ms: number[] = [];
    let extra = '';
    for (let r = 0; r < RUNS; r++) {
      const m = v.mode === 'shared'
        ? measure(process.execPath, [sharedScript, JSON.stringify(await v.shared!()), inputDir(SIZE), JSON.stringify(v.options ?? {})], ROOT, v.env)
        : v.mode === 'keep' || v.mode === 'transient'
        ? measure(process.execPath, [chainScript, JSON.stringify(v.models ? await v.models() : chainModels()), inputDir(SIZE), JSON.stringify(v.options ?? {}), v.mode], ROOT, v.env)
        : measure(process.execPath, [script, v.model?.() ?? MODEL, v.inputs?.() ?? inputDir(v.size ?? SIZE), JSON.stringify(v.options ?? {}), v.mode], ROOT, v.env);
      if (m.status !== 0) throw new Error(`${v.name}: ${m.stderr}`);
      rss.push(m.peakRssBytes / MB);
      const res = JSON.parse(m.stdout.trim().split('\n').pop()!);
      if (res.runMs !== null) ms.push(res.runMs);
    }
    if (v.mode === 'shared') {
      // checked in a process of its own (the whole model's run would be the peak): the band rows in order against the whole model's output
      const m = measure(process.execPath, [sharedScript, JSON.stringify(await v.shared!()), inputDir(SIZE), JSON.stringify(v.options ?? {}), prefix('p2o.Add.19')], ROOT, v.env);
      const res = JSON.parse(m.stdout.trim().split('\n').pop()!);
      extra = `   ${res.sessions} sessions; band rows against the whole model's output: max abs ${res.maxAbs}`;
    }
    console.log(`${v.name.padEnd(52)} ${range(rss).padStart(9)} MB${ms.length ? `   run ${range(ms)} ms` : ''}${extra}`);
  }
} finally {
  rmSync(WORK, { recursive: true, force: true });
}
