/**
 * Spatial tiling (passes/tile.ts) computes the same function: each tiled model, run whole by onnxruntime,
 * gives the original model's outputs (onnxruntime on the original file is the reference) — for 1x1
 * chains (no halo), k×k convolutions and pools with padding, stride and dilation (halos, and padding
 * only at the image borders), pooling and 2x2 upsampling, and a region that must be cut to stay
 * convex. Tile counts that do not divide the height are included (uneven bands, crops of upsampled
 * rows). And the planner's measure keeps tiling where the intermediate activations dominate.
 */
import { describe, expect, it } from 'vitest';
import { compareTensors } from '../../src/backends/compare.js';
import { randomFeeds } from '../../src/backends/tensor.js';
import { GraphBuilder } from '../../src/ir/builder.js';
import type { ShapedGraph } from '../../src/ir/infer.js';
import { exportOnnx } from '../../src/ir/onnx-export.js';
import { rewriteForMemory } from '../../src/passes/rewrite.js';
import { plannedArena } from '../../src/passes/tile.js';
import { randwire, toOnnx, unet } from '../../bench/memory/generate.js';
import { corpusCases, loadCase, runOrt, shapeBytes } from '../helpers/models.js';

const weights = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(seed * 7.3 + i * 1.7) / 3);
const isStatic = (g: ShapedGraph) => (name: string) => { const v = g.values.get(name); return !!v && v.isConst && v.role !== 'input'; };

/** Tiles `bytes` (by `count` tiles, or by memory) and checks the outputs against onnxruntime on the original. */
async function tiledSame(bytes: Uint8Array, count?: number) {
  const graph = await shapeBytes(bytes, {});
  const { graph: tiled, applied } = rewriteForMemory(graph, ['spatial-tile'], { tileCount: count });
  const feeds = randomFeeds(graph, graph.inputShapes, 5);
  const want = await runOrt(bytes, feeds);
  const got = await runOrt(exportOnnx(tiled).bytes, feeds);
  for (const name of graph.outputs) {
    const c = compareTensors(got[name], want[name], { rtol: 1e-4, atol: 1e-5 });
    expect(c.ok, `${name} with ${count} tiles: max abs ${c.maxAbs} ${c.reason ?? ''}`).toBe(true);
  }
  return { graph, tiled: await shapeBytes(exportOnnx(tiled).bytes, {}), applied };
}

function conv(b: GraphBuilder, x: string, y: string, cin: number, cout: number, k: number, attrs: Record<string, number[]> = {}, seed = 1) {
  b.initializer(`${y}_w`, weights(cout * cin * k * k, seed), [cout, cin, k, k]);
  b.initializer(`${y}_b`, weights(cout, seed + 1), [cout]);
  return b.node('Conv', [x, `${y}_w`, `${y}_b`], y, { kernel_shape: [k, k], ...attrs });
}

describe('spatial tiling', () => {
  it.each([2, 3, 5])('keeps a 1x1 chain with a residual Add exact with %i tiles (slices without halo)', async (count) => {
    const b = new GraphBuilder('chain1x1', { opset: 17 });
    b.input('x', 'float32', [1, 4, 10, 6]);
    conv(b, 'x', 'a', 4, 16, 1);
    b.node('Relu', ['a'], 'r');
    conv(b, 'r', 'c', 16, 4, 1, {}, 3);
    b.node('Add', ['c', 'x'], 'y');
    b.output('y', 'float32');
    const { tiled, applied } = await tiledSame(b.toBytes(), count);
    expect(applied['spatial-tile']).toBe(1);
    expect(tiled.nodes.filter((n) => n.op === 'Conv')).toHaveLength(2 * count);
    // no halo: the tiles read disjoint bands of x, together exactly its 10 rows
    const bands = tiled.nodes.filter((n) => n.op === 'Slice' && n.inputs[0] === 'x').map((n) => tiled.values.get(n.outputs[0])!.shape![2] as number);
    expect(bands.reduce((a, r) => a + r, 0)).toBe(10);
  });

  it.each([2, 3, 4, 7])('keeps k×k convs and pools with padding, stride and dilation exact with %i tiles (halos; padding only at the borders)', async (count) => {
    const b = new GraphBuilder('convkxk', { opset: 17 });
    b.input('x', 'float32', [1, 3, 23, 9]);
    conv(b, 'x', 'a', 3, 8, 3, { pads: [1, 1, 1, 1] }, 1);
    b.node('Relu', ['a'], 'ra');
    conv(b, 'ra', 'c', 8, 8, 5, { pads: [2, 2, 2, 2] }, 2);
    b.node('Add', ['c', 'ra'], 's'); // reads `ra` with no halo beside the 5x5 conv's halo: a crop
    conv(b, 's', 'd', 8, 6, 3, { pads: [2, 1, 2, 1], dilations: [2, 1] }, 3);
    conv(b, 'd', 'e', 6, 6, 3, { pads: [1, 0, 0, 0], strides: [2, 1] }, 4); // asymmetric padding, stride 2
    b.node('AveragePool', ['e'], 'f', { kernel_shape: [3, 3], pads: [1, 1, 1, 1] }); // count_include_pad 0: padding must stay at the border
    b.node('MaxPool', ['f'], 'y', { kernel_shape: [3, 2], pads: [1, 0, 1, 1] });
    b.output('y', 'float32');
    const { tiled, applied } = await tiledSame(b.toBytes(), count);
    expect(applied['spatial-tile']).toBe(1);
    // interior tiles have no padding along H: only the first and last bands are padded
    const padded = tiled.nodes.filter((n) => n.op === 'Conv' && n.attrs.pads?.type === 'ints' && (n.attrs.pads.value[0] > 0 || n.attrs.pads.value[2] > 0));
    expect(padded.length).toBeLessThan(tiled.nodes.filter((n) => n.op === 'Conv').length);
  });

  it.each([2, 3, 4])('keeps a pool / 1x1 conv / 2x2 upsample / concat region exact with %i tiles', async (count) => {
    const b = new GraphBuilder('updown', { opset: 17 });
    b.input('x', 'float32', [1, 4, 16, 8]);
    conv(b, 'x', 'a', 4, 8, 1, {}, 1);
    b.node('MaxPool', ['a'], 'p', { kernel_shape: [2, 2], strides: [2, 2] });
    conv(b, 'p', 'q', 8, 8, 1, {}, 2);
    b.node('Relu', ['q'], 'rq');
    b.node('MaxPool', ['rq'], 'm', { kernel_shape: [3, 3], pads: [1, 1, 1, 1] });
    b.initializer('up_w', weights(8 * 4 * 2 * 2, 5), [8, 4, 2, 2]);
    b.node('ConvTranspose', ['m', 'up_w'], 'u', { kernel_shape: [2, 2], strides: [2, 2] });
    b.node('Concat', ['u', 'a'], 'cat', { axis: 1 });
    b.initializer('bn_s', weights(12, 6).map((v) => 1 + v), [12]);
    b.initializer('bn_b', weights(12, 7), [12]);
    b.initializer('bn_m', weights(12, 8), [12]);
    b.initializer('bn_v', weights(12, 9).map((v) => 1 + Math.abs(v)), [12]);
    b.node('BatchNormalization', ['cat', 'bn_s', 'bn_b', 'bn_m', 'bn_v'], 'bn');
    conv(b, 'bn', 'y', 12, 2, 1, {}, 10);
    b.output('y', 'float32');
    b.output('p', 'float32'); // a region output that is also read inside the region
    const { tiled, applied } = await tiledSame(b.toBytes(), count);
    expect(applied['spatial-tile']).toBe(1);
    expect(tiled.nodes.filter((n) => n.op === 'ConvTranspose')).toHaveLength(count);
  });

  it('cuts a region that would wait on itself (squeeze-excitation: Conv → GlobalAveragePool → … → Mul with the Conv)', async () => {
    const b = new GraphBuilder('se', { opset: 17 });
    b.input('x', 'float32', [1, 4, 8, 8]);
    conv(b, 'x', 'a', 4, 8, 1);
    b.node('Relu', ['a'], 'ra');
    b.node('GlobalAveragePool', ['ra'], 'g');
    conv(b, 'g', 'h', 8, 8, 1, {}, 2);
    b.node('Sigmoid', ['h'], 'sg');
    b.node('Mul', ['ra', 'sg'], 'm');
    conv(b, 'm', 'n', 8, 8, 3, { pads: [1, 1, 1, 1] }, 3);
    b.node('Relu', ['n'], 'y');
    b.output('y', 'float32');
    const { tiled, applied } = await tiledSame(b.toBytes(), 2);
    // the Mul reads the gate whole, and through it the Conv: two regions, one before the pool, one after
    expect(applied['spatial-tile']).toBe(2);
    expect(tiled.nodes.filter((n) => n.op === 'GlobalAveragePool')).toHaveLength(1);
    expect(tiled.nodes.filter((n) => n.op === 'Mul')).toHaveLength(2);
  });

  it('is chosen by the planned arena: kept where the intermediates dominate, and the arena is then smaller', async () => {
    // 4 input channels widened to 64 and back: the 64-channel maps are 16x the input
    const b = new GraphBuilder('wide', { opset: 17 });
    b.input('x', 'float32', [1, 4, 64, 64]);
    conv(b, 'x', 'a', 4, 64, 3, { pads: [1, 1, 1, 1] });
    b.node('Relu', ['a'], 'ra');
    conv(b, 'ra', 'c', 64, 64, 1, {}, 2);
    b.node('Relu', ['c'], 'rc');
    conv(b, 'rc', 'y', 64, 4, 3, { pads: [1, 1, 1, 1] }, 3);
    b.output('y', 'float32');
    const { graph, tiled, applied } = await tiledSame(b.toBytes());
    expect(applied['spatial-tile']).toBe(1);
    expect(plannedArena(tiled, isStatic(tiled))).toBeLessThan(plannedArena(graph, isStatic(graph)) / 2);
  });

  it('is not kept where it cannot shrink the arena (a channel-reducing chain: the input dominates)', async () => {
    const b = new GraphBuilder('narrow', { opset: 17 });
    b.input('x', 'float32', [1, 64, 16, 16]);
    conv(b, 'x', 'a', 64, 2, 1);
    b.node('Relu', ['a'], 'y');
    b.output('y', 'float32');
    const { graph, tiled, applied } = await tiledSame(b.toBytes());
    expect(applied['spatial-tile']).toBe(0);
    expect(tiled.nodes).toHaveLength(graph.nodes.length);
  });

  it.each([
    ['randwire', () => toOnnx(randwire(8, { stages: 2, C: 4, H: 16, seed: 5 })), false],
    ['u-net', () => toOnnx(unet(2, { C: 4, H: 32 })), false],
    ['u-net with 3x3 convs (halos: only part of it is tiled)', () => toOnnx(unet(3, { C: 8, H: 64 }), { kernel: 3 }), true],
  ])('tiles the generated %s by memory, outputs unchanged and arena smaller', async (_, make, partly) => {
    const { graph, tiled, applied } = await tiledSame(make());
    expect(applied['spatial-tile']).toBeGreaterThan(0);
    expect(plannedArena(tiled, isStatic(tiled))).toBeLessThan(plannedArena(graph, isStatic(graph)));
    // with 1x1 convs the whole net is one tiled region; with 3x3 the halos keep part of it whole
    expect(tiled.nodes.some((n) => n.op === 'Conv' && !n.name.includes('__tile'))).toBe(partly);
  });

  it.each(['light_resnet50', 'light_squeezenet'])('tiles %s by memory (3x3 and 7x7 convs, strided and padded pools: real halos), outputs unchanged', async (name) => {
    const l = await loadCase(corpusCases().find((c) => c.name === name)!);
    const { graph: tiled, applied } = rewriteForMemory(l.graph, ['spatial-tile']);
    expect(applied['spatial-tile']).toBeGreaterThan(0);
    expect(tiled.nodes.some((n) => n.op === 'Conv' && n.attrs.kernel_shape?.type === 'ints' && n.attrs.kernel_shape.value[0] >= 3 && n.inputs[0].includes('__tile'))).toBe(true);
    const want = await runOrt(l.bytes, l.feeds);
    const got = await runOrt(exportOnnx(tiled).bytes, l.feeds);
    for (const out of l.graph.outputs) expect(compareTensors(got[out], want[out], { rtol: 1e-3, atol: 1e-4 }).ok).toBe(true);
    const shaped = await shapeBytes(exportOnnx(tiled).bytes, l.graph.inputShapes);
    expect(plannedArena(shaped, isStatic(shaped))).toBeLessThan(plannedArena(l.graph, isStatic(l.graph)));
  });
});
