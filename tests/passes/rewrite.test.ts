/**
 * The memory rewrites compute the same function: each rewritten model, run whole by onnxruntime, gives
 * the original model's outputs (onnxruntime on the original file is the reference), and the rewrites did
 * apply where the patterns occur.
 */
import { describe, expect, it } from 'vitest';
import { compareTensors } from '../../src/backends/compare.js';
import { randomFeeds } from '../../src/backends/tensor.js';
import { GraphBuilder } from '../../src/ir/builder.js';
import { exportOnnx } from '../../src/ir/onnx-export.js';
import { rewriteForMemory, REWRITES, type Rewrite } from '../../src/passes/rewrite.js';
import { nasCells, randwire, toOnnx, unet } from '../../bench/memory/generate.js';
import { corpusCases, loadCase, runOrt, shapeBytes } from '../helpers/models.js';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compile } from '../../src/compiler/index.js';
import { Session } from '../../src/runtime/session.js';

async function checkSame(bytes: Uint8Array, shapes: Record<string, number[]>, which: readonly Rewrite[] = REWRITES) {
  const graph = await shapeBytes(bytes, shapes);
  const { graph: rewritten, applied } = rewriteForMemory(graph, which);
  const feeds = randomFeeds(graph, Object.fromEntries(graph.inputs.map((n) => [n, graph.values.get(n)!.shape as number[]])), 3);
  const want = await runOrt(bytes, feeds);
  const got = await runOrt(exportOnnx(rewritten).bytes, feeds);
  for (const name of graph.outputs) {
    const c = compareTensors(got[name], want[name], { rtol: 1e-4, atol: 1e-5 });
    expect(c.ok, `${name}: max abs ${c.maxAbs} ${c.reason ?? ""}`).toBe(true);
  }
  return { graph, rewritten, applied };
}

describe('memory rewrites', () => {
  it('turn a Sum of several inputs into a chain of Adds in production order', async () => {
    const { graph, rewritten, applied } = await checkSame(toOnnx(randwire(8, { stages: 2, C: 4, H: 8, seed: 5 })), {});
    expect(applied['sum-chain']).toBeGreaterThan(0);
    const sums = graph.nodes.filter((n) => n.op === 'Sum' && n.inputs.length >= 3).length;
    expect(rewritten.nodes.filter((n) => n.op === 'Sum' && n.inputs.length >= 3)).toHaveLength(0);
    expect(sums).toBe(applied['sum-chain']);
  });

  it('split a Conv over a Concat (through a Relu) into per-part Convs summed, bias and padding kept', async () => {
    const b = new GraphBuilder('cat-conv', { opset: 17 });
    b.input('a', 'float32', [1, 3, 6, 6]);
    b.input('c', 'float32', [1, 5, 6, 6]);
    const w = Float32Array.from({ length: 4 * 8 * 3 * 3 }, (_, i) => Math.sin(i));
    b.initializer('w', w, [4, 8, 3, 3]);
    b.initializer('bias', Float32Array.from([0.5, -1, 2, 0.25]), [4]);
    b.node('Concat', ['a', 'c'], 'cat', { axis: 1 });
    b.node('Relu', ['cat'], 'r');
    b.node('Conv', ['r', 'w', 'bias'], 'y', { kernel_shape: [3, 3], pads: [1, 1, 1, 1] });
    b.node('Conv', ['cat', 'w'], 'z', { kernel_shape: [3, 3], strides: [2, 2] });
    b.output('y', 'float32');
    b.output('z', 'float32');
    const { rewritten, applied } = await checkSame(b.toBytes(), {}, ['sum-chain', 'concat-conv']);
    expect(applied['concat-conv']).toBe(1);
    expect(rewritten.nodes.map((n) => n.op).sort()).toEqual(['Add', 'Add', 'Conv', 'Conv', 'Conv', 'Conv', 'Relu', 'Relu']);
  });

  it('leave a Concat alone when one of its readers is not a Conv', async () => {
    const b = new GraphBuilder('cat-pool', { opset: 17 });
    b.input('a', 'float32', [1, 2, 4, 4]);
    b.input('c', 'float32', [1, 2, 4, 4]);
    b.initializer('w', Float32Array.from({ length: 3 * 4 }, (_, i) => i / 7), [3, 4, 1, 1]);
    b.node('Concat', ['a', 'c'], 'cat', { axis: 1 });
    b.node('Conv', ['cat', 'w'], 'y', { kernel_shape: [1, 1] });
    b.node('MaxPool', ['cat'], 'p', { kernel_shape: [2, 2] });
    b.output('y', 'float32');
    b.output('p', 'float32');
    const { rewritten, applied } = await checkSame(b.toBytes(), {}, ['sum-chain', 'concat-conv']);
    expect(applied['concat-conv']).toBe(0);
    expect(rewritten.nodes).toHaveLength(3);
  });

  it.each([
    ['nasnet cells', () => toOnnx(nasCells(3, { C: 4, H: 8, seed: 2 }))],
    ['u-net', () => toOnnx(unet(2, { C: 4, H: 16 }))],
  ])('keep the outputs of generated %s', async (_, make) => {
    const { applied } = await checkSame(make(), {});
    expect(applied['concat-conv'] + applied['sum-chain']).toBeGreaterThan(0);
  });

  it('keep squeezenet\'s outputs (its fire modules concatenate into the next squeeze conv)', async () => {
    const m = corpusCases().find((c) => c.name === 'light_squeezenet')!;
    const l = await loadCase(m);
    const { graph: rewritten, applied } = rewriteForMemory(l.graph);
    expect(applied['concat-conv']).toBeGreaterThan(0);
    const want = await runOrt(l.bytes, l.feeds);
    const got = await runOrt(exportOnnx(rewritten).bytes, l.feeds);
    for (const name of l.graph.outputs) expect(compareTensors(got[name], want[name], { rtol: 1e-3, atol: 1e-4 }).ok).toBe(true);
  });

  it('are kept by `compile --rewrite` only when the arenas shrink, recorded in the plan, and a Session runs the rewritten graph', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tessera-rewrite-'));
    const path = join(dir, 'unet.onnx');
    const bytes = toOnnx(unet(2, { C: 8, H: 32 }));
    writeFileSync(path, bytes);
    const plain = await compile(path, 'host', { lower: false });
    const rw = await compile(path, 'host', { rewrite: true, lower: false });
    const arena = (p: typeof plain.plan) => Object.values(p.memory).reduce((a, m) => a + m.arenaBytes, 0);
    expect(plain.plan.model.rewrites).toBeUndefined();
    expect(rw.plan.model.rewrites).toEqual(['concat-conv', 'spatial-tile']);
    expect(arena(rw.plan)).toBeLessThan(arena(plain.plan));
    expect(rw.plan.model.nodes).toBe(rw.graph.nodes.length);
    expect(rw.graph.nodes.filter((n) => n.op === 'Slice').length).toBeGreaterThan(0);
    // the plan records the tiling it chose; a runner applies it as recorded, not by searching again
    const tiles = rw.plan.model.tiles!;
    expect(tiles.length).toBeGreaterThan(0);
    const slices = (g: { nodes: readonly { op: string }[] }) => g.nodes.filter((n) => n.op === 'Slice').length;
    expect(slices(rewriteForMemory(plain.graph, rw.plan.model.rewrites, { tiles }).graph)).toBe(slices(rw.graph));
    const other = tiles.map((t) => ({ ...t, count: t.count === 2 ? 4 : 2 }));
    expect(slices(rewriteForMemory(plain.graph, rw.plan.model.rewrites, { tiles: other }).graph)).not.toBe(slices(rw.graph));
    const session = await Session.create(path, { plan: rw.plan });
    try {
      expect(session.graph.nodes.length).toBe(rw.plan.model.nodes);
      const feeds = randomFeeds(plain.graph, plain.graph.inputShapes, 9);
      const got = await session.run(feeds);
      const want = await runOrt(bytes, feeds);
      for (const name of plain.graph.outputs) expect(compareTensors(got[name], want[name]).ok).toBe(true);
    } finally {
      await session.release();
    }
    // a recorded tiling that does not fit the model is refused, naming it
    const bad = { ...rw.plan, model: { ...rw.plan.model, tiles: [{ nodes: [100000, 100001], count: 2 }] } };
    await expect(Session.create(path, { plan: bad })).rejects.toMatchObject({ code: 'BAD_PLAN', message: expect.stringContaining('spatial tiling') });
  });
});
