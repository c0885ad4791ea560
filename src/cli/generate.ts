/** `tessera generate`: argument checks and the printed result; the generation is src/generate's. */
import { TesseraError } from '../errors.js';
import type { GeneratorOptions, GenerationStats, StopReason } from '../generate/index.js';
import { peakRssBytes } from '../runtime/peak-rss.js';
import { parseBytes } from './quantize.js';

export interface GenerateCliOptions {
  promptTokens?: string;
  promptLength?: string;
  seed?: string;
  steps: string;
  memoryBudget?: string;
  maxLength?: string;
  prefillChunk?: string;
  temperature?: string;
  topK?: string;
  eos?: string;
  trace?: string;
  oneSession?: boolean;
  kv?: string;
  json?: boolean;
}

export interface GenerateResult {
  tokens: number[];
  ttftMs: number;
  tokensPerS: number;
  peakRssBytes: number;
  /** Set when the weights were streamed (a budget below them): weight bytes read per decode step, the arena, groups and sessions, time waited for reads. */
  streamed?: { readBytesPerToken: number; weightArenaBytes: number; groups: number; sessions: number; decodeWaitMs: number; readFloorTokensPerS: number | null };
}

const int = (s: string | undefined, flag: string, min: number): number | undefined => {
  if (s === undefined) return undefined;
  const v = Number(s);
  if (!Number.isSafeInteger(v) || v < min) throw new TesseraError('BAD_ARGUMENT', `${flag} '${s}': expected an integer >= ${min}`);
  return v;
};

const ids = (s: string, flag: string) =>
  s.split(',').map((t) => {
    const v = Number(t.trim());
    if (t.trim() === '' || !Number.isSafeInteger(v) || v < 0) throw new TesseraError('BAD_ARGUMENT', `${flag} '${s}': expected comma-separated token ids such as 17,4,99`);
    return v;
  });

export async function generateCommand(model: string, o: GenerateCliOptions): Promise<{ result: GenerateResult; stats: GenerationStats; stop: StopReason | null; prompt: number[] }> {
  if ((o.promptTokens === undefined) === (o.promptLength === undefined)) throw new TesseraError('BAD_ARGUMENT', 'give the prompt as --prompt-tokens 17,4,99 or as --prompt-length N (seeded ids), one of them');
  if (o.seed !== undefined && o.promptLength === undefined && o.temperature === undefined) throw new TesseraError('BAD_ARGUMENT', '--seed seeds the prompt of --prompt-length (and the sampler with --temperature)');
  const steps = int(o.steps, '--steps', 1)!;
  const promptLength = int(o.promptLength, '--prompt-length', 1);
  const seed = int(o.seed, '--seed', 0) ?? 1;
  const temperature = o.temperature === undefined ? undefined : Number(o.temperature);
  if (o.kv !== undefined && o.kv !== 'float32' && o.kv !== 'int8') throw new TesseraError('BAD_ARGUMENT', `--kv '${o.kv}': expected float32 or int8`);
  const options: GeneratorOptions = {
    memoryBudget: o.memoryBudget === undefined ? undefined : parseBytes(o.memoryBudget, '--memory-budget'),
    maxLength: int(o.maxLength, '--max-length', 2),
    prefillChunk: int(o.prefillChunk, '--prefill-chunk', 1),
    maxSteps: steps,
    oneSessionAtATime: o.oneSession,
    kv: o.kv as GeneratorOptions['kv'],
    eosTokenIds: o.eos === undefined ? undefined : ids(o.eos, '--eos'),
    sampling: { temperature, topK: int(o.topK, '--top-k', 1), seed },
  };
  const { Generator, seededPrompt } = await import('../generate/index.js');
  // the cache holds what this run needs (prompt + steps) unless the budget allows less (then refused)
  const promptLen = o.promptTokens !== undefined ? ids(o.promptTokens, '--prompt-tokens').length : promptLength!;
  const need = promptLen + steps;
  // a budget below the weights: they are streamed from the model's files (src/generate/streamed.ts)
  const streamed = options.memoryBudget !== undefined && (await import('../generate/streamed.js')).needsStreaming(model, options.memoryBudget, options.prefillChunk ?? 128);
  if (streamed && options.kv === 'int8') throw new TesseraError('UNSUPPORTED_OPTION', `--kv int8 with --memory-budget ${o.memoryBudget}: the budget is below the weights, so they are streamed, and the streamed decoder keeps a float32 cache; raise the budget or drop --kv int8`);
  const g = streamed
    ? await (await import('../generate/streamed.js')).StreamedGenerator.create(model, { ...options, memoryBudget: options.memoryBudget!, maxLength: options.maxLength ?? need, promptLength: promptLen })
    : await Generator.create(model, { ...options, maxLengthCap: Math.max(2, need) });
  try {
    let prompt: number[];
    if (o.promptTokens !== undefined) prompt = ids(o.promptTokens, '--prompt-tokens');
    else {
      if (g.signature.vocab === null) throw new TesseraError('BAD_ARGUMENT', `${model}: the logits output does not declare its vocabulary size; give --prompt-tokens`);
      prompt = seededPrompt(promptLength!, g.signature.vocab, seed);
    }
    if (prompt.length + steps - 1 > g.maxLength) throw new TesseraError('LIMIT_EXCEEDED', `a prompt of ${prompt.length} tokens and ${steps} steps need ${prompt.length + steps - 1} cache positions; the cache holds ${g.maxLength} (${g.stats.budget.why})`);
    const tokens = await g.generate(prompt, steps);
    if (o.trace) {
      const { writeFilesAtomically } = await import('../atomic.js');
      writeFilesAtomically([{ path: o.trace, bytes: `${JSON.stringify({ traceEvents: g.traceEvents(), displayTimeUnit: 'ms' })}\n` }]);
    }
    const decodeS = g.stats.decodeMs.reduce((a, b) => a + b, 0) / 1000;
    const result: GenerateResult = { tokens, ttftMs: g.stats.prefillMs, tokensPerS: g.stats.decodeMs.length ? g.stats.decodeMs.length / decodeS : 0, peakRssBytes: peakRssBytes() };
    if ('readBytesPerToken' in g.stats) {
      const s = g.stats;
      // the storage-read floor, when the host profile has a storage read bandwidth (memory.storageReadGBs)
      const { readCalibratedHost } = await import('../targets/host.js');
      const gbs = (readCalibratedHost() as { memory?: { storageReadGBs?: { value: number } } } | undefined)?.memory?.storageReadGBs?.value;
      result.streamed = { readBytesPerToken: s.readBytesPerToken, weightArenaBytes: s.weightArenaBytes, groups: s.groups, sessions: s.sessions, decodeWaitMs: s.decodeWaitMs, readFloorTokensPerS: gbs && s.readBytesPerToken ? (gbs * 1e9) / s.readBytesPerToken : null };
    }
    return { result, stats: g.stats, stop: g.done, prompt };
  } finally {
    await g.release();
  }
}

const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;

export function formatGenerate(model: string, r: Awaited<ReturnType<typeof generateCommand>>): string {
  const { result: x, stats: s } = r;
  const prefills = s.events.filter((e) => e.phase === 'prefill').length;
  return [
    `${model}: ${x.tokens.length} tokens after a prompt of ${r.prompt.length}${r.stop ? ` (stopped: ${r.stop})` : ''}`,
    `tokens: ${x.tokens.join(',')}`,
    `time to first token: ${x.ttftMs.toFixed(1)} ms (prefill, ${prefills} chunk${prefills === 1 ? '' : 's'}); decode: ${x.tokensPerS.toFixed(2)} tokens/s over ${s.decodeMs.length} steps (measured)`,
    ...(s.sessionOpenMs.length ? [`one session at a time: the decode session opened in ${s.sessionOpenMs.map((m) => m.toFixed(0)).join(', ')} ms between the first and second token`] : []),
    `peak RSS: ${mb(x.peakRssBytes)} (weights ${mb(s.weightBytes)}, KV cache ${mb(s.kvBytes)}${s.kv ? ` ${s.kv}` : ''} at max length ${s.maxLength}: ${s.budget.why})`,
    ...(x.streamed ? [`weights streamed: ${mb(x.streamed.readBytesPerToken)} read per decode step into a ${mb(x.streamed.weightArenaBytes)} arena (${x.streamed.groups} groups on ${x.streamed.sessions} engine sessions), ${x.streamed.decodeWaitMs.toFixed(0)} ms waited for reads over the decode steps (measured); ${x.streamed.readFloorTokensPerS ? `storage-read floor ${x.streamed.readFloorTokensPerS.toFixed(2)} tokens/s from the host profile's storage read bandwidth, reached ×${(x.tokensPerS / x.streamed.readFloorTokensPerS).toFixed(2)}` : 'no storage read bandwidth in the host profile for a read floor (bench/memory/stream-decode.ts measures one)'}`] : []),
    x.streamed
      ? `KV copies: each decode step copies its new key and value rows into the cache (${s.events.find((e) => e.phase === 'decode')?.kvCopyBytes ?? 0} bytes); the cache is fed as past at one fixed shape (${s.maxLength} slots, unfilled ones masked out); prefill ${s.prefillKvCopyBytes} bytes`
      : `KV copies: decode ${s.decodeKvCopyBytes} bytes per step (written in place); prefill ${s.prefillKvCopyBytes} bytes; onnxruntime-node's binding copies the bound cache back after each decode run (${mb(s.bindingCopyBackBytesPerStep)}, discarded)`,
  ].join('\n');
}

export async function predictCommand(model: string, o: { target: string; maxLength?: string; prefillChunk?: string; orderBudgetMs?: string }) {
  const { predictDecoder, roofline, ANCHORS, LLAMA_1B_INT4 } = await import('../generate/predict.js');
  const { loadTarget } = await import('../targets/index.js');
  const maxLength = int(o.maxLength, '--max-length', 2) ?? 1024;
  const prediction = await predictDecoder(model, o.target, { maxLength, prefillChunk: int(o.prefillChunk, '--prefill-chunk', 1), orderBudgetMs: o.orderBudgetMs === undefined ? undefined : Number(o.orderBudgetMs) });
  // the 1B INT4 reference point: the same arithmetic for a model of that shape (w4a16: float16 compute)
  const int4 = { shape: LLAMA_1B_INT4, roofline: roofline(await loadTarget(o.target), LLAMA_1B_INT4, maxLength, 'float16') };
  return { prediction, int4, anchors: ANCHORS };
}

export function formatPrediction(r: Awaited<ReturnType<typeof predictCommand>>): string {
  const { prediction: p, int4 } = r;
  const procs = (ph: typeof p.decode) => ph.processors.filter((x) => x.nodes > 0).map((x) => `${x.id} ${x.nodes} nodes ${(x.predictedUs / 1000).toFixed(2)} ms`).join(', ');
  return [
    `decoder on ${p.target} (predicted by the cost model from the target profile, not measured):`,
    `  decode plan (1 token, KV cache of ${p.maxLength} in place): ${(p.decode.latencyUs / 1000).toFixed(2)} ms a token = ${p.decode.tokensPerS.toFixed(1)} tokens/s* [${procs(p.decode)}]`,
    `  prefill plan (chunks of ${p.prefillChunk}): ${(p.prefill.latencyUs / 1000).toFixed(2)} ms a chunk = ${p.prefill.tokensPerS.toFixed(1)} tokens/s* [${procs(p.prefill)}]`,
    `  roofline of this model:`,
    ...p.roofline.arithmetic.map((a) => `    ${a}`),
    `${int4.shape.name} on ${p.target}, the same arithmetic (predicted, not measured; no plan: there is no such model file here):`,
    ...int4.roofline.arithmetic.map((a) => `    ${a}`),
    `published figures, measured by others (beside the predictions above, not by Tessera):`,
    ...r.anchors.map((a) => `    ${a.what}: decode ${a.decode} tokens/s${a.prefill ? `, prefill ${a.prefill} tokens/s` : ''}${a.note ? ` (${a.note})` : ''}`),
    `  * predicted by the cost model, not measured`,
  ].join('\n');
}
