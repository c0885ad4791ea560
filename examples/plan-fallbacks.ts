/**
 * Read a plan and see which ops did not go to the processor the cost model preferred, and why.
 * `npx tsx examples/plan-fallbacks.ts plan.json` (make one with `tessera compile model.onnx --target … --out plan.json`).
 */
import { readFileSync } from 'node:fs';
import { parsePlan } from '../src/compiler/api.js';

const file = process.argv[2];
if (!file) throw new Error('usage: plan-fallbacks.ts plan.json');
const plan = parsePlan(readFileSync(file, 'utf8'), file);

console.log(`${plan.model.file} on ${plan.target.name}: ${plan.partitions.length} partitions`);
for (const p of plan.target.processors) {
  const nodes = plan.nodes.filter((n) => n.processor === p.id && !n.folded);
  console.log(`  ${p.id} (${p.name}): ${nodes.length} nodes`);
}
const fellBack = plan.nodes.filter((n) => !n.folded && n.rejected?.length);
if (fellBack.length === 0) console.log('every node is on the processor the cost model ranked first');
for (const n of fellBack) {
  console.log(`  ${n.op} '${n.name}' → ${n.processor}`);
  for (const r of n.rejected!) console.log(`      not ${r.processor}: ${r.reason}`);
}
