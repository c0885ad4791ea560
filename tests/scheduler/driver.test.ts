/**
 * One compiler driver: a Session compiles through `compile`, so every compile option is a Session option
 * and gives the same plan; a plan handed back to `compile` (as `tessera run --plan` does) is checked and
 * lowered to the same partitions without compiling again.
 */
import { describe, expect, it } from 'vitest';
import { nasCells, toOnnx } from '../../bench/memory/generate.js';
import { Tensor } from '../../src/backends/tensor.js';
import { compile, type CompileOptions } from '../../src/compiler/index.js';
import { serializePlan } from '../../src/plan/schema.js';
import { Session } from '../../src/runtime/session.js';
import { lcgValues, runOrt } from '../helpers/models.js';

describe('the compiler driver', () => {
  const bytes = toOnnx(nasCells(3, { C: 8, H: 16, seed: 2 }));
  const options: CompileOptions[] = [
    {},
    { rewrite: true, split: 'memory', inplace: true, orderBudgetMs: 100 },
    { placement: 'capability', orderBudgetMs: 50 },
  ];
  for (const o of options) {
    it(`Session.create(${JSON.stringify(o)}) runs the plan compile() makes with the same options, and matches onnxruntime`, async () => {
      const c = await compile(bytes, 'snapdragon-8-gen-3', o);
      const session = await Session.create(bytes, { target: 'snapdragon-8-gen-3', ...o });
      try {
        expect(serializePlan(session.plan)).toBe(serializePlan(c.plan));
        if (o.rewrite) expect(session.plan.model.rewrites?.length).toBeGreaterThan(0);
        if (o.split === 'memory') expect(session.plan.orderSearch!.splitFrom).toBeLessThanOrEqual(session.plan.partitions.length);
        const input = session.inputNames[0];
        const dims = session.graph.inputShapes[input];
        const x = new Tensor('float32', lcgValues(dims.reduce((a, b) => a * b, 1), 9), dims);
        const got = (await session.run({ [input]: x }))[session.outputNames[0]].data as Float32Array;
        const want = (await runOrt(bytes, { [input]: x }))[session.outputNames[0]].data as Float32Array;
        let dot = 0, na = 0, nb = 0;
        for (let i = 0; i < want.length; i++) { dot += got[i] * want[i]; na += got[i] ** 2; nb += want[i] ** 2; }
        expect(dot / Math.sqrt(na * nb)).toBeGreaterThan(0.999); // the NPU's partitions store float16
      } finally {
        await session.release();
      }
    });
  }

  it('given a plan, checks it and lowers it to the same partitions without compiling again', async () => {
    const c = await compile(bytes, 'snapdragon-8-gen-3', { rewrite: true });
    const again = await compile(bytes, undefined, { plan: JSON.parse(serializePlan(c.plan)) });
    expect(again.target.name).toBe('snapdragon-8-gen-3');
    expect(again.placementLog).toEqual([]);
    expect(again.partitions!.map((p) => p.onnx)).toEqual(c.partitions!.map((p) => p.onnx));
  });
});
