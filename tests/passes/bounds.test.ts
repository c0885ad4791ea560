/**
 * One lower bound (nodeLowerBound, memory-graph.ts), never above an achieved peak: plans compiled with
 * `--split memory --inplace` (and by default) on corpus models and a generated decoder pass the verifier,
 * which recomputes each memory's peak from its buffers and refuses a bound above it; each memory's bound
 * is checked against a brute-force peak of the plan's own buffers, and the order line's bound is the
 * same function on the order's problem (so on a one-memory target both print the same figure).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PRESETS, writeDecoder } from '../../bench/models/decoder.js';
import { compile } from '../../src/compiler/index.js';
import { verifyPlan } from '../../src/plan/verify.js';
import { brutePeak, corpusCases, CORPUS } from '../helpers/models.js';

const tmp = mkdtempSync(join(tmpdir(), 'tessera-bounds-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const light = (name: string) => join(CORPUS, 'onnx-node/light', `${name}.onnx`);
const decoder = () => {
  const dir = join(tmp, 'decoder');
  writeDecoder(TINY, dir);
  return join(dir, 'model.onnx');
};

const TINY = { ...PRESETS.tiny, layers: 2 };
/** Input shapes of a prefill over n tokens (no past). */
const prefill = (n: number) => {
  const shapes: Record<string, number[]> = { input_ids: [1, n], attention_mask: [1, n], position_ids: [1, n] };
  for (let l = 0; l < TINY.layers; l++) for (const kv of ['key', 'value']) shapes[`past_key_values.${l}.${kv}`] = [1, TINY.kvHeads, 0, TINY.headDim];
  return shapes;
};

describe('one lower bound, never above the peak a plan reaches', () => {
  const cases: [string, () => string, Record<string, unknown>][] = [
    ['light_inception_v1', () => light('light_inception_v1'), {}],
    ['light_squeezenet', () => light('light_squeezenet'), {}],
    ['generated decoder (tiny, 2 layers, prefill of 16 tokens)', decoder, { inputShapes: prefill(16) }],
  ];
  for (const [name, path, extra] of cases) {
    for (const opts of [{ split: 'memory' as const, inplace: true }, { orderBudgetMs: 2000 }]) {
      it(`${name} ${opts.split ? '--split memory --inplace' : 'default (order searched: a one-engine host plan searches only when asked)'}: verifies, bound ≤ brute-force peak of its buffers, order line bound from the same function`, async () => {
        const c = await compile(path(), 'host', { ...opts, ...extra, lower: false });
        verifyPlan(c.plan, c.graph, c.target);
        let withBuffers = 0;
        for (const [id, m] of Object.entries(c.plan.memory)) {
          if (!m.buffers.length) continue;
          withBuffers++;
          // in-place pairs share storage: count the pair once, as its merged lifetime
          const byValue = new Map(m.buffers.map((b) => [b.value, b]));
          const root = (v: string): string => (byValue.get(v)?.inplaceOf && byValue.has(byValue.get(v)!.inplaceOf!) ? root(byValue.get(v)!.inplaceOf!) : v);
          const merged = new Map<string, { bytes: number; start: number; end: number }>();
          for (const b of m.buffers) {
            const r = root(b.value), have = merged.get(r);
            merged.set(r, have ? { bytes: Math.max(have.bytes, b.bytes), start: Math.min(have.start, b.start), end: Math.max(have.end, b.end) } : { bytes: b.bytes, start: b.start, end: b.end });
          }
          const peak = brutePeak([...merged.values()], c.plan.order.length);
          expect(m.peakBytes, id).toBe(peak);
          expect(m.lowerBoundBytes, id).toBeGreaterThan(0);
          expect(m.lowerBoundBytes, id).toBeLessThanOrEqual(peak);
        }
        expect(withBuffers).toBeGreaterThan(0);
        const o = c.plan.orderSearch!;
        expect(o.lowerBoundBytes).toBeLessThanOrEqual(o.peakBytes);
        // one memory holds every buffer: the order's bound and the memory's are the same figure
        if (withBuffers === 1 && c.plan.partitions.every((p) => p.processor === c.plan.partitions[0].processor)) {
          const m = Object.values(c.plan.memory).find((x) => x.buffers.length)!;
          expect(o.lowerBoundBytes).toBe(m.lowerBoundBytes);
        }
      }, 120_000);
    }
  }
});

describe('every corpus model, --split memory --inplace: the verifier (bound ≤ peak, peak from the buffers) accepts the plan', () => {
  for (const m of corpusCases()) {
    it(m.name, async () => {
      const c = await compile(m.path, 'host', { split: 'memory', inplace: true, inputShapes: m.shapes, lower: false, orderBudgetMs: 200 });
      verifyPlan(c.plan, c.graph, c.target);
      for (const mem of Object.values(c.plan.memory)) expect(mem.lowerBoundBytes).toBeLessThanOrEqual(mem.peakBytes);
      expect(c.plan.orderSearch!.lowerBoundBytes).toBeLessThanOrEqual(c.plan.orderSearch!.peakBytes);
    }, 180_000);
  }
});
