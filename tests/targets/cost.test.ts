/**
 * The cost model's rules (what onnxruntime fuses, what a copy moves, which class an op is in, the
 * layout conversions of onnxruntime's CPU EP on x86-64) and the calibration's fit: figures known in
 * advance are recovered from samples the cost model itself made, through the same fit `tessera
 * calibrate` runs on measurements. Nothing here times anything.
 */
import { fromBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema } from 'onnx-buf';
import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../src/ir/builder.js';
import type { ShapedGraph } from '../../src/ir/infer.js';
import { engineCost } from '../../src/backends/registry.js';
import { fitOverRounds, fitProcessor, predictedCopyUs, type Sample } from '../../src/runtime/calibrate.js';
import { launchUs, nodeWork, opClass, predictNode } from '../../src/targets/cost.js';
import { archOf } from '../../src/targets/host.js';
import { parseTarget } from '../../src/targets/index.js';
import type { Processor } from '../../src/targets/schema.js';
import { shapeBytes } from '../helpers/models.js';

const fig = (value: number) => ({ value, source: 'test' });

function cpu(name: string, extra: Partial<Processor> = {}): Processor {
  return {
    id: 'cpu', kind: 'cpu', name, backend: 'ort:cpu',
    peakGflops: { float32: fig(300) }, bandwidthGBs: fig(40), launchOverheadUs: fig(7), nodeOverheadUs: fig(0.3),
    cacheBytes: fig(4 << 20), cacheBandwidthGBs: fig(100),
    efficiency: { conv: fig(1), dwconv: fig(0.5), matmul: fig(0.9), elementwise: fig(0.06), reduce: fig(0.002), copy: fig(0.4) },
    support: { ops: '*', dtypes: ['float32', 'int64'], controlFlow: true, dynamicShapes: true, rejectAttributes: [] },
    ...extra,
  };
}
const ARM = cpu('Kryo CPU (1x X4 + 5x A720 + 2x A520)', { arch: 'arm64' });
const X86 = cpu('host CPU: Intel(R) Xeon(R) Processor (x64, onnxruntime CPU EP)', { arch: 'x86-64' });

const w = (n: number, s = 0.05) => Float32Array.from({ length: n }, (_, i) => (((i * 7919) % 1000) / 1000 - 0.5) * s);

async function graphOf(build: (b: GraphBuilder) => void): Promise<ShapedGraph> {
  const b = new GraphBuilder('g');
  build(b);
  return shapeBytes(b.toBytes());
}

const byName = (g: ShapedGraph, name: string) => g.nodes.findIndex((n) => n.name === name);

describe('the cost model', () => {
  it('folds into a convolution what onnxruntime folds: BatchNormalization, a per-channel constant as second input, a residual sum, one activation', async () => {
    const g = await graphOf((b) => {
      const x = b.input('x', 'float32', [1, 16, 8, 8]);
      const c = b.node('Conv', [x, b.initializer('k', w(16 * 16 * 9), [16, 16, 3, 3])], 'c', { pads: [1, 1, 1, 1] }, { name: 'conv' });
      const bn = b.node('BatchNormalization', [c, ...['bs', 'bo', 'bm', 'bv'].map((n) => b.initializer(n, Float32Array.from({ length: 16 }, () => 1), [16]))], 'bn', {}, { name: 'bn' });
      const m = b.node('Mul', [bn, b.initializer('scale', w(16), [1, 16, 1, 1])], 'm', {}, { name: 'scale' });
      const sum = b.node('Add', [m, x], 's', {}, { name: 'residual' });
      const r = b.node('Relu', [sum], 'r', {}, { name: 'relu' });
      // a constant given first is not folded (onnxruntime's ConvMulFusion looks at the second input)
      const c2 = b.node('Conv', [r, b.initializer('k2', w(16 * 16), [16, 16, 1, 1])], 'c2', {}, { name: 'conv2' });
      const m2 = b.node('Mul', [b.initializer('scale2', w(16), [1, 16, 1, 1]), c2], 'm2', {}, { name: 'scale-first' });
      // nothing folds into a ConvTranspose
      const t = b.node('ConvTranspose', [m2, b.initializer('k3', w(16 * 8 * 4), [16, 8, 2, 2])], 't', { strides: [2, 2] }, { name: 'deconv' });
      b.output(b.node('Relu', [t], 'y', {}, { name: 'relu-after-deconv' }), 'float32');
    });
    for (const name of ['bn', 'scale', 'residual', 'relu']) expect(predictNode(ARM, g, byName(g, name)).basis, name).toMatch(/fused into the Conv/);
    for (const name of ['scale-first', 'relu-after-deconv']) expect(predictNode(ARM, g, byName(g, name)).basis, name).not.toMatch(/fused/);
    // a ConvTranspose does (Cout/group)·kh·kw multiply-adds per input element
    expect(nodeWork(g, byName(g, 'deconv')).flops).toBe(2 * 16 * 8 * 8 * (8 * 2 * 2));
  });

  it('classes: LRN alone in reduce, pools and copies in copy, softmax with the elementwise ops; a copy moves what it writes', async () => {
    const g = await graphOf((b) => {
      const x = b.input('x', 'float32', [1, 16, 64, 64]);
      b.output(b.node('LRN', [x], 'l', { size: 5 }, { name: 'lrn' }), 'float32');
      b.output(b.node('MaxPool', [x], 'p', { kernel_shape: [2, 2], strides: [2, 2] }, { name: 'pool' }), 'float32');
      b.output(b.node('Softmax', [x], 's', { axis: -1 }, { name: 'softmax' }), 'float32');
      const starts = b.initializer('st', BigInt64Array.from([0n, 0n, 0n, 0n]), [4]), ends = b.initializer('en', BigInt64Array.from([1n, 1n, 1n, 1n]), [4]);
      b.output(b.node('Slice', [x, starts, ends], 'c', {}, { name: 'slice' }), 'float32');
    });
    const cls = (name: string) => opClass(g, g.nodes[byName(g, name)]);
    expect([cls('lrn'), cls('pool'), cls('softmax'), cls('slice')]).toEqual(['reduce', 'copy', 'elementwise', 'copy']);
    expect(nodeWork(g, byName(g, 'slice')).bytes).toBe(2 * 4); // one float out, one read
    expect(nodeWork(g, byName(g, 'pool')).bytes).toBe(4 * 16 * 64 * 64 + 4 * 16 * 32 * 32);
  });

  it('charges layout conversions only on an onnxruntime CPU whose profile says x86-64 (its cost hooks): a tensor leaving and re-entering the blocked layout around a standalone op', async () => {
    const blocked = (p: Processor) => !!engineCost(p)?.layoutBytes;
    expect(blocked(X86)).toBe(true);
    expect(blocked(ARM)).toBe(false);
    expect(blocked(cpu('no architecture given'))).toBe(false);
    expect(blocked({ ...X86, backend: 'ort-web:wasm' })).toBe(false);
    expect(blocked(cpu('this host', archOf()))).toBe(process.arch === 'x64');
    const g = await graphOf((b) => {
      const x = b.input('x', 'float32', [1, 32, 28, 28]);
      const c = b.node('Conv', [x, b.initializer('k', w(32 * 32), [32, 32, 1, 1])], 'c', {}, { name: 'conv' });
      const s = b.node('Mul', [c, b.node('Sigmoid', [c], 'sg', {}, { name: 'sigmoid' })], 'sw', {}, { name: 'swish' });
      const c2 = b.node('Conv', [s, b.initializer('k2', w(32 * 32), [32, 32, 1, 1])], 'c2', {}, { name: 'conv2' });
      b.output(b.node('MaxPool', [c2], 'y', { kernel_shape: [2, 2], strides: [2, 2] }, { name: 'pool' }), 'float32');
    });
    const tensorUs = (2 * 4 * 32 * 28 * 28) / (100 * 1e3) / 0.4; // in and out of cache, priced as a copy
    const extra = (name: string) => predictNode(X86, g, byName(g, name)).us - predictNode(ARM, g, byName(g, name)).us;
    expect(extra('conv')).toBeCloseTo(tensorUs, 6); // the graph input enters the blocked layout
    expect(extra('sigmoid')).toBeCloseTo(tensorUs, 6); // the conv's output leaves it once, for its first plain consumer
    expect(extra('swish')).toBe(0);
    expect(extra('conv2')).toBeCloseTo(tensorUs, 6); // and the product enters it again
    expect(extra('pool')).toBeCloseTo((2 * 4 * 32 * 14 * 14) / (100 * 1e3) / 0.4, 6); // a pool after a blocked conv runs blocked; the graph output leaves it
  });

  it('a residual sum folds into a blocked convolution only (onnxruntime\'s plain grouped convolutions take no summand, and run at the dwconv rate)', async () => {
    const g = await graphOf((b) => {
      const x = b.input('x', 'float32', [1, 36, 14, 14]);
      const grouped = b.node('Conv', [x, b.initializer('k', w(36 * 9), [36, 9, 1, 1])], 'c', { group: 4 }, { name: 'grouped' }); // 9 channels a group: not in blocks
      b.output(b.node('Add', [grouped, x], 'y', {}, { name: 'sum' }), 'float32');
    });
    expect(predictNode(ARM, g, byName(g, 'sum')).basis).toMatch(/fused/);
    expect(predictNode(X86, g, byName(g, 'sum')).basis).not.toMatch(/fused/);
    // and the grouped convolution itself runs at the rate of the convolutions outside the blocked kernel
    expect(predictNode(ARM, g, byName(g, 'grouped')).basis).toMatch(/^conv:/);
    expect(predictNode(X86, g, byName(g, 'grouped')).basis).toMatch(/^dwconv:/);
  });
});

describe('fixed costs of small kernels', () => {
  const conv1d = (b: GraphBuilder, x: string, c: number, group: number, name: string) =>
    b.node('Conv', [x, b.initializer(`${name}k`, w((c * c * 5) / group), [c, c / group, 5])], name, { pads: [2, 2], group }, { name });

  it('prices an If node by node: its costlier feasible branch as the same nodes would cost outside it, weights sliced inside it free', async () => {
    const H = 64;
    const branch = (tag: string, heavy: boolean) => {
      const b = new GraphBuilder(tag);
      // a weight sliced from an outer weight: folded when the model loads, never run
      const part = b.node('Slice', ['big', b.initializer(`${tag}s`, BigInt64Array.from([0n]), [1]), b.initializer(`${tag}e`, BigInt64Array.from([BigInt(H)]), [1])], `${tag}part`);
      let y = b.node('Gemm', ['x', part], `${tag}g`, { transB: 1 });
      if (heavy) y = b.node('Gemm', [b.node('Relu', [y], `${tag}r`), part], `${tag}g2`, { transB: 1 });
      b.output(y, 'float32');
      return fromBinary(ModelProtoSchema, b.toBytes()).graph!;
    };
    const flat = await graphOf((b) => {
      const x = b.input('x', 'float32', [1, H]);
      const part = b.initializer('part', w(H * H), [H, H]);
      b.output(b.node('Gemm', [b.node('Relu', [b.node('Gemm', [x, part], 'g', { transB: 1 })], 'r'), part], 'g2', { transB: 1 }), 'float32');
    });
    const g = await graphOf((b) => {
      b.input('x', 'float32', [1, H]);
      b.input('c', 'bool', []);
      b.initializer('big', w(4 * H * H), [4 * H, H]);
      b.node('If', ['c'], 'y', { then_branch: { type: 'graph', value: branch('t', false) }, else_branch: { type: 'graph', value: branch('e', true) } }, { name: 'if' });
      b.output('y', 'float32');
    });
    const flatUs = flat.nodes.reduce((a, _, i) => a + predictNode(X86, flat, i).us, 0);
    const p = predictNode(X86, g, byName(g, 'if'));
    expect(p.basis).toMatch(/costlier of its branches \(4 nodes/);
    expect(p.us).toBeCloseTo(0.3 + flatUs, 6); // its own dispatch, then the heavy branch's Gemm, Relu, Gemm
    // and running a subgraph at all, where a profile measured it
    expect(predictNode(cpu(X86.name, { arch: 'x86-64', kernelSetupUs: { If: fig(1) } }), g, byName(g, 'if')).us).toBeCloseTo(1.3 + flatUs, 6);
  });

  it('an onnxruntime CPU computes a 1-D depthwise convolution one group at a time, a 2-D one in one kernel', async () => {
    const X = cpu(X86.name, { arch: 'x86-64', convGroupUs: fig(0.1) });
    const g = await graphOf((b) => {
      b.output(conv1d(b, b.input('x', 'float32', [1, 64, 8]), 64, 64, 'dw1d'), 'float32');
      b.output(conv1d(b, b.input('x2', 'float32', [1, 64, 8]), 64, 1, 'dense1d'), 'float32');
      const x3 = b.input('x3', 'float32', [1, 12, 8, 8]);
      b.output(b.node('Conv', [x3, b.initializer('k3', w(12 * 9), [12, 1, 3, 3])], 'dw2d', { pads: [1, 1, 1, 1], group: 12 }, { name: 'dw2d' }), 'float32');
    });
    const extra = (name: string) => predictNode(X, g, byName(g, name)).us - predictNode(X86, g, byName(g, name)).us;
    expect(extra('dw1d')).toBeCloseTo(64 * 0.1, 6);
    expect(extra('dense1d')).toBe(0);
    expect(extra('dw2d')).toBe(0);
    expect(predictNode(X, g, byName(g, 'dw1d')).basis).toMatch(/64 groups computed one at a time/);
  });

  it("onnxruntime's x86 SGEMM computes output positions in panels of 16: a short 1-D convolution costs as much as one 16 long; elsewhere it costs less", async () => {
    const g = await graphOf((b) => {
      b.output(conv1d(b, b.input('x4', 'float32', [1, 128, 4]), 128, 1, 'short'), 'float32');
      b.output(conv1d(b, b.input('x16', 'float32', [1, 128, 16]), 128, 1, 'long'), 'float32');
    });
    const us = (p: Processor, name: string) => predictNode(p, g, byName(g, name)).us - 0.3;
    expect(predictNode(X86, g, byName(g, 'long')).basis).toMatch(/compute-bound/);
    expect(us(X86, 'short')).toBeCloseTo(us(X86, 'long'), 6);
    expect(us(ARM, 'short')).toBeLessThan(0.9 * us(ARM, 'long'));
  });

  it('a launch costs its overhead with one tensor in and one out, and each other tensor its binding', () => {
    const p = cpu('x', { tensorIoUs: fig(1.5) });
    expect(launchUs(p)).toBe(7);
    expect(launchUs(p, 5)).toBe(7 + 3 * 1.5);
    expect(launchUs(ARM, 5)).toBe(7);
  });
});

describe('the calibration fit', () => {
  /** Benchmark-like pairs (one copy, K copies) of each class, timed by a processor whose figures we know. */
  async function samples(truth: Processor): Promise<Sample[]> {
    const specs: { name: string; fits: Sample['fits']; shape: number[]; op: (b: GraphBuilder, x: string, i: number) => string }[] = [
      { name: 'Relu 1x16 (dispatch)', fits: 'dispatch', shape: [1, 16], op: (b, x, i) => b.node('Relu', [x], `y${i}`) },
      { name: 'Add 1x128 (dispatch)', fits: 'dispatch', shape: [1, 128], op: (b, x, i) => b.node('Add', [x, b.initializer(`a${i}`, w(128), [1, 128])], `y${i}`) },
      ...[[1, 64, 28, 28], [1, 64, 112, 112], [1, 64, 320, 320]].map((s) => ({ name: `Add ${s.join('x')}`, fits: 'elementwise' as const, shape: s, op: (b: GraphBuilder, x: string, i: number) => b.node('Add', [x, b.initializer(`a${i}`, w(s.reduce((p, q) => p * q)), s)], `y${i}`) })),
      { name: 'Sigmoid 1x64x56x56', fits: 'elementwise', shape: [1, 64, 56, 56], op: (b, x, i) => b.node('Sigmoid', [x], `y${i}`) },
      ...[[64, 56], [256, 14]].map(([c, hw]) => ({ name: `conv ${c} ${hw}`, fits: 'conv' as const, shape: [1, c, hw, hw], op: (b: GraphBuilder, x: string, i: number) => b.node('Conv', [x, b.initializer(`k${i}`, w(c * c * 9), [c, c, 3, 3])], `y${i}`, { pads: [1, 1, 1, 1] }) })),
      { name: 'depthwise 128 56', fits: 'dwconv', shape: [1, 128, 56, 56], op: (b, x, i) => b.node('Conv', [x, b.initializer(`k${i}`, w(128 * 9), [128, 1, 3, 3])], `y${i}`, { pads: [1, 1, 1, 1], group: 128 }) },
      { name: 'matmul 256', fits: 'matmul', shape: [256, 256], op: (b, x, i) => b.node('MatMul', [x, b.initializer(`m${i}`, w(256 * 256), [256, 256])], `y${i}`) },
      { name: 'gemm 1x2048x2048 (batch 1)', fits: 'matmul', shape: [1, 2048], op: (b, x, i) => b.node('Gemm', [x, b.initializer(`m${i}`, w(2048 * 2048), [2048, 2048])], `y${i}`, { transB: 1 }) },
      { name: 'LRN 1x16x28x28', fits: 'reduce', shape: [1, 16, 28, 28], op: (b, x, i) => b.node('LRN', [x], `y${i}`, { size: 5 }) },
      { name: 'AveragePool 1x64x28x28', fits: 'copy', shape: [1, 64, 28, 28], op: (b, x, i) => b.node('AveragePool', [x], `y${i}`, { kernel_shape: [3, 3], pads: [1, 1, 1, 1] }) },
      { name: 'Transpose 1x64x28x28', fits: 'copy', shape: [1, 64, 28, 28], op: (b, x, i) => b.node('Transpose', [x], `y${i}`, { perm: [0, 1, 3, 2] }) },
      { name: 'depthwise 1-D 256ch (a GEMM a group)', fits: 'group', shape: [1, 256, 8], op: (b, x, i) => b.node('Conv', [x, b.initializer(`d${i}`, w(256 * 5), [256, 1, 5])], `y${i}`, { pads: [2, 2], group: 256 }) },
      { name: 'Softmax 1x16 (set-up)', fits: 'setup', shape: [1, 16], op: (b, x, i) => b.node('Softmax', [x], `y${i}`, { axis: -1 }) },
    ];
    const out: Sample[] = [];
    for (const s of specs) {
      const chain = async (k: number) => graphOf((b) => {
        let x = b.input('x', 'float32', s.shape);
        for (let i = 0; i < k; i++) x = s.op(b, x, i);
        b.output(x, 'float32');
      });
      const K = 3;
      const sample: Sample = { name: s.name, fits: s.fits, K, one: await chain(1), many: await chain(K), us: 0, oneUs: 0 };
      sample.us = predictedCopyUs(truth, sample);
      out.push(sample);
    }
    return out;
  }

  it('recovers known figures from what the cost model says a processor with them would measure, and writes a valid profile', async () => {
    const truth = cpu('truth: x86-64', {
      arch: 'x86-64',
      peakGflops: { float32: fig(250) }, bandwidthGBs: fig(30), cacheBandwidthGBs: fig(120), nodeOverheadUs: fig(0.4), convGroupUs: fig(0.08), kernelSetupUs: { Softmax: fig(2) },
      efficiency: { conv: fig(1), dwconv: fig(0.3), matmul: fig(0.8), elementwise: fig(0.05), reduce: fig(0.003), copy: fig(0.5) },
    });
    const data = await samples(truth);
    const base = cpu('host CPU (test, x86-64)', { arch: 'x86-64' });
    const fitted = fitProcessor(base, data, (what) => `test: ${what}`, { bytes: 4 << 20, source: 'test cache' });
    const within = (got: number, want: number, tol = 0.1) => expect(Math.abs(Math.log(got / want)), `${got} vs ${want}`).toBeLessThan(tol);
    for (const s of data) within(predictedCopyUs(fitted, s), s.us, 0.05);
    within(fitted.nodeOverheadUs!.value, 0.4);
    within(fitted.convGroupUs!.value, 0.08);
    within(fitted.kernelSetupUs!.Softmax.value, 2);
    within(fitted.bandwidthGBs.value, 30);
    within(fitted.cacheBandwidthGBs!.value, 120);
    within(fitted.efficiency!.reduce.value, 0.003);
    within(fitted.efficiency!.copy.value, 0.5);
    within(fitted.peakGflops.float32.value * fitted.efficiency!.conv.value, 250, 0.05);
    expect(() => parseTarget({ format: 'tessera.target', version: 1, name: 'host', description: 'test', processors: [fitted], links: [] }, 'fitted')).not.toThrow();
    expect(fitted.efficiency!.conv.source).toMatch(/^test: conv 64 56, conv 256 14: fraction of the peak/);
  });

  it('fitted over rounds, recovers known figures when every round alone has a slow spell somewhere, and the sources give the rounds\' spread', async () => {
    const truth = cpu('truth: x86-64', {
      arch: 'x86-64',
      peakGflops: { float32: fig(250) }, bandwidthGBs: fig(30), cacheBandwidthGBs: fig(120), nodeOverheadUs: fig(0.4), convGroupUs: fig(0.08), kernelSetupUs: { Softmax: fig(2) },
      efficiency: { conv: fig(1), dwconv: fig(0.3), matmul: fig(0.8), elementwise: fig(0.05), reduce: fig(0.003), copy: fig(0.5) },
    });
    const exact = await samples(truth);
    const n = exact.length;
    // round r: every benchmark within ±2% of the truth (a fixed pattern), and a third of them, a different third each round, 2.5× slow
    const rounds = [0, 1, 2].map((r) => exact.map((s, i) => {
      const slow = Math.floor((3 * i) / n) === r ? 2.5 : 1;
      const jitter = 1 + 0.02 * Math.sin(7 * i + 3 * r);
      return { ...s, us: s.us * slow * jitter, oneUs: s.oneUs * slow * jitter };
    }));
    const base = cpu('host CPU (test, x86-64)', { arch: 'x86-64' });
    const cache = { bytes: 4 << 20, source: 'test cache' };
    const fit = (ss: Sample[]) => fitProcessor(base, ss, (what) => `test: ${what}`, cache);
    const within = (got: number, want: number, tol: number) => expect(Math.abs(Math.log(got / want)), `${got} vs ${want}`).toBeLessThan(tol);
    const alone: Processor[] = [];
    const fitted = fitOverRounds(rounds, (ss, r) => {
      const p = fit(ss);
      if (r !== undefined) alone[r] = p;
      return p;
    });
    expect(alone).toHaveLength(3);
    within(fitted.nodeOverheadUs!.value, 0.4, 0.1);
    within(fitted.bandwidthGBs.value, 30, 0.1);
    within(fitted.kernelSetupUs!.Softmax.value, 2, 0.1);
    within(fitted.peakGflops.float32.value * fitted.efficiency!.conv.value, 250, 0.1);
    // each round alone is spoiled: its fit predicts some benchmark far from the truth
    for (const p of alone) {
      const worst = Math.max(...exact.map((s) => Math.abs(Math.log(predictedCopyUs(p, s) / s.us))));
      expect(worst).toBeGreaterThan(0.3);
    }
    // the sources give what each round alone fits
    const m = /the median over 3 interleaved rounds .*each round alone fits ([\d.e+-]+)–([\d.e+-]+)$/.exec(fitted.nodeOverheadUs!.source);
    expect(m, fitted.nodeOverheadUs!.source).not.toBeNull();
    const each = alone.map((p) => p.nodeOverheadUs!.value);
    expect(Number(m![1])).toBeCloseTo(Math.min(...each), 2);
    expect(Number(m![2])).toBeCloseTo(Math.max(...each), 2);
    expect(fitted.efficiency!.conv.source).toMatch(/^test: conv 64 56, conv 256 14: fraction of the peak.*each round alone fits/);
  });
});
