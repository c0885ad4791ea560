/**
 * An InferenceSession created without shapes runs every shape the model admits, each output equal to
 * onnxruntime-node's run of the whole original model on the same feed (same process):
 *  - ppocr-v4-rec at 11 widths from 64 to 2,048 in shuffled order, each twice, and ppocr-v4-det at 5
 *    image sizes, on the host target and on a target of one CPU: one engine call runs every shape, with
 *    at most one compile (none where the target as bound leaves only the CPU EP: nothing to plan);
 *  - on a target of two processors (a plan of several partitions, arenas planned for its shapes): one
 *    compile per new signature, none for a repeated one, and the least recently used signature out of a
 *    cache of 2 compiled again when it comes back.
 */
import * as ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { InferenceSession, Tensor, TesseraError } from '../../src/index.js';
import { CORPUS, makeTarget } from '../helpers/models.js';

const REC = join(CORPUS, 'models/ppocr-v4-rec.onnx');
const DET = join(CORPUS, 'models/ppocr-v4-det.onnx');

function image(dims: number[], seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: dims.reduce((a, b) => a * b, 1) }, () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 4294967296) * 2 - 1);
}

function shuffled<T>(xs: T[], seed: number): T[] {
  const out = [...xs];
  let s = seed;
  for (let i = out.length - 1; i > 0; i--) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    const j = s % (i + 1);
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

const refs = new Map<string, ort.InferenceSession>();
afterAll(async () => {
  for (const s of refs.values()) await s.release();
});

/** Runs dims through the session and onnxruntime; every output within fp32 tolerance. */
async function checkShape(session: InferenceSession, model: string, dims: number[], seed: number): Promise<void> {
  if (!refs.has(model)) refs.set(model, await ort.InferenceSession.create(model));
  const data = image(dims, seed);
  const got = await session.run({ x: new Tensor('float32', data, dims) });
  const want = await refs.get(model)!.run({ x: new ort.Tensor('float32', data, dims) });
  for (const [name, w] of Object.entries(want)) {
    const g = got[name];
    expect(g.dims, `${name} at [${dims}]`).toEqual(w.dims);
    const a = g.data as Float32Array, b = w.data as Float32Array;
    let bad = -1;
    for (let i = 0; i < b.length && bad < 0; i++) if (!(Math.abs(a[i] - b[i]) <= 1e-4 + 1e-3 * Math.abs(b[i]))) bad = i;
    expect(bad, `${name} at [${dims}]: element ${bad}: ${a[bad]} against ${b[bad]}`).toBe(-1);
  }
}

const WIDTHS = [64, 96, 128, 200, 320, 448, 640, 800, 1024, 1536, 2048];

describe('any input shape, host target', () => {
  it('one ppocr-v4-rec session: 11 widths from 64 to 2048, shuffled, each twice; at most one compile', async () => {
    const session = await InferenceSession.create(REC);
    for (const [k, w] of shuffled([...WIDTHS, ...WIDTHS], 7).entries()) await checkShape(session, REC, [1, 3, 48, w], k);
    expect(session.anyShapeWithoutRecompiling).toBe(true);
    expect(session.compiles).toBeLessThanOrEqual(1);
    if (session.plan) expect(session.plan.partitions).toHaveLength(1);
    await session.release();
  }, 600_000);

  it('one ppocr-v4-det session: 5 image sizes', async () => {
    const session = await InferenceSession.create(DET);
    for (const [k, [h, w]] of [[320, 320], [640, 480], [96, 1024], [736, 736], [320, 320]].entries()) await checkShape(session, DET, [1, 3, h, w], k);
    expect(session.compiles).toBeLessThanOrEqual(1);
    await session.release();
  }, 600_000);

  it("executionProviders ['cpu'] (one processor that takes every op): nothing compiled, every shape one engine call", async () => {
    const session = await InferenceSession.create(REC, { executionProviders: ['cpu'] });
    for (const [k, w] of [320, 64, 1024, 64].entries()) await checkShape(session, REC, [1, 3, 48, w], 50 + k);
    expect(session.compiles).toBe(0);
    expect(session.plan).toBeUndefined();
    expect(session.anyShapeWithoutRecompiling).toBe(true);
    await session.release();
  }, 600_000);

  it('a one-CPU target with a compile option that asks for work (inplace) compiles once: its plan is one partition, kept for every shape', async () => {
    const session = await InferenceSession.create(REC, { target: makeTarget('one-cpu', [{ id: 'cpu', kind: 'cpu', ops: '*' }]), inplace: true, orderBudgetMs: 50 });
    for (const [k, w] of [320, 64, 1024, 64].entries()) await checkShape(session, REC, [1, 3, 48, w], 60 + k);
    expect(session.compiles).toBe(1);
    expect(session.plan!.partitions).toHaveLength(1);
    expect(session.plan!.inputs.x.shape).toEqual([1, 3, 48, 320]);
    expect(session.anyShapeWithoutRecompiling).toBe(true);
    await session.release();
  }, 600_000);

  it('a feed of a fixed dim other than declared is refused before anything compiles', async () => {
    const session = await InferenceSession.create(REC);
    await expect(session.run({ x: new Tensor('float32', new Float32Array(3 * 32 * 64), [1, 3, 32, 64]) })).rejects.toThrow(/takes shape \[p2o\.DynamicDimension\.0,3,48,p2o\.DynamicDimension\.1\].*\[1,3,32,64\]/);
    expect(session.compiles).toBe(0);
    await session.release();
  });
});

describe('any input shape, a plan of several partitions', () => {
  // the second CPU takes only Conv and MatMul and is priced as much faster: the plan alternates between them
  const target = () => makeTarget('two-cpus', [{ id: 'cpu', kind: 'cpu', ops: '*' }, { id: 'cpu2', kind: 'cpu', ops: ['Conv', 'MatMul'], gflops: 5000 }]);

  it('compiles once per new signature, never for a repeated one; a cache of 2 evicts the least recently used', async () => {
    const session = await InferenceSession.create(REC, { target: target(), shapeCacheSize: 2, orderBudgetMs: 50 });
    const order = [64, 320, 64, 320, 128, 320, 64];
    const compiles: number[] = [];
    for (const [k, w] of order.entries()) {
      await checkShape(session, REC, [1, 3, 48, w], 100 + k);
      expect(session.plan!.partitions.length).toBeGreaterThan(1);
      expect(session.plan!.inputs.x.shape).toEqual([1, 3, 48, w]);
      compiles.push(session.compiles);
    }
    // 64, 320 new; 64, 320 cached; 128 new (64 out); 320 cached; 64 again new
    expect(compiles).toEqual([1, 2, 2, 2, 3, 3, 4]);
    expect(session.anyShapeWithoutRecompiling).toBe(false);
    await session.release();
  }, 600_000);

  it('inputShapes compiles ahead of time; a plan given runs only its own shapes', async () => {
    const ahead = await InferenceSession.create(REC, { target: target(), inputShapes: { x: [1, 3, 48, 160] }, orderBudgetMs: 50 });
    expect(ahead.compiles).toBe(1);
    await checkShape(ahead, REC, [1, 3, 48, 160], 1);
    expect(ahead.compiles).toBe(1);
    const plan = ahead.plan!;
    await ahead.release();

    const fixed = await InferenceSession.create(REC, { target: target(), plan });
    await checkShape(fixed, REC, [1, 3, 48, 160], 2);
    const err = await fixed.run({ x: new Tensor('float32', new Float32Array(3 * 48 * 64), [1, 3, 48, 64]) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TesseraError);
    expect((err as TesseraError).code).toBe('FEED_SHAPE');
    await fixed.release();
  }, 600_000);
});
