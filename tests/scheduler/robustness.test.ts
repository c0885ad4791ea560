/**
 * The runtime degrades visibly, never silently (issue 7): a backend that fails to compile or to run a
 * partition gives that partition to the CPU, the run still returns onnxruntime's outputs, and the
 * fallback is reported; one Session serves concurrent runs correctly.
 */
import { expectConcurrentEqualsSequential } from '../helpers/concurrency.js';
import * as ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Backend } from '../../src/backends/backend.js';
import { compareTensors } from '../../src/backends/compare.js';
import { OrtBackend } from '../../src/backends/ort.js';
import { Tensor, rng, type TensorMap } from '../../src/backends/tensor.js';
import { buildBranchyCnn } from '../../examples/branchy-cnn/model.js';
import { Session } from '../../src/runtime/session.js';

const TARGET = 'snapdragon-8-gen-3';
const bytes = buildBranchyCnn();
const image = (seed: number) => {
  const next = rng(seed);
  return new Tensor('float32', Float32Array.from({ length: 3 * 32 * 32 }, () => next() * 2 - 1), [1, 3, 32, 32]);
};
let reference: ort.InferenceSession;
beforeAll(async () => {
  reference = await ort.InferenceSession.create(bytes);
});
const expected = async (feeds: TensorMap) => (await reference.run(feeds)).probs as Tensor;

/** A backend that breaks on purpose: at compile time, or at the n-th run. */
function faulty(when: 'compile' | 'run'): Backend & { runs: number } {
  const inner = new OrtBackend('cpu');
  const b = {
    id: 'faulty-gpu',
    runs: 0,
    available: async () => true,
    supports: inner.supports.bind(inner),
    async compile(sub: Parameters<Backend['compile']>[0]) {
      if (when === 'compile') throw new Error('injected: the GPU driver rejected the kernel');
      const exe = await inner.compile(sub);
      return { ...exe, run: async () => { b.runs++; throw new Error('injected: device lost'); } };
    },
  };
  return b;
}

describe('fallback to the CPU', () => {
  for (const when of ['compile', 'run'] as const) {
    it(`a GPU partition whose backend fails at ${when} time runs on the CPU, correctly, and says so`, async () => {
      const gpu = faulty(when);
      const session = await Session.create(bytes, { target: TARGET, bind: { gpu }, placement: 'capability' }); // first fit: the LRN goes to the GPU
      const gpuParts = session.plan.partitions.filter((p) => p.processor === 'gpu');
      expect(gpuParts.length).toBeGreaterThan(0); // the LRN the NPU lacks
      const feeds = { image: image(1) };
      const out = (await session.run(feeds)).probs;
      const c = compareTensors(out, await expected(feeds));
      expect(c.cosine).toBeGreaterThan(0.999); // the NPU part is float16: judged by cosine
      expect(session.fallbacks.map((f) => [f.partition, f.from, f.to, f.when])).toEqual(gpuParts.map((p) => [p.id, 'faulty-gpu', 'ort:cpu', when]));
      expect(session.fallbacks[0].reason).toMatch(/injected/);
      expect(session.lastTrace!.fallbacks.length).toBe(gpuParts.length);
      const steps = session.lastTrace!.steps.filter((s) => s.kind === 'compute' && gpuParts.some((p) => p.id === s.partition));
      expect(steps.every((s) => s.backend === 'ort:cpu')).toBe(true);
      // and it stays on the CPU: a second run does not try the broken backend again
      const before = gpu.runs;
      const again = (await session.run(feeds)).probs;
      expect(gpu.runs).toBe(before);
      expect([...(again.data as Float32Array)]).toEqual([...(out.data as Float32Array)]);
      await session.release();
    });
  }
});

describe('concurrency', () => {
  it('16 concurrent runs on one Session return what 16 sequential runs return', async () => {
    const session = await Session.create(bytes, { target: TARGET });
    const feeds = Array.from({ length: 16 }, (_, i) => ({ image: image(100 + i) }));
    await expectConcurrentEqualsSequential(session, feeds, 'probs');
    await session.release();
  });
});


describe('mixed backends', () => {
  it('a plan whose partitions run on ort:cpu and ort-web:wasm in one model matches onnxruntime', async () => {
    // first fit: the LRN on the GPU (bound to the CPU EP), the convs on the NPU (bound to wasm)
    const session = await Session.create(bytes, { target: TARGET, placement: 'capability', bind: { npu: 'wasm', gpu: 'cpu' } });
    const backends = new Set(session.bindings.filter((b) => session.plan.partitions.some((p) => p.processor === b.processor)).map((b) => b.backend));
    expect(backends).toEqual(new Set(['ort:cpu', 'ort-web:wasm']));
    const feeds = { image: image(7) };
    const out = (await session.run(feeds)).probs;
    expect(compareTensors(out, await expected(feeds)).cosine).toBeGreaterThan(0.999);
    const used = new Set(session.lastTrace!.steps.filter((s) => s.kind === 'compute').map((s) => s.backend));
    expect(used).toEqual(new Set(['ort:cpu', 'ort-web:wasm']));
    await session.release();
  });
});
