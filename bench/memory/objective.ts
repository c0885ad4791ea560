/**
 * `--objective memory` on generated irregular networks, against TFLite's greedy-by-size arena in the
 * file's order (tflite-arena.ts, written independently of the planner).
 *   npx tsx bench/memory/objective.ts [--quick] [--k1] [--free-sessions] [--json bench/memory/objective.results.json]
 * The nets (bench/memory/generate.ts: RandWire, NASNet-style cells, U-Nets, with 3x3 convs; `--k1` adds
 * them as generated, 1x1) at the sizes of bench/memory/run.ts, and two at ImageNet-like sizes (224×224 and
 * 112×112 inputs, 32 channels), go through compile() for `host` like any model:
 *   memory   `objective: 'memory'`: the plan of the smallest predicted peak resident bytes of the process
 *   arena    the arena-first plan: `rewrite: true, split: 'memory', inplace: true` (rewrites, tiling
 *            included, kept when the arenas shrink; what bench/memory/run.ts calls Tessera)
 *   split    the memory objective's split candidate: `objective: 'memory', split: 'memory'` (in place on,
 *            chunks cut with no slack over the order's peak, identical chunks on one executable with their
 *            weights fed, rewrites kept by the predicted resident peak); `objective: 'memory'` alone
 *            takes it when its predicted resident peak is the smaller
 *   free     (with --free-sessions) `objective: 'memory'` on the host profile with engine sessions and
 *            per-node structures made free (memory.sessionBytes = nodeBytes = 0): what the objective does
 *            where Tessera's arenas are what the process holds; not a real target's figures
 *   ref      TFLite greedy-by-size, file order, no in-place (the reference); ref/x the ratio (higher is better)
 *   peak     the plan's peak of alive bytes; optimum: the order line's peak where it reports it proven
 * Arena bytes are the plans' own (modelled, all memories summed), not measured; compile times are measured
 * (provisional on a loaded machine).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { compile, loadModel } from '../../src/compiler/index.js';
import type { Plan } from '../../src/plan/schema.js';
import { loadTarget } from '../../src/targets/index.js';
import type { Target } from '../../src/targets/schema.js';
import { nasCells, randwire, toOnnx, unet, type NetSpec } from './generate.js';
import { tfliteArena } from './tflite-arena.js';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const jsonOut = args.includes('--json') ? args[args.indexOf('--json') + 1] : join(import.meta.dirname, 'objective.results.json');
const command = `npx tsx bench/memory/objective.ts${args.length ? ` ${args.join(' ')}` : ''}`;

const nets: NetSpec[] = quick
  ? [randwire(8, { seed: 1 }), nasCells(4), unet(3)]
  : [randwire(8, { seed: 1 }), randwire(16, { seed: 1 }), randwire(16, { seed: 2 }), randwire(32, { seed: 1 }), nasCells(4), nasCells(8, { seed: 2 }), nasCells(14, { seed: 3 }), unet(3), unet(4), unet(5, { H: 256 }),
    randwire(16, { seed: 1, H: 224, C: 32 }), nasCells(8, { seed: 2, H: 112, C: 32 })];
const kernels = args.includes('--k1') ? [1, 3] : [3];

const sum = (plan: Plan, k: 'arenaBytes' | 'peakBytes') => Object.values(plan.memory).reduce((a, m) => a + m[k], 0);
const MB = (b: number) => (b / 1048576).toFixed(3);
const geo = (xs: number[]) => Math.exp(xs.reduce((a, x) => a + Math.log(x), 0) / Math.max(1, xs.length));

interface Plans { arena: number; peak: number; optimum: number | null; partitions: number; executables: number; rewrites: string; resident: number; ms: number }
interface Row { net: string; kernel: number; ref: number; memory: Plans; arenaFirst: Plans; split: Plans; free?: Plans }
const rows: Row[] = [];
console.log(`# ${command}`);
console.log('arenas in MB (modelled by the planners); ms measured here (provisional: loaded 2-core machine)\n');
console.log("| net | convs | TFLite greedy-by-size, file order | memory objective: arena | ref/arena | peak | exact optimum (order line) | partitions | rewrites kept | predicted resident | arena-first plan: arena | ref/arena | peak | exact optimum | partitions | rewrites kept | compile ms (memory / arena-first) | memory split, shared executables: arena | ref/arena | peak | exact optimum | partitions / executables | rewrites kept | predicted resident (of the objective's choice) |");
console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
const freeSessions = args.includes('--free-sessions');
const host = await loadTarget('host');
const freeHost: Target = { ...host, memory: { ...host.memory, sessionBytes: { value: 0, source: 'bench: sessions made free' }, nodeBytes: { value: 0, source: 'bench: per-node structures made free' } } };
async function planOf(bytes: Uint8Array, options: Parameters<typeof compile>[2], target: string | Target = 'host'): Promise<Plans> {
  const t0 = performance.now();
  const c = await compile(bytes, target, { ...options, lower: false });
  const ms = performance.now() - t0;
  const os = c.plan.orderSearch;
  return { arena: sum(c.plan, 'arenaBytes'), peak: sum(c.plan, 'peakBytes'), optimum: os?.exact ? os.peakBytes : null, partitions: c.plan.partitions.length, executables: c.plan.partitions.filter((p) => p.executable === undefined).length, rewrites: (c.plan.model.rewrites ?? []).join('+') || '-', resident: c.plan.resident?.peakBytes ?? 0, ms };
}
const opt = (p: Plans) => (p.optimum === null ? '-' : `${MB(p.optimum)}${p.peak === p.optimum ? ' (= peak)' : ` (peak ${(p.peak / p.optimum).toFixed(3)}×)`}`);
for (const spec of nets) {
  for (const kernel of kernels) {
    const bytes = toOnnx(spec, { kernel });
    const ref = tfliteArena((await loadModel(bytes)).graph);
    const memory = await planOf(bytes, { objective: 'memory' });
    const arenaFirst = await planOf(bytes, { rewrite: true, split: 'memory', inplace: true });
    const split = await planOf(bytes, { objective: 'memory', split: 'memory' });
    const free = freeSessions ? await planOf(bytes, { objective: 'memory' }, freeHost) : undefined;
    // the ImageNet-sized nets are named with their input size and width (the generator's name leaves them out)
    const first = spec.nodes[0].shape, widest = spec.nodes[1].shape[0];
    const name = first[1] >= 112 && spec.family !== 'unet' ? `${spec.name}-H${first[1]}-C${widest}` : spec.name;
    const r: Row = { net: name, kernel, ref, memory, arenaFirst, split, ...(free ? { free } : {}) };
    rows.push(r);
    const m = memory, a = arenaFirst;
    if (free) console.log(`  free sessions: arena ${MB(free.arena)}, ref/arena ${(ref / free.arena).toFixed(2)}, peak ${MB(free.peak)}, optimum ${opt(free)}, partitions / executables ${free.partitions} / ${free.executables}, rewrites ${free.rewrites}`);
    console.log(`| ${r.net} | ${kernel}x${kernel} | ${MB(ref)} | ${MB(m.arena)} | ${(ref / m.arena).toFixed(2)} | ${MB(m.peak)} | ${opt(m)} | ${m.partitions} | ${m.rewrites} | ${MB(m.resident)} | ${MB(a.arena)} | ${(ref / a.arena).toFixed(2)} | ${MB(a.peak)} | ${opt(a)} | ${a.partitions} | ${a.rewrites} | ${m.ms.toFixed(0)} / ${a.ms.toFixed(0)} | ${MB(split.arena)} | ${(ref / split.arena).toFixed(2)} | ${MB(split.peak)} | ${opt(split)} | ${split.partitions} / ${split.executables} | ${split.rewrites} | ${MB(split.resident)} (${MB(m.resident)}) |`);
  }
}
const g = (f: (r: Row) => boolean, which: 'memory' | 'arenaFirst' | 'split' | 'free') => geo(rows.filter(f).map((r) => r.ref / r[which]!.arena));
const label = { memory: '--objective memory', arenaFirst: 'arena-first (--rewrite --split memory --inplace)', split: "--objective memory --split memory (the memory objective's split candidate, shared executables)", free: '--objective memory, engine sessions and per-node structures made free (--free-sessions)' };
for (const which of freeSessions ? (['memory', 'arenaFirst', 'split', 'free'] as const) : (['memory', 'arenaFirst', 'split'] as const)) {
  console.log(`\n${label[which]}: geometric mean ref/arena ${g(() => true, which).toFixed(3)}${kernels.length > 1 ? ` (1x1 ${g((r) => r.kernel === 1, which).toFixed(3)}, 3x3 ${g((r) => r.kernel === 3, which).toFixed(3)})` : ''}`);
  for (const fam of ['randwire', 'nas', 'unet']) console.log(`  ${fam}: ${g((r) => r.net.startsWith(fam), which).toFixed(3)}`);
  const exact = rows.filter((r) => r[which]!.optimum !== null);
  console.log(`  the order line reports the exact optimum on ${exact.length}/${rows.length}; the plan's peak equals it on ${exact.filter((r) => r[which]!.peak === r[which]!.optimum).length}`);
  if (which === 'split') console.log(`  executables ${rows.map((r) => `${r.split.executables}/${r.split.partitions}`).join(', ')}; its predicted resident peak below that of the objective's choice on ${rows.filter((r) => r.split.resident < r.memory.resident).length}/${rows.length}`);
  console.log(`  arena larger than the reference on: ${rows.filter((r) => r[which]!.arena > r.ref).map((r) => `${r.net} ${r.kernel}x${r.kernel}`).join(', ') || 'none'}`);
}
writeFileSync(jsonOut, `${JSON.stringify({ command, rows, geomean: { memory: g(() => true, 'memory'), arenaFirst: g(() => true, 'arenaFirst'), split: g(() => true, 'split'), ...(freeSessions ? { free: g(() => true, 'free') } : {}) } }, null, 1)}\n`);
console.log(`written: ${jsonOut}`);
