/**
 * The memory-aware order inside the compiler: plans of generated irregular networks (RandWire,
 * NASNet-style cells) compiled with partition splitting and in-place writes verify, keep every chunk
 * contiguous in the order and on its original processor, place in-place outputs at their input's offset
 * and run on onnxruntime to the same outputs as the original model. Default plans never have larger
 * arenas than the partitioner's walk with greedy-by-size (the previous planner). A hand-edited in-place
 * claim is rejected by the verifier.
 */
import { describe, expect, it } from 'vitest';
import { nasCells, randwire, toOnnx } from '../../bench/memory/generate.js';
import { randomFeeds } from '../../src/backends/tensor.js';
import { compilePlan } from '../../src/compiler/pipeline.js';
import type { Plan } from '../../src/plan/schema.js';
import { PlanRunner } from '../../src/runtime/runner.js';
import { verifyPlan } from '../../src/plan/verify.js';
import { placeByCost } from '../../src/passes/place.js';
import { partition } from '../../src/passes/partition.js';
import { greedyBySize } from '../../src/passes/plan-memory.js';
import { lifetimes } from '../../src/plan/lifetimes.js';
import { residency } from '../../src/plan/residency.js';
import { staticInfo } from '../../src/ir/static.js';
import { cosine, makeTarget, orderProblems, overlappingPairs, runOrt, shapeBytes, valuesOf } from '../helpers/models.js';
import { makeContext } from '../../src/passes/context.js';
import { lowerPlan } from '../../src/compiler/lower.js';

const cpu = makeTarget('one-cpu', [{ id: 'cpu', kind: 'cpu', ops: '*' }]);
const mixed = makeTarget('cpu-npu', [
  { id: 'cpu', kind: 'cpu', ops: '*', gflops: 10 },
  { id: 'npu', kind: 'npu', ops: ['Conv', 'Sum', 'Concat', 'MaxPool'], backend: 'ort:cpu', gflops: 1000 },
]);

const specs = [randwire(8, { C: 8, H: 16, seed: 3 }), randwire(16, { C: 8, H: 16, seed: 5, stages: 2 }), nasCells(4, { C: 8, H: 16, seed: 2 })];

describe('compiled plans with the memory-aware order, split partitions and in-place writes', () => {
  for (const spec of specs) {
    it(`${spec.name}: verifies, chunks contiguous on their processors, in place at the same offset, runs to onnxruntime's outputs`, async () => {
      const bytes = toOnnx(spec);
      const graph = await shapeBytes(bytes);
      let inplaceSeen = 0, splitSeen = 0;
      for (const target of [cpu, mixed]) {
        const base = compilePlan(makeContext(graph, target), { modelBytes: bytes, modelFile: `${spec.name}.onnx`, split: 'none', orderBudgetMs: 200 });
        const plan = compilePlan(makeContext(graph, target), { modelBytes: bytes, modelFile: `${spec.name}.onnx`, split: 'memory', inplace: true, orderBudgetMs: 200 });
        expect(() => verifyPlan(plan, graph, target)).not.toThrow();
        expect(orderProblems(graph, plan.order)).toEqual([]);
        // every partition's run-time nodes contiguous in the order, on one processor
        const pos = new Map(plan.order.map((n, i) => [n, i]));
        for (const part of plan.partitions) {
          const ps = part.nodes.filter((n) => !plan.nodes[n].folded).map((n) => pos.get(n)!).sort((a, b) => a - b);
          if (ps.length) expect(ps[ps.length - 1] - ps[0] + 1, `partition ${part.id}`).toBe(ps.length);
          for (const n of part.nodes) if (!plan.nodes[n].folded) expect(plan.nodes[n].processor).toBe(base.nodes[n].processor);
        }
        for (const [id, m] of Object.entries(plan.memory)) {
          const byValue = new Map(m.buffers.map((b) => [b.value, b]));
          for (const b of m.buffers.filter((x) => x.inplaceOf)) expect(b.offset, `${id} ${b.value}`).toBe(byValue.get(b.inplaceOf!)!.offset);
          // apart from in-place pairs, the independent overlap check holds
          const pairs = overlappingPairs(m.buffers).filter(([a, b]) => a.value !== (b as { inplaceOf?: string }).inplaceOf && b.value !== (a as { inplaceOf?: string }).inplaceOf);
          expect(pairs, id).toEqual([]);
        }
        expect(plan.orderSearch!.peakBytes).toBeLessThanOrEqual(plan.orderSearch!.fileOrderPeakBytes);
        expect(plan.orderSearch!.lowerBoundBytes).toBeLessThanOrEqual(plan.orderSearch!.peakBytes);
        inplaceSeen += Object.values(plan.memory).reduce((a, m) => a + m.buffers.filter((b) => b.inplaceOf).length, 0);
        if (plan.partitions.length > base.partitions.length) splitSeen++;
      }
      expect(inplaceSeen).toBeGreaterThan(0);
      console.log(`${spec.name}: ${inplaceSeen} in-place buffers, split on ${splitSeen}/2 targets`);
      const plan = compilePlan(makeContext(graph, mixed), { modelBytes: bytes, modelFile: `${spec.name}.onnx`, split: 'memory', inplace: true, orderBudgetMs: 200 });
      const feeds = randomFeeds(graph, graph.inputShapes);
      const runner = await PlanRunner.create({ graph, plan, target: mixed, partitions: lowerPlan(graph, plan, mixed, staticInfo(graph)) });
      try {
        const outputs = await runner.run(feeds);
        const trace = runner.lastTrace!;
        const expected = await runOrt(bytes, feeds);
        for (const name of graph.outputs) {
          const a = valuesOf(outputs[name]), e = valuesOf(expected[name]);
          expect(cosine(a, e), name).toBeGreaterThan(0.99999);
          const maxAbs = Math.max(...a.map((x, i) => Math.abs(x - e[i])));
          expect(maxAbs, name).toBeLessThan(1e-3 * Math.max(1, ...e.map(Math.abs)));
        }
        for (const [id, m] of Object.entries(plan.memory)) expect(trace.arenaBytes[id]).toBe(m.arenaBytes);
      } finally {
        await runner.dispose();
      }
    }, 60_000);
  }

  it('default plans never have larger arenas than the partitioner\'s walk with greedy-by-size offsets (the previous planner)', async () => {
    for (const spec of [...specs, randwire(32, { C: 4, H: 8, seed: 9 }), nasCells(8, { C: 4, H: 8, seed: 4 })]) {
      const bytes = toOnnx(spec);
      const graph = await shapeBytes(bytes);
      for (const target of [cpu, mixed]) {
        const plan = compilePlan(makeContext(graph, target), { modelBytes: bytes, modelFile: 'm.onnx', orderBudgetMs: 100 });
        const st = staticInfo(graph);
        const parts = partition(makeContext(graph, target), placeByCost(makeContext(graph, target)).placement);
        const lives = lifetimes(graph, target, parts, st, residency(graph, target, parts, st), parts.walk);
        for (const [id, items] of lives) {
          const before = Math.max(0, ...greedyBySize(items).map((b) => b.offset + b.bytes));
          expect(plan.memory[id].arenaBytes, `${spec.name} ${target.name} ${id}`).toBeLessThanOrEqual(before);
        }
      }
    }
  }, 60_000);

  it('rejects a hand-edited in-place claim that no elementwise node makes', async () => {
    const spec = randwire(8, { C: 8, H: 16, seed: 3 });
    const bytes = toOnnx(spec);
    const graph = await shapeBytes(bytes);
    const plan = compilePlan(makeContext(graph, cpu), { modelBytes: bytes, modelFile: 'm.onnx', split: 'memory', inplace: true, orderBudgetMs: 100 });
    const mem = plan.memory.cpu;
    // a Conv's output claimed to be written over the Conv's input
    const conv = graph.nodes.find((n) => n.op === 'Conv' && mem.buffers.some((b) => b.value === n.inputs[0]))!;
    const victim = mem.buffers.find((b) => b.value === conv.outputs[0])!;
    const other = mem.buffers.find((b) => b.value === conv.inputs[0])!;
    expect(victim && other).toBeTruthy();
    const edited: Plan = { ...plan, memory: { ...plan.memory, cpu: { ...mem, arenaBytes: mem.arenaBytes + victim.bytes + other.offset, buffers: mem.buffers.map((b) => (b === victim ? { ...b, offset: other.offset, inplaceOf: other.value } : b)) } } };
    expect(() => verifyPlan(edited, graph, cpu)).toThrow(/in place/);
  });
});
