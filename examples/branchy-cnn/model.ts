/**
 * A small branchy CNN built in code with Tessera's GraphBuilder:
 *
 *   x [N,3,32,32] ─ stem Conv3x3(16) ─ Relu ─ LRN ─┬─ Conv1x1(8) ─ Relu ──────────┐
 *                                                  ├─ Conv3x3(8) ─ Relu ──────────┼─ Concat(32) ─ Conv1x1(16) ─┐
 *                                                  ├─ MaxPool3x3 ─ Conv1x1(16) ───┘                            │
 *                                                  └───────────────────────────────────────────────────────── Add ─ Relu
 *   ─ GlobalAveragePool ─ Flatten ─ Gemm(10) ─ Softmax ─ probs [N,10]
 *
 * The LRN (AlexNet's local response normalization) is there because phone NPUs lack it: compiled for
 * snapdragon-8-gen-3 it goes elsewhere, and the summary says why.
 * Weights are deterministic: drawn from a seeded generator, so every build gives the same bytes.
 */
import { GraphBuilder } from '../../src/ir/builder.js';

/** mulberry32: a tiny seeded generator of floats in [0, 1). */
function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), s | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const INPUT = { name: 'image', shape: ['N', 3, 32, 32] as (number | string)[] };
export const OUTPUT = 'probs';

export function buildBranchyCnn(seed = 42): Uint8Array {
  const rand = seeded(seed);
  const b = new GraphBuilder('branchy-cnn');
  // He-style uniform init keeps activations in a sensible range through the ReLUs.
  const conv = (name: string, x: string, cin: number, cout: number, k: number): string => {
    const bound = Math.sqrt(6 / (cin * k * k));
    const w = b.initializer(`${name}.weight`, Float32Array.from({ length: cout * cin * k * k }, () => (rand() * 2 - 1) * bound), [cout, cin, k, k]);
    const bias = b.initializer(`${name}.bias`, Float32Array.from({ length: cout }, () => (rand() * 2 - 1) * 0.1), [cout]);
    const p = (k - 1) / 2;
    return b.node('Conv', [x, w, bias], name, { kernel_shape: [k, k], pads: [p, p, p, p], strides: [1, 1] }, { name });
  };
  const relu = (x: string) => b.node('Relu', [x], `${x}.relu`, {}, { name: `${x}.relu` });

  const x = b.input(INPUT.name, 'float32', INPUT.shape);
  const stem = b.node('LRN', [relu(conv('stem', x, 3, 16, 3))], 'stem.lrn', { size: 5, alpha: 1e-4, beta: 0.75, bias: { type: 'float', value: 1 } }, { name: 'stem.lrn' });
  const b1 = relu(conv('branch1x1', stem, 16, 8, 1));
  const b3 = relu(conv('branch3x3', stem, 16, 8, 3));
  const pool = b.node('MaxPool', [stem], 'branch_pool', { kernel_shape: [3, 3], pads: [1, 1, 1, 1], strides: [1, 1] }, { name: 'branch_pool' });
  const bp = conv('branch_pool_proj', pool, 16, 16, 1);
  const cat = b.node('Concat', [b1, b3, bp], 'concat', { axis: 1 }, { name: 'concat' });
  const proj = conv('project', cat, 32, 16, 1);
  const res = relu(b.node('Add', [proj, stem], 'residual', {}, { name: 'residual' }));
  const gap = b.node('GlobalAveragePool', [res], 'gap', {}, { name: 'gap' });
  const flat = b.node('Flatten', [gap], 'flat', { axis: 1 }, { name: 'flat' });
  const fcW = b.initializer('fc.weight', Float32Array.from({ length: 10 * 16 }, () => (rand() * 2 - 1) * 0.5), [10, 16]);
  const fcB = b.initializer('fc.bias', Float32Array.from({ length: 10 }, () => (rand() * 2 - 1) * 0.1), [10]);
  const logits = b.node('Gemm', [flat, fcW, fcB], 'logits', { transB: 1 }, { name: 'fc' });
  b.node('Softmax', [logits], OUTPUT, { axis: -1 }, { name: 'softmax' });
  b.output(OUTPUT, 'float32', ['N', 10]);
  return b.toBytes();
}
