/**
 * The compiler on a quantized graph: ppocr-v4-rec quantized int8 by `quantizeModel` (calibrated on four
 * lines rendered in Chromium), compiled for snapdragon-8-gen-3 — its QDQ groups on the Hexagon NPU by the
 * HTP rules, kept whole, lowered with their QuantizeLinear/DequantizeLinear and integer weights — then run
 * emulated (onnxruntime's CPU EP with the NPU's types) on other rendered lines, against onnxruntime running
 * the quantized model whole. And a blocked-int4 (w4) model, whose blocked weights the NPU does not take.
 *
 * The tolerance. The QDQ groups run on exactly onnxruntime's quantized numerics: on a copy of the target
 * whose NPU also computes float32, the plan's outputs are bit-identical to the whole model's. On the real
 * target the float ops the quantizer leaves between groups (the decomposed LayerNorm and hard-swish: Div,
 * Sub, Pow, Sqrt, ReduceMean, HardSigmoid) compute in float16, as the HTP computes them; a float16 rounding
 * now and then moves a value across a threshold of the QuantizeLinear after it, a step the layers after
 * carry and sometimes grow. bench/quantize/npu-plan.ts measures it on 237 rendered lines: 99.97% of the
 * output elements identical, 98.8% of the time steps with the same most likely class, 215 lines read the
 * same and the others by 1 to 3 characters, with the same character error rate against the ground truth.
 * Here, on three lines: at most 5% of the characters read differently, at least 95% of the time steps and
 * 99% of the output elements the same.
 */
import { fromBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema } from 'onnx-buf';
import * as ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Tensor } from '../../src/backends/tensor.js';
import { compile, type Compilation } from '../../src/compiler/index.js';
import { qdqGraph } from '../../src/ir/qdq.js';
import { tensorFileBytes } from '../../src/ir/tensor-file.js';
import { quantizeModel } from '../../src/quantize/index.js';
import { PlanRunner } from '../../src/runtime/runner.js';
import { loadTarget } from '../../src/targets/index.js';
import type { Target } from '../../src/targets/schema.js';
import { chromiumMissing, Renderer, type Image } from '../../bench/quantize/render.js';
import { ctcDecode, editDistance, recInput, recKeys } from '../../bench/quantize/tasks.js';
import { CORPUS, tempDir } from '../cli/helpers.js';

const { dir, cleanup } = tempDir('npu-plan');
afterAll(cleanup);
const MODEL = join(CORPUS, 'models', 'ppocr-v4-rec.onnx');
const PAPER = 235;

/** A line image widened to `width` with paper on the right. */
function widen(img: Image, width: number): Uint8Array {
  const out = new Uint8Array(width * img.height * 3).fill(PAPER);
  for (let y = 0; y < img.height; y++) out.set(img.rgb.subarray(y * img.width * 3, (y + 1) * img.width * 3), y * width * 3);
  return out;
}

/** Runs a compiled plan (emulated where this host lacks the processor) on each input; returns the first output of each. */
async function runPlan(c: Compilation, inputs: Float32Array[], width: number) {
  const runner = await PlanRunner.create({ graph: c.graph, plan: c.plan, target: c.target, partitions: c.partitions! }, c.bind);
  try {
    const outs: Float32Array[] = [];
    for (const x of inputs) outs.push(Object.values(await runner.run({ x: new Tensor('float32', x, [1, 3, 48, width]) }))[0].data as Float32Array);
    return { outs, bindings: runner.bindings };
  } finally {
    await runner.dispose();
  }
}

describe.skipIf(!!chromiumMissing)('ppocr-v4-rec int8 compiled for snapdragon-8-gen-3', () => {
  it('puts its QDQ groups on the NPU, runs them emulated on the quantized numerics, and reads as onnxruntime running the quantized model whole', async () => {
    const calib = ['Licensed under the Apache License', 'WITHOUT WARRANTIES OR CONDITIONS', 'Version 2.0, January 2004', 'you may not use this file except'];
    const lines = ['GNU GENERAL PUBLIC LICENSE', 'Free Software Foundation', 'Everyone is permitted to copy'];
    const r = await Renderer.start();
    const imgs: Image[] = [];
    try {
      for (const [i, t] of calib.entries()) {
        const img = await r.line(t, { font: 'DejaVu Sans', size: 30, ink: 20, paper: 240 });
        mkdirSync(join(dir, 'rec', String(i)), { recursive: true });
        const x = recInput(img.rgb, img.width);
        writeFileSync(join(dir, 'rec', String(i), 'input_0.pb'), tensorFileBytes({ name: 'x', dtype: 'float32', dims: [1, 3, 48, img.width], source: { kind: 'inline', bytes: new Uint8Array(x.buffer.slice(0)) } }));
      }
      for (const t of lines) imgs.push(await r.line(t, { font: 'Liberation Serif', size: 30, ink: 30, paper: PAPER }));
    } finally {
      await r.close();
    }
    const width = Math.max(...imgs.map((i) => i.width));
    const inputs = imgs.map((img) => recInput(widen(img, width), width));
    const { bytes } = await quantizeModel(MODEL, { scheme: 'int8', calibration: join(dir, 'rec') });

    // the reference: onnxruntime running the quantized model whole
    const whole = await ort.InferenceSession.create(bytes);
    const want: Float32Array[] = [];
    for (const x of inputs) want.push(Object.values(await whole.run({ x: new ort.Tensor('float32', x, [1, 3, 48, width]) }))[0].data as Float32Array);
    await whole.release();

    const options = { inputShapes: { x: [1, 3, 48, width] }, sampleFeeds: { x: new Tensor('float32', inputs[0], [1, 3, 48, width]) } };
    const c = await compile(bytes, 'snapdragon-8-gen-3', options);
    const { plan, graph } = c;
    const qdq = qdqGraph(graph);
    expect(qdq.groups.size).toBeGreaterThan(100);

    // every full QDQ group on the NPU, whole: its run-time Q/DQ nodes in its partition, its precision integer
    for (const [i, g] of qdq.groups) {
      const n = plan.nodes[i];
      expect(n.processor, `${n.op} '${n.name}'`).toBe('npu');
      for (const m of [...g.dequantize, ...g.quantize]) expect(plan.nodes[m].folded || plan.nodes[m].partition === n.partition).toBe(true);
      expect(n.precision).toBe(g.weights ? 'a8w8' : 'a8');
    }
    const runtime = plan.nodes.filter((n) => !n.folded);
    const onNpu = runtime.filter((n) => n.processor === 'npu');
    expect(onNpu.length / runtime.length).toBeGreaterThan(0.9);
    // the float ops between groups compute in the NPU's float16
    expect(onNpu.some((n) => n.precision === 'float16')).toBe(true);

    // lowered as QDQ: Q/DQ nodes, int8 weights and float32 scales kept; nothing inside a group cast to float16
    const npuParts = plan.partitions.filter((p) => p.processor === 'npu');
    for (const p of npuParts) {
      const m = fromBinary(ModelProtoSchema, c.partitions![p.id].onnx).graph!;
      const producer = new Map(m.node.flatMap((n) => n.output.map((o) => [o, n] as const)));
      const dq = m.node.filter((n) => n.opType === 'DequantizeLinear');
      expect(dq.length).toBeGreaterThan(0);
      expect(m.node.some((n) => n.opType === 'QuantizeLinear')).toBe(true);
      expect(m.initializer.some((t) => t.dataType === 3)).toBe(true); // int8 weights
      for (const n of dq) {
        const scale = m.initializer.find((t) => t.name === n.input[1]);
        if (scale) expect(scale.dataType).toBe(1); // float32
        for (const reader of m.node.filter((x) => x.input.includes(n.output[0]))) expect(reader.opType).not.toBe('Cast');
      }
      for (const q of m.node.filter((n) => n.opType === 'QuantizeLinear')) expect(producer.get(q.input[0])?.opType).not.toBe('Cast');
    }

    const { outs, bindings } = await runPlan(c, inputs, width);
    const npu = bindings.find((b) => b.processor === 'npu')!;
    expect(npu.emulated).toBe(true);
    expect(npu.note).toMatch(/emulated.*QDQ groups on their quantized numerics/);
    // the float16 float ops aside, the same numbers: the same characters, the same most likely class at almost every time step
    const keys = recKeys();
    const T = c.graph.values.get(graph.outputs[0])!.shape![1] as number;
    let edits = 0, chars = 0, sameArgmax = 0, steps = 0, same = 0, elements = 0;
    for (const [k, got] of outs.entries()) {
      const C = got.length / T;
      const reading = ctcDecode(want[k], T, C, keys);
      edits += editDistance(ctcDecode(got, T, C, keys), reading);
      chars += [...reading].length;
      const argmax = (a: Float32Array, t: number) => { let b = 0; for (let j = 1; j < C; j++) if (a[t * C + j] > a[t * C + b]) b = j; return b; };
      for (let t = 0; t < T; t++, steps++) if (argmax(got, t) === argmax(want[k], t)) sameArgmax++;
      same += got.filter((v, j) => v === want[k][j]).length;
      elements += got.length;
    }
    expect(chars).toBeGreaterThan(40);
    expect(edits / chars).toBeLessThanOrEqual(0.05);
    expect(sameArgmax / steps).toBeGreaterThanOrEqual(0.95);
    expect(same / elements).toBeGreaterThanOrEqual(0.99);

    // with an NPU that also computes float32, the plan is bit-identical to the whole model: the groups run on its numerics exactly
    const base = await loadTarget('snapdragon-8-gen-3');
    const fp32: Target = structuredClone(base);
    fp32.name = 'snapdragon-8-gen-3-float32-npu';
    const p = fp32.processors.find((x) => x.id === 'npu')!;
    p.support.dtypes.push('float32');
    delete p.support.legalizeFloat32To;
    const exact = await compile(bytes, fp32, options);
    for (const [i] of qdq.groups) expect(exact.plan.nodes[i].processor).toBe('npu');
    const e = await runPlan(exact, inputs, width);
    e.outs.forEach((got, k) => expect(got).toEqual(want[k]));
  });
});

describe('a blocked-int4 (w4) model on snapdragon-8-gen-3', () => {
  it('keeps every op reading a weight quantized in blocks off the NPU, and says why', async () => {
    // weight-only: no calibration data
    const { bytes } = await quantizeModel(MODEL, { scheme: 'w4' });
    const c = await compile(bytes, 'snapdragon-8-gen-3', { inputShapes: { x: [1, 3, 48, 160] }, lower: false });
    const { graph, plan } = c;
    const blocked = graph.nodes.filter((n) => n.op === 'DequantizeLinear' && n.attrs.block_size?.type === 'int' && n.attrs.block_size.value > 0);
    expect(blocked.length).toBeGreaterThan(0);
    for (const dq of blocked) {
      expect(plan.nodes[dq.index].processor).not.toBe('npu');
      for (const reader of graph.values.get(dq.outputs[0])!.consumers) {
        expect(plan.nodes[reader].processor).not.toBe('npu');
        const why = c.context.support[reader]!.get('npu')!;
        expect(why.ok).toBe(false);
        expect(!why.ok && why.reason).toMatch(/quantized in blocks of 32 \(DequantizeLinear block_size\): the Hexagon NPU \(HTP v75\) takes per-channel weights only/);
      }
    }
  });
});
