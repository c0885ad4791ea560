/**
 * ONNX backend conformance: every test the onnxruntime-node 1.30 baseline passes must pass through
 * Tessera (import, shape inference, export, run) — `runModel(model, { data, check: true })`, the same
 * code path as `tessera run --data DIR --check` — against the expected output files. The shapes
 * inference gives are checked too: graph outputs against the expected files, intermediate values
 * against onnxruntime. Tests the baseline does not pass are skipped, with the baseline's status.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ortProber } from '../../src/backends/ort.js';
import { readFeeds, runModel } from '../../src/cli/run.js';
import { isConcrete } from '../../src/ir/graph.js';
import { inferShapes } from '../../src/ir/infer.js';
import { importOnnxFile } from '../../src/ir/onnx-import.js';
import { listTensorFiles, readTensorFile } from '../../src/ir/tensor-file.js';
import { ONNX_NODE } from '../ir/corpus.js';

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

  const report = await runModel(model, { data, check: true });
  expect(report.outputs).toHaveLength(expectedFiles.length);
  for (const o of report.outputs) {
    expect(o.vsOnnxruntime?.ok, `${o.name} vs onnxruntime on the original: ${o.vsOnnxruntime?.reason}`).toBe(true);
    expect(o.vsExpected, `${o.name}: no comparison with the expected file`).toBeDefined();
    expect(o.vsExpected!.ok, `${o.name} vs expected: ${o.vsExpected!.reason}`).toBe(true);
  }
  expect(report.ok).toBe(true);

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
  const inner = [...shaped.values.values()].filter((v) => v.role === 'activation' && !v.isConst && !v.typeProto && !graph.outputs.includes(v.name));
  if (inner.length) {
    for (const v of inner) expect(isConcrete(v.shape), `${v.name} ${JSON.stringify(v.shape)}`).toBe(true);
    const ref = await ortProber(graph, inner.map((v) => v.name), inputShapes, feeds);
    for (const v of inner) {
      const r = ref.get(v.name);
      expect(`${v.name}: ${v.dtype}[${v.shape?.join(',')}]`, 'inferred vs onnxruntime').toBe(`${v.name}: ${r?.dtype}[${r?.shape?.join(',')}]`);
    }
  }
}

for (const group of GROUPS) {
  const tests = baseline.filter((b) => b.group === group).sort((a, b) => a.test.localeCompare(b.test));
  describe(`onnx-node/${group}`, () => {
    it('the baseline lists the tests', () => {
      expect(tests.length).toBeGreaterThan(0);
      if (group === 'node') expect(tests.filter((t) => t.status === 'pass').length).toBe(1459);
    });
    for (const t of tests) {
      if (ABORTS_PROCESS.test(t.test)) {
        it.skip(`${t.test} [baseline: ${t.status}; int4/uint4 I/O aborts onnxruntime-node, never run in-process]`, () => {});
      } else if (t.status !== 'pass') {
        it.skip(`${t.test} [baseline: ${t.status}]`, () => {});
      } else {
        it(t.test, () => conformance(join(ONNX_NODE, group, t.test)));
      }
    }
  });
}
