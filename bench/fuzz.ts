/**
 * The ONNX importer fuzzed: truncated and bit-flipped copies of corpus model files (seeded, built in
 * memory, never written anywhere), each fed to importOnnx and, when that succeeds, to inferShapes
 * without a prober. Every failure must be a TesseraError. Prints counts by outcome (ok, or the error
 * code; anything else is listed as a crash) and the slowest case (measured).
 *   npx tsx bench/fuzz.ts [--cases 10000] [--seed 1]
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { rng } from '../src/backends/tensor.js';
import { TesseraError } from '../src/errors.js';
import { inferShapes } from '../src/ir/infer.js';
import { importOnnx } from '../src/ir/onnx-import.js';

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

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const opt = (name: string, d: number) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : d);
  const cases = opt('--cases', 10000);
  const runSeed = opt('--seed', 1);
  const seeds = fuzzSeeds();
  const counts = new Map<string, number>();
  const byMutation = new Map<string, number>();
  let slowest = { ms: 0, label: '' };
  const crashes: string[] = [];
  const t0 = performance.now();
  for (let i = 0; i < cases; i++) {
    const c = makeCase(seeds, runSeed, i);
    const r = await runFuzzCase(c);
    counts.set(r.outcome, (counts.get(r.outcome) ?? 0) + 1);
    byMutation.set(`${c.mutation} ${r.outcome === 'ok' ? 'ok' : 'failed'}`, (byMutation.get(`${c.mutation} ${r.outcome === 'ok' ? 'ok' : 'failed'}`) ?? 0) + 1);
    if (r.ms > slowest.ms) slowest = { ms: r.ms, label: `case ${i}: ${c.seed}, ${c.mutation} (${c.detail.slice(0, 80)})` };
    if (r.outcome === 'CRASH') {
      const e = r.error as Error;
      crashes.push(`case ${i}: ${c.seed} ${c.mutation} (${c.detail.slice(0, 80)}): ${e?.constructor?.name}: ${String(e?.message ?? e).slice(0, 200)}\n    ${String(e?.stack ?? '').split('\n').slice(1, 4).join('\n    ')}`);
    }
    if (process.stderr.isTTY && i % 100 === 0) process.stderr.write(`\r${i}/${cases}`);
  }
  const total = performance.now() - t0;
  console.log(`fuzzed the importer: ${cases} cases from ${seeds.length} corpus files (seed ${runSeed}); importOnnx, then inferShapes without a prober`);
  console.log('outcome counts (ok = imported and inferred; otherwise the TesseraError code; CRASH = any other exception):');
  for (const [k, v] of [...counts].sort((a, b) => b[1] - a[1])) console.log(`  ${k.padEnd(18)} ${v}`);
  console.log('by mutation:');
  for (const [k, v] of [...byMutation].sort()) console.log(`  ${k.padEnd(18)} ${v}`);
  console.log(`slowest case (measured): ${slowest.ms.toFixed(1)} ms — ${slowest.label}`);
  console.log(`total (measured): ${(total / 1000).toFixed(1)} s, mean ${(total / cases).toFixed(2)} ms per case`);
  if (crashes.length) {
    console.log(`\nnon-TesseraError failures (${crashes.length}), first 20:`);
    for (const c of crashes.slice(0, 20)) console.log(`  ${c}`);
  }
  console.log(`\ncommand: npx tsx bench/fuzz.ts${args.length ? ' ' + args.join(' ') : ''}`);
  if (crashes.length) process.exitCode = 1;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main();
}
