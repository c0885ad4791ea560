/**
 * Identical chunks share one executable (compiler/repeats.ts sharedExecutables): a memory-objective plan
 * split into chunks of a generated irregular net (RandWire, bench/memory/generate.ts) runs each group of
 * chunks of the same structure — same ops, attributes, shapes and wiring, different weights — on one
 * onnxruntime session with the chunk's weights fed as inputs. Its outputs equal onnxruntime running the
 * whole model, the sessions created equal the number of distinct chunk structures (counted here apart
 * from the planner: ops, attributes, input and output shapes, wiring by position), and the planner's
 * predicted session bytes count those sessions, not the chunks.
 */
import * as ort from 'onnxruntime-node';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { randwire, toOnnx } from '../../bench/memory/generate.js';
import { randomFeeds } from '../../src/backends/tensor.js';
import { compile } from '../../src/compiler/index.js';
import { memoryFigures } from '../../src/passes/resident.js';
import { PlanRunner } from '../../src/runtime/runner.js';
import { expectOutputsMatch } from '../helpers/expect-outputs.js';
import { runOrt } from '../helpers/models.js';

afterEach(() => vi.restoreAllMocks());

/** A chunk's structure, written independently of the planner: per node (ascending) op, attributes, each input as a weight's shape or the position of the value among the chunk's reads, output shapes; and which outputs leave. */
function structure(c: Awaited<ReturnType<typeof compile>>, id: number): string {
  const { graph, plan } = c;
  const part = plan.partitions[id];
  const seen = new Map<string, number>();
  const nodes = part.nodes.map((i) => {
    const n = graph.nodes[i];
    const ins = n.inputs.map((x) => {
      const v = graph.values.get(x)!;
      if (v.initializer) return `W${v.initializer.dims.join('x')}`;
      if (!seen.has(x)) seen.set(x, seen.size);
      return `v${seen.get(x)}:${v.shape?.join('x')}`;
    });
    return `${n.op}${JSON.stringify(n.attrs)}(${ins.join(',')})->${n.outputs.map((o) => graph.values.get(o)!.shape?.join('x')).join(',')}`;
  });
  const outs = part.outputs.map((o) => part.nodes.findIndex((i) => graph.nodes[i].outputs.includes(o))).sort();
  return `${part.processor}|${nodes.join(';')}|${outs.join(',')}`;
}

describe('shared executables', () => {
  it('a split memory-objective plan of a RandWire net runs one session per distinct chunk structure, its weights fed, to onnxruntime\'s outputs', async () => {
    const bytes = toOnnx(randwire(8, { seed: 1, stages: 2, H: 16, C: 8 }), { kernel: 3 });
    const c = await compile(bytes, 'host', { objective: 'memory', split: 'memory', orderBudgetMs: 300 });
    const { plan, graph } = c;
    const shared = plan.partitions.filter((p) => p.executable !== undefined);
    expect(plan.partitions.length).toBeGreaterThan(10);
    expect(shared.length).toBeGreaterThan(0);
    // chunks sharing an executable have different weights (otherwise there would be nothing to feed)
    expect(shared.some((p) => JSON.stringify(c.partitions![p.id].fed) !== JSON.stringify(c.partitions![p.executable!].fed))).toBe(true);
    const distinct = new Set(plan.partitions.map((p) => structure(c, p.id))).size;
    expect(distinct).toBeLessThan(plan.partitions.length);
    expect(plan.partitions.filter((p) => p.executable === undefined).length).toBe(distinct);
    expect(plan.resident!.sessionBytes).toBe(Math.round((distinct - 1) * memoryFigures(c.target).sessionBytes));
    const create = vi.spyOn(ort.InferenceSession, 'create');
    const runner = await PlanRunner.create({ ...c, partitions: c.partitions! });
    try {
      expect(create.mock.calls.length).toBe(distinct);
      const feeds = randomFeeds(graph, graph.inputShapes);
      const outputs = await runner.run(feeds);
      const expected = await runOrt(bytes, feeds);
      expectOutputsMatch(outputs, expected, graph.outputs);
    } finally {
      await runner.dispose();
    }
  }, 120_000);

  it('a plan whose partition claims the executable of a partition of another structure, or of a later one, is refused (BAD_PLAN)', async () => {
    const bytes = toOnnx(randwire(8, { seed: 1, stages: 2, H: 16, C: 8 }), { kernel: 3 });
    const c = await compile(bytes, 'host', { objective: 'memory', split: 'memory', orderBudgetMs: 300, lower: false });
    const plan = structuredClone(c.plan);
    const other = plan.partitions.findIndex((p, i) => i > 0 && p.executable === undefined && structure(c, i) !== structure(c, 0));
    expect(other).toBeGreaterThan(0);
    plan.partitions[other].executable = 0;
    await expect(compile(bytes, 'host', { plan })).rejects.toMatchObject({ code: 'BAD_PLAN' });
    // and one that names a later partition is refused by the verifier, lowered or not
    const later = structuredClone(c.plan);
    later.partitions[1].executable = 2;
    await expect(compile(bytes, 'host', { plan: later, lower: false })).rejects.toMatchObject({ code: 'BAD_PLAN', message: expect.stringContaining('not an earlier partition') });
  }, 120_000);
});
