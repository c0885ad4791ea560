/**
 * Map: lowering a partition to a standalone ONNX model with the processor's dtype legalization. On the
 * snapdragon NPU (no float32) a conv partition runs with float16 edges (or scaled int16 where the
 * storage says so); onnxruntime runs the lowered model, and its outputs are compared with onnxruntime
 * running the original float32 model: close (cosine ≥ 0.999) but not bit-identical (rounding happened).
 * Float16 conversions here are written by hand (tests/helpers), not taken from src.
 */
import { fromBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema, type ModelProto } from 'onnx-buf';
import { beforeAll, describe, expect, it } from 'vitest';
import { Tensor, type TensorMap } from '../../src/backends/tensor.js';
import { GraphBuilder } from '../../src/ir/builder.js';
import type { ShapedGraph } from '../../src/ir/infer.js';
import { lowerPartition } from '../../src/passes/map.js';
import { partition, type Partitioning } from '../../src/passes/partition.js';
import type { Storage } from '../../src/targets/storage.js';
import { staticInfo, type StaticInfo } from '../../src/ir/static.js';
import { loadTarget } from '../../src/targets/index.js';
import type { Processor, Target } from '../../src/targets/schema.js';
import { cosine, fromHalfBits, lcgValues, makeTarget, runOrt, shapeBytes, toHalfBits, valuesOf } from '../helpers/models.js';
import { makeContext } from '../../src/passes/context.js';

const FLOAT = 1, INT16 = 5, FLOAT16 = 10;

/** x[1,3,16,16] → Conv(8) → Relu → Conv(4) → y; weights that float16 cannot hold exactly. */
function convModel(): Uint8Array {
  const b = new GraphBuilder('conv2');
  const x = b.input('x', 'float32', [1, 3, 16, 16]);
  const w1 = b.initializer('w1', lcgValues(8 * 3 * 9, 1).map((v) => v * 0.5), [8, 3, 3, 3]);
  const b1 = b.initializer('b1', lcgValues(8, 2).map((v) => v * 0.1), [8]);
  const w2 = b.initializer('w2', lcgValues(4 * 8 * 9, 3).map((v) => v * 0.3), [4, 8, 3, 3]);
  const c1 = b.node('Conv', [x, w1, b1], 'c1', { pads: [1, 1, 1, 1] });
  const r = b.node('Relu', [c1], 'r');
  b.output(b.node('Conv', [r, w2], 'y', { pads: [1, 1, 1, 1] }), 'float32');
  return b.toBytes();
}

const elemType = (m: ModelProto, name: string, where: 'input' | 'output') => {
  const vi = (where === 'input' ? m.graph!.input : m.graph!.output).find((v) => v.name === name)!;
  return vi.type!.value.case === 'tensorType' ? vi.type!.value.value.elemType : -1;
};

const halfTensor = (t: Tensor) => new Tensor('float16', Uint16Array.from(t.data as Float32Array, toHalfBits), [...t.dims]);
const int16Tensor = (t: Tensor, scale: number) =>
  new Tensor('int16', Int16Array.from(t.data as Float32Array, (v) => Math.max(-32768, Math.min(32767, Math.round(v / scale)))), [...t.dims]);

describe('lowerPartition on a float16 NPU partition', () => {
  const bytes = convModel();
  let g: ShapedGraph;
  let snap: Target;
  let npu: Processor;
  let parts: Partitioning;
  let st: StaticInfo;
  let x: Tensor;
  let reference: Float32Array;

  beforeAll(async () => {
    g = await shapeBytes(bytes);
    snap = await loadTarget('snapdragon-8-gen-3');
    npu = snap.processors.find((p) => p.id === 'npu')!;
    parts = partition(makeContext(g, snap));
    st = staticInfo(g);
    x = new Tensor('float32', lcgValues(3 * 16 * 16, 9).map((v) => v * 2), [1, 3, 16, 16]);
    reference = (await runOrt(bytes, { x })).y.data as Float32Array;
  });

  it('puts the whole conv net in one NPU partition (precondition)', () => {
    expect(parts.partitions.map((p) => p.processor)).toEqual(['npu']);
  });

  it('gives float16 inputs and outputs, float16-exact weights, and runs close to the float32 model but not identical', async () => {
    const low = lowerPartition(g, parts.partitions[0], npu, st, () => ({ dtype: 'float16' }));
    expect(low.precision).toBe('float16');
    expect(low.inputs).toEqual([{ name: 'x', dtype: 'float16' }]);
    expect(low.outputs).toEqual([{ name: 'y', dtype: 'float16' }]);
    const m = fromBinary(ModelProtoSchema, low.bytes);
    expect(elemType(m, 'x', 'input')).toBe(FLOAT16);
    expect(elemType(m, 'y', 'output')).toBe(FLOAT16);
    // the weights are rounded to float16 (stored as float32 for the CPU EP's kernels, but float16-exact)
    const floats = m.graph!.initializer.filter((t) => t.dataType === FLOAT && t.dims.length > 0);
    expect(floats.length).toBeGreaterThanOrEqual(3);
    for (const t of floats) {
      const vals = t.rawData.length ? new Float32Array(new Uint8Array(t.rawData).buffer) : Float32Array.from(t.floatData);
      for (const v of vals) expect(fromHalfBits(toHalfBits(v)), `${t.name}`).toBe(v);
    }
    const original = lcgValues(8 * 3 * 9, 1).map((v) => v * 0.5);
    expect(original.some((v) => fromHalfBits(toHalfBits(v)) !== v)).toBe(true);

    const out = await runOrt(low.bytes, { x: halfTensor(x) });
    expect(out.y.type).toBe('float16');
    expect([...out.y.dims]).toEqual([1, 4, 16, 16]);
    const got = valuesOf(out.y);
    const ref = Array.from(reference);
    expect(cosine(got, ref)).toBeGreaterThanOrEqual(0.999);
    expect(got.some((v, i) => v !== ref[i])).toBe(true); // rounding really happened
    const maxAbsRef = Math.max(...ref.map(Math.abs));
    expect(Math.max(...got.map((v, i) => Math.abs(v - ref[i])))).toBeLessThan(0.02 * maxAbsRef);
  });

  it('takes and gives scaled int16 where the storage says so', async () => {
    const xScale = (Math.max(...Array.from(x.data as Float32Array, Math.abs)) * 2) / 32767;
    const refMax = Math.max(...Array.from(reference, Math.abs));
    const yScale = (refMax * 2) / 32767;
    const rScale = 1 / 1024;
    const storage = (name: string): Storage =>
      name === 'x' ? { dtype: 'int16', scale: xScale } : name === 'y' ? { dtype: 'int16', scale: yScale } : name === 'r' ? { dtype: 'int16', scale: rScale } : { dtype: 'float16' };
    const low = lowerPartition(g, parts.partitions[0], npu, st, storage);
    expect(low.inputs).toEqual([{ name: 'x', dtype: 'int16' }]);
    expect(low.outputs).toEqual([{ name: 'y', dtype: 'int16' }]);
    const m = fromBinary(ModelProtoSchema, low.bytes);
    expect(elemType(m, 'x', 'input')).toBe(INT16);
    expect(elemType(m, 'y', 'output')).toBe(INT16);
    const out = await runOrt(low.bytes, { x: int16Tensor(x, xScale) });
    expect(out.y.type).toBe('int16');
    const got = Array.from(out.y.data as Int16Array, (q) => q * yScale);
    const ref = Array.from(reference);
    expect(cosine(got, ref)).toBeGreaterThanOrEqual(0.999);
    expect(got.some((v, i) => v !== ref[i])).toBe(true);
    // int16 codes are whole numbers in range, not float garbage
    for (const q of out.y.data as Int16Array) expect(Math.abs(q)).toBeLessThanOrEqual(32767);
  });

  it('lowers the same partition natively for the CPU: float32 edges, the original numbers', async () => {
    const cpu = snap.processors.find((p) => p.id === 'cpu')!;
    const low = lowerPartition(g, { ...parts.partitions[0], processor: 'cpu' }, cpu, st, () => ({ dtype: 'float32' }));
    expect(low.precision).toBe('native');
    expect(low.inputs).toEqual([{ name: 'x', dtype: 'float32' }]);
    expect(low.outputs).toEqual([{ name: 'y', dtype: 'float32' }]);
    const out = await runOrt(low.bytes, { x });
    const got = valuesOf(out.y);
    got.forEach((v, i) => expect(Math.abs(v - reference[i])).toBeLessThanOrEqual(1e-5 + 1e-5 * Math.abs(reference[i])));
  });
});

describe('lowered partitions chained by hand reproduce the whole model', () => {
  it('npu (float16) → cpu (LRN) → npu (float16): every edge converted by the test, result within cosine 0.999', async () => {
    const t = makeTarget('cpu-npu', [
      { id: 'cpu', kind: 'cpu', ops: '*', gflops: 1, bandwidthGBs: 1 },
      { id: 'npu', kind: 'npu', ops: ['Conv', 'Relu'], legalizeFloat32To: 'float16', gflops: 10_000, bandwidthGBs: 1000 },
    ], { bandwidthGBs: 1000, latencyUs: 0 });
    const b = new GraphBuilder('chain');
    const x = b.input('x', 'float32', [1, 4, 8, 8]);
    const w = b.initializer('w', lcgValues(4 * 4 * 9, 5).map((v) => v * 0.4), [4, 4, 3, 3]);
    const c1 = b.node('Relu', [b.node('Conv', [x, w], 'c1', { pads: [1, 1, 1, 1] })], 'r1');
    const l = b.node('LRN', [c1], 'l', { size: 3 });
    b.output(b.node('Conv', [l, w], 'y', { pads: [1, 1, 1, 1] }), 'float32');
    const bytes = b.toBytes();
    const g = await shapeBytes(bytes);
    const parts = partition(makeContext(g, t));
    expect(parts.partitions.map((p) => p.processor)).toEqual(['npu', 'cpu', 'npu']);
    const st = staticInfo(g);
    const feeds = { x: new Tensor('float32', lcgValues(4 * 64, 8), [1, 4, 8, 8]) };
    // values in float32, converted to each partition's edge types
    const values = new Map<string, Tensor>(Object.entries(feeds));
    for (const p of parts.partitions) {
      const proc = t.processors.find((q) => q.id === p.processor)!;
      const low = lowerPartition(g, p, proc, st, () => ({ dtype: proc.id === 'npu' ? 'float16' : 'float32' }));
      const inputs: TensorMap = {};
      for (const i of low.inputs) {
        const v = values.get(i.name)!;
        inputs[i.name] = i.dtype === 'float16' ? halfTensor(v) : v;
      }
      const out = await runOrt(low.bytes, inputs);
      for (const o of low.outputs) {
        const v = out[o.name];
        expect(v.type, o.name).toBe(o.dtype);
        values.set(o.name, new Tensor('float32', Float32Array.from(valuesOf(v)), [...v.dims]));
      }
    }
    const ref = Array.from((await runOrt(bytes, feeds)).y.data as Float32Array);
    const got = valuesOf(values.get('y')!);
    expect(cosine(got, ref)).toBeGreaterThanOrEqual(0.999);
    expect(got.some((v, i) => v !== ref[i])).toBe(true);
  });
});
