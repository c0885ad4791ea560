import { existsSync, readdirSync } from 'node:fs';
import { create, toBinary } from '@bufbuild/protobuf';
import * as ort from 'onnxruntime-node';
import {
  GraphProtoSchema,
  ModelProtoSchema,
  NodeProtoSchema,
  OperatorSetIdProtoSchema,
  TensorProtoSchema,
  TypeProtoSchema,
  ValueInfoProtoSchema,
} from 'onnx-buf';
import { describe, expect, it } from 'vitest';
import { compareTensors } from '../../src/backends/compare.js';
import type { Tensor } from '../../src/backends/tensor.js';
import { probeWebGpu } from '../../src/backends/webgpu.js';

const probe = await probeWebGpu();

/** Deterministic values in [-1, 1). */
function values(n: number, seed: number): Float32Array<ArrayBuffer> {
  let s = seed;
  return Float32Array.from({ length: n }, () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 30) - 1);
}

/** y = Relu(x · W + b): x float32[8, 32], W [32, 16], b [16]. */
function denseModel(): Uint8Array {
  const vi = (name: string, dims: number[]) =>
    create(ValueInfoProtoSchema, {
      name,
      type: create(TypeProtoSchema, {
        value: { case: 'tensorType', value: { elemType: 1, shape: { dim: dims.map((d) => ({ value: { case: 'dimValue' as const, value: BigInt(d) } })) } } },
      }),
    });
  const weight = (name: string, dims: number[], seed: number) =>
    create(TensorProtoSchema, { name, dims: dims.map(BigInt), dataType: 1, rawData: new Uint8Array(values(dims.reduce((a, b) => a * b), seed).buffer) });
  const graph = create(GraphProtoSchema, {
    name: 'dense',
    node: [
      create(NodeProtoSchema, { name: 'mm', opType: 'MatMul', input: ['x', 'W'], output: ['h'] }),
      create(NodeProtoSchema, { name: 'add', opType: 'Add', input: ['h', 'b'], output: ['hb'] }),
      create(NodeProtoSchema, { name: 'relu', opType: 'Relu', input: ['hb'], output: ['y'] }),
    ],
    initializer: [weight('W', [32, 16], 7), weight('b', [16], 11)],
    input: [vi('x', [8, 32])],
    output: [vi('y', [8, 16])],
  });
  return toBinary(ModelProtoSchema, create(ModelProtoSchema, { irVersion: 8n, opsetImport: [create(OperatorSetIdProtoSchema, { version: 17n })], graph }));
}

async function run(provider: 'cpu' | 'webgpu', model: Uint8Array, x: ort.Tensor): Promise<Tensor> {
  // With CPU fallback disabled, creation fails unless the WebGPU EP takes every node.
  const extra = provider === 'webgpu' ? { session: { disable_cpu_ep_fallback: '1' } } : {};
  const session = await ort.InferenceSession.create(model, { executionProviders: [provider], logSeverityLevel: 3, extra });
  try {
    return (await session.run({ x })).y as Tensor;
  } finally {
    await session.release();
  }
}

/** A hardware Vulkan driver needs one of these device nodes. */
function hasGpuDevice(): boolean {
  return existsSync('/dev/nvidia0') || existsSync('/dev/dxg') || (existsSync('/dev/dri') && readdirSync('/dev/dri').some((f) => f.startsWith('renderD')));
}

describe('probeWebGpu', () => {
  it('answers once, with a consistent shape', async () => {
    expect(await probeWebGpu()).toBe(probe);
    expect(typeof probe.available).toBe('boolean');
    expect(typeof probe.adapter).toBe('string');
    if (!probe.available) expect(probe.software).toBe(false);
  });

  it.runIf(!probe.available)('says why WebGPU is unavailable', () => {
    expect(probe.reason).toBeTypeOf('string');
    expect(probe.reason!.trim()).not.toBe('');
  });

  it.runIf(probe.available)('runs a model on the WebGPU EP that matches the CPU EP', async () => {
    const model = denseModel();
    const x = new ort.Tensor('float32', values(8 * 32, 3), [8, 32]);
    const [gpu, cpu] = [await run('webgpu', model, x), await run('cpu', model, x)];
    const cmp = compareTensors(gpu, cpu, { rtol: 1e-3, atol: 1e-4 });
    expect(cmp.reason).toBeUndefined();
    expect(cmp.ok).toBe(true);
    expect(probe.adapter).not.toBe('');
  });

  it.runIf(probe.available && !hasGpuDevice())('reports a software adapter on a host without a GPU device', () => {
    expect(probe.software).toBe(true);
    expect(probe.adapter).toMatch(/llvmpipe|lavapipe|swiftshader|unknown/i);
  });
});
