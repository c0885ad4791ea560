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
import { OrtWebBackend } from '../../src/backends/ort-web.js';
import { WASM_CAPABILITIES } from '../../src/backends/wasm-capabilities.js';
import { randomFeeds, Tensor } from '../../src/backends/tensor.js';
import { backendContract } from '../helpers/backend-contract.js';
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
  backendContract(backend);
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
