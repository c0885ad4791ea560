/**
 * Offsets in one arena for buffers with lifetimes (inclusive positions), by several algorithms registered
 * by name (as ExecuTorch's memory planning registers its algorithms); `placeBest` runs them all and keeps
 * the smallest arena. No algorithm can go below the peak of alive bytes, so that is reported beside it.
 *
 * - greedy-by-size: largest buffer first, best fit among the buffers alive with it (TFLite's arena planner);
 * - greedy-by-breadth: buffers of the busiest positions first (TFLite's greedy by breadth), best fit;
 * - greedy-by-area: largest bytes × lifetime first, best fit;
 * - first-fit-by-start: in order of allocation, the lowest offset that fits (a linear-scan allocator).
 *
 * Conflicts are found through an index of position blocks, so large graphs plan in near-linear time
 * when lifetimes are short (as in most networks).
 */
export interface Interval {
  start: number;
  end: number;
  bytes: number;
}

export type Fit = 'best' | 'first';

export interface Algorithm {
  name: string;
  fit: Fit;
  /** The order in which buffers are placed (indices into the items). */
  sequence(items: readonly Interval[]): number[];
}

const bySize = (items: readonly Interval[]) => items.map((_, i) => i).sort((a, b) => items[b].bytes - items[a].bytes || items[a].start - items[b].start || a - b);

function byBreadth(items: readonly Interval[]): number[] {
  let P = 0;
  for (const it of items) P = Math.max(P, it.end + 1);
  const delta = new Float64Array(P + 1);
  for (const it of items) {
    delta[it.start] += it.bytes;
    delta[it.end + 1] -= it.bytes;
  }
  const breadth = new Float64Array(P);
  let cur = 0;
  for (let t = 0; t < P; t++) breadth[t] = cur += delta[t];
  // sparse table for range maxima
  const levels: Float64Array[] = [breadth];
  for (let k = 1; 1 << k <= P; k++) {
    const prev = levels[k - 1], len = P - (1 << k) + 1, next = new Float64Array(len);
    for (let i = 0; i < len; i++) next[i] = Math.max(prev[i], prev[i + (1 << (k - 1))]);
    levels.push(next);
  }
  const rmq = (a: number, b: number) => {
    const k = 31 - Math.clz32(b - a + 1);
    return Math.max(levels[k][a], levels[k][b - (1 << k) + 1]);
  };
  const key = items.map((it) => (P ? rmq(it.start, it.end) : 0));
  return items.map((_, i) => i).sort((a, b) => key[b] - key[a] || items[b].bytes - items[a].bytes || items[a].start - items[b].start || a - b);
}

export const ALGORITHMS: Algorithm[] = [
  { name: 'greedy-by-size', fit: 'best', sequence: bySize },
  { name: 'greedy-by-breadth', fit: 'best', sequence: byBreadth },
  { name: 'greedy-by-area', fit: 'best', sequence: (items) => items.map((_, i) => i).sort((a, b) => items[b].bytes * (items[b].end - items[b].start + 1) - items[a].bytes * (items[a].end - items[a].start + 1) || a - b) },
  { name: 'first-fit-by-start', fit: 'first', sequence: (items) => items.map((_, i) => i).sort((a, b) => items[a].start - items[b].start || items[b].bytes - items[a].bytes || a - b) },
];

/** Places items in the given sequence; returns offsets (index-aligned with items). */
export function placeInSequence(items: readonly Interval[], seq: readonly number[], fit: Fit): number[] {
  const n = items.length;
  const offsets = new Array<number>(n).fill(-1);
  let P = 0;
  for (const it of items) P = Math.max(P, it.end + 1);
  const B = Math.max(8, Math.ceil(P / 8192));
  const blocks: number[][] = Array.from({ length: Math.ceil((P + 1) / B) }, () => []);
  const stamp = new Int32Array(n).fill(-1);
  const live: number[] = [];
  seq.forEach((i, k) => {
    const it = items[i];
    live.length = 0;
    const b0 = Math.floor(it.start / B), b1 = Math.floor(it.end / B);
    for (let b = b0; b <= b1; b++) {
      for (const j of blocks[b]) {
        if (stamp[j] === k) continue;
        stamp[j] = k;
        const o = items[j];
        if (o.start <= it.end && it.start <= o.end && o.bytes > 0) live.push(j);
      }
    }
    live.sort((a, b) => offsets[a] - offsets[b]);
    let cur = 0, best = -1, bestGap = Infinity;
    for (const j of live) {
      const gap = offsets[j] - cur;
      if (gap >= it.bytes && gap < bestGap) {
        best = cur;
        bestGap = gap;
        if (fit === 'first') break;
      }
      cur = Math.max(cur, offsets[j] + items[j].bytes);
    }
    offsets[i] = best >= 0 ? best : cur;
    for (let b = b0; b <= b1; b++) blocks[b].push(i);
  });
  return offsets;
}

export interface Placement {
  offsets: number[];
  arena: number;
  algorithm: string;
  /** Arena of every algorithm tried. */
  tried: Record<string, number>;
}

export function arenaOf(items: readonly Interval[], offsets: readonly number[]): number {
  let a = 0;
  items.forEach((it, i) => (a = Math.max(a, offsets[i] + it.bytes)));
  return a;
}

/** Every registered algorithm (or the named ones); the smallest arena wins, ties to the first registered. */
export function placeBest(items: readonly Interval[], names?: readonly string[]): Placement {
  let best: Placement | null = null;
  const tried: Record<string, number> = {};
  for (const alg of ALGORITHMS) {
    if (names && !names.includes(alg.name)) continue;
    const offsets = placeInSequence(items, alg.sequence(items), alg.fit);
    const arena = arenaOf(items, offsets);
    tried[alg.name] = arena;
    if (!best || arena < best.arena) best = { offsets, arena, algorithm: alg.name, tried };
  }
  return best ?? { offsets: [], arena: 0, algorithm: 'none', tried };
}

/**
 * onnxruntime-style reuse (the baseline): buffers are allocated in order of their first position; a
 * buffer freed earlier is reused only by a tensor of exactly its size; otherwise the arena grows.
 */
export function exactSizeReuse(items: readonly Interval[]): { offsets: number[]; arena: number } {
  const order = items.map((_, i) => i).sort((a, b) => items[a].start - items[b].start || a - b);
  const byEnd = items.map((_, i) => i).sort((a, b) => items[a].end - items[b].end || a - b);
  const free = new Map<number, number[]>();
  const offsets = new Array<number>(items.length).fill(0);
  let arena = 0, e = 0;
  for (const i of order) {
    const it = items[i];
    while (e < byEnd.length && items[byEnd[e]].end < it.start) {
      const j = byEnd[e++];
      if (offsets[j] >= 0 && items[j].bytes > 0) {
        const l = free.get(items[j].bytes) ?? [];
        l.push(offsets[j]);
        free.set(items[j].bytes, l);
      }
    }
    const l = free.get(it.bytes);
    if (l && l.length) offsets[i] = l.pop()!;
    else {
      offsets[i] = arena;
      arena += it.bytes;
    }
  }
  return { offsets, arena };
}

/** Sum of alive bytes at the busiest position: no arena can be smaller. */
export function peakAlive(items: readonly Interval[]): number {
  let P = 0;
  for (const it of items) P = Math.max(P, it.end + 1);
  const delta = new Float64Array(P + 1);
  for (const it of items) {
    delta[it.start] += it.bytes;
    delta[it.end + 1] -= it.bytes;
  }
  let cur = 0, peak = 0;
  for (let t = 0; t <= P; t++) peak = Math.max(peak, (cur += delta[t]));
  return peak;
}
