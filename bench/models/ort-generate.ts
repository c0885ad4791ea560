/**
 * The onnxruntime-node reference for decoders with the Hugging Face Optimum signature (input_ids,
 * attention_mask, optional position_ids, past_key_values.N.key/.value → logits, present.N.key/.value):
 * greedy generation step by step with onnxruntime's own past/present handling — each step's present
 * tensors are fed back as the next step's past — returning the tokens and each step's logits. Batch 1.
 * Used by tests and benchmarks as the reference a Tessera generator must match.
 *
 *   npx tsx bench/models/ort-generate.ts <model.onnx> [--prompt-length 64] [--steps 32] [--seed 1] [--load-only]
 * prints session create time, time to first token, decode tokens/s and the process's peak RSS.
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as ort from 'onnxruntime-node';
import { TesseraError } from '../../src/errors.js';
import { peakRssBytes } from '../../src/runtime/peak-rss.js';
import type { DecoderSignature } from '../../src/generate/signature.js';

/** What a decoder's signature says about its KV cache (the library's type), read here from the session's input metadata. */
export type { DecoderSignature };

export function decoderSignature(session: ort.InferenceSession): DecoderSignature {
  const meta = new Map(session.inputMetadata.map((m) => [m.name, m]));
  const dims = (name: string, of: readonly ort.InferenceSession.ValueMetadata[]) => {
    const m = of.find((x) => x.name === name);
    return m?.isTensor ? m.shape : undefined;
  };
  let layers = 0;
  while (meta.has(`past_key_values.${layers}.key`)) layers++;
  const kv = dims('past_key_values.0.key', session.inputMetadata);
  const logits = dims('logits', session.outputMetadata);
  if (!meta.has('input_ids') || !meta.has('attention_mask') || !session.outputNames.includes('logits') || layers === 0 || !kv) {
    throw new TesseraError('BAD_MODEL', `not a decoder with the Optimum signature: inputs ${session.inputNames.join(', ')}; outputs ${session.outputNames.join(', ')}`);
  }
  const [kvHeads, headDim, vocab] = [kv[1], kv[3], logits?.[2]];
  if (typeof kvHeads !== 'number' || typeof headDim !== 'number') {
    throw new TesseraError('BAD_MODEL', `the decoder's KV heads and head size must be fixed dims (past_key_values.0.key is [${kv}])`);
  }
  return { layers, kvHeads, headDim, vocab: typeof vocab === 'number' ? vocab : null, hasPositionIds: meta.has('position_ids') };
}

const int64 = (values: readonly number[]) => new ort.Tensor('int64', BigInt64Array.from(values, (v) => BigInt(v)), [1, values.length]);

export interface ForwardResult {
  /** [sequence, vocab], row-major. */
  logits: Float32Array;
  vocab: number;
  present: Record<string, ort.Tensor>;
  ms: number;
}

/**
 * One run: `tokens` after a past of `past` (present tensors of an earlier run; none = prefill), at
 * positions `positions` (default past length + i).
 */
export async function ortForward(session: ort.InferenceSession, tokens: readonly number[], options: { past?: Record<string, ort.Tensor>; positions?: readonly number[] } = {}): Promise<ForwardResult> {
  const sig = decoderSignature(session);
  const pastLen = options.past ? (options.past['present.0.key'].dims[2] as number) : 0;
  const feeds: Record<string, ort.Tensor> = {
    input_ids: int64(tokens),
    attention_mask: int64(new Array<number>(pastLen + tokens.length).fill(1)),
  };
  if (sig.hasPositionIds) feeds.position_ids = int64(options.positions ?? tokens.map((_, i) => pastLen + i));
  for (let l = 0; l < sig.layers; l++) {
    for (const kv of ['key', 'value']) {
      feeds[`past_key_values.${l}.${kv}`] = options.past?.[`present.${l}.${kv}`] ?? new ort.Tensor('float32', new Float32Array(0), [1, sig.kvHeads, 0, sig.headDim]);
    }
  }
  const t0 = performance.now();
  const out = await session.run(feeds);
  const ms = performance.now() - t0;
  const present: Record<string, ort.Tensor> = {};
  for (const [k, v] of Object.entries(out)) if (k.startsWith('present.')) present[k] = v;
  return { logits: out.logits.data as Float32Array, vocab: out.logits.dims[2], present, ms };
}

export function argmax(row: Float32Array): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i] > row[best]) best = i;
  return best;
}

export interface OrtGeneration {
  prompt: number[];
  /** The `steps` generated tokens: the first from the prefill's last logits, each next from a decode run. */
  tokens: number[];
  /** logits[i]: the vocabulary row that chose tokens[i] (a copy). */
  logits: Float32Array[];
  /** Time of the prefill run (time to first token, without session creation). */
  prefillMs: number;
  /** Time of each decode run (steps − 1 of them). */
  decodeMs: number[];
}

/** Greedy generation of `steps` tokens after `prompt`, present fed back as past. `positionOffset` shifts every position id. */
export async function ortGreedy(session: ort.InferenceSession, prompt: readonly number[], steps: number, options: { positionOffset?: number } = {}): Promise<OrtGeneration> {
  const shift = options.positionOffset ?? 0;
  const lastRow = (r: ForwardResult) => r.logits.slice(r.logits.length - r.vocab);
  const first = await ortForward(session, prompt, { positions: prompt.map((_, i) => shift + i) });
  const logits = [lastRow(first)];
  const tokens = [argmax(logits[0])];
  const decodeMs: number[] = [];
  let past = first.present;
  for (let s = 1; s < steps; s++) {
    const position = shift + prompt.length + s - 1;
    const r = await ortForward(session, [tokens[s - 1]], { past, positions: [position] });
    decodeMs.push(r.ms);
    logits.push(lastRow(r));
    tokens.push(argmax(logits[s]));
    past = r.present;
  }
  return { prompt: [...prompt], tokens, logits, prefillMs: first.ms, decodeMs };
}

/** `n` seeded token ids below `vocab` (a reproducible prompt): the library's, so a prompt given by length is the same everywhere. */
export { seededPrompt } from '../../src/generate/sampling.js';
import { seededPrompt } from '../../src/generate/sampling.js';

async function main(argv: string[]): Promise<void> {
  const model = argv.find((a, i) => !a.startsWith('--') && !argv[i - 1]?.match(/^--(prompt-length|steps|seed)$/));
  if (!model) throw new TesseraError('BAD_ARGUMENT', 'usage: npx tsx bench/models/ort-generate.ts <model.onnx> [--prompt-length 64] [--steps 32] [--seed 1] [--load-only]');
  const opt = (name: string, def: number) => (argv.includes(name) ? Number(argv[argv.indexOf(name) + 1]) : def);
  const promptLength = opt('--prompt-length', 64), steps = opt('--steps', 32), seed = opt('--seed', 1);
  const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;
  const rss = () => mb(peakRssBytes());
  console.log(`command: npx tsx bench/models/ort-generate.ts ${argv.join(' ')}`);
  const t0 = performance.now();
  const session = await ort.InferenceSession.create(model);
  console.log(`onnxruntime-node ${ort.env.versions.common}: session created in ${(performance.now() - t0).toFixed(0)} ms; peak RSS so far ${rss()} (measured)`);
  if (!argv.includes('--load-only')) {
    const { vocab } = decoderSignature(session);
    if (vocab === null) throw new TesseraError('BAD_MODEL', `${model}: the logits output does not declare its vocabulary size, needed for a seeded prompt`);
    const prompt = seededPrompt(promptLength, vocab, seed);
    const g = await ortGreedy(session, prompt, steps);
    const decodeS = g.decodeMs.reduce((a, b) => a + b, 0) / 1000;
    console.log(`prompt ${promptLength} tokens (seed ${seed}): time to first token ${g.prefillMs.toFixed(1)} ms (prefill run only)`);
    console.log(`decode: ${g.decodeMs.length} steps, ${(g.decodeMs.length / decodeS).toFixed(2)} tokens/s (measured, provisional on a shared machine)`);
    console.log(`tokens: ${g.tokens.join(',')}`);
  }
  console.log(`peak RSS of this process: ${rss()} (measured)`);
  await session.release();
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main(process.argv.slice(2)).catch((err) => {
    console.error(err instanceof TesseraError ? `error [${err.code}]: ${err.message}` : err);
    process.exit(err instanceof TesseraError ? 2 : 3);
  });
}
