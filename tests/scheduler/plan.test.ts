/**
 * The Plan file, for every corpus model and every built-in target (host included): verifyPlan passes,
 * and independent checks recomputed from the graph agree (topological order, every node in exactly one
 * partition on a processor that takes it, acyclic contraction, crossing values, schedule, buffers that
 * never overlap while alive together and hold the real tensor in its stored type); two independent
 * compiles (fresh import, inference, calibration) serialize to the same bytes. Then bad plans: edited
 * by hand, from another model or target, from a newer version — rejected with a TesseraError before any
 * partition is compiled or run.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { measureRanges, OrtBackend } from '../../src/backends/ort.js';
import { Tensor } from '../../src/backends/tensor.js';
import { TesseraError } from '../../src/errors.js';
import type { DType } from '../../src/ir/dtype.js';
import { GraphBuilder } from '../../src/ir/builder.js';
import type { ShapedGraph } from '../../src/ir/infer.js';
import { compilePlan } from '../../src/compiler/pipeline.js';
import { parsePlan, serializePlan, type Plan } from '../../src/plan/schema.js';
import { Session } from '../../src/runtime/session.js';
import { verifyPlan } from '../../src/plan/verify.js';
import { builtinTargetNames, loadTarget } from '../../src/targets/index.js';
import type { Target } from '../../src/targets/schema.js';
import { checkSupport } from '../../src/targets/support.js';
import {
  contractedCycle, corpusCases, crossingValues, isStaticValue, lcgValues, legalizes, loadCase, orderProblems, overlappingPairs, runOrt, scheduleProblems, type Loaded,
} from '../helpers/models.js';
import { makeContext } from '../../src/passes/context.js';

const ELEMENT_BYTES: Partial<Record<DType, number>> = {
  float32: 4, float16: 2, float64: 8, int8: 1, uint8: 1, int16: 2, uint16: 2, int32: 4, uint32: 4, int64: 8, uint64: 8, bool: 1,
};

let targets: Target[];
beforeAll(async () => {
  targets = await Promise.all(builtinTargetNames().map(loadTarget));
});

/** Everything the issue says a plan must satisfy, recomputed from the graph and target. */
function planProblems(plan: Plan, graph: ShapedGraph, target: Target, bytes: Uint8Array): string[] {
  const out: string[] = [];
  const n = graph.nodes.length;
  const procs = new Map(target.processors.map((p) => [p.id, p]));
  if (plan.format !== 'tessera.plan' || plan.version !== 1) out.push('format/version');
  if (plan.model.sha256 !== createHash('sha256').update(bytes).digest('hex')) out.push('model.sha256 is not the sha256 of the .onnx bytes');
  if (plan.model.nodes !== n || plan.nodes.length !== n) out.push(`model.nodes ${plan.model.nodes}, plan.nodes ${plan.nodes.length}, graph ${n}`);
  if (JSON.stringify(plan.target.processors.map((p) => [p.id, p.kind])) !== JSON.stringify(target.processors.map((p) => [p.id, p.kind]))) out.push('target processors');
  for (const name of graph.inputs) {
    if (JSON.stringify(plan.inputs[name]?.shape) !== JSON.stringify(graph.inputShapes[name])) out.push(`input ${name} shape`);
  }
  if (plan.estimate.source !== `cost model: ${target.name}`) out.push(`estimate.source ${plan.estimate.source}`);
  plan.nodes.forEach((pn, i) => {
    if (pn.index !== i || pn.op !== graph.nodes[i].op) out.push(`node #${i} index/op`);
  });
  for (const p of orderProblems(graph, plan.order)) out.push(`order: ${p}`);

  const partitionOf = new Array<number>(n).fill(-1);
  plan.partitions.forEach((p, id) => {
    for (const i of p.nodes) {
      if (partitionOf[i] >= 0) out.push(`node ${i} in partitions ${partitionOf[i]} and ${id}`);
      partitionOf[i] = id;
      if (plan.nodes[i].partition !== id || plan.nodes[i].processor !== p.processor) out.push(`node ${i} says ${plan.nodes[i].partition}/${plan.nodes[i].processor}`);
    }
    const proc = procs.get(p.processor);
    if (!proc) out.push(`partition ${id} on unknown ${p.processor}`);
    else if (p.precision !== (proc.support.dtypes.includes('float32') || !proc.support.legalizeFloat32To ? 'native' : 'float16')) out.push(`partition ${id} precision ${p.precision}`);
  });
  partitionOf.forEach((p, i) => p < 0 && out.push(`node ${i} in no partition`));
  const folded = (i: number) => !!plan.nodes[i].folded;
  for (const node of graph.nodes) {
    if (folded(node.index)) {
      if (!node.outputs.filter((o) => o).every((o) => isStaticValue(graph, o))) out.push(`node ${node.index} folded but not constant`);
      continue;
    }
    const proc = procs.get(plan.nodes[node.index].processor);
    const s = proc ? checkSupport(proc, node, graph, (name) => isStaticValue(graph, name)) : { ok: false as const, reason: 'unknown processor' };
    if (!s.ok) out.push(`node ${node.index} (${node.op}) on ${proc?.id}: ${s.reason}`);
  }
  if (out.length) return out; // the rest assumes a sound partitioning
  const cycle = contractedCycle(graph, partitionOf, folded, plan.partitions.length);
  if (cycle) out.push(`contracted partitions cycle ${cycle.join(' -> ')}`);
  const crossing = crossingValues(graph, partitionOf, folded, plan.partitions.length);
  plan.partitions.forEach((p, id) => {
    if (JSON.stringify([...p.inputs].sort()) !== JSON.stringify([...crossing.inputs[id]].sort())) out.push(`partition ${id} inputs`);
    if (JSON.stringify([...p.outputs].sort()) !== JSON.stringify([...crossing.outputs[id]].sort())) out.push(`partition ${id} outputs`);
  });
  const host = target.processors.find((p) => p.kind === 'cpu' && p.support.ops === '*')!.id;
  for (const s of scheduleProblems(plan, graph, host)) out.push(`schedule: ${s}`);

  // memory: no overlap among buffers alive together; each holds the real tensor in its stored type
  for (const [id, mem] of Object.entries(plan.memory)) {
    const proc = procs.get(id)!;
    for (const [a, b] of overlappingPairs(mem.buffers)) out.push(`memory ${id}: '${a.value}' and '${b.value}' overlap`);
    const top = Math.max(0, ...mem.buffers.map((b) => b.offset + b.bytes));
    if (mem.arenaBytes < top) out.push(`memory ${id}: arena ${mem.arenaBytes} < ${top}`);
    if (mem.arenaBytes < mem.peakBytes) out.push(`memory ${id}: arena ${mem.arenaBytes} < peak ${mem.peakBytes}`);
    if (mem.lowerBoundBytes > mem.peakBytes) out.push(`memory ${id}: lower bound ${mem.lowerBoundBytes} > peak ${mem.peakBytes}`);
    const values = new Set<string>();
    for (const b of mem.buffers) {
      if (values.has(b.value)) out.push(`memory ${id}: two buffers for '${b.value}'`);
      values.add(b.value);
      const v = graph.values.get(b.value);
      if (!v || !v.dtype || !v.shape) {
        out.push(`memory ${id}: buffer for unknown or non-tensor '${b.value}'`);
        continue;
      }
      if (isStaticValue(graph, b.value)) out.push(`memory ${id}: a weight '${b.value}' has an arena buffer`);
      const legal = v.dtype === 'float32' && !!proc.support.legalizeFloat32To && !proc.support.dtypes.includes('float32');
      const okType = legal ? b.dtype === 'float16' || (b.dtype === 'int16' && (proc.support.dtypes as string[]).includes('int16') && (b.scale ?? 0) > 0) : b.dtype === v.dtype;
      if (!okType) out.push(`memory ${id}: '${b.value}' (${v.dtype}) stored as ${b.dtype}`);
      const per = ELEMENT_BYTES[b.dtype as DType];
      if (per === undefined) continue; // strings have no size from the shape
      const need = (v.shape as number[]).reduce((a, d) => a * d, 1) * per;
      if (b.bytes < need) out.push(`memory ${id}: buffer for '${b.value}' has ${b.bytes} bytes, the tensor needs ${need}`);
    }
    // every run-time value the processor's partitions read or write across a boundary has a buffer here
    for (const p of plan.partitions.filter((q) => q.processor === id)) {
      for (const v of [...p.inputs, ...p.outputs]) if (graph.values.get(v)?.dtype !== 'string' && !values.has(v)) out.push(`memory ${id}: no buffer for '${v}' of partition ${p.id}`);
    }
  }
  return out;
}

describe.each(corpusCases())('$name', (m) => {
  let first: Loaded;
  const plans = new Map<string, Plan>();
  const again = new Map<string, string>();

  beforeAll(async () => {
    // two independent compiles: fresh import, shape inference (probe run) and calibration each time
    for (const round of [0, 1]) {
      const l = await loadCase(m);
      if (round === 0) first = l;
      const needRanges = targets.some(legalizes);
      const ranges = needRanges ? await measureRanges(l.graph, l.feeds) : undefined;
      for (const t of targets) {
        const plan = compilePlan(makeContext(l.graph, t, { ranges: legalizes(t) ? ranges : undefined }), { modelBytes: l.bytes, modelFile: m.path });
        if (round === 0) plans.set(t.name, plan);
        else again.set(t.name, serializePlan(plan));
      }
    }
  }, 120_000);

  it('passes verifyPlan on every built-in target', () => {
    for (const t of targets) expect(() => verifyPlan(plans.get(t.name)!, first.graph, t), t.name).not.toThrow();
  });

  it('passes the independent checks on every built-in target', () => {
    for (const t of targets) expect(planProblems(plans.get(t.name)!, first.graph, t, first.bytes), t.name).toEqual([]);
  });

  it('serializes to byte-identical text from two independent compiles, and round-trips through parsePlan', () => {
    for (const t of targets) {
      const text = serializePlan(plans.get(t.name)!);
      expect(text === again.get(t.name), `${t.name}: plans differ`).toBe(true);
      expect(parsePlan(text, 'plan.json')).toEqual(plans.get(t.name));
    }
  });
});

describe('bad plans are rejected before anything runs', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-plan-'));
  const TARGET = 'snapdragon-8-gen-3';
  let bytes: Uint8Array, otherBytes: Uint8Array;
  let g: ShapedGraph;
  let good: Plan;
  const x = new Tensor('float32', lcgValues(8 * 16 * 16, 4), [1, 8, 16, 16]);
  const clone = (): Plan => JSON.parse(JSON.stringify(good));
  const compileSpy = vi.spyOn(OrtBackend.prototype, 'compile');

  /** x → Conv → LRN → Conv → Relu → y (LRN leaves the NPU: several partitions and transfers). */
  function model(channels: number): Uint8Array {
    const b = new GraphBuilder('bad-plans');
    const xin = b.input('x', 'float32', [1, channels, 16, 16]);
    const w = b.initializer('w', lcgValues(channels * channels * 9, 1).map((v) => v * 0.2), [channels, channels, 3, 3]);
    const c1 = b.node('Conv', [xin, w], 'c1', { pads: [1, 1, 1, 1] }, { name: 'conv1' });
    const l = b.node('LRN', [c1], 'l', { size: 3 }, { name: 'lrn' });
    const c2 = b.node('Conv', [l, w], 'c2', { pads: [1, 1, 1, 1] }, { name: 'conv2' });
    b.output(b.node('Relu', [c2], 'y', {}, { name: 'relu' }), 'float32');
    return b.toBytes();
  }

  beforeAll(async () => {
    bytes = model(8);
    otherBytes = model(4);
    const s = await Session.create(bytes, { target: TARGET, sampleFeeds: { x }, placement: 'capability' });
    good = s.plan;
    g = s.graph;
    await s.release();
  });
  afterEach(() => compileSpy.mockClear());
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
    compileSpy.mockRestore();
  });

  async function rejected(plan: Plan | string, modelBytes = bytes, target = TARGET): Promise<TesseraError> {
    compileSpy.mockClear();
    const err = await Session.create(modelBytes, { target, plan }).then(async (s) => {
      await s.release();
      return null;
    }, (e: unknown) => e);
    expect(err, 'Session.create accepted the plan').toBeInstanceOf(TesseraError);
    expect(compileSpy, 'a partition was compiled before the plan was rejected').not.toHaveBeenCalled();
    return err as TesseraError;
  }

  it('the unedited plan has the shape the edits need, and runs (precondition)', async () => {
    expect(good.partitions.length).toBeGreaterThanOrEqual(2);
    const lrn = good.nodes.find((n) => n.name === 'lrn')!;
    expect(lrn.processor).not.toBe('npu');
    expect(good.partitions.some((p) => p.processor === 'npu')).toBe(true);
    const s = await Session.create(bytes, { target: TARGET, plan: clone() });
    try {
      const y = (await s.run({ x })).y;
      const ref = (await runOrt(bytes, { x })).y;
      expect([...y.dims]).toEqual([...ref.dims]);
    } finally {
      await s.release();
    }
    expect(compileSpy).toHaveBeenCalled();
  });

  it('rejects a node moved by hand to a processor that lacks its op', async () => {
    const p = clone();
    const i = p.nodes.findIndex((n) => n.name === 'lrn');
    const from = p.partitions[p.nodes[i].partition];
    const to = p.partitions.find((q) => q.processor === 'npu')!;
    from.nodes = from.nodes.filter((k) => k !== i);
    to.nodes = [...to.nodes, i].sort((a, b) => a - b);
    p.nodes[i] = { ...p.nodes[i], processor: 'npu', partition: to.id };
    const err = await rejected(p);
    expect(err.code).toBe('BAD_PLAN');
    expect(err.message).toContain("'lrn'");
    expect(err.message).toContain('LRN');
    expect(err.message).toMatch(/does not support/);
  });

  it('rejects two buffers alive at the same time placed at overlapping offsets', async () => {
    const p = clone();
    let done = false;
    for (const mem of Object.values(p.memory)) {
      const bufs = mem.buffers;
      for (let a = 0; a < bufs.length && !done; a++) {
        for (let b = a + 1; b < bufs.length && !done; b++) {
          if (bufs[a].start <= bufs[b].end && bufs[b].start <= bufs[a].end) {
            bufs[b].offset = bufs[a].offset;
            mem.arenaBytes = Math.max(mem.arenaBytes, bufs[b].offset + bufs[b].bytes);
            done = true;
          }
        }
      }
    }
    expect(done).toBe(true);
    const err = await rejected(p);
    expect(err.code).toBe('BAD_PLAN');
    expect(err.message).toMatch(/overlap/);
  });

  it('rejects an order that is not topological', async () => {
    const p = clone();
    const relu = p.nodes.findIndex((n) => n.name === 'relu');
    const conv1 = p.nodes.findIndex((n) => n.name === 'conv1');
    const a = p.order.indexOf(relu), b = p.order.indexOf(conv1);
    [p.order[a], p.order[b]] = [p.order[b], p.order[a]];
    const err = await rejected(p);
    expect(err.code).toBe('BAD_PLAN');
    expect(err.message).toMatch(/order/);
  });

  it('rejects a buffer smaller than its tensor', async () => {
    const p = clone();
    const mem = Object.values(p.memory).find((m) => m.buffers.length > 0)!;
    mem.buffers[0].bytes = 64;
    const err = await rejected(p);
    expect(err.code).toBe('BAD_PLAN');
    expect(err.message).toContain(mem.buffers[0].value);
  });

  it('rejects a compute step that does not wait for the transfer of its input', async () => {
    const p = clone();
    const t = p.steps.findIndex((s) => s.kind === 'transfer' && s.to !== 'cpu');
    expect(t).toBeGreaterThanOrEqual(0);
    for (const s of p.steps) s.after = s.after.filter((a) => a !== t);
    const err = await rejected(p);
    expect(err.code).toBe('BAD_PLAN');
    expect(err.message).toMatch(/transfer|wait/);
  });

  // BUG: src/scheduler/verify.ts verifyPlan checks that a transfer of the value to the reading processor
  // exists, not that it comes from the memory the value lives in. Repro: set `from` of the first transfer
  // step (x: cpu -> gpu) to 'gpu' in the bad-plans model's snapdragon plan: Session.create accepts it and
  // run() returns y all zeros (the copy reads the gpu arena's untouched bytes). Expected: BAD_PLAN
  // "transfer of 'x' comes from gpu, but 'x' lives on cpu".
  it('rejects a transfer from a memory the value does not live in', async () => {
    const p = clone();
    const t = p.steps.find((s): s is Extract<Plan['steps'][number], { kind: 'transfer' }> => s.kind === 'transfer')!;
    const wrong = ['cpu', 'gpu', 'npu'].find((m) => m !== t.from && m !== t.to)!;
    t.from = wrong;
    const err = await rejected(p);
    expect(err.code).toBe('BAD_PLAN');
    expect(err.message).toContain(t.value);
  });

  // BUG: verifyPlan does not check that a transfer waits for the compute step that produces its value
  // (it checks only that a step starts after the steps in its `after` end). Repro: clear `after` of every
  // transfer step of a value made by a partition: accepted (the run happens to be right only because the
  // runtime also serializes steps per memory). Expected: BAD_PLAN "transfer of 'l' does not wait for
  // partition 0, which makes it".
  it('rejects a transfer that does not wait for the partition making its value', async () => {
    const p = clone();
    let edited = 0;
    for (const s of p.steps) {
      if (s.kind !== 'transfer') continue;
      const prod = g.values.get(s.value)!.producer;
      if (prod >= 0 && s.after.length) {
        s.after = [];
        edited++;
      }
    }
    expect(edited).toBeGreaterThan(0);
    const err = await rejected(p);
    expect(err.code).toBe('BAD_PLAN');
  });

  // BUG: verifyPlan checks partition inputs but not partition outputs: a partition whose `outputs` omit
  // a value another partition reads (or a graph output) passes, partitions compile, and run() fails late
  // with BACKEND_FAILED "onnxruntime failed running <bytes> partition 0 (gpu): At least one output should
  // be requested." Expected: BAD_PLAN before anything compiles, naming the value and the partitions.
  it('rejects a partition that does not output a value another partition reads', async () => {
    const p = clone();
    const reader = p.partitions.find((q) => q.inputs.some((v) => g.values.get(v)!.producer >= 0))!;
    const v = reader.inputs.find((x) => g.values.get(x)!.producer >= 0)!;
    const maker = p.partitions[p.nodes[g.values.get(v)!.producer].partition];
    maker.outputs = maker.outputs.filter((o) => o !== v);
    const err = await rejected(p);
    expect(err.code).toBe('BAD_PLAN');
    expect(err.message).toContain(v);
  });

  // BUG: verifyPlan does not check a buffer's dtype against how its processor stores the value. Repro
  // (bad-plans model, snapdragon plan): every npu buffer's dtype 'float16' -> 'float32': fails only while
  // compiling partitions, with BACKEND_FAILED "compiling partitions: Cannot convert undefined to a BigInt";
  // one npu buffer 'float16' -> 'int16' with no scale: BACKEND_FAILED "invalid float32: undefined";
  // every cpu buffer 'float32' -> 'float16': accepted, and the run silently rounds through float16.
  // Expected: BAD_PLAN before anything compiles, e.g. "memory 'npu': buffer for 'l' is float32; the npu
  // stores float32 values as float16 (or int16 with a scale)".
  it('rejects buffers whose dtype is not how the processor stores the value', async () => {
    const cases: [string, (p: Plan) => void][] = [
      ['npu float32', (p) => p.memory.npu.buffers.forEach((b) => (b.dtype = 'float32'))],
      ['npu int16 without scale', (p) => (p.memory.npu.buffers[0].dtype = 'int16')],
      ['cpu float16', (p) => p.memory.cpu.buffers.forEach((b) => (b.dtype = 'float16'))],
    ];
    for (const [label, edit] of cases) {
      const p = clone();
      edit(p);
      const err = await rejected(p);
      expect(err.code, label).toBe('BAD_PLAN');
    }
  });

  // BUG (minor): a partition's `precision` is not checked against its processor: editing the npu
  // partition to precision 'native' is accepted (the runtime ignores the field and lowers to float16
  // anyway, so the plan file misreports what runs). Expected: BAD_PLAN.
  it("rejects a partition whose precision is not its processor's", async () => {
    const p = clone();
    for (const q of p.partitions) if (q.processor === 'npu') q.precision = 'native';
    const err = await rejected(p);
    expect(err.code).toBe('BAD_PLAN');
  });

  it('rejects a plan from another model (PLAN_MISMATCH)', async () => {
    const err = await rejected(clone(), otherBytes);
    expect(err.code).toBe('PLAN_MISMATCH');
    expect(err.message).toMatch(/sha256|model/);
  });

  it('rejects a plan compiled for another target', async () => {
    const err = await rejected(clone(), bytes, 'apple-m3');
    expect(['BAD_PLAN', 'PLAN_MISMATCH']).toContain(err.code);
    expect(err.message).toContain(TARGET);
  });

  it('rejects a version 2 plan file, saying it is newer', async () => {
    const path = join(dir, 'v2.json');
    writeFileSync(path, JSON.stringify({ ...clone(), version: 2 })); // serializePlan refuses to write a plan it cannot read
    const err = await rejected(path);
    expect(err.code).toBe('BAD_PLAN');
    expect(err.message).toMatch(/newer/);
    expect(err.message).toContain(path);
  });

  // BUG: src/scheduler/session.ts Session.create validates a plan given as a path (parsePlan: version,
  // schema) but not one given as an object: { ...plan, version: 2 } is accepted and runs. Expected:
  // the same checks as parsePlan (BAD_PLAN, "newer than this Tessera reads").
  it('rejects a version 2 plan object, saying it is newer', async () => {
    const err = await rejected({ ...clone(), version: 2 } as unknown as Plan);
    expect(err.code).toBe('BAD_PLAN');
    expect(err.message).toMatch(/newer/);
  });

  it('rejects a plan file that is not JSON, or lacks a field, naming the field', async () => {
    const broken = join(dir, 'broken.json');
    writeFileSync(broken, serializePlan(clone()).slice(0, 200));
    expect((await rejected(broken)).code).toBe('BAD_PLAN');
    const missing = join(dir, 'missing.json');
    const p = clone() as Partial<Plan>;
    delete p.order;
    writeFileSync(missing, JSON.stringify(p));
    const err = await rejected(missing);
    expect(err.code).toBe('BAD_PLAN');
    expect(err.message).toContain('order');
    expect((await rejected(join(dir, 'nope.json'))).code).toBe('BAD_PLAN');
  });

  // BUG: same cause: a plan object without `order` reaches verifyPlan unvalidated and crashes with
  // "TypeError: Cannot read properties of undefined (reading 'length')" (src/scheduler/verify.ts,
  // plan.order.length). Expected: BAD_PLAN naming the missing field, as for a plan file.
  it('rejects a plan object that lacks a field with a TesseraError, not a crash', async () => {
    const p = clone() as Partial<Plan>;
    delete p.order;
    const err = await rejected(p as Plan);
    expect(err.code).toBe('BAD_PLAN');
    expect(err.message).toContain('order');
  });

  it('verifyPlan itself rejects a node marked folded that is not a constant', () => {
    const p = clone();
    const i = p.nodes.findIndex((n) => n.name === 'conv2');
    p.nodes[i] = { ...p.nodes[i], folded: true };
    expect(() => verifyPlan(p, g, targets.find((t) => t.name === TARGET)!)).toThrowError(TesseraError);
  });

  // BUG: a plan loaded from a file re-serializes to different bytes: compilePlan emits memory buffers
  // with keys {value, bytes, dtype, start, end, offset} (src/passes/plan-memory.ts greedyBySize spreads
  // the Lifetime then adds offset), parsePlan's zod schema rebuilds them as {value, bytes, dtype, offset,
  // start, end}. Expected: one canonical key order, so serializePlan(parsePlan(text)) === text.
  it('a plan loaded from its file serializes back to the same bytes', async () => {
    const path = join(dir, 'good.json');
    writeFileSync(path, serializePlan(good));
    const s = await Session.create(bytes, { target: TARGET, plan: path });
    try {
      expect(s.plan).toEqual(good);
      expect(serializePlan(s.plan)).toBe(serializePlan(good));
    } finally {
      await s.release();
    }
  });
});
