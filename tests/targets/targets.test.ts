/**
 * Targets: the built-in profiles parse and cite a source for every figure; a user's own JSON file
 * loads, and a bad one fails with BAD_TARGET naming the file and the field; checkSupport answers from
 * the op-support table (op, dtype, rank, control flow, rejected attributes, run-time shapes).
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fromBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema } from 'onnx-buf';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { Tensor } from '../../src/backends/tensor.js';
import { probeWebGpu } from '../../src/backends/webgpu.js';
import { TesseraError } from '../../src/errors.js';
import { GraphBuilder, tensor } from '../../src/ir/builder.js';
import type { ShapedGraph } from '../../src/ir/infer.js';
import { builtinTargetNames, hostTarget, loadTarget } from '../../src/targets/index.js';
import { FIGURE_FIELDS, targetSchemas, type Processor, type Target } from '../../src/targets/schema.js';

const { processorSchema, targetSchema, figuresSchema } = targetSchemas();
import { checkSupport } from '../../src/targets/support.js';
import { isStaticValue, ROOT, shapeBytes, targetJson } from '../helpers/models.js';

const BUILTIN_DIR = join(ROOT, 'src/targets/builtin');
const names = builtinTargetNames();
const fileTargets = names.filter((n) => n !== 'host');

/** Every object with a numeric `value` anywhere in the JSON: a figure. */
function figures(json: unknown, path = ''): { path: string; fig: Record<string, unknown> }[] {
  if (Array.isArray(json)) return json.flatMap((x, i) => figures(x, `${path}[${i}]`));
  if (json && typeof json === 'object') {
    const o = json as Record<string, unknown>;
    if (typeof o.value === 'number') return [{ path, fig: o }];
    return Object.entries(o).flatMap(([k, v]) => figures(v, path ? `${path}.${k}` : k));
  }
  return [];
}

describe('built-in targets', () => {
  it('lists host and at least three real machines, snapdragon-8-gen-3 among them', () => {
    expect(names[0]).toBe('host');
    expect(fileTargets).toContain('snapdragon-8-gen-3');
    expect(fileTargets.length).toBeGreaterThanOrEqual(3);
    expect(new Set(names).size).toBe(names.length);
  });

  it("FIGURE_FIELDS are the figures schema's fields (a processor's figures through its backend)", () => {
    expect([...FIGURE_FIELDS].sort()).toEqual(Object.keys(figuresSchema.shape).sort());
  });

  it.each(fileTargets)('%s parses with the schema, is named after its file, and every figure names a source', async (name) => {
    const raw = JSON.parse(readFileSync(join(BUILTIN_DIR, `${name}.json`), 'utf8'));
    const parsed = targetSchema.parse(raw);
    expect(parsed.name).toBe(name);
    const t = await loadTarget(name);
    expect(t).toEqual(parsed);
    const figs = figures(raw);
    // peak per dtype, bandwidth and launch overhead for each processor, bandwidth and latency per link
    expect(figs.length).toBeGreaterThanOrEqual(t.processors.length * 3 + t.links.length * 2);
    for (const { path, fig } of figs) {
      expect(typeof fig.source, path).toBe('string');
      expect((fig.source as string).trim().length, `${name}: ${path} has an empty source`).toBeGreaterThan(10);
    }
    for (const p of t.processors) {
      expect(p.bandwidthGBs.value, `${name}.${p.id} bandwidth`).toBeGreaterThan(0);
      for (const [dt, f] of Object.entries(p.peakGflops)) expect(f.value, `${name}.${p.id} peak ${dt}`).toBeGreaterThan(0);
    }
    for (const l of t.links) expect(l.bandwidthGBs.value).toBeGreaterThan(0);
    // machines of a different shape: a cpu that takes everything, plus at least one accelerator
    expect(t.processors.some((p) => p.kind === 'cpu' && p.support.ops === '*')).toBe(true);
    expect(t.processors.some((p) => p.kind !== 'cpu')).toBe(true);
  });

  it('the built-in machines differ in shape (not one profile copied)', async () => {
    const shapes = await Promise.all(fileTargets.map(async (n) => (await loadTarget(n)).processors.map((p) => p.kind).join('+')));
    expect(new Set(shapes).size).toBeGreaterThanOrEqual(2);
  });

  it('snapdragon-8-gen-3 has a Hexagon NPU that takes int8/int16/fp16 only, no dynamic shapes, no control flow', async () => {
    const t = await loadTarget('snapdragon-8-gen-3');
    const npu = t.processors.find((p) => p.kind === 'npu')!;
    expect(npu).toBeDefined();
    expect(npu.support.dtypes).not.toContain('float32');
    expect(npu.support.dtypes).toEqual(expect.arrayContaining(['int8', 'int16', 'float16']));
    expect(npu.support.legalizeFloat32To).toBe('float16');
    expect(npu.support.dynamicShapes).toBe(false);
    expect(npu.support.controlFlow).toBe(false);
    expect(t.processors.map((p) => p.kind).sort()).toEqual(['cpu', 'gpu', 'npu']);
  });

  it('host is this machine: the CPU EP, plus the WebGPU EP exactly when an adapter exists', async () => {
    // the uncalibrated host (a profile `tessera calibrate --no-gpu` wrote here would leave the GPU out)
    const saved = process.env.TESSERA_HOST_PROFILE;
    process.env.TESSERA_HOST_PROFILE = join(tmpdir(), `tessera-no-profile-${process.pid}.json`);
    onTestFinished(() => {
      if (saved === undefined) delete process.env.TESSERA_HOST_PROFILE;
      else process.env.TESSERA_HOST_PROFILE = saved;
    });
    const host = await hostTarget();
    expect(targetSchema.parse(host)).toEqual(host);
    expect(host.name).toBe('host');
    for (const { path, fig } of figures(host)) expect((fig.source as string).trim(), path).not.toBe('');
    const cpu = host.processors.find((p) => p.kind === 'cpu')!;
    expect(cpu.backend).toBe('ort:cpu');
    expect(cpu.support.ops).toBe('*');
    const probe = await probeWebGpu();
    const gpu = host.processors.find((p) => p.kind === 'gpu');
    expect(!!gpu).toBe(probe.available);
    if (gpu) {
      expect(gpu.backend).toBe('ort:webgpu');
      expect(host.links.some((l) => [l.from, l.to].sort().join() === [cpu.id, gpu.id].sort().join())).toBe(true);
    }
    expect(await loadTarget('host')).toEqual(host);
  });
});

describe('user target files', () => {
  const dir = join(tmpdir(), `tessera-targets-${process.pid}`);
  const good = () => JSON.parse(readFileSync(join(BUILTIN_DIR, 'snapdragon-8-gen-3.json'), 'utf8')) as Record<string, any>;
  const write = (name: string, content: string) => {
    const p = join(dir, name);
    writeFileSync(p, content);
    return p;
  };
  beforeAll(() => mkdirSync(dir, { recursive: true }));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  async function badTarget(path: string): Promise<TesseraError> {
    const err = await loadTarget(path).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(TesseraError);
    expect((err as TesseraError).code).toBe('BAD_TARGET');
    expect((err as TesseraError).message).toContain(path);
    return err as TesseraError;
  }

  it('loads a valid file by path', async () => {
    const json = good();
    json.name = 'my-phone';
    const path = write('my-phone.json', JSON.stringify(json));
    const t = await loadTarget(path);
    expect(t.name).toBe('my-phone');
    expect(t.processors.map((p) => p.id)).toEqual(['cpu', 'gpu', 'npu']);
  });

  it('loads a minimal hand-written target', async () => {
    const path = write('tiny.json', JSON.stringify(targetJson('tiny', [{ id: 'cpu', kind: 'cpu', ops: '*' }, { id: 'acc', kind: 'gpu', ops: ['Conv'] }])));
    const t = await loadTarget(path);
    expect(t.processors.map((p) => p.id)).toEqual(['cpu', 'acc']);
  });

  it('rejects a file that is not JSON', async () => {
    const err = await badTarget(write('broken.json', '{ "format": "tessera.target", '));
    expect(err.message).toMatch(/JSON/);
  });

  it('rejects a file with a missing field, naming the field', async () => {
    const json = good();
    delete json.processors[2].bandwidthGBs;
    const err = await badTarget(write('missing.json', JSON.stringify(json)));
    expect(err.message).toContain('processors.2.bandwidthGBs');
  });

  it('rejects a figure without a source, naming the field', async () => {
    const json = good();
    delete json.processors[0].launchOverheadUs.source;
    const err = await badTarget(write('nosource.json', JSON.stringify(json)));
    expect(err.message).toContain('processors.0.launchOverheadUs.source');
  });

  it('rejects a link to an unknown processor, naming it', async () => {
    const json = good();
    json.links.push({ ...json.links[0], to: 'tpu' });
    const err = await badTarget(write('link.json', JSON.stringify(json)));
    expect(err.message).toContain("'tpu'");
  });

  it('rejects a duplicate processor id, naming it', async () => {
    const json = good();
    json.processors[2].id = 'gpu';
    const err = await badTarget(write('dup.json', JSON.stringify(json)));
    expect(err.message).toContain("'gpu'");
    expect(err.message).toMatch(/twice|duplicate/);
  });

  it('rejects a target with no cpu that takes every op', async () => {
    const json = good();
    json.processors[0].support.ops = ['Conv', 'Relu'];
    const err = await badTarget(write('nocpu.json', JSON.stringify(json)));
    expect(err.message).toMatch(/cpu/);
    expect(err.message).toContain('"*"');
  });

  it('rejects an unknown target name that is not a file, listing the built-in names', async () => {
    const err = await loadTarget('no-such-phone').then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(TesseraError);
    expect((err as TesseraError).code).toBe('BAD_TARGET');
    expect((err as TesseraError).message).toContain('no-such-phone');
    expect((err as TesseraError).message).toContain('snapdragon-8-gen-3');
  });
});

describe('checkSupport', () => {
  let snap: Target;
  let npu: Processor, gpu: Processor, cpu: Processor;
  beforeAll(async () => {
    snap = await loadTarget('snapdragon-8-gen-3');
    npu = snap.processors.find((p) => p.id === 'npu')!;
    gpu = snap.processors.find((p) => p.id === 'gpu')!;
    cpu = snap.processors.find((p) => p.id === 'cpu')!;
  });
  const support = (proc: Processor, g: ShapedGraph, op: string) => {
    const node = g.nodes.find((n) => n.op === op)!;
    expect(node, op).toBeDefined();
    return checkSupport(proc, node, g, (name) => isStaticValue(g, name));
  };
  const reasonOf = (r: ReturnType<typeof checkSupport>) => (r.ok ? '' : r.reason);

  it('accepts a float32 Conv + Relu on every snapdragon processor (fp32 legalized on the NPU)', async () => {
    const b = new GraphBuilder('conv');
    const x = b.input('x', 'float32', [1, 3, 8, 8]);
    const w = b.initializer('w', new Float32Array(4 * 3 * 9).fill(0.1), [4, 3, 3, 3]);
    b.output(b.node('Relu', [b.node('Conv', [x, w], 'c', { pads: [1, 1, 1, 1] })], 'y'), 'float32');
    const g = await shapeBytes(b.toBytes());
    for (const p of [cpu, gpu, npu]) {
      expect(support(p, g, 'Conv'), p.id).toEqual({ ok: true });
      expect(support(p, g, 'Relu'), p.id).toEqual({ ok: true });
    }
  });

  it('rejects an op that is not in the table, naming the op', async () => {
    const b = new GraphBuilder('lrn');
    const x = b.input('x', 'float32', [1, 4, 8, 8]);
    b.output(b.node('LRN', [x], 'y', { size: 3 }), 'float32');
    const g = await shapeBytes(b.toBytes());
    const r = support(npu, g, 'LRN');
    expect(r.ok).toBe(false);
    expect(reasonOf(r)).toContain('LRN');
    expect(support(gpu, g, 'LRN')).toEqual({ ok: true }); // the Adreno table has LRN
    expect(support(cpu, g, 'LRN')).toEqual({ ok: true });
  });

  it('rejects an int64 activation on the NPU, naming the value and dtype', async () => {
    const b = new GraphBuilder('int64');
    const a = b.input('a', 'int64', [4]);
    const c = b.input('c', 'int64', [4]);
    b.output(b.node('Add', [a, c], 'sum'), 'int64');
    const g = await shapeBytes(b.toBytes());
    const r = support(npu, g, 'Add');
    expect(r.ok).toBe(false);
    expect(reasonOf(r)).toContain('int64');
    expect(reasonOf(r)).toMatch(/'a'|'c'|'sum'/);
    expect(support(gpu, g, 'Add').ok).toBe(false); // the Adreno takes float types only
    expect(support(cpu, g, 'Add')).toEqual({ ok: true });
  });

  it('rejects a rank above maxRank and accepts one at it', async () => {
    const b = new GraphBuilder('ranks');
    const r5 = b.input('r5', 'float32', [1, 2, 2, 2, 2]);
    const r6 = b.input('r6', 'float32', [1, 2, 2, 2, 2, 2]);
    b.output(b.node('Relu', [r5], 'y5'), 'float32');
    b.output(b.node('Sigmoid', [r6], 'y6'), 'float32');
    const g = await shapeBytes(b.toBytes());
    expect(npu.support.maxRank).toBe(5);
    expect(support(npu, g, 'Relu')).toEqual({ ok: true });
    const r = support(npu, g, 'Sigmoid');
    expect(r.ok).toBe(false);
    expect(reasonOf(r)).toMatch(/rank 6/);
    expect(gpu.support.maxRank).toBe(4);
    expect(reasonOf(support(gpu, g, 'Relu'))).toMatch(/rank 5/);
    expect(support(cpu, g, 'Sigmoid')).toEqual({ ok: true });
  });

  it('rejects control flow on a processor without it, even one that takes every op', async () => {
    const branch = (name: string, op: string) => {
      const sb = new GraphBuilder(name);
      sb.node(op, ['x'], `${name}_out`);
      sb.output(`${name}_out`, 'float32', [4]);
      return fromBinary(ModelProtoSchema, sb.toBytes()).graph!;
    };
    const b = new GraphBuilder('if');
    const cond = b.input('cond', 'bool', []);
    b.input('x', 'float32', [4]);
    b.output(b.node('If', [cond], 'y', { then_branch: { type: 'graph', value: branch('then', 'Relu') }, else_branch: { type: 'graph', value: branch('else', 'Neg') } }), 'float32');
    const g = await shapeBytes(b.toBytes(), undefined, { cond: new Tensor('bool', Uint8Array.from([1]), []), x: new Tensor('float32', new Float32Array(4), [4]) });
    const everyOpNoControl = processorSchema.parse({ ...(targetJson('t', [{ id: 'acc', kind: 'gpu', ops: '*', controlFlow: false, dynamicShapes: true }]).processors as unknown[])[0] as object });
    const r = support(everyOpNoControl, g, 'If');
    expect(r.ok).toBe(false);
    expect(reasonOf(r)).toMatch(/control flow/);
    expect(reasonOf(r)).toContain('If');
    expect(support(npu, g, 'If').ok).toBe(false);
    expect(support(cpu, g, 'If')).toEqual({ ok: true });
  });

  it('rejects Resize mode cubic on the NPU and GPU, and accepts nearest', async () => {
    const b = new GraphBuilder('resize', { opset: 13 });
    const x = b.input('x', 'float32', [1, 2, 4, 4]);
    const scales = b.initializer('scales', new Float32Array([1, 1, 2, 2]), [4]);
    b.output(b.node('Resize', [x, '', scales], 'cubic', { mode: 'cubic' }, { name: 'resize_cubic' }), 'float32');
    b.output(b.node('Resize', [x, '', scales], 'nearest', { mode: 'nearest' }, { name: 'resize_nearest' }), 'float32');
    const g = await shapeBytes(b.toBytes());
    const cubic = g.nodes.find((n) => n.name === 'resize_cubic')!;
    const nearest = g.nodes.find((n) => n.name === 'resize_nearest')!;
    const st = (name: string) => isStaticValue(g, name);
    for (const p of [npu, gpu]) {
      const r = checkSupport(p, cubic, g, st);
      expect(r.ok, p.id).toBe(false);
      expect(reasonOf(r)).toContain('cubic');
      expect(reasonOf(r)).toContain('mode');
      expect(checkSupport(p, nearest, g, st), p.id).toEqual({ ok: true });
    }
    expect(checkSupport(cpu, cubic, g, st)).toEqual({ ok: true });
  });

  it('rejects a Conv dilation above the NPU limit, and accepts a small one', async () => {
    const b = new GraphBuilder('dilation');
    const x = b.input('x', 'float32', [1, 1, 40, 40]);
    const w = b.initializer('w', new Float32Array(9).fill(1), [1, 1, 3, 3]);
    b.output(b.node('Conv', [x, w], 'wide', { dilations: [9, 9] }, { name: 'wide' }), 'float32');
    b.output(b.node('Conv', [x, w], 'narrow', { dilations: [2, 2] }, { name: 'narrow' }), 'float32');
    const g = await shapeBytes(b.toBytes());
    const st = (name: string) => isStaticValue(g, name);
    const r = checkSupport(npu, g.nodes.find((n) => n.name === 'wide')!, g, st);
    expect(r.ok).toBe(false);
    expect(reasonOf(r)).toContain('dilations');
    expect(checkSupport(npu, g.nodes.find((n) => n.name === 'narrow')!, g, st)).toEqual({ ok: true });
  });

  it('rejects a Reshape whose shape is a run-time value on a static-shape processor, accepts a constant one', async () => {
    const b = new GraphBuilder('reshape');
    const x = b.input('x', 'float32', [2, 6]);
    const s = b.input('s', 'int64', [2]);
    const k = b.initializer('k', BigInt64Array.from([4n, 3n]), [2]);
    b.output(b.node('Reshape', [x, s], 'dyn', {}, { name: 'dynamic' }), 'float32');
    b.output(b.node('Reshape', [x, k], 'fixed', {}, { name: 'fixed' }), 'float32');
    const feeds = { x: new Tensor('float32', new Float32Array(12), [2, 6]), s: new Tensor('int64', BigInt64Array.from([3n, 4n]), [2]) };
    const g = await shapeBytes(b.toBytes(), undefined, feeds);
    const st = (name: string) => isStaticValue(g, name);
    const dyn = g.nodes.find((n) => n.name === 'dynamic')!;
    const fixed = g.nodes.find((n) => n.name === 'fixed')!;
    for (const p of [npu, gpu]) {
      expect(p.support.dynamicShapes).toBe(false);
      const r = checkSupport(p, dyn, g, st);
      expect(r.ok, p.id).toBe(false);
      expect(reasonOf(r)).toContain("'s'");
      expect(reasonOf(r)).toMatch(/shape/);
      expect(checkSupport(p, fixed, g, st), p.id).toEqual({ ok: true });
    }
    expect(checkSupport(cpu, dyn, g, st)).toEqual({ ok: true });
  });

  it('accepts a Reshape whose shape is computed from shapes (Shape → Gather → Concat): it is folded, static', async () => {
    const b = new GraphBuilder('shape-chain');
    const x = b.input('x', 'float32', [2, 3, 4]);
    const shp = b.node('Shape', [x], 'shp');
    const i0 = b.initializer('i0', BigInt64Array.from([0n]), [1]);
    const first = b.node('Gather', [shp, i0], 'first', { axis: 0 });
    const minus1 = b.initializer('m1', BigInt64Array.from([-1n]), [1]);
    const target = b.node('Concat', [first, minus1], 'tshape', { axis: 0 });
    b.output(b.node('Reshape', [x, target], 'y'), 'float32');
    const g = await shapeBytes(b.toBytes());
    expect(isStaticValue(g, 'tshape')).toBe(true);
    expect(support(npu, g, 'Reshape')).toEqual({ ok: true });
    expect(g.values.get('y')!.shape).toEqual([2, 12]);
  });

  it('a constant made by ConstantOfShape counts as a weight, not as an activation of its dtype', async () => {
    const b = new GraphBuilder('cos');
    const x = b.input('x', 'float32', [1, 4]);
    const shape = b.initializer('shape', BigInt64Array.from([1n, 4n]), [2]);
    const w = b.node('ConstantOfShape', [shape], 'w', { value: { type: 'tensor', value: tensor('v', new Float32Array([0.5]), [1]) } });
    b.output(b.node('Mul', [x, w], 'y'), 'float32');
    const g = await shapeBytes(b.toBytes());
    expect(isStaticValue(g, 'w')).toBe(true);
    expect(support(npu, g, 'Mul')).toEqual({ ok: true });
  });
});
