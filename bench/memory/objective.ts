/**
 * `--objective memory` on generated irregular networks, against TFLite's greedy-by-size arena in the
 * file's order (tflite-arena.ts, written independently of the planner).
 *   npx tsx bench/memory/objective.ts [--quick] [--json bench/memory/objective.results.json]
 * Each net (bench/memory/generate.ts: RandWire, NASNet-style cells, U-Nets; as generated with 1x1 convs,
 * and with 3x3 convs) goes through compile() for `host` like any model: once with `objective: 'memory'`,
 * once with the memory objective and `rewrite: true` kept by arena bytes alone is not offered by the
 * compiler, so the second column is the default (latency) objective with `--split memory --inplace
 * --rewrite` (what bench/memory/run.ts calls Tessera). Figures are the plans' own (modelled arena bytes,
 * all memories summed), not measured; the compile time is measured (provisional on a loaded machine).
 *   ref      TFLite greedy-by-size, file order, no in-place (reference)
 *   arena    the plan's arenas; ref/arena the ratio (higher is better)
 *   peak     the plan's peak of alive bytes; optimum: the order line's peak where it reports it proven
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { compile, loadModel } from '../../src/compiler/index.js';
import type { Plan } from '../../src/plan/schema.js';
import { nasCells, randwire, toOnnx, unet, type NetSpec } from './generate.js';
import { tfliteArena } from './tflite-arena.js';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const jsonOut = args.includes('--json') ? args[args.indexOf('--json') + 1] : join(import.meta.dirname, 'objective.results.json');
const command = `npx tsx bench/memory/objective.ts${args.length ? ` ${args.join(' ')}` : ''}`;

const nets: NetSpec[] = quick
  ? [randwire(8, { seed: 1 }), nasCells(4), unet(3)]
  : [randwire(8, { seed: 1 }), randwire(16, { seed: 1 }), randwire(16, { seed: 2 }), randwire(32, { seed: 1 }), nasCells(4), nasCells(8, { seed: 2 }), nasCells(14, { seed: 3 }), unet(3), unet(4), unet(5, { H: 256 })];

const sum = (plan: Plan, k: 'arenaBytes' | 'peakBytes') => Object.values(plan.memory).reduce((a, m) => a + m[k], 0);
const MB = (b: number) => (b / 1048576).toFixed(3);
const geo = (xs: number[]) => Math.exp(xs.reduce((a, x) => a + Math.log(x), 0) / Math.max(1, xs.length));

interface Row { net: string; kernel: number; ref: number; arena: number; peak: number; optimum: number | null; orderPeak: number; partitions: number; rewrites: string; resident: number; ms: number; arenaTiled?: number }
const rows: Row[] = [];
console.log(`# ${command}`);
console.log('arenas in MB (modelled by the planners); ms measured here (provisional: loaded 2-core machine)\n');
console.log('| net | convs | TFLite greedy-by-size, file order | --objective memory arena | ref/arena | plan peak | order line: exact optimum | peak = optimum | partitions | rewrites kept | predicted resident | compile ms |');
console.log('|---|---|---|---|---|---|---|---|---|---|---|---|');
for (const spec of nets) {
  for (const kernel of [1, 3]) {
    const bytes = toOnnx(spec, { kernel });
    const ref = tfliteArena((await loadModel(bytes)).graph);
    const t0 = performance.now();
    const c = await compile(bytes, 'host', { objective: 'memory', lower: false });
    const ms = performance.now() - t0;
    const os = c.plan.orderSearch;
    const r: Row = {
      net: spec.name, kernel, ref, arena: sum(c.plan, 'arenaBytes'), peak: sum(c.plan, 'peakBytes'), optimum: os?.exact ? os.peakBytes : null, orderPeak: os?.peakBytes ?? 0,
      partitions: c.plan.partitions.length, rewrites: (c.plan.model.rewrites ?? []).join('+') || '-', resident: c.plan.resident?.peakBytes ?? 0, ms,
    };
    rows.push(r);
    console.log(`| ${r.net} | ${kernel}x${kernel} | ${MB(r.ref)} | ${MB(r.arena)} | ${(r.ref / r.arena).toFixed(2)} | ${MB(r.peak)} | ${r.optimum === null ? '-' : MB(r.optimum)} | ${r.optimum === null ? '-' : r.peak === r.optimum ? 'yes' : `no (${(r.peak / r.optimum).toFixed(3)}×)`} | ${r.partitions} | ${r.rewrites} | ${MB(r.resident)} | ${ms.toFixed(0)} |`);
  }
}
const g = (f: (r: Row) => boolean) => geo(rows.filter(f).map((r) => r.ref / r.arena));
console.log(`\ngeometric mean ref/arena (--objective memory): all ${g(() => true).toFixed(3)}; 1x1 ${g((r) => r.kernel === 1).toFixed(3)}; 3x3 ${g((r) => r.kernel === 3).toFixed(3)}`);
for (const fam of ['randwire', 'nas', 'unet']) console.log(`  ${fam}: ${g((r) => r.net.startsWith(fam)).toFixed(3)}`);
const exact = rows.filter((r) => r.optimum !== null);
console.log(`order line reports the exact optimum on ${exact.length}/${rows.length}; the plan's peak equals it on ${exact.filter((r) => r.peak === r.optimum).length}`);
console.log(`arena larger than the reference on: ${rows.filter((r) => r.arena > r.ref).map((r) => `${r.net} ${r.kernel}x${r.kernel}`).join(', ') || 'none'}`);
writeFileSync(jsonOut, `${JSON.stringify({ command, rows, geomean: g(() => true) }, null, 1)}\n`);
console.log(`written: ${jsonOut}`);
