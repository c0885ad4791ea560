/**
 * Partition, checked against an independent recomputation from the graph: every node in exactly one
 * partition, every run-time node on a processor whose table takes it, partitions acyclic when contracted
 * (own DFS over run-time edges), partition inputs/outputs exactly the values crossing boundaries; on
 * generated graphs (seeded) and every corpus model, for every built-in target. Then the placement
 * rules the issue names: an op the NPU lacks goes elsewhere with a reason naming it, control flow goes
 * whole to the CPU, shape arithmetic is folded and never becomes NPU work.
 */
import { fromBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema } from 'onnx-buf';
import { beforeAll, describe, expect, it } from 'vitest';
import { measureRanges } from '../../src/backends/ort.js';
import { Tensor } from '../../src/backends/tensor.js';
import { GraphBuilder } from '../../src/ir/builder.js';
import type { ShapedGraph } from '../../src/ir/infer.js';
import { lowerPartition } from '../../src/passes/map.js';
import { partition, type Partitioning } from '../../src/passes/partition.js';
import { staticInfo } from '../../src/ir/static.js';
import { compilePlan } from '../../src/compiler/pipeline.js';
import { builtinTargetNames, loadTarget } from '../../src/targets/index.js';
import type { Target } from '../../src/targets/schema.js';
import { checkSupport } from '../../src/targets/support.js';
import {
  contractedCycle, corpusCases, crossingValues, isStaticValue, lcgValues, loadCase, makeTarget, orderProblems, runtimeReadsOf, seeded, shapeBytes, type Loaded,
} from '../helpers/models.js';
import { makeContext } from '../../src/passes/context.js';

const CONTROL_FLOW = new Set(['If', 'Loop', 'Scan']);

let targets: Target[];
beforeAll(async () => {
  targets = await Promise.all(builtinTargetNames().map(loadTarget));
});

/** Every property a partitioning must have, recomputed from the graph; returns the problems found. */
function problems(graph: ShapedGraph, target: Target, parts: Partitioning): string[] {
  const out: string[] = [];
  const n = graph.nodes.length;
  const procs = new Map(target.processors.map((p) => [p.id, p]));
  const outputs = new Set(graph.outputs);
  const isFolded = (i: number) => parts.placement[i].folded;

  // every node in exactly one partition, consistent with partitionOf and the placement
  const seen = new Array<number>(n).fill(0);
  parts.partitions.forEach((p, id) => {
    if (p.id !== id) out.push(`partition #${id} has id ${p.id}`);
    if (!procs.has(p.processor)) out.push(`partition ${id} on unknown processor ${p.processor}`);
    for (const i of p.nodes) {
      seen[i]++;
      if (parts.partitionOf[i] !== id) out.push(`node ${i} listed by partition ${id} but partitionOf says ${parts.partitionOf[i]}`);
      if (parts.placement[i].processor !== p.processor) out.push(`node ${i} placed on ${parts.placement[i].processor} but in partition ${id} on ${p.processor}`);
    }
    if (graph.nodes.some((node) => !isFolded(node.index)) && !p.nodes.some((i) => !isFolded(i))) out.push(`partition ${id} has no run-time node`);
  });
  seen.forEach((c, i) => c !== 1 && out.push(`node ${i} (${graph.nodes[i].op}) is in ${c} partitions`));

  for (const node of graph.nodes) {
    const pl = parts.placement[node.index];
    // folded exactly when every output is a compile-time constant that is not a graph output
    const outs = node.outputs.filter((o) => o !== '');
    const shouldFold = !CONTROL_FLOW.has(node.op) && outs.length > 0 && outs.every((o) => isStaticValue(graph, o) && !outputs.has(o));
    if (pl.folded !== shouldFold) out.push(`node ${node.index} (${node.op}) folded=${pl.folded}, expected ${shouldFold}`);
    if (pl.folded) continue;
    const proc = procs.get(pl.processor);
    if (!proc) {
      out.push(`node ${node.index} on unknown processor ${pl.processor}`);
      continue;
    }
    const s = checkSupport(proc, node, graph, (name) => isStaticValue(graph, name));
    if (!s.ok) out.push(`node ${node.index} (${node.op}) on ${proc.id}, which does not take it: ${s.reason}`);
    for (const r of pl.rejected) {
      if (!procs.has(r.processor)) out.push(`node ${node.index}: rejected names unknown processor ${r.processor}`);
      if (!r.reason.trim()) out.push(`node ${node.index}: empty reason for ${r.processor}`);
    }
  }

  const m = parts.partitions.length;
  const cycle = contractedCycle(graph, parts.partitionOf, isFolded, m);
  if (cycle) out.push(`contracted partitions have a cycle ${cycle.join(' -> ')}`);

  const crossing = crossingValues(graph, parts.partitionOf, isFolded, m);
  parts.partitions.forEach((p, id) => {
    if (new Set(p.inputs).size !== p.inputs.length) out.push(`partition ${id} lists an input twice`);
    if (new Set(p.outputs).size !== p.outputs.length) out.push(`partition ${id} lists an output twice`);
    const ins = [...crossing.inputs[id]].sort(), outs = [...crossing.outputs[id]].sort();
    if (JSON.stringify([...p.inputs].sort()) !== JSON.stringify(ins)) out.push(`partition ${id} inputs [${[...p.inputs].sort()}] expected [${ins}]`);
    if (JSON.stringify([...p.outputs].sort()) !== JSON.stringify(outs)) out.push(`partition ${id} outputs [${[...p.outputs].sort()}] expected [${outs}]`);
  });

  const walk = orderProblems(graph, parts.walk);
  for (const w of walk) out.push(`walk: ${w}`);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Generated graphs: random DAGs over ops with different support on each processor.

const UNARY = ['Relu', 'Sigmoid', 'Tanh', 'Abs', 'Neg', 'LRN', 'Softplus', 'Erf', 'Floor', 'HardSigmoid'];
const BINARY = ['Add', 'Mul', 'Sub', 'Max'];

/** A seeded random DAG on float32[1,4,6,6] values: elementwise ops, Conv, int64 round trips, Shape → Reshape. */
function randomGraph(seed: number, size: number): Uint8Array {
  const r = seeded(seed);
  const b = new GraphBuilder(`random_${seed}`);
  const dims = [1, 4, 6, 6];
  const vals: string[] = [b.input('x', 'float32', dims)];
  if (r() < 0.5) vals.push(b.input('x2', 'float32', dims));
  const w = b.initializer('w', lcgValues(4 * 4 * 9, seed), [4, 4, 3, 3]);
  const flat = b.initializer('flat', BigInt64Array.from([1n, -1n]), [2]);
  const consumed = new Set<string>();
  // pick recent values more often, so the graphs are deep as well as wide
  const pick = () => {
    const v = vals[vals.length - 1 - Math.floor(r() ** 2 * vals.length)];
    consumed.add(v);
    return v;
  };
  for (let i = 0; i < size; i++) {
    const k = r();
    const out = `v${i}`;
    if (k < 0.45) {
      const op = UNARY[Math.floor(r() * UNARY.length)];
      b.node(op, [pick()], out, op === 'LRN' ? { size: 3 } : {});
    } else if (k < 0.7) {
      b.node(BINARY[Math.floor(r() * BINARY.length)], [pick(), pick()], out);
    } else if (k < 0.82) {
      b.node('Conv', [pick(), w], out, { pads: [1, 1, 1, 1] });
    } else if (k < 0.9) {
      const asInt = b.node('Cast', [pick()], `${out}_i64`, { to: 7 });
      b.node('Cast', [asInt], out, { to: 1 });
    } else {
      // a shape computation: Reshape to [1, 144] and back to the shape of another value
      const flatV = b.node('Reshape', [pick(), flat], `${out}_flat`);
      const shp = b.node('Shape', [pick()], `${out}_shape`);
      b.node('Reshape', [flatV, shp], out);
    }
    vals.push(out);
  }
  const outs = vals.filter((v) => v.startsWith('v') && !consumed.has(v));
  if (outs.length === 0) outs.push(vals[vals.length - 1]);
  for (const o of outs) b.output(o, 'float32');
  return b.toBytes();
}

describe('partition on generated graphs', () => {
  const SEEDS = Array.from({ length: 12 }, (_, i) => 100 + i);
  const graphs = new Map<number, ShapedGraph>();
  beforeAll(async () => {
    for (const s of SEEDS) graphs.set(s, await shapeBytes(randomGraph(s, 12 + (s % 5) * 6)));
  });

  it.each(SEEDS)('seed %i: sound on every built-in target', (seed) => {
    const g = graphs.get(seed)!;
    for (const t of targets) {
      const parts = partition(makeContext(g, t));
      expect(problems(g, t, parts), `${t.name}`).toEqual([]);
    }
  });

  it('the generated graphs really exercise several processors and partitions on snapdragon-8-gen-3', () => {
    const snap = targets.find((t) => t.name === 'snapdragon-8-gen-3')!;
    const used = new Set<string>();
    let multi = 0;
    for (const g of graphs.values()) {
      const parts = partition(makeContext(g, snap));
      for (const p of parts.partitions) used.add(p.processor);
      if (parts.partitions.length >= 3) multi++;
    }
    expect([...used].sort()).toEqual(['cpu', 'gpu', 'npu']);
    expect(multi).toBeGreaterThanOrEqual(4);
  });

  it('is deterministic and does not mutate the graph', () => {
    const g = graphs.get(SEEDS[0])!;
    const before = JSON.stringify([...g.values.values()].map((v) => [v.name, v.dtype, v.shape, v.consumers, v.isConst]));
    const snap = targets.find((t) => t.name === 'snapdragon-8-gen-3')!;
    const a = partition(makeContext(g, snap)), b = partition(makeContext(g, snap));
    expect(JSON.stringify(a)).toBe(JSON.stringify(b));
    expect(JSON.stringify([...g.values.values()].map((v) => [v.name, v.dtype, v.shape, v.consumers, v.isConst]))).toBe(before);
  });
});

describe('partition on the corpus', () => {
  const cases = corpusCases();
  const loaded = new Map<string, Loaded>();
  beforeAll(async () => {
    for (const m of cases) loaded.set(m.name, await loadCase(m));
  }, 120_000);

  it.each(cases.map((c) => c.name))('%s: sound on every built-in target', (name) => {
    const { graph } = loaded.get(name)!;
    for (const t of targets) {
      const parts = partition(makeContext(graph, t));
      expect(problems(graph, t, parts), `${t.name}`).toEqual([]);
    }
  });

  it('on snapdragon-8-gen-3, every run-time node left on the CPU says why the faster processors were not used', () => {
    const snap = targets.find((t) => t.name === 'snapdragon-8-gen-3')!;
    let onCpu = 0;
    for (const [name, { graph }] of loaded) {
      const parts = partition(makeContext(graph, snap));
      for (const node of graph.nodes) {
        const pl = parts.placement[node.index];
        if (pl.folded || pl.processor !== 'cpu') continue;
        onCpu++;
        expect(pl.rejected.map((r) => r.processor), `${name} ${node.name} (${node.op})`).toContain('npu');
        for (const r of pl.rejected) expect(r.reason.length).toBeGreaterThan(0);
      }
    }
    expect(onCpu).toBeGreaterThan(0); // silero's If nodes at least
  });

  it('control-flow nodes (silero If) go whole to the CPU on every target', () => {
    for (const name of ['silero-vad-v5', 'silero-vad-v4-legacy', 'silero-vad-op18-ifless']) {
      const { graph } = loaded.get(name)!;
      const ifs = graph.nodes.filter((n) => n.op === 'If');
      expect(ifs.length, name).toBeGreaterThan(0);
      for (const t of targets) {
        const parts = partition(makeContext(graph, t));
        const kinds = new Map(t.processors.map((p) => [p.id, p.kind]));
        for (const n of ifs) {
          const pl = parts.placement[n.index];
          expect(pl.folded, `${name} ${t.name}`).toBe(false);
          expect(kinds.get(pl.processor), `${name} ${t.name} ${n.name}`).toBe('cpu');
          // whole: one top-level node, in one partition, its reads (implicit ones too) all reach it
          const p = parts.partitions[parts.partitionOf[n.index]];
          for (const r of runtimeReadsOf(graph, n)) {
            const prod = graph.values.get(r)!.producer;
            if (prod < 0 || parts.partitionOf[prod] !== p.id) expect(p.inputs, `${name} ${t.name}: '${r}'`).toContain(r);
          }
        }
        if (t.name === 'snapdragon-8-gen-3') {
          // the faster processors were considered and turned down, with the reason
          expect(parts.placement[ifs[0].index].rejected.map((r) => r.processor), name).toContain('npu');
        }
      }
    }
  });

  it('shape arithmetic in ppocr-v4-rec (Shape → Cast/Slice/Concat → Reshape) is folded and never NPU work', () => {
    const { graph } = loaded.get('ppocr-v4-rec')!;
    const snap = targets.find((t) => t.name === 'snapdragon-8-gen-3')!;
    const parts = partition(makeContext(graph, snap));
    const shapes = graph.nodes.filter((n) => n.op === 'Shape');
    expect(shapes.length).toBeGreaterThan(0);
    for (const n of shapes) expect(parts.placement[n.index].folded, n.name).toBe(true);
    // every node downstream of a Shape only through static values is folded too
    const st = staticInfo(graph);
    const npu = snap.processors.find((p) => p.id === 'npu')!;
    for (const p of parts.partitions.filter((q) => q.processor === 'npu')) {
      const lowered = lowerPartition(graph, p, npu, st, () => ({ dtype: 'float16' }));
      const ops = fromBinary(ModelProtoSchema, lowered.bytes).graph!.node.map((n) => n.opType);
      expect(ops).not.toContain('Shape');
      expect(ops).not.toContain('ConstantOfShape');
    }
  });
});

describe('placement rules on hand-made graphs (snapdragon-8-gen-3)', () => {
  let snap: Target;
  beforeAll(async () => {
    snap = await loadTarget('snapdragon-8-gen-3');
  });

  /**
   * x → Conv → MIDDLE → Conv → y, float32[1,64,32,32]: convs heavy enough (75 MFLOP) that the cost
   * rule keeps them on the NPU rather than moving them beside the middle node.
   */
  async function sandwich(middle: (b: GraphBuilder, x: string) => string): Promise<{ g: ShapedGraph; bytes: Uint8Array }> {
    const b = new GraphBuilder('sandwich', { opset: 13 });
    const x = b.input('x', 'float32', [1, 64, 32, 32]);
    const w = b.initializer('w', lcgValues(64 * 64 * 9, 3), [64, 64, 3, 3]);
    const c1 = b.node('Conv', [x, w], 'c1', { pads: [1, 1, 1, 1] }, { name: 'conv1' });
    const mid = middle(b, c1);
    b.output(b.node('Conv', [mid, w], 'y', { pads: [1, 1, 1, 1] }, { name: 'conv2' }), 'float32');
    const bytes = b.toBytes();
    return { g: await shapeBytes(bytes), bytes };
  }

  it('an LRN between two convs leaves the NPU, with a reason naming LRN', async () => {
    const { g, bytes } = await sandwich((b, x) => b.node('LRN', [x], 'mid', { size: 3 }, { name: 'lrn' }));
    const parts = partition(makeContext(g, snap));
    expect(problems(g, snap, parts)).toEqual([]);
    const at = (name: string) => parts.placement[g.nodes.find((n) => n.name === name)!.index];
    expect(at('lrn').processor).not.toBe('npu');
    const why = at('lrn').rejected.find((r) => r.processor === 'npu');
    expect(why?.reason).toContain('LRN');
    // the convs are on the NPU, or say why not (the cost rule may move them beside the LRN)
    for (const c of ['conv1', 'conv2']) {
      if (at(c).processor !== 'npu') expect(at(c).rejected.find((r) => r.processor === 'npu')?.reason, c).toMatch(/moved to .* beside its neighbours/);
    }
    // and the plan file carries the reason
    const plan = compilePlan(makeContext(g, snap), { modelBytes: bytes, modelFile: 'sandwich.onnx', placement: 'capability' });
    const pn = plan.nodes.find((n) => n.name === 'lrn')!;
    expect(pn.rejected?.find((r) => r.processor === 'npu')?.reason).toContain('LRN');
  });

  it('an op neither accelerator has (Softplus) goes to the CPU with reasons for both', async () => {
    const { g } = await sandwich((b, x) => b.node('Softplus', [x], 'mid', {}, { name: 'softplus' }));
    const parts = partition(makeContext(g, snap));
    expect(problems(g, snap, parts)).toEqual([]);
    const pl = parts.placement[g.nodes.find((n) => n.name === 'softplus')!.index];
    expect(pl.processor).toBe('cpu');
    expect(pl.rejected.map((r) => r.processor).sort()).toEqual(['gpu', 'npu']);
    for (const r of pl.rejected) expect(r.reason).toContain('Softplus');
  });

  it('a cubic Resize goes to the CPU with a reason naming the attribute', async () => {
    const { g } = await sandwich((b, x) => {
      const scales = b.initializer('scales', new Float32Array([1, 1, 1, 1]), [4]);
      return b.node('Resize', [x, '', scales], 'mid', { mode: 'cubic' }, { name: 'resize' });
    });
    const parts = partition(makeContext(g, snap));
    expect(problems(g, snap, parts)).toEqual([]);
    const pl = parts.placement[g.nodes.find((n) => n.name === 'resize')!.index];
    expect(pl.processor).toBe('cpu');
    expect(pl.rejected.find((r) => r.processor === 'npu')?.reason).toContain('cubic');
  });

  it('a hand-made If goes whole to the CPU; its neighbours stay on the NPU', async () => {
    const branch = (name: string, op: string) => {
      const sb = new GraphBuilder(name);
      sb.node(op, ['c1'], `${name}_out`);
      sb.output(`${name}_out`, 'float32', [1, 64, 32, 32]);
      return fromBinary(ModelProtoSchema, sb.toBytes()).graph!;
    };
    const b = new GraphBuilder('if');
    const x = b.input('x', 'float32', [1, 64, 32, 32]);
    const cond = b.input('cond', 'bool', []);
    const w = b.initializer('w', lcgValues(64 * 64 * 9, 5), [64, 64, 3, 3]);
    const c1 = b.node('Conv', [x, w], 'c1', { pads: [1, 1, 1, 1] }, { name: 'conv1' });
    const iff = b.node('If', [cond], 'mid', { then_branch: { type: 'graph', value: branch('then', 'Relu') }, else_branch: { type: 'graph', value: branch('else', 'Sigmoid') } }, { name: 'if' });
    b.output(b.node('Conv', [iff, w], 'y', { pads: [1, 1, 1, 1] }, { name: 'conv2' }), 'float32');
    const feeds = { x: new Tensor('float32', new Float32Array(64 * 32 * 32), [1, 64, 32, 32]), cond: new Tensor('bool', Uint8Array.from([1]), []) };
    const g = await shapeBytes(b.toBytes(), undefined, feeds);
    const parts = partition(makeContext(g, snap));
    expect(problems(g, snap, parts)).toEqual([]);
    const ifNode = g.nodes.find((n) => n.name === 'if')!;
    expect(parts.placement[ifNode.index].processor).toBe('cpu');
    // the If reads c1 from inside its branches: the CPU partition must take it as an input
    expect(parts.partitions[parts.partitionOf[ifNode.index]].inputs).toContain('c1');
    expect(parts.placement[g.nodes.find((n) => n.name === 'conv1')!.index].processor).toBe('npu');
    expect(parts.placement[g.nodes.find((n) => n.name === 'conv2')!.index].processor).toBe('npu');
  });

  it('a Shape → Gather → Concat → Reshape chain is folded; only the Reshape and its neighbours are NPU work', async () => {
    const b = new GraphBuilder('shape-chain');
    const x = b.input('x', 'float32', [1, 8, 16, 16]);
    const w = b.initializer('w', lcgValues(8 * 8 * 9, 7), [8, 8, 3, 3]);
    const c1 = b.node('Conv', [x, w], 'c1', { pads: [1, 1, 1, 1] });
    const shp = b.node('Shape', [c1], 'shp', {}, { name: 'shape' });
    const idx = b.initializer('idx', BigInt64Array.from([0n, 1n]), [2]);
    const nc = b.node('Gather', [shp, idx], 'nc', { axis: 0 }, { name: 'gather' });
    const rest = b.initializer('rest', BigInt64Array.from([-1n]), [1]);
    const newShape = b.node('Concat', [nc, rest], 'newshape', { axis: 0 }, { name: 'concat' });
    const flat = b.node('Reshape', [c1, newShape], 'flat', {}, { name: 'reshape' });
    b.output(b.node('Relu', [flat], 'y'), 'float32');
    const bytes = b.toBytes();
    const g = await shapeBytes(bytes);
    const parts = partition(makeContext(g, snap));
    expect(problems(g, snap, parts)).toEqual([]);
    const idxOf = (name: string) => g.nodes.find((n) => n.name === name)!.index;
    for (const name of ['shape', 'gather', 'concat']) expect(parts.placement[idxOf(name)].folded, name).toBe(true);
    expect(parts.placement[idxOf('reshape')]).toMatchObject({ folded: false, processor: 'npu' });
    const plan = compilePlan(makeContext(g, snap), { modelBytes: bytes, modelFile: 'chain.onnx', placement: 'capability' });
    for (const name of ['shape', 'gather', 'concat']) expect(plan.nodes[idxOf(name)].folded, name).toBe(true);
    expect(plan.partitions.length).toBe(1);
    const st = staticInfo(g);
    const npu = snap.processors.find((p) => p.id === 'npu')!;
    const lowered = lowerPartition(g, parts.partitions[0], npu, st, () => ({ dtype: 'float16' }));
    const ops = fromBinary(ModelProtoSchema, lowered.bytes).graph!.node.map((n) => n.opType);
    expect(ops).toContain('Reshape');
    for (const op of ['Shape', 'Gather', 'Concat']) expect(ops).not.toContain(op);
    // folded values give no partition inputs or outputs
    for (const v of ['shp', 'nc', 'newshape']) {
      expect(plan.partitions.flatMap((p) => [...p.inputs, ...p.outputs])).not.toContain(v);
    }
  });
});

describe('placement by calibrated range', () => {
  it("a value beyond float16's range keeps its nodes off an fp16-only NPU (apple-m3); snapdragon's NPU stores it as int16", async () => {
    const b = new GraphBuilder('big');
    const x = b.input('x', 'float32', [1, 8, 16, 16]);
    const w = b.initializer('w', lcgValues(8 * 8 * 9, 4), [8, 8, 3, 3]);
    const k = b.initializer('k', new Float32Array([1e5]), [1]);
    const c1 = b.node('Conv', [x, w], 'c1', { pads: [1, 1, 1, 1] }, { name: 'conv1' });
    const big = b.node('Mul', [c1, k], 'big', {}, { name: 'scale_up' });
    b.output(b.node('Conv', [big, w], 'y', { pads: [1, 1, 1, 1] }, { name: 'conv2' }), 'float32');
    const bytes = b.toBytes();
    const feeds = { x: new Tensor('float32', lcgValues(8 * 256, 6), [1, 8, 16, 16]) };
    const g = await shapeBytes(bytes, undefined, feeds);
    const ranges = await measureRanges(g, feeds);
    expect(ranges.get('big')!).toBeGreaterThan(65504);

    const apple = targets.find((t) => t.name === 'apple-m3')!;
    expect(apple.processors.find((p) => p.kind === 'npu')!.support.dtypes).not.toContain('int16');
    const parts = partition(makeContext(g, apple, { ranges: ranges }));
    expect(problems(g, apple, parts)).toEqual([]);
    for (const name of ['scale_up', 'conv2']) {
      const pl = parts.placement[g.nodes.find((n) => n.name === name)!.index];
      expect(pl.processor, name).not.toBe('npu');
      expect(pl.rejected.find((r) => r.processor === 'npu')?.reason, name).toMatch(/'big'.*float16's range/);
    }

    const snap = targets.find((t) => t.name === 'snapdragon-8-gen-3')!;
    const plan = compilePlan(makeContext(g, snap, { ranges }), { modelBytes: bytes, modelFile: 'big.onnx', placement: 'capability' });
    const pn = plan.nodes.find((n) => n.name === 'scale_up')!;
    expect(pn.processor).toBe('npu');
    const buf = plan.memory.npu.buffers.find((q) => q.value === 'big')!;
    expect(buf.dtype).toBe('int16');
    expect(buf.scale! * 32767).toBeGreaterThanOrEqual(ranges.get('big')!);
  });
});

describe('the independent checks themselves', () => {
  it('catch a broken partitioning: a cycle when contracted, a missing input, a node on a processor without its op', async () => {
    // cpu + an accelerator that takes only Conv: x → Conv → LRN → Conv gives three partitions
    const t = makeTarget('conv-only', [{ id: 'cpu', kind: 'cpu', ops: '*', gflops: 1 }, { id: 'acc', kind: 'gpu', ops: ['Conv'], gflops: 10_000, bandwidthGBs: 1000, dynamicShapes: false }], { bandwidthGBs: 1000, latencyUs: 0 });
    const b = new GraphBuilder('three');
    const x = b.input('x', 'float32', [1, 4, 8, 8]);
    const w = b.initializer('w', lcgValues(4 * 4 * 9, 1), [4, 4, 3, 3]);
    const c1 = b.node('Conv', [x, w], 'c1', { pads: [1, 1, 1, 1] });
    const l = b.node('LRN', [c1], 'l', { size: 3 });
    b.output(b.node('Conv', [l, w], 'y', { pads: [1, 1, 1, 1] }), 'float32');
    const g = await shapeBytes(b.toBytes());
    const parts = partition(makeContext(g, t));
    expect(parts.partitions.map((p) => p.processor)).toEqual(['acc', 'cpu', 'acc']);
    expect(problems(g, t, parts)).toEqual([]);

    const clone = (): Partitioning => JSON.parse(JSON.stringify(parts));
    // merge the two acc partitions: contracting gives acc → cpu → acc
    const merged = clone();
    merged.partitions[0].nodes.push(...merged.partitions[2].nodes);
    merged.partitions[0].outputs = ['c1', 'y'];
    merged.partitions[0].inputs = ['x', 'l'];
    merged.partitions.pop();
    merged.partitionOf[2] = 0;
    expect(problems(g, t, merged).join('\n')).toMatch(/cycle/);

    const noInput = clone();
    noInput.partitions[1].inputs = [];
    expect(problems(g, t, noInput).join('\n')).toMatch(/partition 1 inputs/);

    const wrongProc = clone();
    wrongProc.partitions[1].processor = 'acc';
    wrongProc.placement[1].processor = 'acc';
    expect(problems(g, t, wrongProc).join('\n')).toMatch(/does not take it: LRN/);
  });
});
