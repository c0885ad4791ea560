/**
 * The importer fuzzed: truncated and bit-flipped copies of corpus model files (seeded, in memory)
 * fed to importOnnx and inferShapes (no prober). Every failure is a TesseraError — never another
 * exception, never a hang. Time is bounded by counting the cases over a generous per-case deadline
 * after the fact (a hang would also hit vitest's timeout); nothing asserts how fast a case is.
 * `npx tsx bench/fuzz.ts` runs 10,000 such cases.
 */
import { fromBinary, toBinary } from '@bufbuild/protobuf';
import { AttributeProto_AttributeType as AT, ModelProtoSchema } from 'onnx-buf';
import { describe, expect, it } from 'vitest';
import { fuzzSeeds, makeCase, runFuzzCase, type CaseOutcome } from '../../bench/fuzz.js';
import { GraphBuilder, tensor } from '../../src/ir/builder.js';
import { TesseraError } from '../../src/errors.js';
import { importOnnx } from '../../src/ir/onnx-import.js';

const SEEDS = fuzzSeeds();
const DEADLINE_MS = 10_000;


async function runBatch(runSeed: number, indices: number[]): Promise<{ outcomes: Map<string, number>; crashes: string[]; overDeadline: number }> {
  const outcomes = new Map<string, number>();
  const crashes: string[] = [];
  let overDeadline = 0;
  for (const i of indices) {
    const c = makeCase(SEEDS, runSeed, i);
    const r: CaseOutcome = await runFuzzCase(c);
    outcomes.set(r.outcome, (outcomes.get(r.outcome) ?? 0) + 1);
    if (r.ms > DEADLINE_MS) overDeadline++;
    if (r.outcome === 'CRASH') {
      const e = r.error as Error;
      crashes.push(`case ${i} (${c.seed}, ${c.mutation}, ${c.detail.slice(0, 60)}): ${e?.constructor?.name}: ${String(e?.message ?? e).slice(0, 160)}`);
    }
  }
  return { outcomes, crashes, overDeadline };
}

describe('importer fuzz (truncated and bit-flipped corpus files)', () => {
  it('the seeds are the corpus files (light/ nets, npm models, node tests with subgraphs)', () => {
    expect(SEEDS.length).toBeGreaterThanOrEqual(30);
  });

  for (const runSeed of [7, 8]) {
    it(`seed ${runSeed}: 300 cases, every failure a TesseraError, none over ${DEADLINE_MS / 1000} s`, async () => {
      const { outcomes, crashes, overDeadline } = await runBatch(runSeed, Array.from({ length: 300 }, (_, i) => i));
      expect(crashes).toEqual([]);
      expect(overDeadline).toBe(0);
      // the mutations reach past the protobuf decoder: several error kinds, and some copies still import
      expect(outcomes.get('TRUNCATED') ?? 0).toBeGreaterThan(0);
      expect([...outcomes.keys()].filter((k) => k !== 'ok').length).toBeGreaterThanOrEqual(4);
    }, 120_000);
  }

  // What bench/fuzz.ts found (17 of 10,000 cases threw a TypeError before the fix): a flipped type tag
  // makes an attribute claim a type whose field is absent.
  for (const [type, name] of [[AT.TENSOR, 'TENSOR'], [AT.GRAPH, 'GRAPH'], [AT.SPARSE_TENSOR, 'SPARSE_TENSOR'], [AT.TYPE_PROTO, 'TYPE_PROTO']] as const) {
    it(`an attribute of type ${name} without its value is BAD_MODEL`, () => {
      const b = new GraphBuilder('m');
      b.node('Constant', [], 'c', { value: { type: 'tensor', value: tensor('v', new Float32Array([1, 2]), [2]) } });
      b.output('c', 'float32', [2]);
      const model = fromBinary(ModelProtoSchema, b.toBytes());
      const attr = model.graph!.node[0].attribute[0];
      attr.type = type;
      attr.t = undefined;
      const bytes = toBinary(ModelProtoSchema, model);
      let err: unknown;
      try {
        importOnnx(bytes);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(TesseraError);
      expect((err as TesseraError).code).toBe('BAD_MODEL');
      expect((err as TesseraError).message).toMatch(/attribute 'value' has type .* but no/);
    });
  }
});
