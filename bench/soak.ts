/**
 * Soak: one Session (target host) runs a small corpus model N times (default 10,000) with fresh
 * inputs each run; heap used and RSS are measured after warm-up and every 1,000 runs (after a forced
 * GC when node runs with --expose-gc, which the command below gives). Prints growth from warm-up to
 * the end, growth per 1,000 runs over the second half (the steady state), and checks the outputs of
 * the last run against the first run's for the same input.
 *   node --expose-gc --import tsx bench/soak.ts [--runs 10000] [--warmup 200] [--model wakeword-hello-deepa]
 */
import { join } from 'node:path';
import { compareTensors } from '../src/backends/compare.js';
import { randomFeeds } from '../src/backends/tensor.js';
import { importOnnxFile } from '../src/ir/onnx-import.js';
import { resolveInputShapes } from '../src/ir/infer.js';
import { Session } from '../src/runtime/session.js';

const args = process.argv.slice(2);
const opt = (name: string, d: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : d);
const runs = Number(opt('--runs', '10000'));
const warmup = Number(opt('--warmup', '1000'));
const modelName = opt('--model', 'wakeword-hello-deepa');
const path = join(import.meta.dirname, '../../shared/corpus/models', `${modelName}.onnx`);

const gc = (globalThis as { gc?: () => void }).gc;
const MB = (b: number) => (b / 1048576).toFixed(2);
function sample(): { heap: number; rss: number } {
  gc?.();
  gc?.();
  const m = process.memoryUsage();
  return { heap: m.heapUsed, rss: m.rss };
}

const graph = importOnnxFile(path);
const shapes = resolveInputShapes(graph);
const session = await Session.create(path, { target: 'host' });
const probe = randomFeeds(graph, shapes, 1);
const first = await session.run(probe);

for (let i = 0; i < warmup; i++) await session.run(randomFeeds(graph, shapes, 100 + i));
const base = sample();
const samples: { run: number; heap: number; rss: number }[] = [{ run: 0, ...base }];
const t0 = performance.now();
for (let i = 1; i <= runs; i++) {
  await session.run(randomFeeds(graph, shapes, 10_000 + i));
  if (i % 1000 === 0) {
    samples.push({ run: i, ...sample() });
    if (process.stderr.isTTY) process.stderr.write(`\r${i}/${runs}`);
  }
}
const ms = performance.now() - t0;
if (process.stderr.isTTY) process.stderr.write('\n');
const last = await session.run(probe);
const same = graph.outputs.every((o) => compareTensors(last[o], first[o], { rtol: 0, atol: 0 }).ok);
await session.release();

const end = samples[samples.length - 1];
const mid = samples[Math.floor(samples.length / 2)];
const perK = (a: typeof end, b: typeof end, k: 'heap' | 'rss') => ((b[k] - a[k]) / Math.max(1, (b.run - a.run) / 1000));
console.log(`soak: ${modelName} (${graph.nodes.length} nodes), one Session on target host, ${session.plan.partitions.length} partition(s); ${warmup} warm-up runs, then ${runs} runs with fresh random inputs (measured)`);
console.log(`GC before each sample: ${gc ? 'yes (--expose-gc)' : 'no (run with node --expose-gc for steadier figures)'}`);
console.log('  runs    heap used MB   RSS MB');
for (const s of samples) console.log(`  ${String(s.run).padStart(6)}  ${MB(s.heap).padStart(12)}  ${MB(s.rss).padStart(8)}`);
console.log(`growth after warm-up to the end: heap ${MB(end.heap - base.heap)} MB, RSS ${MB(end.rss - base.rss)} MB`);
console.log(`per 1,000 runs, whole run: heap ${(perK(samples[0], end, 'heap') / 1024).toFixed(1)} KB, RSS ${(perK(samples[0], end, 'rss') / 1024).toFixed(1)} KB`);
console.log(`per 1,000 runs, second half (steady state): heap ${(perK(mid, end, 'heap') / 1024).toFixed(1)} KB, RSS ${(perK(mid, end, 'rss') / 1024).toFixed(1)} KB`);
console.log(`max over samples above the warm-up baseline: heap ${MB(Math.max(...samples.map((s) => s.heap)) - base.heap)} MB, RSS ${MB(Math.max(...samples.map((s) => s.rss)) - base.rss)} MB`);
console.log(`time: ${(ms / 1000).toFixed(1)} s, ${(ms / runs).toFixed(3)} ms per run (measured, noisy: shared machine)`);
console.log(`last run vs first run on the same input: ${same ? 'identical' : 'DIFFERENT'}`);
console.log(`command: node --expose-gc --import tsx bench/soak.ts${args.length ? ' ' + args.join(' ') : ''}`);
if (!same) process.exitCode = 1;
