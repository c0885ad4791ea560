/**
 * The onnxruntime-web (wasm) backend held to its capability table: every ONNX node test that the
 * onnxruntime-node 1.30 baseline passes and that the table accepts passes on wasm (all of them, as
 * one-node models bound to it, the way `npx tsx bench/conformance.ts` runs them), and the tests it
 * refuses are exactly the ones the table is there for. Every light/ conv net runs whole on wasm and
 * matches onnxruntime's CPU EP on the original file within rtol 1e-3 / atol 1e-4. Nothing is fetched.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ABORTS_PROCESS, baselinePasses, ONNX_NODE, runCase, type Outcome } from '../../bench/conformance.js';
import { compareTensors, DEFAULT_TOLERANCE } from '../../src/backends/compare.js';
import { OrtWebBackend, WASM_CAPABILITIES } from '../../src/backends/ort-web.js';
import { randomFeeds, Tensor } from '../../src/backends/tensor.js';
import { GraphBuilder } from '../../src/ir/builder.js';
import { inferShapes, resolveInputShapes } from '../../src/ir/infer.js';
import { importOnnx } from '../../src/ir/onnx-import.js';

const backend = new OrtWebBackend();
const fetchSpy = vi.spyOn(globalThis, 'fetch');

beforeAll(async () => {
  expect(await backend.available()).toBe(true);
});

afterAll(() => {
  expect(fetchSpy, 'onnxruntime-web must not fetch anything (the .wasm ships in the package)').not.toHaveBeenCalled();
  fetchSpy.mockRestore();
});

describe('ort-web:wasm adapter', () => {
  it('converts tensors at the boundary and writes into preallocated outputs', async () => {
    const b = new GraphBuilder('m');
    const x = b.input('x', 'float32', [2, 3]);
    const k = b.input('k', 'int64', [2]);
    b.node('Add', [x, x], 'y');
    b.node('Mul', [k, k], 'k2');
    b.node('Greater', [x, b.initializer('zero', new Float32Array([0]), [])], 'pos');
    b.output('y', 'float32', [2, 3]);
    b.output('k2', 'int64', [2]);
    b.output('pos', 'bool', [2, 3]);
    const exe = await backend.compile({ name: 'm', onnx: b.toBytes(), inputs: ['x', 'k'], outputs: ['y', 'k2', 'pos'] });
    const feeds = { x: new Tensor('float32', new Float32Array([1, -2, 3, -4, 5, -6]), [2, 3]), k: new Tensor('int64', new BigInt64Array([3n, -4n]), [2]) };
    const out = await exe.run(feeds);
    for (const t of Object.values(out)) expect(t).toBeInstanceOf(Tensor); // onnxruntime-node's class, not onnxruntime-web's copy
    expect([...(out.y.data as Float32Array)]).toEqual([2, -4, 6, -8, 10, -12]);
    expect([...(out.k2.data as BigInt64Array)]).toEqual([9n, 16n]);
    expect(out.pos.type).toBe('bool');
    expect([...(out.pos.data as Uint8Array)]).toEqual([1, 0, 1, 0, 1, 0]);

    // an arena view: a window of a larger buffer
    const arena = new ArrayBuffer(64);
    const into = { y: new Tensor('float32', new Float32Array(arena, 16, 6), [2, 3]) };
    const res = await exe.run(feeds, into);
    expect(res.y).toBe(into.y);
    expect([...new Float32Array(arena, 16, 6)]).toEqual([2, -4, 6, -8, 10, -12]);
    expect([...new Float32Array(arena, 0, 4)]).toEqual([0, 0, 0, 0]);
    await expect(exe.run(feeds, { y: new Tensor('float32', new Float32Array(5), [5]) })).rejects.toMatchObject({ code: 'BACKEND_FAILED' });
    await exe.dispose();
  });

  it('a model it cannot load is a BACKEND_FAILED TesseraError', async () => {
    await expect(backend.compile({ name: 'junk', onnx: new Uint8Array([1, 2, 3]), inputs: [], outputs: [] })).rejects.toMatchObject({ code: 'BACKEND_FAILED' });
  });
});

describe('ort-web:wasm holds to its capability table (ONNX node tests the CPU EP passes)', () => {
  const tests = baselinePasses().filter((t) => !ABORTS_PROCESS.test(t));
  const tally: Record<Outcome, string[]> = { pass: [], mismatch: [], unsupported: [], error: [] };
  for (const t of tests) {
    it(t, async () => {
      const r = await runCase(backend, t);
      tally[r.outcome].push(t);
      expect(['pass', 'unsupported'], `${r.outcome}: ${r.detail}`).toContain(r.outcome);
    });
  }
  it('refuses only what the table is for: Range with a limit from Size (19 expanded RMSNormalization tests, 9 of which fail to load without it)', () => {
    expect(tally.pass.length + tally.unsupported.length).toBe(tests.length);
    for (const t of tally.unsupported) expect(t).toMatch(/^test_rms_normalization_.*_expanded$/);
    expect(tally.unsupported).toHaveLength(19);
    for (const t of ['2d_axis0', '2d_axis1', '3d_axis0_epsilon', '3d_axis1_epsilon', '3d_axis2_epsilon', '4d_axis0', '4d_axis1', '4d_axis2', '4d_axis3']) {
      expect(tally.unsupported).toContain(`test_rms_normalization_${t}_expanded`);
    }
    expect(WASM_CAPABILITIES.patterns.map((p) => `${p.op}(input ${p.input} from ${p.producedBy})`)).toEqual(['Range(input 1 from Size)']);
  });
});

describe('light/ conv nets run whole on ort-web:wasm, matching onnxruntime CPU', () => {
  const dir = join(ONNX_NODE, 'light');
  for (const f of readdirSync(dir).filter((f) => f.endsWith('.onnx')).sort()) {
    it(f, async () => {
      const bytes = new Uint8Array(readFileSync(join(dir, f)));
      const graph = importOnnx(bytes, { path: f });
      const shapes = resolveInputShapes(graph);
      const shaped = await inferShapes(graph, { inputShapes: shapes });
      for (const n of shaped.nodes) expect(backend.supports(n, shaped), `${n.name} (${n.op})`).toEqual({ ok: true });
      const feeds = randomFeeds(graph, shapes, 7);
      const cpu = await ort.InferenceSession.create(bytes, { logSeverityLevel: 4 });
      const ref = await cpu.run(feeds);
      await cpu.release();
      const exe = await backend.compile({ name: f, onnx: bytes, inputs: graph.inputs, outputs: graph.outputs });
      const out = await exe.run(feeds);
      await exe.dispose();
      for (const name of graph.outputs) {
        const c = compareTensors(out[name], ref[name] as Tensor, DEFAULT_TOLERANCE);
        expect(c.ok, `${name}: ${c.reason}`).toBe(true);
      }
    }, 60_000);
  }
});
