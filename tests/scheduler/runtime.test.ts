/**
 * The runtime, end to end: every corpus model run with Session on snapdragon-8-gen-3 (NPU and GPU
 * emulated on the CPU EP, the NPU's float16 legalization applied) against onnxruntime-node running the
 * original .onnx file on the same feeds; bindings reported honestly; the conv nets' FLOPs mostly on the
 * NPU; the trace one entry per plan step, causal, with the plan's arenas. Then a real WebGPU plan
 * (bound explicitly, several transfers between the WebGPU and CPU backends) when an adapter exists, and
 * BACKEND_UNAVAILABLE for `bind: { gpu: 'webgpu' }` in a process that can see no Vulkan driver.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compareTensors } from '../../src/backends/compare.js';
import { Tensor, type TensorMap } from '../../src/backends/tensor.js';
import { probeWebGpu } from '../../src/backends/webgpu.js';
import { GraphBuilder } from '../../src/ir/builder.js';
import { importOnnx } from '../../src/ir/onnx-import.js';
import { Session } from '../../src/runtime/session.js';
import { corpusCases, feedsFor, lcgValues, makeTarget, ROOT, runOrt, shapesOf, targetJson, type ModelCase } from '../helpers/models.js';

const TARGET = 'snapdragon-8-gen-3';
const CONV_NETS = (m: ModelCase) => m.kind === 'light' || m.name.startsWith('ppocr');

interface Outcome {
  session: Session;
  outputs: TensorMap;
  again: TensorMap;
  reference: TensorMap;
}

describe.each(corpusCases())('$name on snapdragon-8-gen-3', (m) => {
  let o: Outcome;
  beforeAll(async () => {
    const graph = importOnnx(readFileSync(m.path), { path: m.path });
    const feeds = feedsFor(graph, m);
    const session = await Session.create(m.path, { target: TARGET, sampleFeeds: feeds, inputShapes: shapesOf(feeds) });
    const outputs = await session.run(feeds);
    const again = await session.run(feeds);
    const reference = await runOrt(m.path, feeds);
    o = { session, outputs, again, reference };
  }, 120_000);
  afterAll(async () => {
    await o?.session.release();
  });

  it('matches onnxruntime on the original model (tolerance, or cosine ≥ 0.999 where fp16)', () => {
    const { session, outputs, reference } = o;
    const fp16 = session.plan.partitions.some((p) => p.precision === 'float16');
    expect(Object.keys(outputs).sort()).toEqual(Object.keys(reference).sort());
    for (const name of Object.keys(reference)) {
      const got = outputs[name], ref = reference[name];
      expect(got.type, name).toBe(ref.type);
      expect([...got.dims], name).toEqual([...ref.dims]);
      const c = compareTensors(got, ref, { rtol: 1e-3, atol: 1e-4 });
      if (fp16) expect(c.cosine, `${name}: cosine ${c.cosine}, max abs error ${c.maxAbs}`).toBeGreaterThanOrEqual(0.999);
      else expect(c.ok, `${name}: ${c.reason}`).toBe(true);
    }
  });

  if (m.name === 'ppocr-v4-det') it('also matches on a text-like image, where the probability map really lights up', async () => {
    // a white page with dark bars, normalized as PaddleOCR does: (pixel/255 - mean) / std
    const [, , h, w] = m.shapes.x;
    const mean = [0.485, 0.456, 0.406], std = [0.229, 0.224, 0.225];
    const data = new Float32Array(3 * h * w);
    for (let c = 0; c < 3; c++) {
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          const ink = y % 40 > 10 && y % 40 < 26 && x % 23 < 15 && x > 20 && x < w - 20;
          data[(c * h + y) * w + x] = ((ink ? 20 : 235) / 255 - mean[c]) / std[c];
        }
      }
    }
    const feeds = { x: new Tensor('float32', data, [1, 3, h, w]) };
    const got = await o.session.run(feeds);
    const ref = await runOrt(m.path, feeds);
    for (const name of Object.keys(ref)) {
      expect(Math.max(...(ref[name].data as Float32Array))).toBeGreaterThan(0.5); // text found
      const c = compareTensors(got[name], ref[name]);
      expect(c.cosine, `${name}: max abs error ${c.maxAbs}`).toBeGreaterThanOrEqual(0.999);
    }
  });

  it('gives the same outputs on a second run of the same session', () => {
    for (const name of Object.keys(o.outputs)) {
      expect(compareTensors(o.again[name], o.outputs[name], { rtol: 0, atol: 0 }).ok, name).toBe(true);
    }
  });

  it('binds the cpu for real and reports the npu and gpu as emulated, with a note', () => {
    const b = new Map(o.session.bindings.map((x) => [x.processor, x]));
    expect([...b.keys()].sort()).toEqual(['cpu', 'gpu', 'npu']);
    expect(b.get('cpu')!.emulated).toBe(false);
    for (const id of ['npu', 'gpu']) {
      expect(b.get(id)!.emulated, id).toBe(true);
      expect(b.get(id)!.note, id).toMatch(/emulat/);
    }
    expect(b.get('npu')!.note).toContain('float16');
    expect(o.session.lastTrace!.bindings).toEqual(o.session.bindings);
  });

  it('records one trace entry per plan step, causal, with the plan arenas', () => {
    const { plan } = o.session;
    const trace = o.session.lastTrace!;
    expect(trace.steps.map((s) => s.step)).toEqual(plan.steps.map((_, i) => i));
    trace.steps.forEach((t, i) => {
      const s = plan.steps[i];
      expect(t.kind).toBe(s.kind);
      expect(t.lane).toBe(s.lane);
      expect(t.endUs, `step ${i}`).toBeGreaterThanOrEqual(t.startUs);
      expect(t.startUs).toBeGreaterThanOrEqual(0);
      // a step starts only after the steps it waits on have ended (measured)
      for (const a of s.after) expect(t.startUs, `step ${i} after ${a}`).toBeGreaterThanOrEqual(trace.steps[a].endUs);
      if (s.kind === 'transfer') expect(t).toMatchObject({ value: s.value, bytes: s.bytes });
      else expect(t.partition).toBe(s.partition);
    });
    expect(trace.arenaBytes).toEqual(Object.fromEntries(Object.entries(plan.memory).map(([id, mem]) => [id, mem.arenaBytes])));
    expect(trace.totalUs).toBeGreaterThanOrEqual(Math.max(0, ...trace.steps.map((s) => s.endUs)) - 1);
  });

  if (CONV_NETS(m)) it('places most of its FLOPs on the NPU', () => {
    const { plan, graph } = o.session;
    let total = 0, npu = 0;
    plan.nodes.forEach((pn, i) => {
      if (pn.folded) return;
      total += graph.costs[i].flops;
      if (pn.processor === 'npu') npu += graph.costs[i].flops;
    });
    expect(total).toBeGreaterThan(0);
    expect(npu / total).toBeGreaterThan(0.5);
  });
});

describe('a plan that is one CPU partition on the caller\'s tensors', () => {
  it('runs as one backend call: outputs as onnxruntime gives them, fresh each run, one trace step', async () => {
    const b = new GraphBuilder('direct');
    const x = b.input('x', 'float32', [2, 8]);
    const w = b.initializer('w', lcgValues(8 * 4, 5), [8, 4]);
    const y = b.node('Relu', [b.node('MatMul', [x, w], 'mm')], 'y');
    b.output(y, 'float32');
    b.output(b.node('Sigmoid', [y], 'z'), 'float32');
    const bytes = b.toBytes();
    const session = await Session.create(bytes, { target: makeTarget('one-cpu', [{ id: 'cpu', kind: 'cpu', ops: '*' }]) });
    try {
      expect(session.plan.steps.length).toBe(1);
      const feeds = { x: new Tensor('float32', lcgValues(16, 6), [2, 8]) };
      const first = await session.run(feeds);
      const second = await session.run(feeds);
      const ref = await runOrt(bytes, feeds);
      for (const name of ['y', 'z']) {
        expect(compareTensors(first[name], ref[name], { rtol: 0, atol: 0 }).ok, name).toBe(true);
        expect(compareTensors(second[name], ref[name], { rtol: 0, atol: 0 }).ok, name).toBe(true);
        expect(second[name].data, `${name}: a run never hands back storage another run writes`).not.toBe(first[name].data);
      }
      const trace = session.lastTrace!;
      expect(trace.steps).toMatchObject([{ step: 0, kind: 'compute', lane: 'cpu', partition: 0, backend: 'ort:cpu', startUs: 0 }]);
      expect(trace.arenaBytes).toEqual({ cpu: session.plan.memory.cpu.arenaBytes });
      // concurrent runs of the same session each get their own outputs
      const many = await Promise.all([1, 2, 3, 4].map((k) => session.run({ x: new Tensor('float32', lcgValues(16, 10 + k), [2, 8]) })));
      for (const [i, out] of many.entries()) {
        const want = await runOrt(bytes, { x: new Tensor('float32', lcgValues(16, 11 + i), [2, 8]) });
        expect(compareTensors(out.z, want.z, { rtol: 0, atol: 0 }).ok).toBe(true);
      }
    } finally {
      await session.release();
    }
  });
});

describe('a real WebGPU plan (bound explicitly)', () => {
  const probe = probeWebGpu();

  /** x → Conv (gpu) → Sigmoid → Flatten (cpu) → MatMul (gpu) → Tanh (cpu) → y: four transfers. */
  function model(): Uint8Array {
    const b = new GraphBuilder('webgpu-mix');
    const x = b.input('x', 'float32', [1, 3, 8, 8]);
    const w = b.initializer('w', lcgValues(4 * 3 * 9, 1).map((v) => v * 0.5), [4, 3, 3, 3]);
    const m = b.initializer('m', lcgValues(256 * 10, 2).map((v) => v * 0.1), [256, 10]);
    const c = b.node('Conv', [x, w], 'c', { pads: [1, 1, 1, 1] }, { name: 'conv' });
    const f = b.node('Flatten', [b.node('Sigmoid', [c], 's')], 'f', { axis: 1 });
    b.output(b.node('Tanh', [b.node('MatMul', [f, m], 'mm', {}, { name: 'matmul' })], 'y'), 'float32');
    return b.toBytes();
  }
  const target = () => makeTarget('webgpu-split', [
    { id: 'cpu', kind: 'cpu', ops: '*', gflops: 0.01, bandwidthGBs: 1 },
    { id: 'gpu', kind: 'gpu', ops: ['Conv', 'MatMul', 'Gemm'], backend: 'ort:webgpu', gflops: 10_000, bandwidthGBs: 1000, dtypes: ['float32'] },
  ], { bandwidthGBs: 1000, latencyUs: 0.1 });

  it('runs conv and matmul partitions on the WebGPU EP with transfers to and from the CPU, matching onnxruntime', async (ctx) => {
    const p = await probe;
    if (!p.available) ctx.skip(`no WebGPU adapter: ${p.reason}`);
    const bytes = model();
    const x = new Tensor('float32', lcgValues(3 * 64, 3), [1, 3, 8, 8]);
    const session = await Session.create(bytes, { target: target(), bind: { gpu: 'webgpu' }, sampleFeeds: { x } });
    try {
      const { plan } = session;
      const gpuParts = plan.partitions.filter((q) => q.processor === 'gpu');
      expect(gpuParts.length).toBe(2);
      const transfers = plan.steps.filter((s) => s.kind === 'transfer').map((s) => (s.kind === 'transfer' ? `${s.value}:${s.from}->${s.to}` : ''));
      expect(transfers.sort()).toEqual(['c:gpu->cpu', 'f:cpu->gpu', 'mm:gpu->cpu', 'x:cpu->gpu']);
      const gpu = session.bindings.find((b) => b.processor === 'gpu')!;
      expect(gpu).toMatchObject({ backend: 'ort:webgpu', emulated: false });
      expect(gpu.note).toMatch(/WebGPU/);
      expect(gpu.note).toMatch(/explicit/);
      const y = (await session.run({ x })).y;
      const ref = (await runOrt(bytes, { x })).y;
      const c = compareTensors(y, ref, { rtol: 1e-3, atol: 1e-4 });
      expect(c.ok, c.reason).toBe(true);
      const lanes = session.lastTrace!.steps.map((s) => s.lane);
      expect(lanes.filter((l) => l === 'gpu').length).toBe(2);
      expect(lanes.filter((l) => l.includes('->')).length).toBe(4);
    } finally {
      await session.release();
    }
  });
});

describe('bind: { gpu: "webgpu" } where no adapter exists', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-nogpu-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('fails with BACKEND_UNAVAILABLE, and the default binding falls back to emulation saying why', () => {
    // a child process whose Vulkan loader finds no driver: the WebGPU probe there sees no adapter
    const b = new GraphBuilder('tiny');
    b.output(b.node('Relu', [b.input('x', 'float32', [1, 4])], 'y'), 'float32');
    const modelPath = join(dir, 'tiny.onnx');
    writeFileSync(modelPath, b.toBytes());
    const targetPath = join(dir, 'target.json');
    writeFileSync(targetPath, JSON.stringify(targetJson('cpu-gpu', [{ id: 'cpu', kind: 'cpu', ops: '*' }, { id: 'gpu', kind: 'gpu', ops: ['Relu'], backend: 'ort:webgpu' }])));
    const script = join(dir, 'child.mts');
    writeFileSync(script, `
      import { Session } from ${JSON.stringify(join(ROOT, 'src/runtime/session.ts'))};
      import { bindProcessors } from ${JSON.stringify(join(ROOT, 'src/runtime/bind.ts'))};
      import { loadTarget } from ${JSON.stringify(join(ROOT, 'src/targets/index.ts'))};
      const out = {};
      try { const s = await Session.create(${JSON.stringify(modelPath)}, { target: ${JSON.stringify(targetPath)}, bind: { gpu: 'webgpu' } }); await s.release(); out.error = null; }
      catch (e) { out.error = { name: e.name, code: e.code, message: e.message }; }
      out.defaults = (await bindProcessors(await loadTarget('${TARGET}'))).map(({ impl, ...b }) => b);
      out.host = (await loadTarget('host')).processors.map((p) => p.id);
      console.log(JSON.stringify(out));
    `);
    const env = { ...process.env, VK_ICD_FILENAMES: join(dir, 'none.json'), VK_DRIVER_FILES: join(dir, 'none.json') };
    const r = spawnSync(process.execPath, ['--import', 'tsx', script], { cwd: ROOT, env, encoding: 'utf8', timeout: 90_000 });
    const line = r.stdout.trim().split('\n').pop() ?? '';
    expect(line.startsWith('{'), `child said: ${r.stdout}\n${r.stderr}`).toBe(true);
    const out = JSON.parse(line) as { error: { name: string; code: string; message: string } | null; defaults: { processor: string; emulated: boolean; note: string }[]; host: string[] };
    expect(out.error).not.toBeNull();
    expect(out.error!.name).toBe('TesseraError');
    expect(out.error!.code).toBe('BACKEND_UNAVAILABLE');
    expect(out.error!.message).toMatch(/WebGPU/);
    expect(out.error!.message).toMatch(/adapter/);
    const gpu = out.defaults.find((d) => d.processor === 'gpu')!;
    expect(gpu.emulated).toBe(true);
    expect(gpu.note).toMatch(/no WebGPU adapter/);
    expect(out.host).toEqual(['cpu']);
  });
});
