/**
 * Generated irregular networks for the memory benchmark: RandWire-style random graphs (Watts–Strogatz,
 * as in "Exploring Randomly Wired Neural Networks"), NASNet/DARTS-style cell stacks, U-Nets with skip
 * connections, and transformer stacks. Each is a NetSpec (ops, inputs, output shapes) that converts to a
 * MemProblem (float32 activations, weights not counted) and, for the conv-only kinds, to an ONNX model.
 */
import { GraphBuilder } from '../../src/ir/builder.js';
import { makeProblem, type MemProblem, type MemValue } from '../../src/passes/memory-graph.js';

export interface NetNode {
  op: 'Input' | 'Conv' | 'Sum' | 'Relu' | 'Concat' | 'MaxPool' | 'Upsample' | 'MatMul' | 'Softmax' | 'LayerNorm' | 'Add' | 'Gelu';
  inputs: number[];
  /** Output shape without the batch dimension. */
  shape: number[];
  stride?: number;
}

export interface NetSpec {
  name: string;
  family: string;
  nodes: NetNode[];
}

function rng(seed: number) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 4294967296;
  };
}

class Net {
  nodes: NetNode[] = [];
  add(op: NetNode['op'], inputs: number[], shape: number[], stride?: number) {
    this.nodes.push({ op, inputs, shape, ...(stride ? { stride } : {}) });
    return this.nodes.length - 1;
  }
  /** A ReLU-conv unit: Sum of inputs (when more than one), ReLU, 1x1 conv. */
  unit(inputs: number[], shape: number[], stride = 1) {
    const s = inputs.length > 1 ? this.add('Sum', inputs, this.nodes[inputs[0]].shape) : inputs[0];
    const r = this.add('Relu', [s], this.nodes[s].shape);
    return this.add('Conv', [r], shape, stride);
  }
}

/** RandWire: `stages` random graphs of `n` nodes each (WS(n, k, p)), channels doubling and resolution halving per stage. */
export function randwire(n: number, opts: { stages?: number; k?: number; p?: number; C?: number; H?: number; seed?: number } = {}): NetSpec {
  const { stages = 3, k = 4, p = 0.75, C = 16, H = 64, seed = 1 } = opts;
  const r = rng(seed);
  const net = new Net();
  let x = net.add('Input', [], [3, H, H]);
  let c = C, h = H;
  x = net.add('Conv', [x], [c, h, h]);
  for (let s = 0; s < stages; s++) {
    const c2 = s === 0 ? c : Math.min(c * 2, C * 8), h2 = s === 0 ? h : Math.max(4, h >> 1);
    // Watts–Strogatz: ring lattice with k neighbours, each edge rewired with probability p
    const edges = new Set<string>();
    for (let i = 0; i < n; i++) {
      for (let j = 1; j <= k / 2; j++) {
        let t = (i + j) % n;
        if (r() < p) {
          do t = Math.floor(r() * n);
          while (t === i || edges.has(`${Math.min(i, t)},${Math.max(i, t)}`));
        }
        edges.add(`${Math.min(i, t)},${Math.max(i, t)}`);
      }
    }
    const preds: number[][] = Array.from({ length: n }, () => []);
    const hasSucc = new Array<boolean>(n).fill(false);
    for (const e of edges) {
      const [a, b] = e.split(',').map(Number);
      if (a === b) continue;
      preds[b].push(a);
      hasSucc[a] = true;
    }
    const out: number[] = [];
    for (let i = 0; i < n; i++) {
      const ins = preds[i].length ? preds[i].map((q) => out[q]) : [x];
      out.push(net.unit(ins, [c2, h2, h2], preds[i].length ? 1 : h / h2));
    }
    const sinks = out.filter((_, i) => !hasSucc[i]);
    x = sinks.length > 1 ? net.add('Sum', sinks, [c2, h2, h2]) : sinks[0];
    c = c2;
    h = h2;
  }
  return { name: `randwire-n${n}-s${stages}-seed${seed}`, family: 'randwire', nodes: net.nodes };
}

/** NASNet/DARTS-style stack: each cell takes the two previous cells' outputs, has `blocks` blocks combining two earlier states, and concatenates them. */
export function nasCells(cells: number, opts: { blocks?: number; C?: number; H?: number; seed?: number } = {}): NetSpec {
  const { blocks = 5, C = 16, H = 32, seed = 1 } = opts;
  const r = rng(seed);
  const net = new Net();
  const x = net.add('Input', [], [3, H, H]);
  let c = C, h = H;
  let prev2 = net.add('Conv', [x], [c, h, h]);
  let prev = prev2;
  for (let cell = 0; cell < cells; cell++) {
    const reduce = cell > 0 && cell % Math.max(2, Math.floor(cells / 3)) === 0;
    const h2 = reduce ? Math.max(1, h >> 1) : h;
    const s0 = net.unit([prev2], [c, h2, h2], net.nodes[prev2].shape[1] !== h2 ? net.nodes[prev2].shape[1] / h2 : 1);
    const s1 = net.unit([prev], [c, h2, h2], net.nodes[prev].shape[1] !== h2 ? net.nodes[prev].shape[1] / h2 : 1);
    const states = [s0, s1];
    const used = new Set<number>();
    for (let b = 0; b < blocks; b++) {
      const pick = () => states[Math.floor(r() * states.length)];
      const a = pick(), bb = pick();
      used.add(a);
      used.add(bb);
      const opA = r() < 0.5 ? net.unit([a], [c, h2, h2]) : net.add('MaxPool', [a], [c, h2, h2]);
      const opB = r() < 0.5 ? net.unit([bb], [c, h2, h2]) : net.add('Relu', [bb], [c, h2, h2]);
      states.push(net.add('Sum', [opA, opB], [c, h2, h2]));
    }
    const outs = states.slice(2).filter((s) => !used.has(s));
    const cat = net.add('Concat', outs, [c * outs.length, h2, h2]);
    prev2 = prev;
    prev = cat;
    h = h2;
  }
  return { name: `nas-cells${cells}-b${blocks}-seed${seed}`, family: 'nasnet', nodes: net.nodes };
}

/** U-Net: `depth` levels of conv-conv-pool, a bottleneck, then upsample + concat with the skip + conv-conv. */
export function unet(depth: number, opts: { C?: number; H?: number } = {}): NetSpec {
  const { C = 16, H = 128 } = opts;
  const net = new Net();
  let x = net.add('Input', [], [3, H, H]);
  const skips: number[] = [];
  let c = C, h = H;
  for (let d = 0; d < depth; d++) {
    x = net.unit([x], [c, h, h]);
    x = net.unit([x], [c, h, h]);
    skips.push(x);
    x = net.add('MaxPool', [x], [c, h >> 1, h >> 1]);
    c *= 2;
    h >>= 1;
  }
  x = net.unit([x], [c, h, h]);
  x = net.unit([x], [c, h, h]);
  for (let d = depth - 1; d >= 0; d--) {
    c /= 2;
    h <<= 1;
    const up = net.add('Upsample', [x], [c, h, h]);
    const cat = net.add('Concat', [up, skips[d]], [2 * c, h, h]);
    x = net.unit([cat], [c, h, h]);
    x = net.unit([x], [c, h, h]);
  }
  net.add('Conv', [x], [1, h, h]);
  return { name: `unet-d${depth}-C${C}-H${H}`, family: 'unet', nodes: net.nodes };
}

/** Transformer encoder stack: per layer LN, Q/K/V, scores [heads,T,T], softmax, AV, projection, residual, LN, FFN (4D), GELU, residual. */
export function transformer(layers: number, opts: { T?: number; D?: number; heads?: number } = {}): NetSpec {
  const { T = 128, D = 256, heads = 4 } = opts;
  const net = new Net();
  let x = net.add('Input', [], [T, D]);
  for (let l = 0; l < layers; l++) {
    const ln = net.add('LayerNorm', [x], [T, D]);
    const q = net.add('MatMul', [ln], [T, D]);
    const k = net.add('MatMul', [ln], [T, D]);
    const v = net.add('MatMul', [ln], [T, D]);
    const s = net.add('MatMul', [q, k], [heads, T, T]);
    const p = net.add('Softmax', [s], [heads, T, T]);
    const a = net.add('MatMul', [p, v], [T, D]);
    const o = net.add('MatMul', [a], [T, D]);
    const r1 = net.add('Add', [x, o], [T, D]);
    const ln2 = net.add('LayerNorm', [r1], [T, D]);
    const f1 = net.add('MatMul', [ln2], [T, 4 * D]);
    const g = net.add('Gelu', [f1], [T, 4 * D]);
    const f2 = net.add('MatMul', [g], [T, D]);
    x = net.add('Add', [r1, f2], [T, D]);
  }
  return { name: `transformer-L${layers}-T${T}-D${D}`, family: 'transformer', nodes: net.nodes };
}

const INPLACE = new Set(['Relu', 'Gelu', 'Softmax']);
const INPLACE_ANY = new Set(['Sum', 'Add']);

/** The ordering problem of a NetSpec: one node per op (inputs are values alive from the start), float32 activations. */
export function toProblem(spec: NetSpec): MemProblem {
  const nodeOf = new Map<number, number>(); // spec index -> problem node
  spec.nodes.forEach((nd, i) => nd.op !== 'Input' && nodeOf.set(i, nodeOf.size));
  const n = nodeOf.size;
  const consumers: number[][] = spec.nodes.map(() => []);
  spec.nodes.forEach((nd, i) => {
    if (nd.op === 'Input') return;
    for (const x of new Set(nd.inputs)) consumers[x].push(nodeOf.get(i)!);
  });
  const values: MemValue[] = spec.nodes.map((nd, i) => ({
    bytes: 4 * nd.shape.reduce((a, b) => a * b, 1),
    producer: nd.op === 'Input' ? -1 : nodeOf.get(i)!,
    consumers: consumers[i],
    keep: consumers[i].length === 0,
    name: `v${i}`,
  }));
  const inplace: number[][] = Array.from({ length: n }, () => []);
  spec.nodes.forEach((nd, i) => {
    if (INPLACE.has(nd.op)) inplace[nodeOf.get(i)!] = [nd.inputs[0]];
    else if (INPLACE_ANY.has(nd.op)) inplace[nodeOf.get(i)!] = [...new Set(nd.inputs)].filter((x) => spec.nodes[x].shape.join() === nd.shape.join());
  });
  const p = makeProblem(n, values, inplace);
  p.names = [...nodeOf.keys()].map((i) => `${spec.nodes[i].op}_${i}`);
  return p;
}

/**
 * An ONNX model of a conv-only NetSpec (Conv 1x1 with small weights, Sum, Relu, MaxPool, Concat; Upsample as
 * a 2x2 stride-2 ConvTranspose). `kernel` > 1 makes every Conv k×k with padding k>>1 (same shapes): a
 * variant where spatial tiling has halos to recompute.
 */
export function toOnnx(spec: NetSpec, { kernel = 1 }: { kernel?: number } = {}): Uint8Array {
  const b = new GraphBuilder(spec.name, { opset: 17 });
  const name = (i: number) => `v${i}`;
  const consumed = new Set<number>();
  spec.nodes.forEach((nd) => nd.inputs.forEach((x) => consumed.add(x)));
  const r = rng(7);
  spec.nodes.forEach((nd, i) => {
    const ins = nd.inputs.map(name);
    switch (nd.op) {
      case 'Input':
        b.input(name(i), 'float32', [1, ...nd.shape]);
        break;
      case 'Conv': {
        const cin = spec.nodes[nd.inputs[0]].shape[0], cout = nd.shape[0];
        const w = Float32Array.from({ length: cout * cin * kernel * kernel }, () => (r() - 0.5) / Math.sqrt(cin * kernel * kernel));
        b.initializer(`w${i}`, w, [cout, cin, kernel, kernel]);
        const p = kernel >> 1;
        b.node('Conv', [ins[0], `w${i}`], name(i), { kernel_shape: [kernel, kernel], strides: [nd.stride ?? 1, nd.stride ?? 1], ...(p ? { pads: [p, p, p, p] } : {}) });
        break;
      }
      case 'Upsample': {
        const cin = spec.nodes[nd.inputs[0]].shape[0], cout = nd.shape[0];
        const s = nd.shape[1] / spec.nodes[nd.inputs[0]].shape[1];
        const w = Float32Array.from({ length: cin * cout * s * s }, () => (r() - 0.5) / Math.sqrt(cin));
        b.initializer(`w${i}`, w, [cin, cout, s, s]);
        b.node('ConvTranspose', [ins[0], `w${i}`], name(i), { kernel_shape: [s, s], strides: [s, s] });
        break;
      }
      case 'Sum':
      case 'Relu':
      case 'Concat':
        b.node(nd.op, ins, name(i), nd.op === 'Concat' ? { axis: 1 } : {});
        break;
      case 'MaxPool': {
        const s = spec.nodes[nd.inputs[0]].shape[1] / nd.shape[1];
        b.node('MaxPool', ins, name(i), s > 1 ? { kernel_shape: [s, s], strides: [s, s] } : { kernel_shape: [3, 3], pads: [1, 1, 1, 1] });
        break;
      }
      default:
        throw new Error(`toOnnx: ${nd.op} is not generated as ONNX`);
    }
    if (nd.op !== 'Input' && !consumed.has(i)) b.output(name(i), 'float32');
  });
  return b.toBytes();
}
