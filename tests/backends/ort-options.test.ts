/**
 * The onnxruntime sessions of a plan's partitions: a subgraph with no intermediate of its own (a chunk
 * of a split partition) runs without onnxruntime's arena, memory pattern or layout rewriting, renamed by
 * position so chunks that differ only in names share one session; anything else as given with
 * onnxruntime's defaults. Outputs written into preallocated tensors come back as those tensors. Plans
 * split with `--split memory` have chunks without intermediates and still run to onnxruntime's outputs.
 */
import * as ort from 'onnxruntime-node';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { injectionNet } from '../../bench/memory/rss.js';
import { toOnnx } from '../../bench/memory/generate.js';
import { intermediatesOf, OrtBackend, prepareSession, sessionOptionsFor } from '../../src/backends/ort.js';
import { randomFeeds, randomTensor, Tensor } from '../../src/backends/tensor.js';
import { GraphBuilder } from '../../src/ir/builder.js';
import { compilePlan } from '../../src/compiler/pipeline.js';
import { PlanRunner } from '../../src/runtime/runner.js';
import { expectOutputsMatch } from '../helpers/expect-outputs.js';
import { makeTarget, runOrt, shapeBytes, valuesOf } from '../helpers/models.js';
import { makeContext } from '../../src/passes/context.js';
import { staticInfo } from '../../src/ir/static.js';
import { lowerPlan } from '../../src/compiler/lower.js';

const SHAPE = [1, 4, 8, 8];

/** x → Relu → [Conv] (the Conv when `chain`), values and nodes named with `tag`. */
function model(tag: string, chain: boolean): Uint8Array {
  const b = new GraphBuilder(`g_${tag}`, { opset: 17 });
  b.input(`x_${tag}`, 'float32', SHAPE);
  b.node('Relu', [`x_${tag}`], `r_${tag}`, {}, { name: `relu_${tag}` });
  if (chain) {
    b.initializer(`w_${tag}`, Float32Array.from({ length: 16 }, (_, i) => (i % 5) - 2), [4, 4, 1, 1]);
    b.node('Conv', [`r_${tag}`, `w_${tag}`], `y_${tag}`, { kernel_shape: [1, 1] }, { name: `conv_${tag}` });
    b.output(`y_${tag}`, 'float32');
  } else b.output(`r_${tag}`, 'float32');
  return b.toBytes();
}

afterEach(() => vi.restoreAllMocks());

describe('onnxruntime session options per partition', () => {
  it('a subgraph with no intermediate runs lean and renamed; one with an intermediate, or on WebGPU, as given', () => {
    expect(intermediatesOf(model('a', false))).toBe(0);
    expect(intermediatesOf(model('a', true))).toBe(1);
    const lean = prepareSession(model('a', false), 'cpu');
    expect(lean.options).toMatchObject({ enableCpuMemArena: false, enableMemPattern: false, graphOptimizationLevel: 'extended' });
    expect([...lean.names!.keys()].sort()).toEqual(['r_a', 'x_a']);
    // same structure, other names: the same bytes
    expect(Buffer.from(prepareSession(model('b', false), 'cpu').bytes).equals(Buffer.from(lean.bytes))).toBe(true);
    const chain = model('a', true);
    const whole = prepareSession(chain, 'cpu');
    expect(whole.options).toEqual({});
    expect(whole.names).toBeUndefined();
    expect(whole.bytes).toBe(chain);
    expect(sessionOptionsFor(model('a', false), 'webgpu')).toEqual({});
  });

  it('chunks that differ only in names share one session, each run with its own names into its own tensors', async () => {
    const create = vi.spyOn(ort.InferenceSession, 'create');
    const backend = new OrtBackend('cpu');
    const a = await backend.compile({ name: 'a', onnx: model('a', false), inputs: ['x_a'], outputs: ['r_a'] });
    const b = await backend.compile({ name: 'b', onnx: model('b', false), inputs: ['x_b'], outputs: ['r_b'] });
    expect(create).toHaveBeenCalledTimes(1);
    try {
      const x = randomTensor('float32', SHAPE, 3);
      const into = new Tensor('float32', new Float32Array(x.size), SHAPE);
      const ra = await a.run({ x_a: x }, { r_a: into });
      expect(ra.r_a).toBe(into);
      expect(valuesOf(into)).toEqual(valuesOf(x).map((v) => Math.max(0, v)));
      const rb = await b.run({ x_b: x });
      expect(Object.keys(rb)).toEqual(['r_b']);
      expect(valuesOf(rb.r_b)).toEqual(valuesOf(into));
    } finally {
      await a.dispose();
      await b.dispose();
    }
  });

  it('a plan split with --split memory has chunks without intermediates, shares sessions and runs to onnxruntime\'s outputs', async () => {
    const spec = injectionNet(6, { C: 8, H: 32 });
    const bytes = toOnnx(spec);
    const graph = await shapeBytes(bytes);
    const cpu = makeTarget('one-cpu', [{ id: 'cpu', kind: 'cpu', ops: '*' }]);
    const plan = compilePlan(makeContext(graph, cpu), { modelBytes: bytes, modelFile: `${spec.name}.onnx`, split: 'memory', inplace: true, orderBudgetMs: 200 });
    expect(plan.partitions.length).toBeGreaterThan(1);
    for (const part of plan.partitions) {
      for (const n of part.nodes) {
        for (const o of graph.nodes[n].outputs) {
          const inside = (graph.values.get(o)?.consumers ?? []).filter((c) => plan.nodes[c].partition === part.id);
          expect(inside, `partition ${part.id}: ${o} is read inside it`).toEqual([]);
        }
      }
    }
    const create = vi.spyOn(ort.InferenceSession, 'create');
    const runner = await PlanRunner.create({ graph, plan, target: cpu, partitions: lowerPlan(graph, plan, cpu, staticInfo(graph)) });
    try {
      expect(create.mock.calls.length).toBeLessThan(plan.partitions.length);
      const feeds = randomFeeds(graph, graph.inputShapes);
      const outputs = await runner.run(feeds);
      const expected = await runOrt(bytes, feeds);
      expectOutputsMatch(outputs, expected, graph.outputs);
    } finally {
      await runner.dispose();
    }
  }, 60_000);
});
