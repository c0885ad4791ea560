/**
 * The TensorFlow.js backend (tfjs-backend-wasm under Node here) held to its capability table: every
 * ONNX node test that onnxruntime-node 1.30 passes and the table accepts passes on tfjs (run as
 * `npx tsx bench/conformance.ts` runs them). Every light/ conv net runs whole on tfjs and matches
 * onnxruntime's CPU EP — as shipped (weights from ConstantOfShape, so every channel of a layer is the
 * same) and with those weights jittered per element (so a channel-order or layout mistake shows).
 * A mixed plan runs partitions on onnxruntime CPU, onnxruntime-web wasm and tfjs and matches
 * onnxruntime on the whole model; one Session on wasm serves 16 concurrent runs as 16 sequential ones.
 * The engine's tensor count does not grow over runs, and nothing is fetched.
 */
import { create, toBinary } from '@bufbuild/protobuf';
import * as tf from '@tensorflow/tfjs-core';
import { AttributeProto_AttributeType, AttributeProtoSchema, ModelProtoSchema, TensorProtoSchema } from 'onnx-buf';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ABORTS_PROCESS, baselinePasses, runCase, type Outcome } from '../../bench/conformance.js';
import { buildBranchyCnn } from '../../examples/branchy-cnn/model.js';
import type { Backend } from '../../src/backends/backend.js';
import { compareTensors, DEFAULT_TOLERANCE } from '../../src/backends/compare.js';
import { OrtWebBackend } from '../../src/backends/ort-web.js';
import { OrtBackend } from '../../src/backends/ort.js';
import { rng, Tensor, tensorFromWeight, type TensorMap } from '../../src/backends/tensor.js';
import { TfjsBackend } from '../../src/backends/tfjs.js';
import { TFJS_CAPABILITIES } from '../../src/backends/tfjs-capabilities.js';
import { backendContract } from '../helpers/backend-contract.js';
import { inferShapes } from '../../src/ir/infer.js';
import { exportOnnx } from '../../src/ir/onnx-export.js';
import { decodeModel, importOnnx } from '../../src/ir/onnx-import.js';
import { Session } from '../../src/runtime/session.js';
import { expectConcurrentEqualsSequential } from '../helpers/concurrency.js';
import { corpusCases, feedsFor, makeTarget, runOrt, shapesOf } from '../helpers/models.js';

const backend = new TfjsBackend();
const fetchSpy = vi.spyOn(globalThis, 'fetch');

beforeAll(async () => {
  expect(await backend.available()).toBe(true);
});

afterAll(() => {
  expect(fetchSpy, 'tfjs-backend-wasm must not fetch anything (the .wasm ships in the package)').not.toHaveBeenCalled();
  fetchSpy.mockRestore();
});

/** The light/ model with each ConstantOfShape weight (up to 1M elements) replaced by a Constant whose elements are its value times a seeded factor in [0.5, 1.5). */
async function jitterWeights(bytes: Uint8Array, seed: number): Promise<Uint8Array> {
  const shaped = await inferShapes(importOnnx(bytes));
  const baseOf = new Map(shaped.nodes.filter((n) => n.op === 'ConstantOfShape').map((n) => {
    const a = n.attrs.value;
    return [n.outputs[0], a?.type === 'tensor' ? Number(tensorFromWeight(a.value).data[0]) : 0];
  }));
  const model = decodeModel(bytes, 'light model');
  const next = rng(seed);
  for (const node of model.graph!.node) {
    if (node.opType !== 'ConstantOfShape') continue;
    const shape = shaped.values.get(node.output[0])!.shape as number[];
    const base = baseOf.get(node.output[0])!;
    const n = shape.reduce((a, b) => a * b, 1);
    if (n > 1 << 20) continue; // the big fully connected weights stay uniform (hundreds of MB otherwise)
    const data = Float32Array.from({ length: n }, () => (base === 0 ? (next() - 0.5) * 0.02 : base * (0.5 + next())));
    node.opType = 'Constant';
    node.input = [];
    node.attribute = [create(AttributeProtoSchema, {
      name: 'value', type: AttributeProto_AttributeType.TENSOR,
      t: create(TensorProtoSchema, { dims: shape.map(BigInt), dataType: 1, rawData: new Uint8Array(data.buffer) }),
    })];
  }
  return toBinary(ModelProtoSchema, model);
}

describe('tfjs adapter', () => {
  it('runs on tfjs-backend-wasm (tfjs-node is not installed here) and says so', () => {
    expect(backend.id).toBe('tfjs');
    expect(backend.engine).toBe('tfjs-backend-wasm');
    expect(backend.detail).toMatch(/tfjs-backend-wasm 4\.22\.0, one thread/);
    expect(process.listeners('unhandledRejection').map(String).join()).not.toMatch(/throw reason/); // the Emscripten glue's listener is removed
  });

  backendContract(backend);

  it('keeps NHWC inside a partition: one transpose in per conv input, one out per output, none per op', async () => {
    const light = corpusCases().find((c) => c.name === 'light_squeezenet')!;
    const bytes = await jitterWeights(new Uint8Array((await import('node:fs')).readFileSync(light.path)), 3);
    const exe = await backend.compile({ name: 'squeezenet', onnx: bytes, inputs: ['data_0'], outputs: ['softmaxout_1'] });
    const feeds = feedsFor(importOnnx(bytes), light);
    await exe.run(feeds); // weights are rearranged once, on the first run
    const prof = await tf.profile(async () => {
      await exe.run(feeds);
      return [] as tf.Tensor[];
    });
    const kernels = prof.kernels.map((k) => k.name);
    const transposes = kernels.filter((k) => k === 'Transpose').length;
    expect(transposes, kernels.join(',')).toBeLessThanOrEqual(2); // the input to NHWC; GlobalAveragePool's [N,1,1,C] back for the Softmax
    expect(kernels.filter((k) => k === 'Conv2D' || k === 'FusedConv2D').length).toBe(26);
    await exe.dispose();
  });

  it('the engine holds no more tensors after 5 runs than after 1, and none after dispose', async () => {
    const light = corpusCases().find((c) => c.name === 'light_inception_v1')!;
    const bytes = new Uint8Array((await import('node:fs')).readFileSync(light.path));
    const base = tf.memory().numTensors;
    const exe = await backend.compile({ name: 'inception_v1', onnx: bytes, inputs: importOnnx(bytes).inputs, outputs: importOnnx(bytes).outputs });
    const feeds = feedsFor(importOnnx(bytes), light);
    await exe.run(feeds);
    const after1 = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) await exe.run(feeds);
    expect(tf.memory().numTensors).toBe(after1);
    await exe.dispose();
    expect(tf.memory().numTensors).toBe(base);
  });
});

describe('tfjs holds to its capability table (ONNX node tests the CPU EP passes)', () => {
  const tests = baselinePasses().filter((t) => !ABORTS_PROCESS.test(t));
  const tally: Record<Outcome, string[]> = { pass: [], mismatch: [], unsupported: [], error: [] };
  it(`each of the ${tests.length} tests passes on tfjs or is refused by the table`, async () => {
    const bad: string[] = [];
    for (const t of tests) {
      const r = await runCase(backend, t);
      tally[r.outcome].push(t);
      if (r.outcome !== 'pass' && r.outcome !== 'unsupported') bad.push(`${t}: ${r.outcome}: ${r.detail}`);
    }
    expect(bad).toEqual([]);
    expect(tally.pass.length).toBeGreaterThanOrEqual(810); // bench/conformance.results.json: 810 pass, 649 refused
    expect(Object.keys(TFJS_CAPABILITIES).length).toBeGreaterThan(100);
  }, 300_000);
});

const lightCases = corpusCases().filter((c) => c.kind === 'light');
const maxErrors: Record<string, { abs: number; rel: number }[]> = {};

describe('light/ conv nets run whole on tfjs, matching onnxruntime CPU', () => {
  afterAll(() => {
    console.log('tfjs vs onnxruntime CPU, max abs error per light/ model over its outputs and the inputs of its Gemms and Softmax (shipped weights; jittered weights; rel = relative to |onnxruntime|):\n' + Object.entries(maxErrors).map(([k, v]) => `  ${k}: ${v.map((e) => `abs ${e.abs.toExponential(2)} (rel ${e.rel.toExponential(2)})`).join('; ')}`).join('\n'));
  });
  for (const m of lightCases) {
    it(m.name, async () => {
      const shipped = new Uint8Array((await import('node:fs')).readFileSync(m.path));
      const errs: { abs: number; rel: number }[] = [];
      for (const bytes0 of [shipped, await jitterWeights(shipped, 11)]) {
        const graph0 = importOnnx(bytes0);
        const shaped0 = await inferShapes(graph0, { inputShapes: shapesOf(feedsFor(graph0, m)) });
        // also compared: what feeds each Gemm and the Softmax (the shipped outputs are uniform: every channel alike)
        const extra = shaped0.nodes.filter((n) => n.op === 'Gemm' || n.op === 'Softmax').map((n) => n.inputs[0]);
        const bytes = exportOnnx(shaped0, undefined, { outputs: [...new Set([...graph0.outputs, ...extra])] }).bytes;
        const graph = importOnnx(bytes);
        const shaped = await inferShapes(graph, { inputShapes: shapesOf(feedsFor(graph, m)) });
        for (const n of shaped.nodes) expect(backend.supports(n, shaped), `${n.name} (${n.op})`).toEqual({ ok: true });
        const feeds = feedsFor(graph, m);
        const ref = await runOrt(bytes, feeds);
        const exe = await backend.compile({ name: m.name, onnx: bytes, inputs: graph.inputs, outputs: graph.outputs });
        const out = await exe.run(feeds);
        await exe.dispose();
        const worst = { abs: 0, rel: 0 };
        for (const name of graph.outputs) {
          const c = compareTensors(out[name], ref[name], DEFAULT_TOLERANCE);
          expect(c.ok, `${name}: ${c.reason}`).toBe(true);
          worst.abs = Math.max(worst.abs, c.maxAbs);
          worst.rel = Math.max(worst.rel, c.maxRel);
        }
        errs.push(worst);
      }
      maxErrors[m.name] = errs;
    }, 60_000);
  }
});

describe('a plan mixing onnxruntime CPU, onnxruntime-web wasm and tfjs', () => {
  // cpu: everything; gpu (bound to tfjs): the convs; npu (bound to wasm, float32, no legalization): the pools
  const target = makeTarget('mixed', [
    { id: 'cpu', kind: 'cpu', ops: '*', gflops: 10 },
    { id: 'gpu', kind: 'gpu', ops: ['Conv', 'Relu', 'Concat'], gflops: 1000, dynamicShapes: true },
    { id: 'npu', kind: 'npu', ops: ['MaxPool', 'Relu', 'Concat'], gflops: 1000, dtypes: ['float32', 'int64'], dynamicShapes: true },
  ], { bandwidthGBs: 1000, latencyUs: 0 });
  const bind: Record<string, Backend> = { cpu: new OrtBackend('cpu'), gpu: backend, npu: new OrtWebBackend() };

  it('squeezenet (jittered weights) in ≥3 partitions over the three backends matches onnxruntime on the whole model', async () => {
    const light = lightCases.find((c) => c.name === 'light_squeezenet')!;
    const bytes = await jitterWeights(new Uint8Array((await import('node:fs')).readFileSync(light.path)), 5);
    const feeds = feedsFor(importOnnx(bytes), light);
    const session = await Session.create(bytes, { target, bind, placement: 'capability', sampleFeeds: feeds });
    const parts = session.plan.partitions;
    expect(parts.length).toBeGreaterThanOrEqual(3);
    const used = new Set(parts.map((p) => session.bindings.find((b) => b.processor === p.processor)!.backend));
    expect(used).toEqual(new Set(['ort:cpu', 'ort-web:wasm', 'tfjs']));
    const out = await session.run(feeds);
    const ran = new Set(session.lastTrace!.steps.filter((s) => s.kind === 'compute').map((s) => s.backend));
    expect(ran).toEqual(new Set(['ort:cpu', 'ort-web:wasm', 'tfjs']));
    expect(session.fallbacks).toEqual([]);
    const ref = await runOrt(bytes, feeds);
    for (const name of session.outputNames) {
      const c = compareTensors(out[name], ref[name], DEFAULT_TOLERANCE);
      expect(c.ok, `${name}: ${c.reason}`).toBe(true);
    }
    await session.release();
  }, 60_000);
});

describe('one Session on onnxruntime-web wasm', () => {
  it('16 concurrent runs return what 16 sequential runs return', async () => {
    const session = await Session.create(buildBranchyCnn(), { target: 'host', bind: Object.fromEntries((await import('../../src/targets/index.js').then((t) => t.loadTarget('host'))).processors.map((p) => [p.id, 'wasm'])) });
    expect(new Set(session.bindings.map((b) => b.backend))).toEqual(new Set(['ort-web:wasm']));
    const image = (seed: number) => {
      const next = rng(seed);
      return new Tensor('float32', Float32Array.from({ length: 3 * 32 * 32 }, () => next() * 2 - 1), [1, 3, 32, 32]);
    };
    const feeds: TensorMap[] = Array.from({ length: 16 }, (_, i) => ({ image: image(100 + i) }));
    await expectConcurrentEqualsSequential(session, feeds, 'probs');
    await session.release();
  }, 60_000);
});
