/**
 * Resource limits that say so: tensors declared or inferred beyond `maxTensorBytes` (ConstantOfShape,
 * Expand, Tile and Range bombs; huge initializers, inputs and declared values, all in files of a few
 * hundred bytes), subgraphs nested beyond `maxSubgraphDepth` (If and Loop, up to 20,000 deep) and
 * models beyond `maxNodes` are refused with LIMIT_EXCEEDED naming the limit — never an engine's
 * allocation failure, a stack overflow or the process running out of memory. Within the limits the
 * same shapes of model run as onnxruntime runs them.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BOMBS, bombModel, makeSandbox, manyNodesModel, nestedModel, type Sandbox } from '../../bench/hostile-models.js';
import { importOnnx } from '../../src/compiler/api.js';
import { DEFAULT_LIMITS, Session, Tensor } from '../../src/index.js';
import { tessera } from '../cli/helpers.js';
import { caught, expectContained } from './helpers.js';

let sb: Sandbox;
beforeAll(() => {
  sb = makeSandbox('sec-limits');
});
afterAll(() => sb.cleanup());

const cliText = (r: { stdout: string; stderr: string }) => r.stdout + r.stderr;

describe('tensor bombs: refused with LIMIT_EXCEEDED before anything allocates them', () => {
  for (const kind of BOMBS) {
    it(`${kind}: Session.create, tessera inspect and compile`, async () => {
      const bytes = bombModel(kind);
      expect(bytes.length).toBeLessThan(1000);
      const err = await caught(() => Session.create(bytes));
      expect(err.code, err.message).toBe('LIMIT_EXCEEDED');
      expect(err.message).toMatch(/would take 131072\.0 GiB, beyond the limit of 4\.0 GiB per tensor \(maxTensorBytes\)/);
      const path = join(sb.modelDir, `${kind}.onnx`);
      writeFileSync(path, bytes);
      for (const args of [['inspect', path], ['compile', path, '--target', 'snapdragon-8-gen-3', '--out', join(sb.root, 'plan.json')]]) {
        const r = await expectContained(sb, () => tessera(...args), cliText);
        expect(r.status, cliText(r)).toBe(2);
        expect(r.stderr).toMatch(/^tessera: error \[LIMIT_EXCEEDED\]: .*maxTensorBytes/);
      }
    });
  }

  it("the limit is an option: an Expand to 4 MiB runs by default as onnxruntime runs it, and is refused under a 1 MiB limit", async () => {
    const bytes = bombModel('expand', 2 ** 20); // [2^20/3 rounded]^3 elements of float32
    const x = new Float32Array([2.5]);
    const ref = await ort.InferenceSession.create(bytes);
    const want = (await ref.run({ x: new ort.Tensor('float32', x, [1]) })).y;
    await ref.release();
    const s = await Session.create(bytes);
    const got = (await s.run({ x: new Tensor('float32', x, [1]) })).y;
    await s.release();
    expect([...got.dims]).toEqual([...want.dims]);
    expect((got.data as Float32Array).every((v) => v === 2.5)).toBe(true);
    const err = await caught(() => Session.create(bytes, { limits: { maxTensorBytes: 2 ** 20 } }));
    expect(err.code).toBe('LIMIT_EXCEEDED');
    expect(err.message).toMatch(/value 'y' \(inferred\).*beyond the limit of 1\.0 MiB/);
  });

  it('limits given are checked: a positive integer, a known name', async () => {
    for (const limits of [{ maxTensorBytes: -1 }, { maxNodes: 1.5 }, { maxSubgraphDepth: 10_000 }, { maxBananas: 3 }]) {
      const err = await caught(() => importOnnx(bombModel('expand', 8), { limits: limits as never }));
      expect(err.code).toBe('BAD_ARGUMENT');
    }
  });
});

describe('subgraph nesting and node count', () => {
  const feeds = (x: number) => ({ c: new Tensor('bool', new Uint8Array([1]), []), x: new Tensor('float32', new Float32Array([x]), [1]) });

  it(`If nested ${DEFAULT_LIMITS.maxSubgraphDepth} deep (the limit) runs as onnxruntime runs it; one deeper is refused`, async () => {
    const ok = nestedModel(DEFAULT_LIMITS.maxSubgraphDepth);
    const ref = await ort.InferenceSession.create(ok);
    const want = (await ref.run({ c: new ort.Tensor('bool', new Uint8Array([1]), []), x: new ort.Tensor('float32', new Float32Array([3.5]), [1]) })).y0.data;
    await ref.release();
    const s = await Session.create(ok);
    expect([...((await s.run(feeds(3.5))).y0.data as Float32Array)]).toEqual([...(want as Float32Array)]);
    await s.release();
    const err = await caught(() => Session.create(nestedModel(DEFAULT_LIMITS.maxSubgraphDepth + 1)));
    expect(err.code).toBe('LIMIT_EXCEEDED');
    expect(err.message).toMatch(/nest more than 16 deep \(maxSubgraphDepth\)/);
    // raised for a model one trusts
    const deeper = await Session.create(nestedModel(20), { limits: { maxSubgraphDepth: 20 } });
    expect([...((await deeper.run(feeds(-1))).y0.data as Float32Array)]).toEqual([-1]);
    await deeper.release();
  });

  it('If and Loop nested 20,000 deep (a 1 MB file): refused on the bytes, no stack overflow', async () => {
    for (const op of ['If', 'Loop'] as const) {
      const bytes = nestedModel(20_000, op);
      const err = await caught(() => importOnnx(bytes));
      expect(err.code).toBe('LIMIT_EXCEEDED');
      const path = join(sb.modelDir, `deep-${op}.onnx`);
      writeFileSync(path, bytes);
      const r = tessera('inspect', path);
      expect(r.status, cliText(r)).toBe(2);
      expect(r.stderr).toMatch(/\[LIMIT_EXCEEDED\].*maxSubgraphDepth/);
    }
  });

  it('nested deeper than the decoder recurses (with the depth limit raised to its maximum): still LIMIT_EXCEEDED', async () => {
    const err = await caught(() => importOnnx(nestedModel(2000), { limits: { maxSubgraphDepth: 256 } }));
    expect(err.code).toBe('LIMIT_EXCEEDED');
  });

  it('a million and one empty nodes (a 2 MB file) are refused before decoding (maxNodes)', async () => {
    const err = await caught(() => importOnnx(manyNodesModel(DEFAULT_LIMITS.maxNodes + 1)));
    expect(err.code).toBe('LIMIT_EXCEEDED');
    expect(err.message).toMatch(/more than 1000000 nodes \(maxNodes/);
  });

  it('nodes inside subgraphs count too', async () => {
    const bytes = nestedModel(12); // 12 If nodes, 12 else-branch Identities and the innermost one: 25 nodes
    expect(importOnnx(bytes, { limits: { maxNodes: 25 } }).nodes.length).toBe(1);
    const err = await caught(() => importOnnx(bytes, { limits: { maxNodes: 24 } }));
    expect(err.code).toBe('LIMIT_EXCEEDED');
  });
});
