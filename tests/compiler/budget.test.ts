/**
 * --memory-budget: the fastest plan that fits. Checked against the predicted needs of plans compiled
 * apart (each objective without a budget), and BUDGET_INFEASIBLE's named budget checked by compiling
 * with it (it must be feasible) — not against figures the budget code computed.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { nasCells, toOnnx } from '../../bench/memory/generate.js';
import { compile } from '../../src/compiler/index.js';
import { TesseraError } from '../../src/errors.js';
import { memoryFigures } from '../../src/passes/resident.js';
import { loadTarget } from '../../src/targets/index.js';
import { injectionNet } from '../../bench/memory/rss.js';
import { Session } from '../../src/runtime/session.js';
import { InferenceSession, Tensor } from '../../src/index.js';
import { tempDir, tessera } from '../cli/helpers.js';

const tmp = tempDir('budget');
afterAll(() => tmp.cleanup());
const path = join(tmp.dir, 'nas.onnx');
writeFileSync(path, toOnnx(nasCells(2, { blocks: 3, C: 8, H: 16 }), { kernel: 3 }));

const opts = { lower: false, orderBudgetMs: 200 } as const;
async function needs() {
  const lat = await compile(path, 'host', { ...opts, objective: 'latency' });
  const mem = await compile(path, 'host', { ...opts, objective: 'memory' });
  const floor = memoryFigures(lat.target).floorBytes;
  return { lat, mem, latency: lat.plan.resident!.peakBytes - floor, memory: mem.plan.resident!.peakBytes - floor };
}

describe('memory budget', () => {
  it('picks the latency plan when it fits (the same plan as without a budget), and streams under what no plan fits', async () => {
    const n = await needs();
    const roomy = await compile(path, 'host', { ...opts, memoryBudget: Math.ceil(n.latency) + 1 });
    expect(roomy.budget?.choice).toBe('latency');
    expect(JSON.stringify(roomy.plan)).toBe(JSON.stringify(n.lat.plan));
    const under = await compile(path, 'host', { ...opts, memoryBudget: Math.floor(Math.min(n.latency, n.memory)) - 1 });
    expect(under.budget?.choice).toBe('streamed');
    expect(under.budget?.streamed?.groups).toBeGreaterThan(0);
    // a string size is parsed as tessera run parses it
    const str = await compile(path, 'host', { ...opts, memoryBudget: '1GB' });
    expect(str.budget?.budgetBytes).toBe(1e9);
  });

  it('picks the memory-objective plan when only it fits', async () => {
    // engine sessions made free (a target's own figure), so splitting into chunks lowers the predicted peak of this net
    const t = await loadTarget('host');
    const target = { ...t, memory: { ...t.memory, sessionBytes: { value: 0, source: 'test' }, nodeBytes: { value: 0, source: 'test' } } };
    const inj = join(tmp.dir, 'injection.onnx');
    writeFileSync(inj, toOnnx(injectionNet(8, { C: 16, H: 64 })));
    const o = { ...opts, rewrite: false };
    const lat = await compile(inj, target, { ...o, objective: 'latency' });
    const mem = await compile(inj, target, { ...o, objective: 'memory' });
    const floor = memoryFigures(target).floorBytes;
    const [latency, memory] = [lat.plan.resident!.peakBytes - floor, mem.plan.resident!.peakBytes - floor];
    expect(memory).toBeLessThan(latency);
    const mid = await compile(inj, target, { ...o, memoryBudget: Math.ceil(memory) });
    expect(mid.budget?.choice).toBe('memory');
    expect(JSON.stringify(mid.plan)).toBe(JSON.stringify(mem.plan));
    expect(mid.budget?.reason).toMatch(/latency plan needs .* over .*memory-objective plan fits/);
  });

  it('refuses a budget nothing fits, naming a smallest budget that does fit', async () => {
    let err: unknown;
    try {
      await compile(path, 'host', { ...opts, memoryBudget: 64 });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TesseraError);
    expect((err as TesseraError).code).toBe('BUDGET_INFEASIBLE');
    const named = Number(/\((\d+) bytes\)\s*$/.exec((err as Error).message)?.[1]);
    expect(named).toBeGreaterThan(64);
    const ok = await compile(path, 'host', { ...opts, memoryBudget: named });
    expect(['latency', 'memory', 'streamed']).toContain(ok.budget?.choice);
  });

  it('a Session refuses a budget only a streamed run fits, and says so', async () => {
    const n = await needs();
    await expect(Session.create(path, { target: 'host', orderBudgetMs: 200, memoryBudget: Math.floor(Math.min(n.latency, n.memory)) - 1 })).rejects.toThrow(/streamed/);
  });

  it('InferenceSession takes memoryBudget: the plan it runs is the one compile chose, and a streamed-only budget is refused on the first run', async () => {
    const n = await needs();
    const feeds = { v0: new Tensor('float32', new Float32Array(3 * 16 * 16), [1, 3, 16, 16]) };
    const roomy = await InferenceSession.create(path, { orderBudgetMs: 200, memoryBudget: '1GB' });
    await roomy.run(feeds);
    expect(roomy.plan?.resident?.objective).toBe('latency');
    await roomy.release();
    const tight = await InferenceSession.create(path, { orderBudgetMs: 200, memoryBudget: Math.floor(Math.min(n.latency, n.memory)) - 1 });
    await expect(tight.run(feeds)).rejects.toThrow(/streamed/);
  });

  it('tessera compile --memory-budget prints what it chose and why', () => {
    const r = tessera('compile', path, '--target', 'host', '--memory-budget', '1GB', '--order-budget-ms', '200');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/memory budget .*\(1000000000 bytes, beyond the engine floor\): the latency plan, because the latency plan fits/);
    const bad = tessera('compile', path, '--target', 'host', '--memory-budget', '100B');
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/BUDGET_INFEASIBLE.*smallest feasible budget is/);
    const junk = tessera('compile', path, '--target', 'host', '--memory-budget', 'lots');
    expect(junk.status).toBe(2);
    expect(junk.stderr).toMatch(/--memory-budget 'lots'/);
  });
});
