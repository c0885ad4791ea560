/**
 * Every corpus and light/ model compiled for every built-in target, and run here for one target against
 * onnxruntime on the whole original model. Prints one table per target and the command that made it.
 *   npx tsx bench/corpus-plans.ts [--run-target snapdragon-8-gen-3] [--json out.json]
 * Predicted figures come from the cost model (target profiles), never from a measurement; the check
 * column is measured here (NPU and phone GPU emulated on onnxruntime's CPU EP).
 */
import { writeFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { compareTensors } from '../src/backends/compare.js';
import type { Tensor, TensorMap } from '../src/backends/tensor.js';
import { corpusModels, realisticFeeds, SHAPES } from './corpus.js';
import { summarize } from '../src/cli/compile.js';
import { compile } from '../src/compiler/index.js';
import { formatBytes, formatUs } from '../src/format.js';
import { importOnnxFile } from '../src/ir/onnx-import.js';
import { resolveInputShapes } from '../src/ir/infer.js';
import { Session } from '../src/runtime/session.js';
import { builtinTargetNames } from '../src/targets/index.js';

const args = process.argv.slice(2);
const runTarget = args.includes('--run-target') ? args[args.indexOf('--run-target') + 1] : 'snapdragon-8-gen-3';
const jsonOut = args.includes('--json') ? args[args.indexOf('--json') + 1] : undefined;

function feedsFor(path: string, shapes: Record<string, number[]>): TensorMap {
  const g = importOnnxFile(path);
  return realisticFeeds(g, resolveInputShapes(g, shapes));
}

const models = corpusModels().map((m) => m.path);
const rows: Record<string, unknown>[] = [];
console.log(`# npx tsx bench/corpus-plans.ts --run-target ${runTarget}`);
for (const target of builtinTargetNames()) {
  console.log(`\n## ${target}${target === runTarget ? ' (compiled, then run here and checked against onnxruntime on the original model)' : ' (compiled)'}`);
  console.log('| model | nodes cpu/gpu/npu (folded) | partitions | FLOPs on npu | transfers | predicted latency* | arenas (sum) | check |');
  console.log('|---|---|---|---|---|---|---|---|');
  for (const path of models) {
    const name = path.split('/').pop()!.replace('.onnx', '');
    const shapes = SHAPES[name] ?? {};
    const feeds = feedsFor(path, shapes);
    const r = await compile(path, target, { inputShapes: shapes, sampleFeeds: feeds, lower: false });
    const s = summarize(r);
    const by = (id: string) => s.processors.find((p) => p.id === id);
    const flops = s.processors.reduce((a, p) => a + p.flops, 0) || 1;
    let check = '-';
    if (target === runTarget) {
      const session = await Session.create(path, { target, inputShapes: shapes, sampleFeeds: feeds });
      const out = await session.run(feeds);
      await session.release();
      const ref = await ort.InferenceSession.create(path);
      const exp = await ref.run(feeds);
      await ref.release();
      const lowered = session.plan.partitions.some((p) => p.precision === 'float16' && p.nodes.some((n) => !session.plan.nodes[n].folded));
      const cmps = session.outputNames.map((o) => compareTensors(out[o], exp[o] as Tensor));
      const cos = Math.min(...cmps.map((c) => (Number.isNaN(c.cosine) ? 1 : c.cosine)));
      const maxAbs = Math.max(...cmps.map((c) => c.maxAbs));
      const ok = lowered ? cos >= 0.999 : cmps.every((c) => c.ok);
      check = `${ok ? 'pass' : 'FAIL'}: ${lowered ? 'fp16/int16' : 'fp32'}, max abs ${maxAbs.toExponential(1)}, min cosine ${cos.toFixed(5)}`;
    }
    const nodes = ['cpu', 'gpu', 'npu'].map((id) => by(id)?.nodes ?? '-').join('/');
    const arenas = s.processors.reduce((a, p) => a + p.arenaBytes, 0);
    console.log(`| ${name} | ${nodes} (${s.folded}) | ${s.processors.reduce((a, p) => a + p.partitions, 0)} | ${by('npu') ? `${((100 * by('npu')!.flops) / flops).toFixed(0)}%` : '-'} | ${s.transfers.count} (${formatBytes(s.transfers.bytes)}) | ${formatUs(s.latencyUs)} | ${formatBytes(arenas)} | ${check} |`);
    rows.push({ target, model: name, summary: s, check });
  }
}
console.log('\n* predicted by the cost model from the target profile, not measured.');
if (jsonOut) writeFileSync(jsonOut, JSON.stringify(rows, null, 1));
