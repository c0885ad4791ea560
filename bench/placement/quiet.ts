/**
 * Timing on a shared machine: how much CPU other processes used while we measured (from /proc/stat,
 * less this process's own CPU time), waiting for a quiet moment, and interleaved timing in blocks that
 * are kept only when the machine was quiet during them. onnxruntime's CPU EP uses every core, so a
 * second job on a 2-core machine can slow a run several times over; these numbers say when that
 * happened instead of hiding it in a median.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

const CORES = availableParallelism();
/** /proc/stat ticks are USER_HZ = 100 per second on Linux. */
const TICK_US = 10_000;

interface Sample {
  busyUs: number;
  ownUs: number;
  wallUs: number;
}

function sample(): Sample | undefined {
  let busyUs = 0;
  try {
    const f = readFileSync('/proc/stat', 'utf8');
    const cpu = f.slice(0, f.indexOf('\n')).trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal …
    busyUs = (cpu[0] + cpu[1] + cpu[2] + cpu[5] + cpu[6] + (cpu[7] ?? 0)) * TICK_US;
  } catch {
    return undefined; // not Linux: no load figures
  }
  const own = process.cpuUsage();
  return { busyUs, ownUs: own.user + own.system, wallUs: performance.now() * 1000 };
}

/** Share of all cores (0–1) that other processes used between two samples. */
function foreign(a: Sample | undefined, b: Sample | undefined): number {
  if (!a || !b || b.wallUs <= a.wallUs) return 0;
  return Math.max(0, (b.busyUs - a.busyUs - (b.ownUs - a.ownUs)) / ((b.wallUs - a.wallUs) * CORES));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits until other processes use less than `below` of the cores for two 250 ms windows in a row, at most `maxMs`; returns the last window's load. */
export async function waitQuiet(below = 0.1, maxMs = 60_000): Promise<number> {
  const t0 = performance.now();
  let quiet = 0, load = 0;
  while (performance.now() - t0 < maxMs) {
    const a = sample();
    await sleep(250);
    load = foreign(a, sample());
    quiet = load < below ? quiet + 1 : 0;
    if (quiet >= 2) break;
  }
  return load;
}

export interface Timed {
  /** Median µs of each function over the kept blocks. */
  medians: number[];
  /** Lower quartile µs of each function (what calibration takes: load from elsewhere only ever adds time). */
  quartiles: number[];
  /** Median µs of each kept block, per function, in the order the blocks ran (block k of each function ran in round k). */
  blocks: number[][];
  samples: number[][];
  /** Mean share of the cores other processes used during the kept blocks. */
  load: number;
  /** Blocks thrown away because the machine was busy during them. */
  discarded: number;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const lowerQuartile = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 4)];

/**
 * Times each function `runs` times. Functions take turns in blocks of `runs / blocks` runs (12 blocks by
 * default) or `blockMs`, whichever ends first (a block runs one function only, after `warm` untimed runs
 * lasting `warmMs` at least: onnxruntime's intra-op threads spin after a run, and
 * a second session's spinning threads slow a run on 2 cores nearly twice over, so runs of different
 * sessions are never interleaved one by one). A block during which other processes used more than
 * `maxLoad` of the cores is discarded and the measurement waits for a quiet moment, until `budgetMs` is
 * spent (then busy blocks are kept, and `load` says so). `between`, when given, runs before each round
 * (the caller decides in which rounds it does anything).
 */
export async function timeAlternating(fns: (() => Promise<unknown>)[], runs: number, options: { blockMs?: number; blocks?: number; maxLoad?: number; budgetMs?: number; warm?: number; warmMs?: number; between?: (round: number) => Promise<void> | void } = {}): Promise<Timed> {
  const blockMs = options.blockMs ?? 200, perBlock = Math.max(1, Math.ceil(runs / (options.blocks ?? 12))), maxLoad = options.maxLoad ?? 0.1, budgetMs = options.budgetMs ?? 120_000, warm = options.warm ?? 1, warmMs = options.warmMs ?? 100;
  const samples = fns.map(() => [] as number[]);
  const blocks = fns.map(() => [] as number[]);
  const t0 = performance.now();
  let discarded = 0, loadSum = 0, loadN = 0;
  for (let round = 0; samples.some((s) => s.length < runs); round++) {
    // other work interleaved with the blocks (a recalibration's round): before the round's blocks, whose warm-up follows it
    await options.between?.(round);
    // each round starts with the next function: a function always timed first (or last) in its round would
    // carry whatever the position costs (in-process A/B of identical sessions here: ~1% a place)
    for (let turn = 0; turn < fns.length; turn++) {
      const j = (turn + round) % fns.length;
      if (samples[j].length >= runs) continue;
      // warm up for a while too: the other session's threads may still be spinning. The load is read
      // over the warm-up and the block (/proc/stat counts in 10 ms ticks: a block of a small model alone
      // is too short to tell)
      const a = sample();
      const tw = performance.now();
      for (let w = 0; w < warm || performance.now() - tw < warmMs; w++) await fns[j]();
      const block: number[] = [];
      const tb = performance.now();
      do {
        const t = performance.now();
        await fns[j]();
        block.push((performance.now() - t) * 1000);
      } while (performance.now() - tb < blockMs && block.length < perBlock && samples[j].length + block.length < runs);
      const load = foreign(a, sample());
      if (load > maxLoad && performance.now() - t0 < budgetMs) {
        discarded++;
        await waitQuiet(maxLoad, Math.max(0, budgetMs - (performance.now() - t0)));
        turn--;
        continue;
      }
      samples[j].push(...block);
      blocks[j].push(median(block));
      loadSum += load * block.length;
      loadN += block.length;
    }
  }
  return { medians: samples.map(median), quartiles: samples.map(lowerQuartile), blocks, samples, load: loadN ? loadSum / loadN : 0, discarded };
}
