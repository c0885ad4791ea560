/**
 * The offset algorithms of the registry, by brute force on seeded random lifetime sets: no two buffers
 * alive together overlap, the arena holds the peak, placeBest keeps the smallest; the onnxruntime-style
 * exact-size baseline never overlaps either and is never smaller than the peak.
 */
import { describe, expect, it } from 'vitest';
import { ALGORITHMS, arenaOf, exactSizeReuse, peakAlive, placeBest, placeInSequence, type Interval } from '../../src/passes/memory-offsets.js';
import { brutePeak, overlappingPairs, seeded } from '../helpers/models.js';

function randomIntervals(r: () => number, n: number, positions: number): Interval[] {
  return Array.from({ length: n }, () => {
    const a = Math.floor(r() * positions), b = Math.floor(r() * positions);
    return { start: Math.min(a, b), end: Math.max(a, b), bytes: 64 * (1 + Math.floor(r() * 30)) };
  });
}

describe('offset algorithms on random lifetime sets (brute force)', () => {
  it('every registered algorithm: no overlap among buffers alive together, arena >= peak (500 sets)', () => {
    const r = seeded(11);
    for (let t = 0; t < 500; t++) {
      const positions = 1 + Math.floor(r() * 40);
      const items = randomIntervals(r, 1 + Math.floor(r() * 40), positions);
      const peak = brutePeak(items, positions);
      expect(peakAlive(items)).toBe(peak);
      for (const alg of ALGORITHMS) {
        const offsets = placeInSequence(items, alg.sequence(items), alg.fit);
        const placed = items.map((it, i) => ({ ...it, value: `v${i}`, offset: offsets[i] }));
        expect(overlappingPairs(placed), `${alg.name} trial ${t}`).toEqual([]);
        expect(arenaOf(items, offsets), `${alg.name} trial ${t}`).toBeGreaterThanOrEqual(peak);
      }
      const best = placeBest(items);
      expect(best.arena).toBe(Math.min(...Object.values(best.tried)));
      const ort = exactSizeReuse(items);
      expect(overlappingPairs(items.map((it, i) => ({ ...it, value: `v${i}`, offset: ort.offsets[i] }))), `exact-size trial ${t}`).toEqual([]);
      expect(ort.arena).toBeGreaterThanOrEqual(peak);
    }
  });

  it('many long-lived and short-lived buffers over thousands of positions (the block index) still never overlap', () => {
    const r = seeded(12);
    const items = randomIntervals(r, 3000, 20000).map((it, i) => (i % 10 === 0 ? it : { ...it, end: Math.min(it.start + Math.floor(r() * 5), 19999) }));
    const best = placeBest(items);
    const placed = items.map((it, i) => ({ ...it, value: `v${i}`, offset: best.offsets[i] }));
    expect(overlappingPairs(placed)).toEqual([]);
    expect(best.arena).toBeGreaterThanOrEqual(peakAlive(items));
  });
});
