/**
 * Calibration: measure this host's real backends with micro-benchmarks and fit the figures of a target
 * profile — peak rate, bandwidths, per-class efficiency, per-node and per-launch overheads, link rates —
 * that the cost model uses. The result is a target profile others can pass to `--target`; `host` uses it
 * when one exists.
 *
 * Each benchmark is a small model holding k copies of one op (a chain when the op keeps its input's
 * shape, parallel branches otherwise, each branch's output cut down to one element), timed at k = 1 and
 * k = K: the difference over K − 1 is one op's time, without the run's fixed cost nor the copy of graph
 * inputs and outputs in and out of onnxruntime (which would otherwise pass for bandwidth). The shapes are
 * those convolutional and recurrent networks use — 1×1, 3×3 and strided convolutions, depthwise and
 * grouped ones, stems with three input channels, batch-1 fully connected layers whose weights do not fit
 * any cache, elementwise ops in and out of cache — and never a model's own layers. The figures are then
 * fitted through the cost model itself (`predictNode` on the same benchmark graphs), so a fitted figure
 * means exactly what the cost model does with it.
 */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { fromBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema } from 'onnx-buf';
import { availableParallelism } from 'node:os';
import * as ort from 'onnxruntime-node';
import { probeWebGpu } from '../backends/webgpu.js';
import { TesseraError } from '../errors.js';
import { GraphBuilder, type AttrValue } from '../ir/builder.js';
import { inferShapes, type ShapedGraph } from '../ir/infer.js';
import { importOnnx } from '../ir/onnx-import.js';
import { engineCost } from '../backends/registry.js';
import { nodeUs, nodeWork, opClass } from '../targets/cost.js';
import { archOf, calibratedHostPath, HOST_CPU_SUPPORT, hostCpuName, WEBGPU_SUPPORT } from '../targets/host.js';
import { FIGURE_FIELDS, type Figure, type Figures, type Processor, type Support, type Target } from '../targets/schema.js';
import type { Backend, Executable } from '../backends/backend.js';
import { measureMemoryFloor } from './memory-floor.js';
import { measureStreamBandwidth } from './stream-bandwidth.js';
import { measureStorageRead } from './storage-read.js';

/** The classes a profile gives an efficiency for. */
type EffClass = 'conv' | 'dwconv' | 'matmul' | 'elementwise' | 'reduce' | 'copy';
/** What a benchmark informs: a class's efficiency, the dispatch, the cost per group of a grouped convolution, or an op's kernel set-up. */
type Fits = EffClass | 'dispatch' | 'group' | 'setup';

/** One op as a benchmark repeats it. */
interface OpSpec {
  op: string;
  attrs?: Record<string, AttrValue>;
  /** Constant inputs after the data input (distinct per copy): dims, scale of the values, offset. */
  weights?: { dims: number[]; scale?: number; offset?: number }[];
  /** Extra inputs given as they are ('' for an omitted optional input), after the weights. */
  extra?: (b: GraphBuilder) => string[];
  /** Activations it reads (default 1): in a fan without weights, each copy reads its own graph inputs. */
  reads?: number;
}

export interface Bench {
  name: string;
  /** The figure this benchmark informs. */
  fits: Fits;
  /** 'chain': x → op → op → …; 'fan': k branches from one input (ops with weights) or from k inputs. */
  mode: 'chain' | 'fan';
  shape: number[];
  op: OpSpec;
  K: number;
  /** Run without onnxruntime's graph optimizations (its transpose optimizer would push a lone Transpose into the cut and away). */
  plain?: boolean;
}

const PATTERN = (() => {
  // deterministic values uniform in [-0.5, 0.5): a Lehmer generator
  let s = 12345;
  return Float32Array.from({ length: 1021 }, () => (s = (s * 48271) % 2147483647) / 2147483647 - 0.5);
})();

/** n values of the pattern (std ≈ 0.29), scaled and offset, starting at a seed-dependent place. */
function values(n: number, scale = 1, offset = 0, seed = 0): Float32Array {
  const base = PATTERN.map((_, i) => PATTERN[(i + seed * 97) % PATTERN.length] * scale + offset);
  const a = new Float32Array(n);
  for (let i = 0; i < n; i += base.length) a.set(n - i >= base.length ? base : base.subarray(0, n - i), i);
  return a;
}

const prod = (dims: readonly number[]) => dims.reduce((a, b) => a * b, 1);

/** The model with k copies of the benchmark's op; returns its bytes and its graph inputs' shapes. */
export function buildBench(bench: Bench, k: number): { bytes: Uint8Array; inputs: Record<string, number[]> } {
  const b = new GraphBuilder(`bench_${k}`);
  const inputs: Record<string, number[]> = {};
  const rank = bench.shape.length;
  const zeros = b.initializer('slice_starts', new BigInt64Array(rank), [rank]);
  const ones = b.initializer('slice_ends', new BigInt64Array(rank).fill(1n), [rank]);
  // ops without weights on one input would be merged by onnxruntime's common subexpression elimination
  const ownInputs = bench.mode === 'fan' && !bench.op.weights?.length;
  const x0 = b.input('x', 'float32', bench.shape);
  inputs.x = bench.shape;
  let x = x0;
  const tails: string[] = [];
  for (let i = 0; i < k; i++) {
    let src = bench.mode === 'chain' ? x : x0;
    if (ownInputs && i > 0) {
      src = b.input(`x${i}`, 'float32', bench.shape);
      inputs[src] = bench.shape;
    }
    const ins = [src];
    for (let r = 1; r < (bench.op.reads ?? 1); r++) {
      const name = b.input(`x${i}_${r}`, 'float32', bench.shape);
      inputs[name] = bench.shape;
      ins.push(name);
    }
    (bench.op.weights ?? []).forEach((w, j) => ins.push(b.initializer(`w${i}_${j}`, values(prod(w.dims), w.scale ?? 1, w.offset ?? 0, i * 7 + j), w.dims)));
    ins.push(...(bench.op.extra?.(b) ?? []));
    const y = b.node(bench.op.op, ins, `y${i}`, bench.op.attrs ?? {});
    if (bench.mode === 'chain') x = y;
    else tails.push(y);
  }
  // each output cut down to one element, so nothing big leaves onnxruntime
  const cut = (v: string, i: number) => b.node('Slice', [v, zeros, ones], `cut${i}`);
  if (bench.mode === 'chain') b.output(cut(x, 0), 'float32');
  else if (tails.length === 1) b.output(cut(tails[0], 0), 'float32');
  else b.output(b.node('Concat', tails.map(cut), 'out', { axis: 0 }), 'float32');
  return { bytes: b.toBytes(), inputs };
}

const conv = (cin: number, cout: number, k: number, stride = 1, group = 1, pad = Math.floor(k / 2)): OpSpec => ({
  op: 'Conv',
  attrs: { pads: [pad, pad, pad, pad], strides: [stride, stride], group },
  weights: [{ dims: [cout, cin / group, k, k], scale: 3.4 / Math.sqrt((cin / group) * k * k) }, { dims: [cout], scale: 0.1 }],
});
const gemm = (k: number, n: number): OpSpec => ({ op: 'Gemm', attrs: { transB: 1 }, weights: [{ dims: [n, k], scale: 3.4 / Math.sqrt(k) }, { dims: [n], scale: 0.1 }] });

/** The CPU benchmarks: shapes of convolutional and recurrent networks, never one model's own layers. */
export function cpuBenches(): Bench[] {
  const out: Bench[] = [];
  const add = (name: string, fits: Fits, mode: Bench['mode'], shape: number[], op: OpSpec, K: number, plain = false) => out.push({ name, fits, mode, shape, op, K, ...(plain ? { plain } : {}) });
  // dispatch: the small nodes every network has between its big ones
  add('Relu 1x16 (dispatch)', 'dispatch', 'chain', [1, 16], { op: 'Relu' }, 21);
  add('Add 1x128 (dispatch)', 'dispatch', 'chain', [1, 128], { op: 'Add', weights: [{ dims: [1, 128], scale: 0.1 }] }, 21);
  add('Sigmoid 1x128 (dispatch)', 'dispatch', 'chain', [1, 128], { op: 'Sigmoid' }, 21);
  add('Softmax 1x128 (dispatch)', 'dispatch', 'chain', [1, 128], { op: 'Softmax', attrs: { axis: -1 } }, 21);
  add('MatMul 1x64x64 (dispatch)', 'dispatch', 'chain', [1, 64], { op: 'MatMul', weights: [{ dims: [64, 64], scale: 0.4 }] }, 21);
  add('Gemm 1x128x128 (dispatch)', 'dispatch', 'chain', [1, 128], gemm(128, 128), 21);
  // dense convolutions: 3×3 and 1×1 at the usual channel/size pairs, strided, 5×5, stems on 3 channels, grouped
  for (const [c, hw] of [[32, 112], [64, 56], [128, 28], [256, 14], [512, 7]]) add(`conv 3x3 ${c}ch ${hw}x${hw}`, 'conv', 'chain', [1, c, hw, hw], conv(c, c, 3), 3);
  for (const [c, hw] of [[32, 56], [64, 56], [256, 28], [512, 14], [1024, 7]]) add(`conv 1x1 ${c}ch ${hw}x${hw}`, 'conv', 'chain', [1, c, hw, hw], conv(c, c, 1), 3);
  add('conv 1x1 64->256 56x56', 'conv', 'fan', [1, 64, 56, 56], conv(64, 256, 1), 3);
  add('conv 1x1 256->64 56x56', 'conv', 'fan', [1, 256, 56, 56], conv(256, 64, 1), 3);
  add('conv 3x3/2 128->256 28x28', 'conv', 'fan', [1, 128, 28, 28], conv(128, 256, 3, 2), 3);
  add('conv 5x5 32->64 28x28', 'conv', 'fan', [1, 32, 28, 28], conv(32, 64, 5), 3);
  add('conv 3x3/2 3->32 224x224 (stem)', 'conv', 'fan', [1, 3, 224, 224], conv(3, 32, 3, 2), 3);
  add('conv 7x7/2 3->64 224x224 (stem)', 'conv', 'fan', [1, 3, 224, 224], conv(3, 64, 7, 2), 3);
  add('conv 1x1 group 4 128ch 28x28', 'conv', 'chain', [1, 128, 28, 28], conv(128, 128, 1, 1, 4), 3);
  add('conv 3x3 group 2 128ch 28x28', 'conv', 'chain', [1, 128, 28, 28], conv(128, 128, 3, 1, 2), 3);
  // a 1-D depthwise convolution: one small GEMM per channel (its cost is the groups', not its arithmetic)
  add('depthwise 1-D 256ch k5 length 8 (a GEMM a group)', 'group', 'chain', [1, 256, 8], {
    op: 'Conv', attrs: { pads: [2, 2], strides: [1], group: 256 }, weights: [{ dims: [256, 1, 5], scale: 0.8 }, { dims: [256], scale: 0.1 }],
  }, 4);
  // recurrent cells over one step: their kernels' set-up dwarfs one step's arithmetic
  for (const [op, gates] of [['LSTM', 4], ['GRU', 3]] as const) {
    add(`${op} one step, 64 in, hidden 64 (set-up)`, 'setup', 'fan', [1, 1, 64], {
      op, attrs: { hidden_size: 64 }, weights: [{ dims: [1, gates * 64, 64], scale: 0.2 }, { dims: [1, gates * 64, 64], scale: 0.2 }, { dims: [1, 2 * gates * 64], scale: 0.1 }],
    }, 5);
  }
  // depthwise
  for (const [c, hw] of [[32, 112], [128, 56], [256, 28], [512, 14], [1024, 7]]) add(`depthwise 3x3 ${c}ch ${hw}x${hw}`, 'dwconv', 'chain', [1, c, hw, hw], conv(c, c, 3, 1, c), 4);
  add('depthwise 3x3/2 128ch 56x56', 'dwconv', 'fan', [1, 128, 56, 56], conv(128, 128, 3, 2, 128), 4);
  add('depthwise 5x5 256ch 28x28', 'dwconv', 'chain', [1, 256, 28, 28], conv(256, 256, 5, 1, 256), 4);
  // grouped convolutions whose channels per group do not fill a vector block: outside onnxruntime's blocked kernel on x86
  add('conv 1x1 group 4 136ch 28x28 (34 a group)', 'dwconv', 'chain', [1, 136, 28, 28], conv(136, 136, 1, 1, 4), 3);
  add('conv 3x3 group 3 60ch 28x28 (20 a group)', 'dwconv', 'chain', [1, 60, 28, 28], conv(60, 60, 3, 1, 3), 3);
  // matrix products: square, skinny (batch 16–196), and batch-1 fully connected layers (memory-bound)
  for (const n of [128, 256, 512, 1024]) add(`matmul ${n}x${n}x${n}`, 'matmul', 'chain', [n, n], { op: 'MatMul', weights: [{ dims: [n, n], scale: 3.4 / Math.sqrt(n) }] }, 3);
  for (const [m, k] of [[16, 1024], [64, 512], [196, 768]]) add(`gemm ${m}x${k}x${k}`, 'matmul', 'chain', [m, k], gemm(k, k), 3);
  for (const k of [256, 1024, 4096]) add(`gemm 1x${k}x${k} (batch 1)`, 'matmul', 'chain', [1, k], gemm(k, k), k >= 4096 ? 2 : 3);
  // elementwise, in and out of cache
  // (in cache only: a chain of Relu runs in place, which no activation a convolution made enjoys)
  for (const s of [[1, 64, 14, 14], [1, 64, 28, 28], [1, 64, 56, 56]]) add(`Relu ${s.join('x')}`, 'elementwise', 'chain', s, { op: 'Relu' }, 4);
  for (const s of [[1, 64, 28, 28], [1, 64, 56, 56]]) add(`Add ${s.join('x')}`, 'elementwise', 'chain', s, { op: 'Add', weights: [{ dims: s, scale: 0.1 }] }, 4);
  // two activations in, one out, none of them in cache
  for (const s of [[1, 64, 112, 112], [1, 128, 112, 112], [1, 64, 320, 320]]) add(`Add ${s.join('x')} + ${s.join('x')}`, 'elementwise', 'fan', s, { op: 'Add', reads: 2 }, 3);
  add('Mul per channel 1x64x56x56', 'elementwise', 'chain', [1, 64, 56, 56], { op: 'Mul', weights: [{ dims: [1, 64, 1, 1], scale: 0.2, offset: 1 }] }, 4);
  add('Clip 1x64x56x56', 'elementwise', 'chain', [1, 64, 56, 56], { op: 'Clip' }, 4);
  add('Sigmoid 1x64x56x56', 'elementwise', 'chain', [1, 64, 56, 56], { op: 'Sigmoid' }, 4);
  for (const s of [[8, 1000], [1, 64, 56, 56]]) add(`Softmax ${s.join('x')}`, 'elementwise', 'chain', s, { op: 'Softmax', attrs: { axis: -1 } }, 4);
  add('BatchNormalization 1x64x56x56', 'elementwise', 'chain', [1, 64, 56, 56], {
    op: 'BatchNormalization', weights: [{ dims: [64], scale: 0.2, offset: 1 }, { dims: [64], scale: 0.1 }, { dims: [64], scale: 0.1 }, { dims: [64], scale: 0.2, offset: 1 }],
  }, 4);
  // windows reduced element by element with a fractional power (LRN)
  for (const s of [[1, 16, 28, 28], [1, 64, 56, 56]]) add(`LRN 5 ${s.join('x')}`, 'reduce', 'chain', s, { op: 'LRN', attrs: { size: 5, alpha: 1e-4, beta: 0.75, bias: { type: 'float', value: 1 } } }, 3);
  // streaming: pools, reductions, copies
  for (const s of [[1, 64, 112, 112], [1, 256, 28, 28]]) add(`MaxPool 3x3/2 ${s.join('x')}`, 'copy', 'fan', s, { op: 'MaxPool', attrs: { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] } }, 4);
  add('AveragePool 3x3 1x256x28x28', 'copy', 'chain', [1, 256, 28, 28], { op: 'AveragePool', attrs: { kernel_shape: [3, 3], pads: [1, 1, 1, 1] } }, 4);
  add('GlobalAveragePool 1x1024x14x14', 'copy', 'fan', [1, 1024, 14, 14], { op: 'GlobalAveragePool' }, 4);
  add('ReduceMean 1x256x28x28', 'copy', 'fan', [1, 256, 28, 28], { op: 'ReduceMean', attrs: { axes: [2, 3], keepdims: 1 } }, 4);
  for (const s of [[1, 64, 28, 28], [1, 64, 112, 112]]) add(`Transpose ${s.join('x')}`, 'copy', 'fan', s, { op: 'Transpose', attrs: { perm: [0, 2, 3, 1] } }, 3, true);
  for (const s of [[1, 64, 28, 28], [1, 128, 56, 56]]) add(`Concat ${s.join('x')} + same`, 'copy', 'fan', s, { op: 'Concat', attrs: { axis: 1 }, weights: [{ dims: s }] }, 3, true);
  add('Resize nearest x2 1x64x56x56', 'copy', 'fan', [1, 64, 56, 56], {
    op: 'Resize', attrs: { mode: 'nearest', coordinate_transformation_mode: 'asymmetric', nearest_mode: 'floor' }, extra: (b) => ['', b.initializer('resize_scales', Float32Array.from([1, 1, 2, 2]), [4])],
  }, 3, true);
  return out;
}

/** A smaller set for a GPU (a software adapter is slow, and placement only needs the orders of magnitude). */
export function gpuBenches(): Bench[] {
  const keep = new Set(['Relu 1x16 (dispatch)', 'Add 1x128 (dispatch)', 'conv 3x3 64ch 56x56', 'conv 1x1 256ch 28x28', 'depthwise 3x3 128ch 56x56', 'matmul 256x256x256', 'matmul 512x512x512', 'gemm 1x1024x1024 (batch 1)', 'Relu 1x64x56x56', 'Add 1x64x112x112 + 1x64x112x112', 'MaxPool 3x3/2 1x256x28x28', 'Softmax 1x64x56x56', 'Transpose 1x64x28x28', 'LRN 5 1x16x28x28']);
  return cpuBenches().filter((b) => keep.has(b.name)).map((b) => (b.fits === 'dispatch' ? { ...b, K: 11 } : { ...b, K: Math.min(b.K, 3) }));
}

// ---- timing on a shared machine --------------------------------------------------------------------

interface CpuSample { busy: number; own: number; wall: number }

/** CPU time other processes used, from /proc/stat (Linux; undefined elsewhere). */
function cpuSample(): CpuSample | undefined {
  try {
    const f = readFileSync('/proc/stat', 'utf8');
    const c = f.slice(0, f.indexOf('\n')).trim().split(/\s+/).slice(1).map(Number);
    const own = process.cpuUsage();
    return { busy: (c[0] + c[1] + c[2] + c[5] + c[6] + (c[7] ?? 0)) * 10_000, own: own.user + own.system, wall: performance.now() * 1000 };
  } catch {
    return undefined;
  }
}

/** Share of all cores other processes used between two samples (0 when unknown). */
function foreignLoad(a: CpuSample | undefined, b: CpuSample | undefined): number {
  if (!a || !b || b.wall - a.wall < 20_000) return 0; // /proc/stat counts in 10 ms ticks
  return Math.max(0, (b.busy - a.busy - (b.own - a.own)) / ((b.wall - a.wall) * availableParallelism()));
}

const sleep = (ms: number) => new Promise((res) => setTimeout(res, ms));

/** Waits (at most `maxMs`) for two 200 ms windows in a row in which other processes used less than `below` of the cores. */
async function waitQuiet(below: number, maxMs: number): Promise<void> {
  const t0 = performance.now();
  let quiet = 0;
  while (quiet < 2 && performance.now() - t0 < maxMs) {
    const a = cpuSample();
    await sleep(200);
    const b = cpuSample();
    if (!a || !b) return;
    quiet = foreignLoad(a, b) < below ? quiet + 1 : 0;
  }
}

const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
};

interface Timing { us: number; runs: number; load: number }

/**
 * Times sessions in turns of at least `blockMs` each (one session per turn, after an untimed run: a
 * second session's spinning threads would slow a run on few cores), `rounds` turns per session, the
 * first turn going to session `first` and each round starting one later (so no session always goes
 * first). A turn during which other processes kept the cores busy is retried after a quiet moment (a
 * few times, and not past `deadline`, a performance.now() time). The lower quartile of the runs is the
 * figure: load from elsewhere only ever adds time. A turn runs at least twice (a heavy benchmark's runs
 * last longer than a turn).
 */
async function timeSessions(runs: (() => Promise<unknown>)[], blockMs: number, rounds: number, deadline = Infinity, first = 0): Promise<Timing[]> {
  const times = runs.map(() => [] as number[]);
  const loads = runs.map(() => [] as number[]);
  for (let r = 0; r < rounds; r++) {
    for (let turn = 0; turn < runs.length; turn++) {
      const j = (turn + first + r) % runs.length;
      for (let attempt = 0; ; attempt++) {
        await runs[j]();
        const a = cpuSample();
        const block: number[] = [];
        const t0 = performance.now();
        while (block.length < 2 || (performance.now() - t0 < blockMs && block.length < 2000)) {
          const t = performance.now();
          await runs[j]();
          block.push((performance.now() - t) * 1000);
        }
        const load = foreignLoad(a, cpuSample());
        if (load > 0.15 && attempt < 4 && performance.now() < deadline) {
          await waitQuiet(0.15, Math.min(5000, deadline - performance.now()));
          continue;
        }
        times[j].push(...block);
        loads[j].push(load);
        break;
      }
    }
  }
  return times.map((t, j) => ({ us: quantile(t, 0.25), runs: t.length, load: loads[j].reduce((a, x) => a + x, 0) / loads[j].length }));
}

// ---- fitting ---------------------------------------------------------------------------------------

/** A measured benchmark with its graphs, for fitting through the cost model. */
export interface Sample {
  name: string;
  fits: Fits;
  K: number;
  one: ShapedGraph;
  many: ShapedGraph;
  /** Measured time of one copy (µs) and of the whole model with one copy. */
  us: number;
  oneUs: number;
}

/** The cost model's time of one copy: the difference between the two graphs' nodes, over K − 1. */
export function predictedCopyUs(proc: Processor, s: Pick<Sample, 'one' | 'many' | 'K'>): number {
  const sum = (g: ShapedGraph) => g.nodes.reduce((a, _, i) => a + nodeUs(proc, g, i), 0);
  return (sum(s.many) - sum(s.one)) / (s.K - 1);
}

type Knob = { get: (p: Processor) => number; set: (p: Processor, v: number) => void; lo: number; hi: number };

const figure = (value: number, source: string): Figure => ({ value: Number(value.toPrecision(3)), source });

function effKnob(cls: EffClass, lo: number, hi: number): Knob {
  return {
    get: (p) => p.efficiency?.[cls]?.value ?? 1,
    set: (p, v) => { p.efficiency![cls] = { value: v, source: '' }; },
    lo, hi,
  };
}

/** Sum of absolute log errors of the cost model on the samples (robust to the odd sample a busy moment spoiled). */
function loss(proc: Processor, samples: Sample[]): number {
  let e = 0;
  for (const s of samples) {
    const p = predictedCopyUs(proc, s);
    e += Math.abs(Math.log(Math.max(p, 1e-3) / Math.max(s.us, 1e-3)));
  }
  return e;
}

/**
 * Coordinate descent in log space, a few sweeps: per knob, a coarse scan over its range, then a
 * golden-section search between the best point's neighbours (the loss is flat where another term of the
 * roofline dominates, which a golden section alone would wander into).
 */
function fitKnobs(proc: Processor, knobs: Knob[], samples: Sample[]): void {
  if (!samples.length) return;
  const g = (Math.sqrt(5) - 1) / 2;
  const STEPS = 24;
  for (let sweep = 0; sweep < 4; sweep++) {
    for (const k of knobs) {
      const start = k.get(proc);
      const at = (x: number) => { k.set(proc, Math.exp(x)); return loss(proc, samples); };
      const lo = Math.log(k.lo), hi = Math.log(k.hi), step = (hi - lo) / STEPS;
      let bestX = Math.log(start), bestF = at(bestX);
      let grid = -1;
      for (let i = 0; i <= STEPS; i++) {
        const f = at(lo + i * step);
        if (f < bestF) { bestF = f; bestX = lo + i * step; grid = i; }
      }
      let a = grid >= 0 ? Math.max(lo, bestX - step) : Math.max(lo, bestX - step / 2), b = grid >= 0 ? Math.min(hi, bestX + step) : Math.min(hi, bestX + step / 2);
      let c = b - g * (b - a), d = a + g * (b - a);
      let fc = at(c), fd = at(d);
      for (let i = 0; i < 30; i++) {
        if (fc <= fd) { b = d; d = c; fd = fc; c = b - g * (b - a); fc = at(c); }
        else { a = c; c = d; fc = fd; d = a + g * (b - a); fd = at(d); }
      }
      const x = fc <= fd ? c : d, f = Math.min(fc, fd);
      k.set(proc, Math.exp(f < bestF ? x : bestX));
    }
  }
}

/** A fitted processor's figures in one line. */
export function fittedSummary(p: Figures): string {
  const eff = Object.entries(p.efficiency ?? {}).map(([k, v]) => `${k} ${v.value}`).join(', ');
  const cache = p.cacheBandwidthGBs ? ` (${p.cacheBandwidthGBs.value} GB/s within ${((p.cacheBytes?.value ?? 0) / 2 ** 20).toFixed(0)} MB of cache)` : '';
  const setups = Object.entries(p.kernelSetupUs ?? {}).map(([op, f]) => `${op} ${f.value} µs`).join(', ');
  const fixed = `${p.convGroupUs ? `, per group of a grouped convolution run group by group ${p.convGroupUs.value} µs` : ''}${setups ? `, kernel set-up ${setups}` : ''}`;
  return `peak ${p.peakGflops.float32?.value} GFLOP/s, bandwidth ${p.bandwidthGBs.value} GB/s${cache}, launch ${p.launchOverheadUs.value} µs${p.tensorIoUs ? ` (${p.tensorIoUs.value} µs each tensor in or out beyond one of each)` : ''}, per node ${p.nodeOverheadUs?.value ?? 0} µs${fixed}; efficiency ${eff}`;
}

/** The op a benchmark times: its first node (a benchmark builds its op's copies first, then the nodes cutting outputs down). */
function benchOp(g: ShapedGraph): string {
  return g.nodes[0]?.op ?? '?';
}

/** The groups of the convolution a benchmark times. */
function convGroups(g: ShapedGraph): number {
  const conv = g.nodes.find((n) => n.op === 'Conv');
  return Math.max(1, conv?.attrs.group?.type === 'int' ? conv.attrs.group.value : 1);
}

/** The size of the caches a node's working set can stay in: the L2s of all cores (sysfs), else 1 MB. */
export function cacheBytesOfHost(): { bytes: number; source: string } {
  try {
    const seen = new Set<string>();
    let total = 0;
    for (const cpu of readdirSync('/sys/devices/system/cpu').filter((d) => /^cpu\d+$/.test(d))) {
      const dir = `/sys/devices/system/cpu/${cpu}/cache`;
      if (!existsSync(dir)) continue;
      for (const idx of readdirSync(dir).filter((d) => d.startsWith('index'))) {
        const read = (f: string) => readFileSync(`${dir}/${idx}/${f}`, 'utf8').trim();
        if (read('level') !== '2' || read('type') === 'Instruction') continue;
        const shared = read('shared_cpu_list');
        if (seen.has(shared)) continue;
        seen.add(shared);
        const m = /^(\d+)([KMG]?)$/.exec(read('size'));
        if (m) total += Number(m[1]) * { '': 1, K: 1024, M: 1 << 20, G: 1 << 30 }[m[2] as '' | 'K' | 'M' | 'G'];
      }
    }
    if (total > 0) return { bytes: total, source: `this host's level-2 caches, all cores (${seen.size} × ${total / seen.size / 1024} KB, from /sys/devices/system/cpu)` };
  } catch {
    // not Linux: the assumption below
  }
  return { bytes: 1 << 20, source: 'assumed: working sets up to 1 MB stay in cache (L2) on current CPUs' };
}

/**
 * The fixed costs a roofline does not see, with the processor's other figures held: the per-node dispatch
 * (fitted through the cost model on the small-node chains), then what the fitted model leaves unexplained
 * of the grouped-convolution benchmarks, per group (when the engine runs groups one by one), and of the
 * set-up ones, per node of their op.
 */
function fitFixedCosts(fitted: Processor, samples: Sample[], src: (what: string) => string, groupCalls: boolean): Pick<Processor, 'nodeOverheadUs' | 'convGroupUs' | 'kernelSetupUs'> {
  const proc = structuredClone(fitted);
  delete proc.convGroupUs;
  delete proc.kernelSetupUs;
  const byFit = (f: Fits) => samples.filter((s) => s.fits === f);
  const names = (f: Fits) => byFit(f).map((s) => s.name).join(', ');
  const node: Knob = { get: (p) => p.nodeOverheadUs!.value, set: (p, v) => { p.nodeOverheadUs!.value = v; }, lo: 0.01, hi: 200 };
  proc.nodeOverheadUs = { value: proc.nodeOverheadUs?.value ?? 0.3, source: '' };
  fitKnobs(proc, [node], byFit('dispatch'));
  const perGroup = (groupCalls ? byFit('group') : []).map((s) => Math.max(0, s.us - predictedCopyUs(proc, s)) / convGroups(s.one));
  const setups = byFit('setup').map((s) => [benchOp(s.one), figure(Math.max(0, s.us - predictedCopyUs(proc, s)), src(`${s.name}: its time less the fitted model's, fitted through the cost model`))] as const);
  return {
    nodeOverheadUs: figure(proc.nodeOverheadUs.value, src(`${names('dispatch')}: one more node in a chain of small ones, less its work, fitted through the cost model`)),
    ...(perGroup.length ? { convGroupUs: figure(quantile(perGroup, 0.5), src(`${names('group')}: its time less the fitted model's, over its groups`)) } : {}),
    ...(setups.length ? { kernelSetupUs: Object.fromEntries(setups) } : {}),
  };
}

/**
 * Fits a processor's figures to measured samples through the cost model (sum of absolute log errors,
 * coordinate descent): the per-node dispatch from the small-node chains; the peak as the better of the
 * median rates of dense convolutions and of compute-bound matrix products, efficiencies as fractions of it
 * (arithmetic classes) or of the bandwidth (streaming ones); the bandwidths, in and beyond the cache, with
 * the elementwise ops, then everything together (a batch-1 matrix product streams its weights at the
 * bandwidth too). `cache` is the cache level to model (none for a GPU). The launch is set by the caller.
 */
export function fitProcessor(base: Processor, samples: Sample[], src: (what: string) => string, cache?: { bytes: number; source: string }): Processor {
  const proc: Processor = structuredClone(base);
  const byFit = (f: Fits) => samples.filter((s) => s.fits === f);
  const names = (f: Fits) => byFit(f).map((s) => s.name).join(', ');
  const dispatch = byFit('dispatch');
  proc.nodeOverheadUs = { value: dispatch.length ? Math.max(0.01, quantile(dispatch.map((s) => s.us), 0.5)) : 0, source: '' };
  const perNode = proc.nodeOverheadUs.value;
  const compute = samples.filter((s) => s.fits === 'matmul' || s.fits === 'conv');
  // the rate of the convolutions and matrix products in the benchmark (not the slices cutting its outputs)
  const isProduct = (g: ShapedGraph, i: number) => ['conv', 'dwconv', 'matmul'].includes(opClass(g, g.nodes[i]));
  const rate = (s: Sample) => s.one.nodes.reduce((a, _, i) => a + (isProduct(s.one, i) ? nodeWork(s.one, i).flops : 0), 0) / (Math.max(s.us - perNode, 1e-3) * 1e3);
  const bound = (s: Sample) => !/batch 1/.test(s.name);
  const medians = (['conv', 'matmul'] as const).map((c) => compute.filter((s) => s.fits === c && bound(s)).map(rate)).filter((r) => r.length).map((r) => quantile(r, 0.5));
  const peak = Math.max(1e-3, ...medians);
  proc.peakGflops = { float32: { value: peak, source: '' } };
  proc.bandwidthGBs = { value: 20, source: '' };
  if (cache) {
    proc.cacheBytes = { value: cache.bytes, source: cache.source };
    proc.cacheBandwidthGBs = { value: 50, source: '' };
  } else {
    delete proc.cacheBytes;
    delete proc.cacheBandwidthGBs;
  }
  const unit = () => ({ value: 1, source: '' });
  proc.efficiency = { conv: unit(), dwconv: unit(), matmul: unit(), elementwise: unit(), reduce: unit(), copy: unit() };
  const bw: Knob = { get: (p) => p.bandwidthGBs.value, set: (p, v) => { p.bandwidthGBs.value = v; }, lo: 0.05, hi: 2000 };
  const cbw: Knob[] = cache ? [{ get: (p) => p.cacheBandwidthGBs!.value, set: (p, v) => { p.cacheBandwidthGBs!.value = v; }, lo: 0.05, hi: 5000 }] : [];
  const hi = (c: EffClass) => (c === 'copy' ? 20 : 1.5);
  const lo = (c: EffClass) => (c === 'reduce' ? 1e-6 : 1e-4);
  // each class on its own benchmarks first, then all together
  fitKnobs(proc, [bw, ...cbw, effKnob('elementwise', lo('elementwise'), hi('elementwise'))], byFit('elementwise'));
  if (cache && proc.cacheBandwidthGBs!.value < proc.bandwidthGBs.value) proc.cacheBandwidthGBs!.value = proc.bandwidthGBs.value;
  const classes = ['matmul', 'conv', 'dwconv', 'reduce', 'copy'] as const;
  for (const c of classes) fitKnobs(proc, [effKnob(c, lo(c), hi(c))], byFit(c));
  fitKnobs(proc, [bw, ...cbw, ...(['elementwise', ...classes] as const).map((c) => effKnob(c, lo(c), hi(c)))], samples.filter((s) => (classes as readonly string[]).includes(s.fits) || s.fits === 'elementwise'));
  const fixed = fitFixedCosts(proc, samples, src, !!engineCost(base)?.groupCalls);
  const eff = proc.efficiency!;
  const e = (c: EffClass, what: string) => figure(eff[c]!.value, src(`${names(c) || 'no benchmark'}: ${what}, fitted through the cost model`));
  return {
    ...proc,
    peakGflops: { float32: figure(peak, src('the better of the median rates of the dense convolutions and of the compute-bound matrix products')) },
    bandwidthGBs: figure(proc.bandwidthGBs.value, src(`${names('elementwise')} and the batch-1 matrix products: working sets beyond the cache, fitted through the cost model with every benchmark`)),
    ...(cache ? {
      cacheBytes: { value: cache.bytes, source: cache.source },
      cacheBandwidthGBs: figure(proc.cacheBandwidthGBs!.value, src(`${names('elementwise')}: working sets within the cache, fitted through the cost model`)),
    } : {}),
    ...fixed,
    efficiency: {
      conv: e('conv', 'fraction of the peak'), dwconv: e('dwconv', 'fraction of the peak'), matmul: e('matmul', 'fraction of the peak'),
      elementwise: e('elementwise', 'fraction of the peak their arithmetic reaches (they define the bandwidths)'),
      reduce: e('reduce', 'fraction of the peak their arithmetic reaches'), copy: e('copy', 'fraction of the bandwidth'),
    },
  };
}

// ---- the calibration -------------------------------------------------------------------------------

export interface CalibrateOptions {
  /** Include the WebGPU EP when an adapter exists (default true). */
  gpu?: boolean;
  /** Also measure onnxruntime-web's wasm backend and TensorFlow.js, the figures the CPU takes when bound to them (default true). */
  wasm?: boolean;
  tfjs?: boolean;
  /** Time spent timing each benchmark, in ms (default 400; the GPU's take half of it), spread over the rounds. */
  minMs?: number;
  /**
   * Rounds (default 3): every benchmark is timed once a round, round-robin, and its figure is the median
   * over rounds, so that this machine's speed drifting over the calibration spoils one round, not the figure.
   */
  rounds?: number;
  /** After this many ms, timing stops waiting for quiet moments on a busy machine (default 90 000). */
  budgetMs?: number;
  /** Called before each benchmark: done, total, what. */
  progress?: (done: number, total: number, what: string) => void;
  /**
   * Where to measure the storage's read bandwidth (memory.storageReadGBs, read cold: runtime/storage-read.ts):
   * a file to read (a model's weights), or a directory to write a 512 MB scratch file in — on the storage
   * the models live on. Default: the directory of the host profile (calibratedHostPath); false: not measured.
   */
  storage?: string | false;
}

export interface Measurement {
  /** What ran it: 'cpu' and 'webgpu' (onnxruntime-node's EPs), 'wasm' (onnxruntime-web), 'tfjs'. */
  provider: string;
  bench: string;
  /** One copy of the benchmark's op, µs: per round the lower quartile of the runs, differenced over k; the median over rounds. */
  medianUs: number;
  /** (largest − smallest) / median of the per-round times, when there were several rounds. */
  spread?: number;
  gflops: number;
  gbs: number;
  /** What the fitted cost model predicts for it, µs. */
  predictedUs?: number;
  /** Share of the cores other processes used while it was timed (0–1). */
  load?: number;
}

async function shaped(bytes: Uint8Array): Promise<ShapedGraph> {
  return inferShapes(importOnnx(bytes), {});
}

function feedsFor(inputs: Record<string, number[]>): Record<string, ort.Tensor> {
  return Object.fromEntries(Object.entries(inputs).map(([name, dims], i) => [name, new ort.Tensor('float32', values(prod(dims), 1, 0, 31 + i), dims)]));
}

type Model = { bytes: Uint8Array; feeds: Record<string, ort.Tensor> };
/** Models loaded to be timed: one run function each, released together. */
interface Loaded { runs: (() => Promise<unknown>)[]; release: () => Promise<void> }
/** Loads models to be timed in turns (see `timeSessions`), each loaded once. */
type Loader = (models: Model[]) => Promise<Loaded>;

/** Loads one after the other, releasing what was loaded when one fails. */
async function loadAll<T>(models: Model[], load: (m: Model, j: number) => Promise<T>, run: (x: T, j: number) => Promise<unknown>, release: (x: T) => Promise<void>): Promise<Loaded> {
  const done: T[] = [];
  const releaseAll = async () => { for (const x of done.splice(0)) await release(x); };
  try {
    for (const [j, m] of models.entries()) done.push(await load(m, j));
  } catch (err) {
    await releaseAll();
    throw err;
  }
  return { runs: done.map((x, j) => () => run(x, j)), release: releaseAll };
}

/** On onnxruntime-node, each model in its own session with these options. */
function onOrt(how: ort.InferenceSession.SessionOptions): Loader {
  return (models) => loadAll(models, (m) => ort.InferenceSession.create(m.bytes, how), (s, j) => s.run(models[j].feeds), (s) => s.release());
}

/** Through a backend's own compile and run, exactly as a partition bound to it runs. */
function onBackend(backend: Backend): Loader {
  return (models) => loadAll(models, (m, j) => {
    const g = importOnnx(m.bytes);
    return backend.compile({ name: `calibration model ${j}`, onnx: m.bytes, inputs: g.inputs, outputs: g.outputs });
  }, (e: Executable, j) => e.run(models[j].feeds), (e) => e.dispose());
}

/** Whether a backend takes every node of a model (onnxruntime-node's EPs take all of them). */
function takes(backend: Backend | undefined, g: ShapedGraph): boolean {
  return !backend || g.nodes.every((n) => backend.supports(n, g).ok);
}

const CPU: ort.InferenceSession.SessionOptions = { executionProviders: ['cpu'], logSeverityLevel: 4 };

/** Models with 1 and 5 inputs (summed into one output) and with 1 and 5 outputs (Relus of one input). */
function ioModels(): Model[] {
  const model = (inputs: number, outputs: number) => {
    const b = new GraphBuilder(`io_${inputs}_${outputs}`);
    const shapes: Record<string, number[]> = {};
    const xs = Array.from({ length: inputs }, (_, i) => {
      shapes[`x${i}`] = [1, 16];
      return b.input(`x${i}`, 'float32', [1, 16]);
    });
    const x = inputs > 1 ? b.node('Sum', xs, 's') : xs[0];
    for (let i = 0; i < outputs; i++) b.output(b.node('Relu', [x], `y${i}`), 'float32');
    return { bytes: b.toBytes(), feeds: feedsFor(shapes) };
  };
  return [model(1, 1), model(5, 1), model(1, 5)];
}

/** The cost of one more tensor a launch takes in or gives back: the `ioModels` timed (µs), less what their nodes cost. */
function tensorIoUs(proc: Processor, graphs: ShapedGraph[], us: number[]): number {
  const nodes = graphs.map((g) => g.nodes.reduce((a, _, i) => a + nodeUs(proc, g, i), 0));
  const extra = (j: number) => (us[j] - nodes[j] - (us[0] - nodes[0])) / 4;
  return Math.max(0, (extra(1) + extra(2)) / 2);
}

/** A Relu inside an If (the same Relu in both branches) and the Relu alone. */
function ifModels(): Model[] {
  const model = (wrapped: boolean) => {
    const b = new GraphBuilder(wrapped ? 'if' : 'flat');
    const x = b.input('x', 'float32', [1, 16]);
    b.input('c', 'bool', []);
    if (!wrapped) b.output(b.node('Relu', [x], 'y'), 'float32');
    else {
      const branch = (name: string) => {
        const g = new GraphBuilder(name);
        g.output(g.node('Relu', [x], `${name}_y`), 'float32');
        return { type: 'graph' as const, value: fromBinary(ModelProtoSchema, g.toBytes()).graph! };
      };
      b.output(b.node('If', ['c'], 'y', { then_branch: branch('then'), else_branch: branch('else') }), 'float32');
    }
    return b.toBytes();
  };
  const feeds = { ...feedsFor({ x: [1, 16] }), c: new ort.Tensor('bool', [true], []) };
  return [model(false), model(true)].map((bytes) => ({ bytes, feeds }));
}

/** The set-up of an If: the `ifModels` timed (µs), the wrapped Relu against the Relu alone, less one node's dispatch. */
function ifSetupUs(proc: Processor, us: number[]): number {
  return Math.max(0, us[1] - us[0] - (proc.nodeOverheadUs?.value ?? 0));
}

/**
 * Sets a fitted processor's launch — a run of the one-node model of the first dispatch benchmark, less its
 * nodes — and the fixed costs timed beside the benchmarks (`io`: one more tensor in or out; `if`: an If's
 * set-up), from round r's times or, without r, the median over rounds (each round's times less what the
 * fitted nodes cost).
 */
function fitLaunchCosts(proc: Processor, samples: Sample[], items: Item[], src: (what: string) => string, r?: number): void {
  const d = samples.find((s) => s.fits === 'dispatch')!;
  proc.launchOverheadUs = figure(Math.max(0.1, d.oneUs - d.one.nodes.reduce((a, _, i) => a + nodeUs(proc, d.one, i), 0)), src(`a run of the one-node model of '${d.name}', less its nodes`));
  const per = (item: Item, f: (us: number[]) => number) => (r === undefined ? median(item.us.map(f)) : f(item.us[r]));
  const io = items.find((i) => i.kind === 'io'), ifs = items.find((i) => i.kind === 'if');
  if (io) proc.tensorIoUs = figure(per(io, (us) => tensorIoUs(proc, io.graphs, us)), src('a run of a model with 5 inputs against 1, and with 5 outputs against 1, less their nodes: the mean cost of one more tensor'));
  if (ifs) proc.kernelSetupUs = { ...proc.kernelSetupUs, If: figure(per(ifs, (us) => ifSetupUs(proc, us)), src('a run of a Relu inside an If against the Relu alone: running a subgraph')) };
}

/** The benchmark's models as an item to time in rounds (undefined when the loader cannot run it). */
async function benchItem(bench: Bench, load: Loader | undefined, backend?: Backend): Promise<Item | undefined> {
  const one = buildBench(bench, 1), many = buildBench(bench, bench.K);
  const oneGraph = await shaped(one.bytes);
  if (!load || !takes(backend, oneGraph)) return undefined;
  return { what: bench.name, kind: 'bench', bench, load, models: [one, many].map((m) => ({ bytes: m.bytes, feeds: feedsFor(m.inputs) })), graphs: [oneGraph, await shaped(many.bytes)], us: [], loads: [] };
}

/** The fixed-cost items: one more tensor in or out of a launch, and an If around one node (when the backend takes an If). */
async function fixedItems(load: Loader, backend?: Backend): Promise<Item[]> {
  const io = ioModels(), ifs = ifModels();
  const ifGraphs = await Promise.all(ifs.map((m) => shaped(m.bytes)));
  return [
    { what: 'tensors in and out of a launch', kind: 'io', load, models: io, graphs: await Promise.all(io.map((m) => shaped(m.bytes))), us: [], loads: [] },
    ...(takes(backend, ifGraphs[1]) ? [{ what: 'an If around one node', kind: 'if' as const, load, models: ifs, graphs: ifGraphs, us: [], loads: [] }] : []),
  ];
}

/** Times each item once (one round): its models take turns, the first turn going to model `r` (mod their number). */
async function timeRound(items: Item[], r: number, blockMs: number, deadline: number): Promise<void> {
  for (const item of items) {
    item.loaded ??= await item.load(item.models);
    const t = await timeSessions(item.loaded.runs, blockMs, 1, deadline, r);
    item.us.push(t.map((x) => x.us));
    item.loads.push(t.reduce((a, x) => a + x.load, 0) / t.length);
  }
}

/** Re-times the fixed costs of a calibrated processor on onnxruntime's CPU EP, in rounds, to refit them (`fixedCostProbe`). */
export interface FixedCostProbe {
  /** Times every fixed-cost benchmark once more: one round. */
  round(): Promise<void>;
  /** The processor with its launch, per-tensor, per-node, per-group and set-up figures refitted to the median over the rounds so far, its other figures as calibrated. */
  refit(): Processor;
  /** Releases the benchmarks' sessions. */
  release(): Promise<void>;
}

/**
 * The fixed costs — launch, each tensor in or out, per node, per group, kernel set-ups — dominate models of
 * a few hundred µs, and they drift with this machine's speed: this re-times the benchmarks that define them
 * (the small-node chains, the 1-D depthwise convolution, the one-step LSTM and GRU, more tensors, an If) on
 * onnxruntime's CPU EP whenever `round` is called — between the runs a caller measures — and `refit`
 * fits them again through the cost model with the processor's other figures held. `note` says where in the
 * sources; a round waits for quiet moments on a busy machine `waitMs` at most (default 5 s).
 */
export async function fixedCostProbe(proc: Processor, note: string, options: { minMs?: number; waitMs?: number } = {}): Promise<FixedCostProbe> {
  const load = onOrt(CPU);
  const items: Item[] = [];
  for (const bench of cpuBenches().filter((b) => b.fits === 'dispatch' || b.fits === 'group' || b.fits === 'setup')) {
    const item = await benchItem(bench, bench.plain ? undefined : load);
    if (item) items.push(item);
  }
  items.push(...(await fixedItems(load)));
  const blockMs = (options.minMs ?? 400) / 2 / 3;
  const date = new Date().toISOString().slice(0, 10);
  const src = (what: string) => `measured ${date} ${note}: ${what}`;
  return {
    // a round waits for quiet moments at most waitMs in all (default 5 s): the caller's own timing waits for them
    round: () => timeRound(items, items[0].us.length, blockMs, performance.now() + (options.waitMs ?? 5000)),
    refit: () => {
      if (!items[0].us.length) throw new TesseraError('BACKEND_FAILED', 'refitting the fixed costs: no round was timed');
      const samples = items.filter((i) => i.kind === 'bench').map((i) => sampleOf(i));
      const p: Processor = { ...structuredClone(proc), ...fitFixedCosts(proc, samples, src, !!engineCost(proc)?.groupCalls) };
      fitLaunchCosts(p, samples, items, src);
      return p;
    },
    release: async () => { for (const i of items) await i.loaded?.release(); },
  };
}

/** What calibration measures: a backend, how it times a benchmark (none: it cannot run it as asked), and the processor it fits. */
interface Engine {
  provider: string;
  /** Set for backends reached through Tessera's Backend interface, whose op tables decide which benchmarks run. */
  backend?: Backend;
  timer: (bench: Bench) => Loader | undefined;
  benches: Bench[];
  base: Processor;
  isGpu: boolean;
}

/** Timed in every round: a benchmark's one- and K-copy models, or the models of a fixed cost (`ioModels`, `ifModels`). */
interface Item {
  what: string;
  kind: 'bench' | 'io' | 'if';
  bench?: Bench;
  models: Model[];
  graphs: ShapedGraph[];
  load: Loader;
  loaded?: Loaded;
  /** Per round, each model's time (µs: the lower quartile of its turn's runs), and the load from elsewhere during the round's turns. */
  us: number[][];
  loads: number[];
}

const median = (xs: number[]) => quantile(xs, 0.5);

/** The per-round times of a benchmark as a sample for the fit: one copy's time (K copies less one, over K − 1) of round `r`, or the medians over rounds. */
function sampleOf(item: Item, r?: number): Sample {
  const b = item.bench!;
  const copy = item.us.map((t) => Math.max(1e-3, (t[1] - t[0]) / (b.K - 1)));
  const one = item.us.map((t) => t[0]);
  return { name: b.name, fits: b.fits, K: b.K, one: item.graphs[0], many: item.graphs[1], us: r === undefined ? median(copy) : copy[r], oneUs: r === undefined ? median(one) : one[r] };
}

/** The spread of a benchmark over rounds: (largest − smallest) / median of its per-round time of one copy. */
function spreadOf(item: Item): number {
  const copy = item.us.map((t) => Math.max(1e-3, (t[1] - t[0]) / (item.bench!.K - 1)));
  return (Math.max(...copy) - Math.min(...copy)) / median(copy);
}

/**
 * Appends to each fitted figure's source how far the figure moved over the rounds: what each round's
 * times alone fit (the figure itself is fitted to the median over rounds of each benchmark's time).
 */
function withSpread(proc: Processor, rounds: Processor[]): Processor {
  if (rounds.length < 2) return proc;
  const note = (f: Figure, get: (p: Processor) => Figure | undefined): Figure => {
    const xs = rounds.map(get).filter((x): x is Figure => !!x).map((x) => x.value);
    if (xs.length < 2) return f;
    const lo = Math.min(...xs), hi = Math.max(...xs);
    return { ...f, source: `${f.source}; the median over ${rounds.length} interleaved rounds (each benchmark timed once a round, round-robin), each round alone fits ${Number(lo.toPrecision(3))}–${Number(hi.toPrecision(3))}` };
  };
  const out: Processor = { ...proc };
  const rec = out as unknown as Record<string, unknown>;
  for (const k of FIGURE_FIELDS) {
    const v = rec[k] as Figure | Record<string, Figure> | undefined;
    if (!v || k === 'cacheBytes') continue;
    const at = (p: Processor) => (p as unknown as Record<string, unknown>)[k] as Figure | Record<string, Figure> | undefined;
    if ('value' in v && typeof v.value === 'number') rec[k] = note(v as Figure, (p) => at(p) as Figure | undefined);
    else rec[k] = Object.fromEntries(Object.entries(v as Record<string, Figure>).map(([n, f]) => [n, note(f, (p) => (at(p) as Record<string, Figure> | undefined)?.[n])]));
  }
  return out;
}

/**
 * Fits a processor to benchmarks timed in rounds (`rounds[r][i]`: benchmark i in round r, the same
 * benchmarks in the same order each round): `fit` on the median over rounds of each benchmark's times,
 * each figure's source then giving what `fit` on each round alone gives (see `withSpread`).
 */
export function fitOverRounds(rounds: Sample[][], fit: (samples: Sample[], round?: number) => Processor): Processor {
  const mid = rounds[0].map((s, i) => ({ ...s, us: median(rounds.map((r) => r[i].us)), oneUs: median(rounds.map((r) => r[i].oneUs)) }));
  return withSpread(fit(mid), rounds.length > 1 ? rounds.map((ss, r) => fit(ss, r)) : []);
}

/** The figures of a fitted processor, without what it is (id, kind, name, backend, support). */
function figuresOf(p: Processor): Figures {
  return Object.fromEntries(Object.entries(p).filter(([k]) => FIGURE_FIELDS.includes(k))) as Figures;
}

/**
 * Measures this host and fits a target profile named `host`: the CPU EP (the `cpu` processor), the WebGPU
 * EP where an adapter exists (a `gpu` processor and its link), and onnxruntime-web's wasm backend and
 * TensorFlow.js, whose figures the `cpu` processor keeps under `backends` for plans compiled with it bound
 * to them. Each measures the same benchmarks, less those its op table refuses (and, on wasm, those that
 * need onnxruntime's graph optimizations off, which its sessions do not offer).
 */
export async function calibrateHost(options: CalibrateOptions = {}): Promise<{ target: Target; measurements: Measurement[]; skipped: string[] }> {
  const gpu = options.gpu !== false ? await probeWebGpu() : undefined;
  const cpuBase = (name: string, backend: string): Processor => ({
    id: 'cpu', kind: 'cpu', name, backend, ...archOf(), peakGflops: {}, bandwidthGBs: { value: 1, source: '' }, launchOverheadUs: { value: 0, source: '' },
    support: HOST_CPU_SUPPORT,
  });
  const engines: Engine[] = [{
    provider: 'cpu', timer: (b) => onOrt(b.plain ? { ...CPU, graphOptimizationLevel: 'disabled' } : CPU), benches: cpuBenches(), base: cpuBase(hostCpuName(), 'ort:cpu'), isGpu: false,
  }];
  if (gpu?.available) {
    const how: ort.InferenceSession.SessionOptions = { executionProviders: ['webgpu'], logSeverityLevel: 4 };
    engines.push({
      provider: 'webgpu', timer: (b) => onOrt(b.plain ? { ...how, graphOptimizationLevel: 'disabled' } : how), benches: gpuBenches(), isGpu: true,
      base: {
        id: 'gpu', kind: 'gpu', name: `WebGPU (${gpu.adapter})`, backend: 'ort:webgpu', peakGflops: {}, bandwidthGBs: { value: 1, source: '' }, launchOverheadUs: { value: 0, source: '' },
        support: WEBGPU_SUPPORT,
      },
    });
  }
  if (options.wasm !== false) {
    const { OrtWebBackend } = await import('../backends/ort-web.js');
    const wasm = new OrtWebBackend();
    if (await wasm.available()) engines.push({ provider: 'wasm', backend: wasm, timer: (b) => (b.plain ? undefined : onBackend(wasm)), benches: cpuBenches(), base: cpuBase(hostCpuName(), wasm.id), isGpu: false });
  }
  if (options.tfjs !== false) {
    const { TfjsBackend } = await import('../backends/tfjs.js');
    const tfjs = new TfjsBackend();
    if (await tfjs.available()) engines.push({ provider: 'tfjs', backend: tfjs, timer: () => onBackend(tfjs), benches: cpuBenches(), base: cpuBase(hostCpuName(), tfjs.id), isGpu: false });
  }
  const R = Math.max(1, Math.round(options.rounds ?? 3));
  let total = engines.reduce((a, e) => a + (e.benches.length + (e.isGpu ? 0 : 2)) * R + (e.isGpu ? 1 : 0), 0);
  let done = 0;
  const measurements: Measurement[] = [];
  const skipped: string[] = [];
  const processors: Processor[] = [];
  const date = new Date().toISOString().slice(0, 10);
  const cache = cacheBytesOfHost();
  const deadline = performance.now() + (options.budgetMs ?? 90_000);
  let linkGBs: number | undefined, linkLatencyUs: number | undefined;

  const measured = (through: string) => (what: string) => `measured by tessera calibrate on this host (${date})${through}: ${what}`;
  for (const { provider, backend, timer, benches, base, isGpu } of engines) {
    const src = measured(backend ? ` through ${provider}` : '');
    // each model's turns add up to the same time whatever the rounds: minMs a benchmark, half of it a GPU's
    const blockMs = (options.minMs ?? 400) / (isGpu ? 4 : 2) / R;
    const items: Item[] = [];
    for (const bench of benches) {
      const item = await benchItem(bench, timer(bench), backend);
      if (item) items.push(item);
      else total -= R;
    }
    if (!isGpu) {
      const fixed = await fixedItems(backend ? onBackend(backend) : onOrt(CPU), backend);
      items.push(...fixed);
      total -= (2 - fixed.length) * R;
    }
    // rounds: every item timed once a round, round-robin, so that the machine drifting over the calibration
    // moves each benchmark alike and a slow spell spoils one round of each, not all rounds of a few
    let live = items;
    try {
      for (let r = 0; r < R; r++) {
        for (const item of live) {
          options.progress?.(done++, total, `${item.what} on ${provider}${R > 1 ? ` (round ${r + 1}/${R})` : ''}`);
          try {
            // the models take turns, each round starting with the next one
            await timeRound([item], r, blockMs, deadline);
          } catch (err) {
            // a GPU EP that fails a benchmark (onnxruntime-web's WebGPU on some of the Conv ones: "dilations should be 2D"): fitted without it
            if (!isGpu) throw err;
            skipped.push(`${item.what} on ${provider}: ${(err instanceof Error ? err.message : String(err)).split('\n')[0]}`);
            total -= R - r - 1;
            item.us = [];
          }
        }
        live = live.filter((item) => item.us.length === r + 1);
      }
    } finally {
      for (const item of items) await item.loaded?.release();
    }
    const benchItems = live.filter((item) => item.kind === 'bench');
    const samples = benchItems.map((item) => sampleOf(item));
    // the launch: the one-copy model of the first dispatch benchmark (one Relu), less what its nodes cost
    const d = samples.find((s) => s.fits === 'dispatch');
    if (!d) throw new TesseraError('BACKEND_FAILED', `calibrating ${provider}: it ran none of the small-node benchmarks, so its launch and dispatch cannot be fitted`);
    // the fit to the medians over rounds, and to each round alone for the spread the sources give
    const fit = (ss: Sample[], r?: number): Processor => {
      const proc = fitProcessor(base, ss, src, isGpu ? undefined : cache);
      fitLaunchCosts(proc, ss, live, src, r);
      return proc;
    };
    const proc = fitOverRounds(Array.from({ length: R }, (_, r) => benchItems.map((item) => sampleOf(item, r))), fit);
    if (backend) processors[0].backends = { ...processors[0].backends, [backend.id]: figuresOf(proc) };
    else processors.push(proc);
    const meanLoad = (item: Item) => item.loads.reduce((a, x) => a + x, 0) / item.loads.length;
    for (const item of live.filter((i) => i.kind !== 'bench')) {
      const us = item.kind === 'io' ? proc.tensorIoUs!.value : proc.kernelSetupUs!.If.value;
      measurements.push({ provider, bench: item.kind === 'io' ? 'one more input or output tensor' : 'If around one Relu (set-up)', medianUs: us, gflops: 0, gbs: 0, load: meanLoad(item) });
    }
    benchItems.forEach((item, i) => {
      const s = samples[i];
      const w = s.one.nodes.length ? nodeWork(s.one, 0) : { flops: 0, bytes: 0 }; // the op itself (its one copy: the first node)
      measurements.push({ provider, bench: s.name, medianUs: s.us, gflops: w.flops / (s.us * 1e3), gbs: w.bytes / (s.us * 1e3), predictedUs: predictedCopyUs(proc, s), load: meanLoad(item), ...(R > 1 ? { spread: spreadOf(item) } : {}) });
    });
    if (isGpu) {
      // the link: a Relu on the GPU moves its input up and its output back
      options.progress?.(done++, total, 'cpu <-> webgpu copies');
      const n = 1 << 20;
      const b = new GraphBuilder('copy');
      const x = b.input('x', 'float32', [n]);
      b.output(b.node('Relu', [x], 'y'), 'float32');
      const loaded = await onOrt({ executionProviders: ['webgpu'], logSeverityLevel: 4 })([{ bytes: b.toBytes(), feeds: feedsFor({ x: [n] }) }]);
      let t: Timing[];
      try {
        t = await timeSessions(loaded.runs, (options.minMs ?? 400) / 8, 1);
      } finally {
        await loaded.release();
      }
      const compute = (4 * 2 * n) / (proc.bandwidthGBs.value * 1e3);
      linkLatencyUs = proc.launchOverheadUs.value / 2;
      linkGBs = (2 * 4 * n) / (Math.max(1, t[0].us - proc.launchOverheadUs.value - compute) * 1e3);
      measurements.push({ provider, bench: 'Relu 1M floats (up and back)', medianUs: t[0].us, gflops: 0, gbs: linkGBs, load: t[0].load });
    }
  }
  // the CPU's streaming read bandwidth (a decode step's weights), measured apart from the fitted figures
  options.progress?.(done, total, 'streaming read beyond the last-level cache');
  const stream = await measureStreamBandwidth();
  if (stream) processors[0].streamBandwidthGBs = figure(stream.gbs, measured('')(stream.source));
  options.progress?.(done, total, 'done');
  const links: Target['links'] = linkGBs
    ? [{ from: 'cpu', to: 'gpu', bandwidthGBs: figure(linkGBs, measured('')('1M floats up to the GPU and back, less compute and launch')), latencyUs: figure(linkLatencyUs!, measured('')('half a WebGPU launch')) }]
    : [];
  const others = Object.keys(processors[0].backends ?? {});
  const floor = measureMemoryFloor();
  // the storage's read bandwidth, cold (the file evicted from the page cache), as a streamed run reads weights
  let storage: Awaited<ReturnType<typeof measureStorageRead>> | undefined;
  if (options.storage !== false) {
    options.progress?.(done, total, 'storage read bandwidth (cold)');
    const at = options.storage ?? dirname(calibratedHostPath());
    storage = await measureStorageRead(existsSync(at) && statSync(at).isFile() ? { file: at } : { dir: at });
  }
  const memory: Target['memory'] = {
    ...(floor ? { floorBytes: { value: floor, source: `measured by tessera calibrate ${date}: peak resident bytes of a process running a one-node model through Tessera's runtime (the median of 3)` } } : {}),
    ...(storage?.coldGbs ? { storageReadGBs: figure(storage.coldGbs, measured('')(storage.source)) } : {}),
  };
  return {
    target: {
      format: 'tessera.target', version: 1, name: 'host',
      description: `this machine, calibrated ${date}: onnxruntime CPU EP${gpu?.available ? ` and WebGPU EP (${gpu.adapter}${gpu.software ? ', a software adapter' : ''})` : ''}${others.length ? `; the CPU also through ${others.join(' and ')}` : ''}`,
      processors, links,
      ...(Object.keys(memory).length ? { memory } : {}),
    },
    measurements,
    skipped,
  };
}

