/**
 * ONNX backend conformance: every test the onnxruntime-node 1.30 baseline passes must pass through
 * Tessera (import, shape inference, export, run) — `runModel(model, { data, check: true, objective: 'latency' })`,
 * the code path of `tessera run --data DIR --check --objective latency` — against the expected output files
 * (the objective asks for a compiled plan: without it, `tessera run` on the host target with nothing to
 * plan hands the model to onnxruntime as it is, and the check would compare onnxruntime with itself). What inference
 * gives is checked too: the shapes of graph outputs against the expected files; the shapes of
 * intermediate values, and the contents of the values it folds to constants, against onnxruntime.
 * Tests the baseline does not pass are skipped, with the baseline's status. A second pass, with no
 * engine at all, imports, exports and statically infers every test (onnxruntime's failures included).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ortProber } from '../../src/backends/ort.js';
import { runModel } from '../../src/runtime/run-model.js';
import { readFeeds } from '../../src/runtime/test-data.js';
import { isConcrete } from '../../src/ir/graph.js';
import { TesseraError } from '../../src/errors.js';
import { inferShapes, type ShapedGraph } from '../../src/ir/infer.js';
import { exportOnnx } from '../../src/ir/onnx-export.js';
import { importOnnx, importOnnxFile } from '../../src/ir/onnx-import.js';
import { listTensorFiles, readTensorFile } from '../../src/ir/tensor-file.js';
import { foldedActivations, foldingErrors, ONNX_NODE, runExposing } from '../ir/corpus.js';

interface Baseline { group: string; test: string; opset?: number; ops?: string[]; status: string; error?: string }

const baseline: Baseline[] = readFileSync(join(ONNX_NODE, 'ort-1.30-results.jsonl'), 'utf8')
  .split('\n')
  .filter((l) => l.trim())
  .map((l) => JSON.parse(l) as Baseline);

const GROUPS = ['node', 'simple', 'pytorch-converted', 'pytorch-operator'];

/** A graph output of type int4/uint4 kills the process inside onnxruntime (SIGABRT): never run those here. */
const ABORTS_PROCESS = /(^|_)u?int4(_|$)/i;

async function conformance(dir: string): Promise<void> {
  const model = join(dir, 'model.onnx');
  const data = join(dir, 'test_data_set_0');
  const expectedFiles = listTensorFiles(data, 'output');

  // Shape inference: concrete, and what the expected files and onnxruntime say.
  const graph = importOnnxFile(model);
  const feeds = readFeeds(graph, data);
  const inputShapes = Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, [...t.dims]]));
  const shaped = await inferShapes(graph, { inputShapes, prober: ortProber, feeds });
  graph.outputs.forEach((name, i) => {
    const v = shaped.values.get(name)!;
    const file = readTensorFile(expectedFiles[i]);
    expect(`${name}: ${v.dtype}[${v.shape?.join(',')}]`, 'inferred vs expected output file').toBe(`${name}: ${file.dtype}[${file.dims.join(',')}]`);
  });
  // Inside the graph: shapes of the intermediate values, and the contents of the values inference
  // folded (a plan treats them as constants), against one onnxruntime run exposing them all.
  const inner = [...shaped.values.values()].filter((v) => v.role === 'activation' && !v.isConst && !v.typeProto && !graph.outputs.includes(v.name));
  const folded = foldedActivations(shaped);
  if (inner.length || folded.length) {
    for (const v of inner) expect(isConcrete(v.shape), `${v.name} ${JSON.stringify(v.shape)}`).toBe(true);
    const ref = await runExposing(graph, [...inner.map((v) => v.name), ...folded], feeds);
    for (const v of inner) {
      const r = ref[v.name];
      expect(`${v.name}: ${v.dtype}[${v.shape?.join(',')}]`, 'inferred vs onnxruntime').toBe(`${v.name}: ${r?.type}[${r?.dims.join(',')}]`);
    }
    expect(foldingErrors(shaped, ref, folded), 'folded values vs onnxruntime').toEqual([]);
  }

  // The whole path, as `tessera run --data DIR --check --objective latency` takes it (a plan compiled, verified and run).
  const report = await runModel(model, { data, check: true, objective: 'latency' });
  expect(report.outputs).toHaveLength(expectedFiles.length);
  for (const o of report.outputs) {
    expect(o.vsOnnxruntime?.ok, `${o.name} vs onnxruntime on the original: ${o.vsOnnxruntime?.reason}`).toBe(true);
    expect(o.vsExpected, `${o.name}: no comparison with the expected file`).toBeDefined();
    expect(o.vsExpected!.ok, `${o.name} vs expected: ${o.vsExpected!.reason}`).toBe(true);
  }
  expect(report.ok).toBe(true);
}

/**
 * Without any engine: every test imports, exports to a fixed point, and static inference (no probe
 * run) either gives the graph outputs the dtype and shape of the expected files or says it cannot
 * decide — never a wrong shape, never a claim that a model which ran cannot run. This covers the
 * tests onnxruntime cannot run too (new opsets, types its JavaScript API lacks).
 */
async function staticConformance(dir: string): Promise<void> {
  const model = join(dir, 'model.onnx');
  const data = join(dir, 'test_data_set_0');
  const graph = importOnnxFile(model);
  const once = exportOnnx(graph);
  const twice = exportOnnx(importOnnx(once.bytes));
  expect(Buffer.from(twice.bytes).equals(Buffer.from(once.bytes)), 'export(import(export(g))) = export(g)').toBe(true);

  const inputFiles = listTensorFiles(data, 'input');
  const inputShapes = Object.fromEntries(graph.inputs.map((name, i) => [name, [...readTensorFile(inputFiles[i]).dims]]));
  const expected = listTensorFiles(data, 'output').map((f) => readTensorFile(f));
  let shaped: ShapedGraph;
  try {
    shaped = await inferShapes(graph, { inputShapes });
  } catch (err) {
    expect(err).toBeInstanceOf(TesseraError);
    expect((err as TesseraError).message, 'a rule claimed the test cannot run').toMatch(/no probe run was allowed/);
    return;
  }
  graph.outputs.forEach((name, i) => {
    const v = shaped.values.get(name)!;
    const e = expected[i];
    expect(`${name}: ${v.dtype}[${v.shape?.join(',')}]`, 'inferred vs expected output file').toBe(`${name}: ${e.dtype}[${e.dims.join(',')}]`);
  });
}

for (const group of GROUPS) {
  const tests = baseline.filter((b) => b.group === group).sort((a, b) => a.test.localeCompare(b.test));
  describe(`onnx-node/${group}`, () => {
    it('the baseline lists the tests', () => {
      expect(tests.length).toBeGreaterThan(0);
      if (group === 'node') expect(tests.filter((t) => t.status === 'pass').length).toBe(1459);
    });
    describe('import, export and static inference, no engine (expected files as reference)', () => {
      for (const t of tests) {
        if (t.status === 'unsupported_io') it.skip(`${t.test} [sequence/optional test data: not readable as tensors]`, () => {});
        else it(t.test, () => staticConformance(join(ONNX_NODE, group, t.test)));
      }
    });
    for (const t of tests) {
      if (ABORTS_PROCESS.test(t.test)) {
        it.skip(`${t.test} [baseline: ${t.status}; int4/uint4 I/O aborts onnxruntime-node, never run in-process]`, () => {});
      } else if (t.status !== 'pass') {
        const why = t.error ? `: ${t.error.replace(/\s+/g, ' ').slice(0, 100)}` : '';
        it.skip(`${t.test} [baseline: ${t.status}${why}]`, () => {});
      } else {
        it(t.test, () => conformance(join(ONNX_NODE, group, t.test)));
      }
    }
  });
}
