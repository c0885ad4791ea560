/**
 * `tessera inspect --json` and `tessera run` as a user runs them, on the bundled example model and a
 * corpus model, checked against facts obtained without Tessera (onnx-buf decoding, onnxruntime-node).
 */
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fromBinary } from '@bufbuild/protobuf';
import * as ort from 'onnxruntime-node';
import { ModelProtoSchema } from 'onnx-buf';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildBranchyCnn } from '../../examples/branchy-cnn/model.js';
import { targetJson } from '../helpers/models.js';
import { CORPUS, floatTensorFile, readFloatTensor, tempDir, tessera } from './helpers.js';

const { dir, cleanup } = tempDir('cli');
const EXAMPLE = join(dir, 'branchy-cnn.onnx');
const WAKEWORD = join(CORPUS, 'models/wakeword-hello-deepa.onnx');

/** A seeded float32 input [1,3,32,32] for the example model, as a TensorProto file. */
const INPUT = Float32Array.from({ length: 3 * 32 * 32 }, (_, i) => Math.sin(i * 0.37));

beforeAll(() => {
  writeFileSync(EXAMPLE, buildBranchyCnn());
  mkdirSync(join(dir, 'data'));
  writeFileSync(join(dir, 'data/input_0.pb'), floatTensorFile([1, 3, 32, 32], INPUT));
});
afterAll(cleanup);

interface InspectJson {
  nodes: number;
  weightBytes: number;
  values: { name: string; dtype: string; shape: number[]; bytes: number; shapeSource: string }[];
}

function decodedNodeCount(path: string): number {
  return fromBinary(ModelProtoSchema, readFileSync(path)).graph!.node.length;
}

function inspectJson(model: string): InspectJson {
  const r = tessera('inspect', model, '--json');
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  return JSON.parse(r.stdout) as InspectJson;
}

describe('tessera inspect --json', () => {
  for (const [label, path] of [['the example model', EXAMPLE], ['a corpus model (wakeword-hello-deepa)', WAKEWORD]]) {
    it(`on ${label}: nodes, values and weightBytes agree with the file decoded by onnx-buf`, () => {
      const r = inspectJson(path);
      const graph = fromBinary(ModelProtoSchema, readFileSync(path)).graph!;
      expect(r.nodes).toBe(graph.node.length);

      // Independent weight count: initializer bytes plus the tensors of Constant nodes (both models
      // read every one of them at run time).
      const constBytes = graph.node.filter((n) => n.opType === 'Constant').reduce((a, n) => a + (n.attribute[0].t?.rawData.length ?? 0), 0);
      expect(r.weightBytes).toBe(graph.initializer.reduce((a, t) => a + t.rawData.length, 0) + constBytes);

      // Every output of a non-Constant node is a value, with a concrete shape and its float32 byte size.
      const activations = graph.node.filter((n) => n.opType !== 'Constant').flatMap((n) => n.output);
      expect(r.values.map((v) => v.name).sort()).toEqual([...activations].sort());
      for (const v of r.values) {
        expect(Object.keys(v).sort()).toEqual(['bytes', 'dtype', 'name', 'shape', 'shapeSource']);
        expect(['static', 'probe']).toContain(v.shapeSource);
        expect(v.shape.every((d) => Number.isInteger(d) && d >= 0)).toBe(true);
        expect(v.dtype).toBe('float32');
        expect(v.bytes).toBe(4 * v.shape.reduce((a, b) => a * b, 1));
      }
    });
  }

  it('gives the example model the shapes of its architecture', () => {
    const shapes = Object.fromEntries(inspectJson(EXAMPLE).values.map((v) => [v.name, v.shape]));
    expect(shapes.stem).toEqual([1, 16, 32, 32]);
    expect(shapes.concat).toEqual([1, 32, 32, 32]);
    expect(shapes.gap).toEqual([1, 16, 1, 1]);
    expect(shapes.probs).toEqual([1, 10]);
  });

  it('applies --input-shape to symbolic dims', () => {
    const r = JSON.parse(tessera('inspect', EXAMPLE, '--json', '--input-shape', 'image=4x3x32x32').stdout) as InspectJson;
    expect(r.values.find((v) => v.name === 'probs')!.shape).toEqual([4, 10]);
  });

  it('prints a readable report without --json', () => {
    const r = tessera('inspect', EXAMPLE);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(`nodes: ${decodedNodeCount(EXAMPLE)} top level, 0 inside subgraphs`);
    expect(r.stdout).toMatch(/ops: Conv 5, Relu 4/);
  });
});

describe('tessera run', () => {
  it('--check exits 0 on the example model with seeded random inputs', () => {
    const r = tessera('run', EXAMPLE, '--check');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/ran a plan for target 'host' \(\d+ partitions?; measured [\d.]+ ms, one run\)/);
    expect(r.stdout).toMatch(/^  cpu → ort:cpu/m);
    expect(r.stdout).toContain('vs onnxruntime (original model)');
    expect(r.stdout).toContain('check: all outputs pass (rtol 0.001 / atol 0.0001)');
  });

  it('--out writes output_0.pb holding what onnxruntime computes for the same input', async () => {
    const out = join(dir, 'out');
    const r = tessera('run', EXAMPLE, '--data', join(dir, 'data'), '--out', out);
    expect(r.status).toBe(0);
    const got = readFloatTensor(readFileSync(join(out, 'output_0.pb')));
    expect(got.dims).toEqual([1, 10]);

    const session = await ort.InferenceSession.create(EXAMPLE);
    const res = await session.run({ image: new ort.Tensor('float32', INPUT, [1, 3, 32, 32]) });
    await session.release();
    const want = res.probs.data as Float32Array;
    expect(got.values.length).toBe(10);
    got.values.forEach((v, i) => expect(Math.abs(v - want[i])).toBeLessThanOrEqual(1e-6));
    expect(got.values.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5); // a softmax
  });

  it('with nothing to plan (the host target here: one processor takes everything), prints what a compiled plan prints, and the outputs are onnxruntime\'s', async () => {
    // --objective asks for a plan; without it, `tessera run` hands the model to onnxruntime as it is when a plan would have nothing to decide
    const runs = ['planless', 'compiled'].map((name) => {
      const out = join(dir, `out-${name}`);
      const r = tessera('run', EXAMPLE, '--data', join(dir, 'data'), '--out', out, ...(name === 'compiled' ? ['--objective', 'latency'] : []));
      expect(r.status, r.stderr).toBe(0);
      return { printed: r.stdout.replace(/measured [\d.]+ ms/, 'measured … ms'), got: readFloatTensor(readFileSync(join(out, 'output_0.pb'))) };
    });
    expect(runs[0].printed).toEqual(runs[1].printed);
    const session = await ort.InferenceSession.create(EXAMPLE);
    const want = (await session.run({ image: new ort.Tensor('float32', INPUT, [1, 3, 32, 32]) })).probs.data as Float32Array;
    await session.release();
    for (const { got } of runs) {
      expect(got.dims).toEqual([1, 10]);
      got.values.forEach((v, i) => expect(Math.abs(v - want[i])).toBeLessThanOrEqual(1e-6));
    }
  });

  it('a --plan that lowers to the model itself (one partition on the CPU EP) runs as that one session: the report and outputs of the plan runner (--trace), and onnxruntime\'s', async () => {
    // a target of one CPU on the CPU EP: one partition whatever this host's GPU
    const target = join(dir, 'cpu-only.json');
    writeFileSync(target, JSON.stringify(targetJson('cpu-only', [{ id: 'cpu', kind: 'cpu', ops: '*' }])));
    const plan = join(dir, 'cpu-plan.json');
    const c = tessera('compile', EXAMPLE, '--target', target, '--out', plan);
    expect(c.status, c.stderr).toBe(0);
    const p = JSON.parse(readFileSync(plan, 'utf8'));
    expect(p.partitions.map((x: { backend: string; precision: string }) => `${x.backend} ${x.precision}`)).toEqual(['ort:cpu native']);
    // --trace needs the plan runner's trace: it runs through the Session; without it, as the model's one session
    const runs = ['as the model', 'runner'].map((name) => {
      const out = join(dir, `out-plan-${name}`);
      const r = tessera('run', EXAMPLE, '--plan', plan, '--target', target, '--data', join(dir, 'data'), '--out', out, '--memory', '--json', ...(name === 'runner' ? ['--trace', join(dir, 'trace.json')] : []));
      expect(r.status, r.stderr).toBe(0);
      const rep = JSON.parse(r.stdout);
      return { rep: { ...rep, runMs: 0, memory: { ...rep.memory, measuredPeakBytes: 0 } }, got: readFloatTensor(readFileSync(join(out, 'output_0.pb'))) };
    });
    expect(runs[0].rep).toEqual(runs[1].rep);
    expect(runs[0].rep.memory.predicted.peakBytes).toBe(p.resident.peakBytes);
    const session = await ort.InferenceSession.create(EXAMPLE);
    const want = (await session.run({ image: new ort.Tensor('float32', INPUT, [1, 3, 32, 32]) })).probs.data as Float32Array;
    await session.release();
    for (const { got } of runs) got.values.forEach((v, i) => expect(Math.abs(v - want[i])).toBeLessThanOrEqual(1e-6));
  });

  it('--check compares with the output_0.pb in --data: exit 0 when it agrees, 1 when it was altered', () => {
    const data = join(dir, 'data-expected');
    mkdirSync(data);
    copyFileSync(join(dir, 'data/input_0.pb'), join(data, 'input_0.pb'));
    const out = join(dir, 'out-expected');
    expect(tessera('run', EXAMPLE, '--data', join(dir, 'data'), '--out', out).status).toBe(0);
    copyFileSync(join(out, 'output_0.pb'), join(data, 'output_0.pb'));

    const ok = tessera('run', EXAMPLE, '--data', data, '--check');
    expect(ok.status).toBe(0);
    expect(ok.stdout).toMatch(/vs expected output file: .* ok/);

    // Alter the expected output: one probability off by 0.01, far outside rtol 1e-3 / atol 1e-4.
    const expected = readFloatTensor(readFileSync(join(data, 'output_0.pb')));
    expected.values[3] += 0.01;
    writeFileSync(join(data, 'output_0.pb'), floatTensorFile([1, 10], expected.values));

    const bad = tessera('run', EXAMPLE, '--data', data, '--check');
    expect(bad.status).toBe(1);
    expect(bad.stdout).toMatch(/vs expected output file: max abs 1\.00e-2.* FAIL/);
    expect(bad.stdout).toContain('check: FAILED');

    const json = tessera('run', EXAMPLE, '--data', data, '--check', '--json');
    expect(json.status).toBe(1);
    const report = JSON.parse(json.stdout) as { ok: boolean; outputs: { name: string; shape: number[]; vsExpected: { ok: boolean } }[] };
    expect(report.ok).toBe(false);
    expect(report.outputs[0]).toMatchObject({ name: 'probs', shape: [1, 10], vsExpected: { ok: false } });
  });

  it('--target compiles the plan for another machine and says which processors are emulated here', () => {
    const r = tessera('run', EXAMPLE, '--target', 'snapdragon-8-gen-3', '--json');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const report = JSON.parse(r.stdout) as { target: string; partitions: number; bindings: { processor: string; emulated: boolean }[] };
    expect(report.target).toBe('snapdragon-8-gen-3');
    expect(report.partitions).toBeGreaterThanOrEqual(1);
    expect(report.bindings.map((b) => b.processor).sort()).toEqual(['cpu', 'gpu', 'npu']);
    expect(report.bindings.find((b) => b.processor === 'npu')!.emulated).toBe(true); // no NPU backend in Node
  });

  it('--check passes on a corpus model', () => {
    const r = tessera('run', WAKEWORD, '--check');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('check: all outputs pass (rtol 0.001 / atol 0.0001)');
  });
});

describe('tessera compile prints why nodes left the preferred processor', () => {
  it('each fallback line carries a real reason of the plan, its figures and names as they are, not elided', () => {
    const out = join(dir, 'fallbacks.plan.json');
    const r = tessera('compile', EXAMPLE, '--target', 'snapdragon-8-gen-3', '--input-shape', 'image=16x3x32x32', '--out', out);
    expect(r.status, r.stderr).toBe(0);
    const plan = JSON.parse(readFileSync(out, 'utf8')) as { nodes: { op: string; rejected?: { processor: string; reason: string }[] }[] };
    const reasons = new Set(plan.nodes.filter((n) => n.rejected?.length).map((n) => n.rejected!.map((x) => `${x.processor}: ${x.reason}`).join('; ')));
    const lines = r.stdout.split('\n').filter((l) => / ×\d+ → /.test(l));
    expect(lines.length).toBeGreaterThan(0);
    for (const l of lines) {
      expect(l).not.toContain('…');
      const shown = l.replace(/^.* ×\d+ → [^:]+: /, '').replace(/ \(the first of \d+: names and figures differ among them\)$/, '');
      expect(reasons.has(shown), l).toBe(true);
    }
  });
});
