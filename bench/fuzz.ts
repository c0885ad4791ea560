/**
 * The ONNX importer fuzzed, twice over:
 * - malformed files: truncated and bit-flipped copies of corpus model files (seeded, built in memory,
 *   never written anywhere);
 * - hostile but well-formed inputs (bench/hostile-models.ts): external data aimed outside the model's
 *   directory (absolute, escaping, through a symbolic link to the file or to a directory, past the end,
 *   a directory, from bytes with no directory, odd offsets), in initializers and in If branches;
 *   ConstantOfShape/Expand/Tile/Range bombs and huge declared tensors; If/Loop nested up to 2,000 deep;
 *   models beyond the node limit; names that carry markup, paths or JavaScript member names; plans with
 *   names that are paths and absurd figures.
 * Each model is fed to importOnnx and, when that succeeds, to inferShapes without a prober; each plan to
 * parsePlan and verifyPlan. Every failure must be a TesseraError; every hostile input that must be
 * refused is (else ACCEPTED); a "secret" file outside the sandbox's model directory is never read (its
 * access time, else READ). Prints counts by outcome and the slowest case (measured).
 *   npx tsx bench/fuzz.ts [--cases 10000] [--hostile 10000] [--seed 1]
 */
import { mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { toBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema } from 'onnx-buf';
import { rng } from '../src/backends/tensor.js';
import { TesseraError } from '../src/errors.js';
import { inferShapes } from '../src/ir/infer.js';
import { DEFAULT_LIMITS, type Limits } from '../src/ir/limits.js';
import { importOnnx } from '../src/ir/onnx-import.js';
import { compile } from '../src/compiler/index.js';
import { validatePlan, type Plan } from '../src/plan/schema.js';
import { verifyPlan } from '../src/plan/verify.js';
import { loadTarget } from '../src/targets/index.js';
import { addModel, BOMBS, bombModel, externalAddModel, externalSubgraphModel, HOSTILE_NAMES, makeSandbox, manyNodesModel, markUnread, namedModel, nestedModel, wasRead, type Sandbox } from './hostile-models.js';

const CORPUS = fileURLToPath(new URL('../../shared/corpus/', import.meta.url));

/** Node tests with subgraphs, sequences, functions, odd attributes and types: the structure the importer walks. */
const NODE_TESTS = [
  'test_if', 'test_if_seq', 'test_if_opt', 'test_loop11', 'test_loop13_seq', 'test_scan9_sum', 'test_range_float_type_positive_delta_expanded',
  'test_constant', 'test_constantofshape_int_zeros', 'test_ai_onnx_ml_label_encoder_string_int', 'test_strnormalizer_export_monday_casesensintive_lower',
  'test_layer_normalization_4d_axis0_expanded', 'test_gelu_tanh_1_expanded', 'test_conv_with_strides_padding', 'test_reshape_reordered_all_dims',
  'test_slice_neg_steps', 'test_gather_elements_0', 'test_resize_upsample_sizes_cubic', 'test_cast_FLOAT_to_FLOAT16', 'test_optional_get_element_tensor',
  'test_sequence_map_identity_1_sequence', 'test_split_variable_parts_1d_opset18', 'test_nonmaxsuppression_center_point_box_format', 'test_einsum_batch_diagonal',
];

export interface Seed { name: string; bytes: Uint8Array }

/** The files mutated: light/ conv nets, the small npm model, silero v4 (If/Loop subgraphs), and node tests with structure. */
export function fuzzSeeds(): Seed[] {
  const out: Seed[] = [];
  const light = join(CORPUS, 'onnx-node/light');
  for (const f of readdirSync(light).filter((f) => f.endsWith('.onnx')).sort()) out.push({ name: `light/${f}`, bytes: new Uint8Array(readFileSync(join(light, f))) });
  for (const f of ['wakeword-hello-deepa.onnx', 'silero-vad-v4-legacy.onnx']) out.push({ name: `models/${f}`, bytes: new Uint8Array(readFileSync(join(CORPUS, 'models', f))) });
  for (const t of NODE_TESTS) {
    try {
      out.push({ name: `node/${t}`, bytes: new Uint8Array(readFileSync(join(CORPUS, 'onnx-node/node', t, 'model.onnx'))) });
    } catch {
      // a test missing from this corpus copy: skipped
    }
  }
  return out;
}

export type Mutation = 'truncate' | 'flip' | 'flip-head' | 'byte';

export interface FuzzCase { seed: string; mutation: Mutation; detail: string; bytes: Uint8Array }

/** Case `i` of a run: deterministic in (seeds, runSeed, i). */
export function makeCase(seeds: Seed[], runSeed: number, i: number): FuzzCase {
  const next = rng(runSeed * 1_000_003 + i);
  const s = seeds[Math.floor(next() * seeds.length)];
  const src = s.bytes;
  const kinds: Mutation[] = ['truncate', 'flip', 'flip-head', 'byte'];
  const mutation = kinds[i % kinds.length];
  if (mutation === 'truncate') {
    const n = Math.floor(next() * src.length);
    return { seed: s.name, mutation, detail: `first ${n} of ${src.length} bytes`, bytes: src.slice(0, n) };
  }
  const bytes = src.slice();
  // flip: anywhere; flip-head: in the first 4 KB (graph structure, not weight data); byte: overwrite bytes
  const span = mutation === 'flip-head' ? Math.min(4096, bytes.length) : bytes.length;
  const count = 1 + Math.floor(next() * 8);
  const at: number[] = [];
  for (let k = 0; k < count; k++) {
    const pos = Math.floor(next() * span);
    at.push(pos);
    if (mutation === 'byte') bytes[pos] = [0x00, 0xff, 0x80, 0x7f, 0x08, 0x12][Math.floor(next() * 6)];
    else bytes[pos] ^= 1 << Math.floor(next() * 8);
  }
  return { seed: s.name, mutation, detail: `${mutation === 'byte' ? 'bytes' : 'bits'} at ${at.join(',')}`, bytes };
}

export interface CaseOutcome { outcome: string; ms: number; error?: unknown }

/** Runs one case: 'ok', 'imported' (inference said nothing), a TesseraError code, or 'CRASH'. */
export async function runFuzzCase(c: FuzzCase): Promise<CaseOutcome> {
  const t0 = performance.now();
  try {
    const graph = importOnnx(c.bytes);
    await inferShapes(graph);
    return { outcome: 'ok', ms: performance.now() - t0 };
  } catch (err) {
    const ms = performance.now() - t0;
    if (err instanceof TesseraError) return { outcome: err.code, ms };
    return { outcome: 'CRASH', ms, error: err };
  }
}

// ---- hostile but well-formed inputs ---------------------------------------------------------------

export type HostileKind = 'external' | 'bomb' | 'nest' | 'nodes' | 'names' | 'plan';
export const HOSTILE_KINDS: readonly HostileKind[] = ['external', 'bomb', 'nest', 'nodes', 'names', 'plan'];

export interface HostileCase {
  kind: HostileKind;
  detail: string;
  /** Whether the input must be refused (a success is then the failure ACCEPTED). */
  mustRefuse: boolean;
  run: () => unknown;
}

/** The sandbox the hostile cases point into (its files made once) and a compiled plan to mutate. */
export interface HostileBench {
  sb: Sandbox;
  plan: Plan;
  graph: Awaited<ReturnType<typeof inferShapes>>;
  target: Awaited<ReturnType<typeof loadTarget>>;
}

export async function hostileBench(): Promise<HostileBench> {
  const sb = makeSandbox('fuzz');
  writeFileSync(join(sb.modelDir, 'short.bin'), new Uint8Array(24));
  mkdirSync(join(sb.modelDir, 'sub'));
  writeFileSync(join(sb.modelDir, 'sub', 'w.bin'), new Uint8Array(64));
  symlinkSync(sb.secret, join(sb.modelDir, 'w-link.bin'));
  symlinkSync(sb.root, join(sb.modelDir, 'up')); // a link to the directory above: up/secret.txt
  const bytes = toBinary(ModelProtoSchema, addModel());
  const target = await loadTarget('snapdragon-8-gen-3');
  const { plan, graph } = await compile(bytes, target, { lower: false });
  markUnread(sb.secret);
  return { sb, plan, graph, target };
}

const importAndInfer = async (bytes: Uint8Array, options: Parameters<typeof importOnnx>[1] = {}) => inferShapes(importOnnx(bytes, options));

/** Hostile case `i` of a run: deterministic in (runSeed, i). */
export function makeHostileCase(hb: HostileBench, runSeed: number, i: number): HostileCase {
  const next = rng(runSeed * 7_000_003 + i);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)];
  const int = (lo: number, hi: number) => lo + Math.floor(next() * (hi - lo + 1));
  const kind = HOSTILE_KINDS[i % HOSTILE_KINDS.length];
  const path = join(hb.sb.modelDir, 'model.onnx');
  switch (kind) {
    case 'external': {
      const location = pick([
        hb.sb.secret, '../secret.txt', `sub/${'../'.repeat(int(2, 6))}secret.txt`, 'w-link.bin', 'up/secret.txt', './up/../up/secret.txt', 'short.bin',
        'sub', '.', '', 'nope.bin', `${'a'.repeat(int(300, 5000))}.bin`, 'C:\\secret.txt', '\\\\server\\share\\w.bin', 'sub/w.bin\0.txt', `${hb.sb.modelDir}/sub/w.bin`,
      ]);
      // short.bin holds 24 bytes: w's 16 at any offset past 8 run past its end
      const offset = location === 'short.bin' ? pick([String(int(9, 1000)), '18446744073709551616']) : pick(['0', String(int(0, 100)), '-1', '1e3', ' 8', '0x10', '18446744073709551616']);
      const inSubgraph = location !== 'short.bin' && next() < 0.3;
      const bytes = inSubgraph ? externalSubgraphModel(location) : externalAddModel(location, { offset });
      const withPath = next() < 0.85;
      return { kind, mustRefuse: true, detail: `${inSubgraph ? 'If branch' : 'initializer'} '${location.slice(0, 50)}'${inSubgraph ? '' : ` offset ${offset}`}${withPath ? '' : ', given as bytes'}`, run: () => importAndInfer(bytes, withPath ? { path } : {}) };
    }
    case 'bomb': {
      const bomb = pick(BOMBS);
      const log2 = int(31, 60);
      const bytes = bombModel(bomb, 2 ** log2);
      return { kind, mustRefuse: true, detail: `${bomb} of 2^${log2} elements`, run: () => importAndInfer(bytes) };
    }
    case 'nest': {
      const depth = next() < 0.5 ? int(DEFAULT_LIMITS.maxSubgraphDepth + 1, 40) : int(41, 2000);
      const op = pick(['If', 'Loop'] as const);
      const bytes = nestedModel(depth, op);
      return { kind, mustRefuse: true, detail: `${op} nested ${depth} deep`, run: () => importOnnx(bytes) };
    }
    case 'nodes': {
      const whole = i % 50 === 3; // now and then the default limit itself: a million and one nodes
      const limits: Partial<Limits> = whole ? {} : { maxNodes: int(1, 5000) };
      const count = (limits.maxNodes ?? DEFAULT_LIMITS.maxNodes) + int(1, 100);
      const bytes = manyNodesModel(count);
      return { kind, mustRefuse: true, detail: `${count} nodes, maxNodes ${limits.maxNodes ?? DEFAULT_LIMITS.maxNodes}`, run: () => importOnnx(bytes, { limits }) };
    }
    case 'names': {
      const names = Array.from({ length: 10 }, (_, k) => `${pick(HOSTILE_NAMES)}${next() < 0.7 ? `#${k}` : ''}`);
      const bytes = namedModel((k) => names[k]);
      return { kind, mustRefuse: false, detail: names.map((n) => n.slice(0, 12)).join(' | '), run: () => importAndInfer(bytes) };
    }
    case 'plan': {
      const plan = structuredClone(hb.plan) as Plan & Record<string, unknown>;
      const mem = Object.values(plan.memory).find((m) => m.buffers.length)!;
      const paths = [hb.sb.secret, '../secret.txt', 'sub/../../secret.txt', 'C:\\secret.txt', '..', '.', `a/${'b'.repeat(int(1, 50))}`];
      const mutations: [string, () => void][] = [
        ['model.file a path', () => (plan.model.file = pick(paths))],
        ['target.name a path', () => (plan.target.name = pick(paths))],
        ['a step time not finite or negative', () => (plan.steps[int(0, plan.steps.length - 1)].startUs = pick([NaN, Infinity, -Infinity, -1, -1e300]))],
        ['the latency NaN', () => (plan.estimate.latencyUs = NaN)],
        ['an arena of 2^40 or more', () => (mem.arenaBytes = 2 ** int(40, 52))],
        ['a buffer far out in its arena', () => { mem.buffers[0].offset = 2 ** int(40, 52); mem.arenaBytes = mem.buffers[0].offset + mem.buffers[0].bytes; }],
        ['a memory plan for no processor', () => (plan.memory[pick(['zzz', 'GPU', 'cpu '])] = { arenaBytes: 2 ** 40, peakBytes: 0, lowerBoundBytes: 0, weightBytes: 0, buffers: [] })],
        ['a negative or fractional size', () => (mem.buffers[0].bytes = pick([-1, 0.5, NaN]))],
      ];
      const [what, mutate] = pick(mutations);
      mutate();
      return { kind, mustRefuse: true, detail: what, run: () => verifyPlan(validatePlan(plan, 'plan'), hb.graph, hb.target) };
    }
  }
}

/** Runs one hostile case: 'ok', a TesseraError code, or a failure: CRASH, ACCEPTED (not refused), READ (the secret was read). */
export async function runHostileCase(hb: HostileBench, c: HostileCase): Promise<CaseOutcome> {
  const t0 = performance.now();
  let outcome: string;
  let error: unknown;
  try {
    await c.run();
    outcome = c.mustRefuse ? 'ACCEPTED' : 'ok';
  } catch (err) {
    outcome = err instanceof TesseraError ? err.code : 'CRASH';
    error = err;
  }
  const ms = performance.now() - t0;
  if (wasRead(hb.sb.secret)) {
    outcome = 'READ';
    markUnread(hb.sb.secret);
  }
  return { outcome, ms, error };
}

/** Outcomes that fail the benchmark. */
export const FAILURES = new Set(['CRASH', 'ACCEPTED', 'READ']);

/** Counts outcomes by kind, keeps the slowest case and the failures. */
class Tally {
  counts = new Map<string, number>();
  byKind = new Map<string, number>();
  slowest = { ms: 0, label: '' };
  failures: string[] = [];
  add(kind: string, label: string, r: CaseOutcome, failed: boolean): void {
    this.counts.set(r.outcome, (this.counts.get(r.outcome) ?? 0) + 1);
    const k = `${kind} ${r.outcome === 'ok' ? 'ok' : r.outcome}`;
    this.byKind.set(k, (this.byKind.get(k) ?? 0) + 1);
    if (r.ms > this.slowest.ms) this.slowest = { ms: r.ms, label };
    if (failed) {
      const e = r.error as Error | undefined;
      this.failures.push(`${r.outcome} ${label}${e ? `: ${e.constructor?.name}: ${String(e.message ?? e).slice(0, 200)}\n    ${String(e.stack ?? '').split('\n').slice(1, 4).join('\n    ')}` : ''}`);
    }
  }
  print(title: string, cases: number, ms: number): void {
    console.log(title);
    for (const [k, v] of [...this.counts].sort((a, b) => b[1] - a[1])) console.log(`  ${k.padEnd(22)} ${v}`);
    console.log('  by kind:');
    for (const [k, v] of [...this.byKind].sort()) console.log(`    ${k.padEnd(32)} ${v}`);
    console.log(`  slowest case (measured): ${this.slowest.ms.toFixed(1)} ms — ${this.slowest.label}`);
    console.log(`  total (measured): ${(ms / 1000).toFixed(1)} s, mean ${(ms / Math.max(cases, 1)).toFixed(2)} ms per case`);
    if (this.failures.length) {
      console.log(`  failures (${this.failures.length}), first 20:`);
      for (const f of this.failures.slice(0, 20)) console.log(`    ${f}`);
    }
  }
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const opt = (name: string, d: number) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : d);
  const cases = opt('--cases', 10000);
  const hostile = opt('--hostile', 10000);
  const runSeed = opt('--seed', 1);
  const progress = (i: number, n: number) => process.stderr.isTTY && i % 100 === 0 && process.stderr.write(`\r${i}/${n}`);

  const seeds = fuzzSeeds();
  const malformed = new Tally();
  let t0 = performance.now();
  for (let i = 0; i < cases; i++) {
    const c = makeCase(seeds, runSeed, i);
    const r = await runFuzzCase(c);
    malformed.add(c.mutation, `case ${i}: ${c.seed}, ${c.mutation} (${c.detail.slice(0, 80)})`, r, r.outcome === 'CRASH');
    progress(i, cases);
  }
  const malformedMs = performance.now() - t0;

  const hb = await hostileBench();
  const bad = new Tally();
  t0 = performance.now();
  try {
    for (let i = 0; i < hostile; i++) {
      const c = makeHostileCase(hb, runSeed, i);
      const r = await runHostileCase(hb, c);
      bad.add(c.kind, `case ${i}: ${c.kind} (${c.detail.slice(0, 100)})`, r, FAILURES.has(r.outcome));
      progress(i, hostile);
    }
  } finally {
    hb.sb.cleanup();
  }
  const hostileMs = performance.now() - t0;
  if (process.stderr.isTTY) process.stderr.write('\r');

  malformed.print(`malformed files: ${cases} truncated and bit-flipped copies of ${seeds.length} corpus files (seed ${runSeed}); importOnnx, then inferShapes without a prober (ok = imported and inferred; otherwise the TesseraError code; CRASH = any other exception)`, cases, malformedMs);
  console.log();
  bad.print(`hostile inputs: ${hostile} well-formed cases, ${HOSTILE_KINDS.join(', ')} in turn (seed ${runSeed}); models to importOnnx then inferShapes, plans to validatePlan then verifyPlan (ok = accepted where that is allowed; otherwise the TesseraError code; CRASH, ACCEPTED = not refused, READ = the file outside the model directory was read)`, hostile, hostileMs);
  const failed = malformed.failures.length + bad.failures.length;
  console.log(`\n${failed ? `FAILED: ${failed} cases ended in something other than a TesseraError or a permitted success` : `every one of the ${cases + hostile} cases ended in a TesseraError or a permitted success; the file outside the model directory was never read`}`);
  console.log(`command: npx tsx bench/fuzz.ts${args.length ? ' ' + args.join(' ') : ''}`);
  if (failed) process.exitCode = 1;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main();
}
