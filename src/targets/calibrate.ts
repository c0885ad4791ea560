/**
 * Calibration: measure this host's real backends with micro-benchmarks (matmul, convolutions,
 * elementwise, reductions, copies, dispatch) and fit the figures of a target profile — peak rate,
 * bandwidth, per-class efficiency, per-node and per-launch overheads, link rates — that the cost model
 * uses. The result is a target profile others can pass to `--target`; `host` uses it when one exists.
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { probeWebGpu } from '../backends/webgpu.js';
import { GraphBuilder } from '../ir/builder.js';
import type { Figure, Processor, Target } from './schema.js';

/** Where `tessera calibrate` writes the host's profile by default, and where `host` looks for it. */
export function calibratedHostPath(): string {
  if (process.env.TESSERA_HOST_PROFILE) return process.env.TESSERA_HOST_PROFILE;
  return join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'tessera', 'host.json');
}

export function readCalibratedHost(): unknown | undefined {
  const path = calibratedHostPath();
  if (!existsSync(path)) return undefined;
  return JSON.parse(readFileSync(path, 'utf8'));
}

interface Bench {
  name: string;
  cls: 'matmul' | 'conv' | 'dwconv' | 'elementwise' | 'reduce' | 'copy' | 'dispatch' | 'launch';
  model: Uint8Array;
  feeds: () => Record<string, ort.Tensor>;
  flops: number;
  bytes: number;
}

/** Working sets at most this large are assumed to stay in cache. */
const CACHE_BYTES = 1 << 20;

const f32 = (n: number) => Float32Array.from({ length: n }, (_, i) => ((i * 7919) % 1000) / 1000 - 0.5);
const feed = (name: string, dims: number[]) => () => ({ [name]: new ort.Tensor('float32', f32(dims.reduce((a, b) => a * b, 1)), dims) });

function matmul(n: number): Bench {
  const b = new GraphBuilder('mm');
  const x = b.input('x', 'float32', [n, n]);
  const w = b.initializer('w', f32(n * n), [n, n]);
  b.output(b.node('MatMul', [x, w], 'y'), 'float32', [n, n]);
  return { name: `matmul ${n}x${n}`, cls: 'matmul', model: b.toBytes(), feeds: feed('x', [n, n]), flops: 2 * n ** 3, bytes: 3 * 4 * n * n };
}

function conv(c: number, hw: number, depthwise: boolean): Bench {
  const b = new GraphBuilder('conv');
  const x = b.input('x', 'float32', [1, c, hw, hw]);
  const w = b.initializer('w', f32(c * (depthwise ? 1 : c) * 9), [c, depthwise ? 1 : c, 3, 3]);
  b.output(b.node('Conv', [x, w], 'y', { pads: [1, 1, 1, 1], group: depthwise ? c : 1 }), 'float32');
  const out = c * hw * hw;
  return {
    name: `${depthwise ? 'depthwise ' : ''}conv3x3 ${c}ch ${hw}x${hw}`, cls: depthwise ? 'dwconv' : 'conv', model: b.toBytes(), feeds: feed('x', [1, c, hw, hw]),
    flops: 2 * out * 9 * (depthwise ? 1 : c), bytes: 4 * (2 * out + c * (depthwise ? 1 : c) * 9),
  };
}

function unary(op: string, n: number, cls: Bench['cls'], shape = [n]): Bench {
  const b = new GraphBuilder(op);
  const x = b.input('x', 'float32', shape);
  const attrs: Record<string, number | number[]> = op === 'ReduceMean' ? { axes: [2, 3], keepdims: 1 } : op === 'Transpose' ? { perm: [0, 2, 3, 1] } : {};
  b.output(b.node(op, [x], 'y', attrs), 'float32');
  const outN = op === 'ReduceMean' ? shape[0] * shape[1] : n;
  return { name: `${op} ${shape.join('x')}`, cls, model: b.toBytes(), feeds: feed('x', shape), flops: n, bytes: 4 * (n + outN) };
}

/** N tiny nodes in a chain: the time per node is the dispatch cost. */
function chain(k: number): Bench {
  const b = new GraphBuilder('chain');
  let x = b.input('x', 'float32', [1]);
  for (let i = 0; i < k; i++) x = b.node('Relu', [x], `r${i}`);
  b.output(x, 'float32', [1]);
  return { name: `${k} tiny nodes`, cls: 'dispatch', model: b.toBytes(), feeds: feed('x', [1]), flops: k, bytes: 8 * k };
}

async function timeIt(session: ort.InferenceSession, feeds: () => Record<string, ort.Tensor>, minMs: number): Promise<number> {
  const f = feeds();
  for (let i = 0; i < 3; i++) await session.run(f); // warm-up (WebGPU compiles shaders on the first runs)
  const times: number[] = [];
  const t0 = performance.now();
  while (times.length < 5 || (performance.now() - t0 < minMs && times.length < 200)) {
    const t = performance.now();
    await session.run(f);
    times.push((performance.now() - t) * 1000);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

export interface CalibrateOptions {
  /** Include the WebGPU EP when an adapter exists (default true). */
  gpu?: boolean;
  /** Minimum time spent timing each benchmark, in ms (default 300). */
  minMs?: number;
  /** Called before each benchmark: done, total, what. */
  progress?: (done: number, total: number, what: string) => void;
}

export interface Measurement {
  provider: string;
  bench: string;
  medianUs: number;
  gflops: number;
  gbs: number;
}

/** Measures this host and fits a target profile named `host`. */
export async function calibrateHost(options: CalibrateOptions = {}): Promise<{ target: Target; measurements: Measurement[] }> {
  const gpu = options.gpu !== false ? await probeWebGpu() : undefined;
  const providers: ('cpu' | 'webgpu')[] = gpu?.available ? ['cpu', 'webgpu'] : ['cpu'];
  const benches: Bench[] = [
    { ...chain(1), cls: 'launch', name: 'one tiny node (launch)' }, chain(100),
    matmul(128), matmul(256), matmul(512),
    conv(64, 56, false), conv(128, 28, false), conv(128, 56, true),
    unary('Add', 1 << 20, 'elementwise'), unary('Relu', 1 << 20, 'elementwise'), unary('Relu', 1 << 15, 'elementwise'),
    unary('ReduceMean', 256 * 28 * 28, 'reduce', [1, 256, 28, 28]), unary('Transpose', 64 * 56 * 56, 'copy', [1, 64, 56, 56]),
  ];
  // Add takes two inputs: feed the same tensor twice
  const add = benches.find((b) => b.name.startsWith('Add'))!;
  {
    const b = new GraphBuilder('add');
    const x = b.input('x', 'float32', [1 << 20]);
    b.output(b.node('Add', [x, x], 'y'), 'float32');
    add.model = b.toBytes();
    add.bytes = 4 * 3 * (1 << 20);
  }
  const total = benches.length * providers.length + (gpu?.available ? 1 : 0);
  let done = 0;
  const measurements: Measurement[] = [];
  const processors: Processor[] = [];
  const date = new Date().toISOString().slice(0, 10);
  const src = (what: string) => `measured by tessera calibrate on this host (${date}): ${what}`;
  let linkGBs: number | undefined, linkLatencyUs: number | undefined;

  for (const provider of providers) {
    const byName = new Map<string, Measurement>();
    for (const bench of benches) {
      options.progress?.(done++, total, `${bench.name} on ${provider}`);
      const session = await ort.InferenceSession.create(bench.model, { executionProviders: [provider], logSeverityLevel: 4 });
      const us = await timeIt(session, bench.feeds, options.minMs ?? 300);
      await session.release();
      const m = { provider, bench: bench.name, medianUs: us, gflops: bench.flops / (us * 1e3), gbs: bench.bytes / (us * 1e3) };
      measurements.push(m);
      byName.set(bench.name, m);
    }
    const launch = byName.get('one tiny node (launch)')!.medianUs;
    const perNode = Math.max(0, (byName.get('100 tiny nodes')!.medianUs - launch) / 99);
    const net = (b: Bench) => Math.max(1e-3, byName.get(b.name)!.medianUs - launch);
    const peak = Math.max(...benches.filter((b) => b.cls === 'matmul').map((b) => b.flops / (net(b) * 1e3)));
    const big = benches.filter((b) => b.cls === 'elementwise' && b.bytes > CACHE_BYTES);
    const small = benches.filter((b) => b.cls === 'elementwise' && b.bytes <= CACHE_BYTES);
    const bw = Math.max(...big.map((b) => b.bytes / (net(b) * 1e3)));
    const cacheBw = Math.max(bw, ...small.map((b) => b.bytes / (net(b) * 1e3)));
    const eff = (cls: Bench['cls']): Figure => {
      const list = benches.filter((b) => b.cls === cls);
      if (cls === 'elementwise' || cls === 'reduce' || cls === 'copy') {
        // memory-bound: the fraction of the bandwidth (cache or memory, by size) the class reaches
        const fr = list.map((b) => b.bytes / ((b.bytes <= CACHE_BYTES ? cacheBw : bw) * 1e3 * net(b)));
        const e = Math.min(4, fr.reduce((a, x) => a * x, 1) ** (1 / fr.length));
        return { value: Number(e.toPrecision(3)), source: src(`${list.map((b) => b.name).join(', ')} against the elementwise bandwidth`) };
      }
      // compute-bound: the fraction of peak that makes the roofline's compute term equal the measured time
      const fr = list.map((b) => b.flops / (peak * 1e3 * net(b)));
      const e = Math.min(1, fr.reduce((a, x) => a * x, 1) ** (1 / fr.length));
      return { value: Number(e.toPrecision(3)), source: src(`${list.map((b) => b.name).join(', ')} against the matmul peak (geometric mean)`) };
    };
    const isGpu = provider === 'webgpu';
    processors.push({
      id: isGpu ? 'gpu' : 'cpu', kind: isGpu ? 'gpu' : 'cpu',
      name: isGpu ? `WebGPU (${gpu!.adapter})` : 'host CPU (onnxruntime CPU EP)', backend: `ort:${provider}`,
      peakGflops: { float32: { value: Number(peak.toPrecision(3)), source: src('the best of matmul 128/256/512') } },
      bandwidthGBs: { value: Number(bw.toPrecision(3)), source: src('elementwise Add and Relu on 1M floats') },
      cacheBytes: { value: CACHE_BYTES, source: 'assumed: working sets up to 1 MB stay in cache (L2) on current CPUs' },
      cacheBandwidthGBs: { value: Number(cacheBw.toPrecision(3)), source: src('Relu on 32K floats (256 KB moved)') },
      launchOverheadUs: { value: Number(launch.toPrecision(3)), source: src('session.run of one tiny node') },
      nodeOverheadUs: { value: Number(perNode.toPrecision(3)), source: src('100 tiny nodes against one') },
      efficiency: { conv: eff('conv'), dwconv: eff('dwconv'), matmul: eff('matmul'), elementwise: eff('elementwise'), reduce: eff('reduce'), copy: eff('copy') },
      support: isGpu
        ? { ops: '*', dtypes: ['float32', 'float16', 'int32', 'int64', 'bool', 'uint8'], controlFlow: false, dynamicShapes: true, rejectAttributes: [] }
        : { ops: '*', dtypes: ['float32', 'float16', 'float64', 'int8', 'uint8', 'int16', 'uint16', 'int32', 'uint32', 'int64', 'uint64', 'bool', 'string'], controlFlow: true, dynamicShapes: true, rejectAttributes: [] },
    });
    if (isGpu) {
      // the link: an Identity on the GPU moves its input up and its output back
      options.progress?.(done++, total, 'cpu <-> webgpu copies');
      const n = 1 << 20;
      const b = new GraphBuilder('copy');
      const x = b.input('x', 'float32', [n]);
      b.output(b.node('Relu', [x], 'y'), 'float32');
      const session = await ort.InferenceSession.create(b.toBytes(), { executionProviders: ['webgpu'], logSeverityLevel: 4 });
      const us = await timeIt(session, feed('x', [n]), options.minMs ?? 300);
      await session.release();
      const compute = (4 * 2 * n) / (bw * 1e3);
      linkLatencyUs = launch / 2;
      linkGBs = (2 * 4 * n) / (Math.max(1, us - launch - compute) * 1e3);
      measurements.push({ provider, bench: 'Relu 1M floats (up and back)', medianUs: us, gflops: 0, gbs: linkGBs });
    }
  }
  options.progress?.(done, total, 'done');
  const links: Target['links'] = linkGBs
    ? [{ from: 'cpu', to: 'gpu', bandwidthGBs: { value: Number(linkGBs.toPrecision(3)), source: src('1M floats up to the GPU and back, less compute and launch') }, latencyUs: { value: Number(linkLatencyUs!.toPrecision(3)), source: src('half a WebGPU launch') } }]
    : [];
  return {
    target: {
      format: 'tessera.target', version: 1, name: 'host',
      description: `this machine, calibrated ${date}: onnxruntime CPU EP${gpu?.available ? ` and WebGPU EP (${gpu.adapter}${gpu.software ? ', a software adapter' : ''})` : ''}`,
      processors, links,
    },
    measurements,
  };
}
