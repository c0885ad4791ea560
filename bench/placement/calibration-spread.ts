/**
 * How much calibration's figures move from one run to the next: runs the CPU EP's calibration (no GPU,
 * wasm or tfjs) several times in one process and prints each fitted figure per run, with its coefficient
 * of variation (standard deviation over mean) across the runs, and how long each run took; then the same
 * for the benchmarks that define the bandwidth. On a shared machine the figures are provisional.
 *   npx tsx bench/placement/calibration-spread.ts [--times 3] [--json out.json] [--against <other checkout>/src/runtime/calibrate.ts]
 * With --against, each run of this checkout's calibration is followed by one of the other's (A, B, A, B, …),
 * so that both see the same drift and load, and both are reported.
 */
import { writeFileSync } from 'node:fs';
import { calibrateHost } from '../../src/runtime/calibrate.js';
import type { Figures } from '../../src/targets/schema.js';

const args = process.argv.slice(2);
const TIMES = args.includes('--times') ? Number(args[args.indexOf('--times') + 1]) : 3;
const jsonOut = args.includes('--json') ? args[args.indexOf('--json') + 1] : undefined;

/** The scalar figures of a fitted processor, by name. */
function scalars(p: Figures): Record<string, number> {
  const out: Record<string, number> = {
    peak: p.peakGflops.float32?.value ?? NaN, bandwidth: p.bandwidthGBs.value, cacheBandwidth: p.cacheBandwidthGBs?.value ?? NaN,
    launch: p.launchOverheadUs.value, tensorIo: p.tensorIoUs?.value ?? NaN, perNode: p.nodeOverheadUs?.value ?? NaN, convGroup: p.convGroupUs?.value ?? NaN,
  };
  for (const [op, f] of Object.entries(p.kernelSetupUs ?? {})) out[`setup ${op}`] = f.value;
  for (const [c, f] of Object.entries(p.efficiency ?? {})) out[`eff ${c}`] = f.value;
  return out;
}

const cv = (xs: number[]) => {
  const m = xs.reduce((a, x) => a + x, 0) / xs.length;
  const sd = Math.sqrt(xs.reduce((a, x) => a + (x - m) ** 2, 0) / Math.max(1, xs.length - 1));
  return sd / m;
};

type Run = { seconds: number; figures: Record<string, number>; benches: Record<string, number>; sources: Record<string, string> };
const against = args.includes('--against') ? args[args.indexOf('--against') + 1] : undefined;
const other = against ? ((await import(against)) as { calibrateHost: typeof calibrateHost }).calibrateHost : undefined;
const variants: { name: string; calibrate: typeof calibrateHost; runs: Run[] }[] = [{ name: 'this checkout', calibrate: calibrateHost, runs: [] }, ...(other ? [{ name: against!, calibrate: other, runs: [] }] : [])];
for (let r = 0; r < TIMES; r++) {
  for (const v of variants) {
    const t0 = performance.now();
    const { target, measurements } = await v.calibrate({ gpu: false, wasm: false, tfjs: false, progress: (d, t, what) => process.stderr.write(`\r${v.name.slice(-30)} run ${r + 1}/${TIMES} [${d}/${t}] ${what}`.padEnd(110).slice(0, 110)) });
    const seconds = (performance.now() - t0) / 1000;
    process.stderr.write(`\n`);
    const cpu = target.processors[0];
    v.runs.push({
      seconds, figures: scalars(cpu), benches: Object.fromEntries(measurements.map((m) => [m.bench, m.medianUs])),
      sources: { bandwidth: cpu.bandwidthGBs.source, perNode: cpu.nodeOverheadUs?.source ?? '', launch: cpu.launchOverheadUs.source },
    });
  }
}

console.log(`# npx tsx bench/placement/calibration-spread.ts ${args.join(' ')}`);
for (const { name, runs } of variants) {
  console.log(`\n## ${name}: calibration took ${runs.map((r) => r.seconds.toFixed(0)).join(', ')} s`);
  console.log('\n| figure | ' + runs.map((_, i) => `run ${i + 1}`).join(' | ') + ' | CV |');
  console.log('|---|' + runs.map(() => '---|').join('') + '---|');
  const fcvs: number[] = [];
  for (const k of Object.keys(runs[0].figures)) {
    const xs = runs.map((r) => r.figures[k]);
    fcvs.push(cv(xs));
    console.log(`| ${k} | ${xs.map((x) => x.toPrecision(3)).join(' | ')} | ${(100 * cv(xs)).toFixed(1)}% |`);
  }
  console.log('\n| benchmark (µs for one copy) | ' + runs.map((_, i) => `run ${i + 1}`).join(' | ') + ' | CV |');
  console.log('|---|' + runs.map(() => '---|').join('') + '---|');
  const cvs: number[] = [];
  for (const k of Object.keys(runs[0].benches)) {
    const xs = runs.map((r) => r.benches[k]);
    cvs.push(cv(xs));
    console.log(`| ${k} | ${xs.map((x) => x.toPrecision(3)).join(' | ')} | ${(100 * cv(xs)).toFixed(1)}% |`);
  }
  const mid = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  console.log(`\n${name}: figures' CV median ${(100 * mid(fcvs)).toFixed(1)}%, worst ${(100 * Math.max(...fcvs)).toFixed(1)}%; benchmarks' CV median ${(100 * mid(cvs)).toFixed(1)}%, worst ${(100 * Math.max(...cvs)).toFixed(1)}%`);
  console.log(`bandwidth source (last run): ${runs[runs.length - 1].sources.bandwidth}`);
  console.log(`per-node source (last run): ${runs[runs.length - 1].sources.perNode}`);
}
if (jsonOut) writeFileSync(jsonOut, JSON.stringify(variants.map((v) => ({ name: v.name, runs: v.runs })), null, 1));
