/**
 * Plan snapshot: compiles every corpus and light/ model for every built-in target and writes, per model
 * and target, the serialized plan, the printed summary and the placement search's log to a directory;
 * with --run, also runs the plans for the targets given (default host and snapdragon-8-gen-3) here and
 * writes the sha256 of every output's bytes. Two snapshots (before and after a refactor) are compared
 * with `diff -r`.
 *   TESSERA_HOST_PROFILE=/nonexistent npx tsx bench/plan-snapshot.ts --out /tmp/snap/after [--run [host,snapdragon-8-gen-3]] [--only light_resnet50,…]
 * (TESSERA_HOST_PROFILE pointing nowhere: `host` is the uncalibrated default profile, the same on every run.)
 */
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { corpusModels, realisticFeeds, SHAPES } from './corpus.js';
import { tensorBytes } from '../src/backends/tensor.js';
import { compile } from '../src/compiler/index.js';
import { formatCompile, formatExplain, summarize } from '../src/cli/compile.js';
import { importOnnxFile } from '../src/ir/onnx-import.js';
import { resolveInputShapes } from '../src/ir/infer.js';
import { serializePlan } from '../src/plan/index.js';
import { Session } from '../src/runtime/session.js';
import { builtinTargetNames } from '../src/targets/index.js';

const args = process.argv.slice(2);
const out = args.includes('--out') ? args[args.indexOf('--out') + 1] : 'plan-snapshot';
const only = args.includes('--only') ? args[args.indexOf('--only') + 1].split(',') : undefined;
const runArg = args.includes('--run') ? args[args.indexOf('--run') + 1] : undefined;
const runTargets = args.includes('--run') ? (runArg && !runArg.startsWith('--') ? runArg.split(',') : ['host', 'snapdragon-8-gen-3']) : [];
mkdirSync(out, { recursive: true });

console.log(`# npx tsx bench/plan-snapshot.ts ${args.join(' ')}`);
for (const { name, path } of corpusModels().filter((m) => !only || only.includes(m.name))) {
  const g = importOnnxFile(path);
  const shapes = resolveInputShapes(g, SHAPES[name] ?? {});
  const feeds = realisticFeeds(g, shapes);
  for (const target of builtinTargetNames()) {
    const c = await compile(path, target, { inputShapes: shapes, sampleFeeds: feeds, lower: false });
    const base = join(out, `${name}.${target}`);
    writeFileSync(`${base}.plan.json`, serializePlan(c.plan));
    writeFileSync(`${base}.summary.txt`, `${formatCompile(summarize(c))}\n${formatExplain(c)}\n`);
    let line = `${name} ${target}: ${c.plan.partitions.length} partitions, ${c.plan.estimate.latencyUs} µs`;
    if (runTargets.includes(target)) {
      const session = await Session.create(path, { target, inputShapes: shapes, sampleFeeds: feeds });
      try {
        const outputs = await session.run(feeds);
        const digests = session.outputNames.map((o) => `${o} ${outputs[o].type} [${outputs[o].dims.join(',')}] ${createHash('sha256').update(tensorBytes(outputs[o])).digest('hex')}`);
        writeFileSync(`${base}.outputs.txt`, `${digests.join('\n')}\n`);
        line += '; ran';
      } finally {
        await session.release();
      }
    }
    console.log(line);
  }
}
