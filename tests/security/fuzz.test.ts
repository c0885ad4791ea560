/**
 * The hostile generators of bench/fuzz.ts, a batch of them: external data aimed outside the model's
 * directory, tensor bombs, deep nesting, too many nodes, hostile names, plans with paths for names and
 * absurd figures. Each ends in a TesseraError (or, for names that are only names, a successful import),
 * every input that must be refused is, and the file outside the sandbox's model directory is never
 * read. `npx tsx bench/fuzz.ts` runs 10,000 of them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FAILURES, HOSTILE_KINDS, hostileBench, makeHostileCase, runHostileCase, type HostileBench } from '../../bench/fuzz.js';

let hb: HostileBench;
beforeAll(async () => {
  hb = await hostileBench();
});
afterAll(() => hb.sb.cleanup());

describe('hostile inputs, fuzzed', () => {
  for (const runSeed of [11, 12]) {
    it(`seed ${runSeed}: 300 cases, each a TesseraError or a permitted success, nothing outside read`, async () => {
      const outcomes = new Map<string, number>();
      const failures: string[] = [];
      for (let i = 0; i < 300; i++) {
        const c = makeHostileCase(hb, runSeed, i);
        const r = await runHostileCase(hb, c);
        outcomes.set(`${c.kind} ${r.outcome}`, (outcomes.get(`${c.kind} ${r.outcome}`) ?? 0) + 1);
        if (FAILURES.has(r.outcome)) failures.push(`case ${i} ${c.kind} (${c.detail}): ${r.outcome} ${String((r.error as Error | undefined)?.stack ?? '')}`);
      }
      expect(failures).toEqual([]);
      // every kind ran, and each kind that must be refused was refused with its own code
      for (const kind of HOSTILE_KINDS) expect([...outcomes.keys()].some((k) => k.startsWith(`${kind} `)), kind).toBe(true);
      expect(outcomes.get('external EXTERNAL_DATA')).toBe(50);
      expect(outcomes.get('bomb LIMIT_EXCEEDED')).toBe(50);
      expect(outcomes.get('nest LIMIT_EXCEEDED')).toBe(50);
      expect(outcomes.get('nodes LIMIT_EXCEEDED')).toBe(50);
      expect(outcomes.get('plan BAD_PLAN')).toBe(50);
    }, 300_000);
  }
});
