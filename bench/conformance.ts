/**
 * Conformance per backend: every ONNX node test in ../shared/corpus/onnx-node/node that the
 * onnxruntime-node 1.30 baseline passes, run through each backend as a one-node model bound to it
 * (import → inferShapes → exportOnnx → backend.compile → run with input_*.pb → compareTensors with
 * output_*.pb, rtol 1e-3 / atol 1e-4). Counts per backend: pass, mismatch, unsupported (the backend's
 * supports() refused a node), error (compile or run threw).
 *   npx tsx bench/conformance.ts [--backend ort:cpu|ort-web:wasm|tfjs] [--filter SUBSTR] [--json bench/conformance.results.json]
 * Tests with int4/uint4 values are never run in-process (they abort onnxruntime-node); they are
 * listed as skipped.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Backend } from '../src/backends/backend.js';
import { compareTensors, DEFAULT_TOLERANCE } from '../src/backends/compare.js';
import { OrtBackend, ortProber } from '../src/backends/ort.js';
import { OrtWebBackend } from '../src/backends/ort-web.js';
import { TfjsBackend } from '../src/backends/tfjs.js';
import { tensorFromWeight } from '../src/backends/tensor.js';
import { readFeeds } from '../src/runtime/test-data.js';
import { inferShapes } from '../src/ir/infer.js';
import { exportOnnx } from '../src/ir/onnx-export.js';
import { importOnnxFile } from '../src/ir/onnx-import.js';
import { listTensorFiles, readTensorFile } from '../src/ir/tensor-file.js';

export const ONNX_NODE = fileURLToPath(new URL('../../shared/corpus/onnx-node/', import.meta.url));

export interface BaselineEntry { group: string; test: string; opset?: number; ops?: string[]; status: string; error?: string }

/** A value of type int4/uint4 kills the process inside onnxruntime (SIGABRT): never run those here. */
export const ABORTS_PROCESS = /(^|_)u?int4(_|$)/i;

/** The node tests the onnxruntime 1.30 baseline passes, in name order (int4/uint4 ones included; callers skip them). */
export function baselinePasses(): string[] {
  return readFileSync(join(ONNX_NODE, 'ort-1.30-results.jsonl'), 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as BaselineEntry)
    .filter((b) => b.group === 'node' && b.status === 'pass')
    .map((b) => b.test)
    .sort();
}

export type Outcome = 'pass' | 'mismatch' | 'unsupported' | 'error';
export interface CaseResult { test: string; outcome: Outcome; detail?: string; ops: string[] }

/** One node test through one backend. Import and inference failures count as errors too (they are not the backend's, but they are listed). */
export async function runCase(backend: Backend, test: string): Promise<CaseResult> {
  const dir = join(ONNX_NODE, 'node', test);
  const data = join(dir, 'test_data_set_0');
  let ops: string[] = [];
  try {
    const graph = importOnnxFile(join(dir, 'model.onnx'));
    ops = [...new Set(graph.nodes.map((n) => n.op))];
    const feeds = readFeeds(graph, data);
    const inputShapes = Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, [...t.dims]]));
    const shaped = await inferShapes(graph, { inputShapes, prober: ortProber, feeds });
    for (const node of shaped.nodes) {
      const s = backend.supports(node, shaped);
      if (!s.ok) return { test, outcome: 'unsupported', detail: s.reason, ops };
    }
    const exported = exportOnnx(shaped);
    const exe = await backend.compile({ name: test, onnx: exported.bytes, inputs: exported.inputs, outputs: exported.outputs });
    try {
      const inputs = Object.fromEntries(exported.inputs.map((n) => [n, feeds[n]]));
      const res = await exe.run(inputs);
      const expected = listTensorFiles(data, 'output');
      for (let i = 0; i < graph.outputs.length; i++) {
        const name = graph.outputs[i];
        const cmp = compareTensors(res[name], tensorFromWeight(readTensorFile(expected[i])), DEFAULT_TOLERANCE);
        if (!cmp.ok) return { test, outcome: 'mismatch', detail: `${name}: ${cmp.reason}`, ops };
      }
      return { test, outcome: 'pass', ops };
    } finally {
      await exe.dispose();
    }
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    return { test, outcome: 'error', detail: msg.replace(/\s+/g, ' ').slice(0, 300), ops };
  }
}

export function makeBackends(): Backend[] {
  return [new OrtBackend('cpu'), new OrtWebBackend(), new TfjsBackend()];
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const opt = (name: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
  const only = opt('--backend');
  const filter = opt('--filter');
  const jsonOut = opt('--json') ?? join(import.meta.dirname, 'conformance.results.json');
  const all = baselinePasses().filter((t) => !filter || t.includes(filter));
  const skipped = all.filter((t) => ABORTS_PROCESS.test(t));
  const tests = all.filter((t) => !ABORTS_PROCESS.test(t));
  const backends = makeBackends().filter((b) => !only || b.id === only);
  const report: Record<string, { counts: Record<Outcome, number>; ms: number; cases: CaseResult[] }> = {};
  for (const b of backends) {
    if (!(await b.available())) {
      console.log(`${b.id}: not available on this host`);
      continue;
    }
    const t0 = performance.now();
    const counts: Record<Outcome, number> = { pass: 0, mismatch: 0, unsupported: 0, error: 0 };
    const cases: CaseResult[] = [];
    for (const [i, t] of tests.entries()) {
      const r = await runCase(b, t);
      counts[r.outcome]++;
      cases.push(r);
      if (process.stderr.isTTY) process.stderr.write(`\r${b.id} ${i + 1}/${tests.length}`);
    }
    if (process.stderr.isTTY) process.stderr.write('\n');
    report[b.id] = { counts, ms: performance.now() - t0, cases };
  }
  console.log(`ONNX node tests that onnxruntime-node 1.30 passes: ${all.length} (${skipped.length} with int4/uint4 values skipped, never run in-process); rtol ${DEFAULT_TOLERANCE.rtol}, atol ${DEFAULT_TOLERANCE.atol}`);
  console.log('| backend | run | pass | mismatch | unsupported | error | time (measured) |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const [id, r] of Object.entries(report)) {
    const c = r.counts;
    console.log(`| ${id} | ${tests.length} | ${c.pass} | ${c.mismatch} | ${c.unsupported} | ${c.error} | ${(r.ms / 1000).toFixed(0)} s |`);
  }
  for (const [id, r] of Object.entries(report)) {
    const bad = r.cases.filter((c) => c.outcome === 'mismatch' || c.outcome === 'error');
    if (bad.length) console.log(`\n${id}: not passing (${bad.length})`);
    for (const c of bad) console.log(`  ${c.outcome.padEnd(8)} ${c.test} [${c.ops.join(',')}]: ${c.detail}`);
  }
  const cmd = `npx tsx bench/conformance.ts${args.length ? ' ' + args.join(' ') : ''}`;
  console.log(`\ncommand: ${cmd}`);
  // Counts, and the cases that did not pass with why (the passing ones are every other test).
  const backendsOut = Object.fromEntries(Object.entries(report).map(([id, r]) => [id, { counts: r.counts, seconds: Math.round(r.ms / 1000), notPassing: r.cases.filter((c) => c.outcome !== 'pass') }]));
  writeFileSync(jsonOut, JSON.stringify({ command: cmd, tolerance: DEFAULT_TOLERANCE, tests: tests.length, skipped, backends: backendsOut }, null, 1) + '\n');
  console.log(`written: ${jsonOut}`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main();
}
