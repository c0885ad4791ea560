/**
 * Schedule: independent branches on different processors overlap in predicted time, so the makespan is
 * shorter than running them one after the other; every value crossing memories has a transfer step
 * that the consuming compute step waits for; predicted durations come from the target's figures
 * (roofline per node + launch overhead; link latency + bytes / bandwidth).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../src/ir/builder.js';
import type { ShapedGraph } from '../../src/ir/infer.js';
import { compilePlan } from '../../src/compiler/pipeline.js';
import type { Plan, PlanStep } from '../../src/plan/schema.js';
import { loadTarget } from '../../src/targets/index.js';
import type { Target } from '../../src/targets/schema.js';
import { lcgValues, makeTarget, scheduleProblems, shapeBytes, type ProcSpec } from '../helpers/models.js';
import { makeContext } from '../../src/passes/context.js';

const C = 16, H = 32;
const GPU_GFLOPS = 200, CPU_GBS = 10, GPU_GBS = 100, LINK_GBS = 50, LINK_US = 2, LAUNCH = 1;

/** cpu takes everything (slowly); gpu takes convs, Relu and whatever `gpuOps` adds. */
function splitTarget(gpuOps: string[] = []): Target {
  const procs: ProcSpec[] = [
    { id: 'cpu', kind: 'cpu', ops: '*', gflops: 10, bandwidthGBs: CPU_GBS, launchUs: LAUNCH },
    { id: 'gpu', kind: 'gpu', ops: ['Conv', 'Relu', ...gpuOps], gflops: GPU_GFLOPS, bandwidthGBs: GPU_GBS, launchUs: LAUNCH },
  ];
  return makeTarget('split', procs, { bandwidthGBs: LINK_GBS, latencyUs: LINK_US });
}

/**
 * x → [Conv → Relu → Conv → Relu] (branch A: gpu ops) and x → [Tanh → Sigmoid → Softsign] (branch B:
 * cpu only); `merge` joins them with an Add, or leaves both as graph outputs.
 */
async function twoBranches(merge: boolean): Promise<{ g: ShapedGraph; bytes: Uint8Array }> {
  const b = new GraphBuilder('branches');
  const x = b.input('x', 'float32', [1, C, H, H]);
  const w = b.initializer('w', lcgValues(C * C * 9, 1).map((v) => v * 0.1), [C, C, 3, 3]);
  let a = x;
  for (let i = 0; i < 2; i++) a = b.node('Relu', [b.node('Conv', [a, w], `a_conv${i}`, { pads: [1, 1, 1, 1] }, { name: `a_conv${i}` })], `a_relu${i}`, {}, { name: `a_relu${i}` });
  let c = x;
  for (const op of ['Tanh', 'Sigmoid', 'Softsign']) c = b.node(op, [c], `b_${op}`, {}, { name: `b_${op}` });
  if (merge) b.output(b.node('Add', [a, c], 'y', {}, { name: 'merge' }), 'float32');
  else b.output(a, 'float32').output(c, 'float32');
  const bytes = b.toBytes();
  return { g: await shapeBytes(bytes), bytes };
}

const compile = (g: ShapedGraph, bytes: Uint8Array, t: Target) => compilePlan(makeContext(g, t), { modelBytes: bytes, modelFile: 'branches.onnx', placement: 'capability' });
const computeSteps = (plan: Plan) => plan.steps.filter((s): s is Extract<PlanStep, { kind: 'compute' }> => s.kind === 'compute');
const overlap = (a: PlanStep, b: PlanStep) => a.startUs < b.endUs && b.startUs < a.endUs;
const dur = (s: PlanStep) => s.endUs - s.startUs;

/** The compute step of the partition holding the named node. */
function stepOf(plan: Plan, nodeName: string): Extract<PlanStep, { kind: 'compute' }> {
  const pn = plan.nodes.find((n) => n.name === nodeName)!;
  return computeSteps(plan).find((s) => s.partition === pn.partition)!;
}

describe('two independent branches on a cpu + gpu target', () => {
  let t: Target;
  beforeAll(() => {
    t = splitTarget();
  });

  it('places branch A on the gpu and branch B on the cpu (precondition)', async () => {
    const { g, bytes } = await twoBranches(false);
    const plan = compile(g, bytes, t);
    const proc = (name: string) => plan.nodes.find((n) => n.name === name)!.processor;
    expect(['a_conv0', 'a_relu0', 'a_conv1', 'a_relu1'].map(proc)).toEqual(['gpu', 'gpu', 'gpu', 'gpu']);
    expect(['b_Tanh', 'b_Sigmoid', 'b_Softsign'].map(proc)).toEqual(['cpu', 'cpu', 'cpu']);
  });

  it('without a merge: their compute steps overlap and the makespan beats the sum of both', async () => {
    const { g, bytes } = await twoBranches(false);
    const plan = compile(g, bytes, t);
    expect(scheduleProblems(plan, g)).toEqual([]);
    const a = stepOf(plan, 'a_conv0'), c = stepOf(plan, 'b_Tanh');
    expect(a.lane).toBe('gpu');
    expect(c.lane).toBe('cpu');
    expect(a).not.toBe(c);
    expect(overlap(a, c)).toBe(true);
    expect(plan.estimate.latencyUs).toBeLessThan(dur(a) + dur(c));
    expect(plan.estimate.source).toBe('cost model: split');
  });

  it('merged on the gpu: the branches still overlap, the merge waits for both', async () => {
    const target = splitTarget(['Add']);
    const { g, bytes } = await twoBranches(true);
    const plan = compile(g, bytes, target);
    expect(scheduleProblems(plan, g)).toEqual([]);
    const a = stepOf(plan, 'a_conv0'), c = stepOf(plan, 'b_Tanh'), m = stepOf(plan, 'merge');
    expect(plan.nodes.find((n) => n.name === 'merge')!.processor).toBe('gpu');
    expect(overlap(a, c)).toBe(true);
    expect(plan.estimate.latencyUs).toBeLessThan(dur(a) + dur(c) + dur(m));
    expect(m.startUs).toBeGreaterThanOrEqual(Math.max(a.endUs, c.endUs));
  });

  // BUG: src/passes/partition.ts groupPartitions puts the cpu branch (Tanh → Sigmoid → Softsign) and
  // the merge Add into one cpu partition [b_Tanh, b_Sigmoid, b_Softsign, merge]; a partition runs as one
  // call, so it waits for the gpu branch's result and the independent cpu work runs only after the gpu
  // finishes (predicted: gpu 3.3–54.1 µs, cpu 57.4–117.4 µs; latency 117.4 µs instead of ~70 µs).
  // Expected: the merge starts a new cpu partition (or the branch is split off) so the branches overlap.
  it('merged on the cpu: the cpu branch still runs while the gpu works', async () => {
    const { g, bytes } = await twoBranches(true);
    const plan = compile(g, bytes, t);
    expect(scheduleProblems(plan, g)).toEqual([]);
    expect(plan.nodes.find((n) => n.name === 'merge')!.processor).toBe('cpu');
    const a = stepOf(plan, 'a_conv0'), c = stepOf(plan, 'b_Tanh');
    expect(overlap(a, c)).toBe(true);
    expect(plan.estimate.latencyUs).toBeLessThan(computeSteps(plan).reduce((s, x) => s + dur(x), 0));
  });

  it('transfers every crossing value with the link figures and makes the consumer wait for it', async () => {
    const target = splitTarget(['Add']);
    const { g, bytes } = await twoBranches(true);
    const plan = compile(g, bytes, target);
    const transfers = plan.steps.filter((s): s is Extract<PlanStep, { kind: 'transfer' }> => s.kind === 'transfer');
    const elems = C * H * H;
    // x goes to the gpu; the cpu branch's result goes to the gpu; the merged output comes back to the host
    const moved = transfers.map((s) => `${s.value}:${s.from}->${s.to}`).sort();
    expect(moved).toEqual(['b_Softsign:cpu->gpu', 'x:cpu->gpu', 'y:gpu->cpu']);
    for (const s of transfers) {
      expect(s.bytes, s.value).toBe(elems * 4);
      expect(dur(s), s.value).toBeCloseTo(LINK_US + (elems * 4) / (LINK_GBS * 1e3), 1);
      expect(s.lane).toBe(`${s.from}->${s.to}`);
    }
    expect(plan.estimate.transferBytes).toBe(3 * elems * 4);
    const m = stepOf(plan, 'merge');
    const fromCpu = plan.steps.findIndex((s) => s.kind === 'transfer' && s.value === 'b_Softsign');
    expect(m.after).toContain(fromCpu);
    expect(m.startUs).toBeGreaterThanOrEqual(plan.steps[fromCpu].endUs);
  });

  it('predicts each compute step from the target figures: launch + Σ max(flops / peak, bytes / bandwidth)', async () => {
    const { g, bytes } = await twoBranches(false);
    const plan = compile(g, bytes, t);
    for (const s of computeSteps(plan)) {
      const p = plan.partitions[s.partition];
      const proc = t.processors.find((q) => q.id === p.processor)!;
      let us = proc.launchOverheadUs.value;
      for (const i of p.nodes) {
        if (plan.nodes[i].folded) continue;
        // an activation fed by a conv alone is fused into it (the cost model's stated rule): dispatch only
        const src = g.values.get(g.nodes[i].inputs[0]);
        if (['Relu', 'Sigmoid', 'Tanh'].includes(g.nodes[i].op) && src && src.producer >= 0 && g.nodes[src.producer].op === 'Conv' && src.consumers.length === 1) continue;
        const c = g.costs[i];
        us += Math.max(c.flops / (proc.peakGflops.float32.value * 1e3), c.bytes / (proc.bandwidthGBs.value * 1e3));
      }
      expect(dur(s), `partition ${p.id}`).toBeCloseTo(us, 1);
    }
    // a conv really is compute-bound on this gpu: 2·C·C·9·H·H flops
    const conv = g.nodes.find((n) => n.name === 'a_conv0')!;
    expect(g.costs[conv.index].flops).toBe(2 * C * C * 9 * H * H);
  });
});

describe('independent branches on snapdragon-8-gen-3', () => {
  it('a conv branch on the NPU and an LRN branch elsewhere overlap; every crossing value is transferred', async () => {
    const snap = await loadTarget('snapdragon-8-gen-3');
    const b = new GraphBuilder('snap-branches');
    const x = b.input('x', 'float32', [1, 64, 32, 32]);
    const w = b.initializer('w', lcgValues(64 * 64 * 9, 2).map((v) => v * 0.05), [64, 64, 3, 3]);
    let a = x;
    for (let i = 0; i < 3; i++) a = b.node('Conv', [a, w], `conv${i}`, { pads: [1, 1, 1, 1] }, { name: `conv${i}` });
    // the other branch: LRN then a chain of Softplus (in no accelerator's table), long enough to still
    // be running when the NPU has received x and starts
    let l = b.node('LRN', [x], 'lrn', { size: 5 }, { name: 'lrn' });
    for (let i = 0; i < 12; i++) l = b.node('Softplus', [l], `soft${i}`, {}, { name: `soft${i}` });
    b.output(a, 'float32').output(l, 'float32');
    const bytes = b.toBytes();
    const g = await shapeBytes(bytes);
    const plan = compilePlan(makeContext(g, snap), { modelBytes: bytes, modelFile: 'snap.onnx', placement: 'capability' });
    expect(scheduleProblems(plan, g)).toEqual([]);
    const conv = stepOf(plan, 'conv0'), lrn = stepOf(plan, 'lrn');
    expect(plan.partitions[conv.partition].processor).toBe('npu');
    expect(plan.partitions[lrn.partition].processor).not.toBe('npu');
    expect(overlap(conv, lrn)).toBe(true);
    // the NPU stores float16: the conv result leaves it as 2-byte elements
    const back = plan.steps.find((s) => s.kind === 'transfer' && s.value === 'conv2');
    expect(back).toMatchObject({ from: 'npu', to: 'cpu', bytes: 64 * 32 * 32 * 2 });
  });
});
