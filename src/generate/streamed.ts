/**
 * Decode under a memory budget smaller than the weights: the weights streamed from the model's files
 * through the block executor (runtime/stream.ts) — each step reads every layer's weights into the
 * weight arena, the next layer's while one runs — and the KV cache held by Tessera within the budget.
 *
 *   const g = await StreamedGenerator.create('model.onnx', { memoryBudget: 256e6, maxLength: 96 });
 *   const tokens = await g.generate(prompt, 32);
 *   g.stats.readBytesPerToken                 // weight bytes read for one decode step
 *
 * Two streamed models share one weight arena: prefill at the prompt's shapes (opened for each prompt,
 * released after it; its reads overlapped with compute when that pays, as prefetch 'auto' decides from
 * the storage's read bandwidth and the predicted compute: compiler/stream.ts), and decode at one fixed
 * shape for every step: past of max-length slots, the new
 * token's attention mask at index max length. Slots not yet filled are masked out (attention mask 0)
 * and hold zeros, so they add exact zeros to attention; position ids give the rotary positions. Each
 * step's new key and value rows (present, last row) are copied into their slots of the cache. The
 * decoder must take position_ids (the Optimum signature's optional input): without it a model derives
 * positions from the past length, which the fixed shape hides.
 *
 * Budget: the KV cache (max length × 2 × layers × kv heads × head size × 4 bytes) counts twice — the
 * cache, and the present outputs of a decode run, held until its end — and the rest is the streamed
 * models' budget (weights' share and activations, compiler/stream.ts). Max length: given, or at most
 * half the budget's worth of cache.
 */
import { resolve } from 'node:path';
import { Tensor } from 'onnxruntime-node';
import { BudgetInfeasible, TesseraError } from '../errors.js';
import { formatBytes } from '../format.js';
import { decodeModel, readModelFile } from '../ir/onnx-import.js';
import { StreamedModel } from '../runtime/stream.js';
import { modelWeightBytes, weightsFit, type KvBudget } from './kv-budget.js';
import { makeSampler, type Sampler, type SamplingOptions } from './sampling.js';
import { decoderSignature, type DecoderSignature } from './signature.js';
import type { GenerationEvent, GenerationStats, StopReason } from './generator.js';

export interface StreamedGeneratorOptions {
  /** Bytes for the weights' arena, the KV cache and working memory (the engine floor comes on top). */
  memoryBudget: number;
  /** Cache length in tokens (prompt + generated). Default: as many as a quarter of the budget holds (twice counted), capped at maxLengthCap. */
  maxLength?: number;
  maxLengthCap?: number;
  eosTokenIds?: readonly number[];
  maxSteps?: number;
  sampling?: SamplingOptions;
  /** The prompt's length when known: its prefill is planned at create (its budget checked there, and not in the time to first token). */
  promptLength?: number;
}

export interface StreamedStats extends GenerationStats {
  /** Weight bytes read from the model's files for the last decode step (the streamed weights, and the embedding rows). */
  readBytesPerToken: number;
  /** Time the decode steps waited for weights (ms, summed). */
  decodeWaitMs: number;
  weightArenaBytes: number;
  groups: number;
  sessions: number;
}

const int64 = (v: readonly number[], dims: number[]) => new Tensor('int64', BigInt64Array.from(v, (x) => BigInt(x)), dims);

export class StreamedGenerator {
  readonly stats: StreamedStats;
  private readonly cache: Float32Array[];
  private readonly sample: Sampler;
  private position = 0;
  private pending: number | null = null;
  private steps = 0;
  private stopReason: StopReason | null = null;
  private readonly created = performance.now();

  private constructor(
    readonly path: string,
    readonly signature: DecoderSignature,
    readonly maxLength: number,
    private readonly decode: StreamedModel,
    private readonly budgetBytes: number,
    kvBytes: number,
    private readonly options: StreamedGeneratorOptions,
    budget: KvBudget,
    weightBytes: number,
    private prefillModel: StreamedModel | null,
  ) {
    const { layers, kvHeads, headDim } = signature;
    this.cache = Array.from({ length: 2 * layers }, () => new Float32Array(kvHeads * maxLength * headDim));
    this.sample = makeSampler(options.sampling);
    this.stats = {
      maxLength, kv: 'float32', kvBytes, weightBytes, budget, prefillMs: 0, decodeMs: [], prefillKvCopyBytes: 0, decodeKvCopyBytes: 0,
      bindingCopyBackBytesPerStep: 0, sessionOpenMs: [], events: [], readBytesPerToken: 0, decodeWaitMs: 0,
      weightArenaBytes: decode.arena.bytes, groups: decode.groups.length, sessions: decode.sessionCount,
    };
  }

  static async create(modelPath: string, options: StreamedGeneratorOptions): Promise<StreamedGenerator> {
    const path = resolve(modelPath);
    const proto = decodeModel(readModelFile(path), modelPath);
    const sig = decoderSignature(proto, modelPath);
    if (!sig.hasPositionIds) throw new TesseraError('UNSUPPORTED_OPTION', `${modelPath}: decode with streamed weights needs a decoder that takes position_ids (it runs one fixed shape, the cache's unfilled slots masked out)`);
    const B = options.memoryBudget;
    if (!(B > 0)) throw new TesseraError('BAD_ARGUMENT', `memory budget ${B}: expected a positive number of bytes`);
    const bytesPerPosition = 2 * sig.layers * sig.kvHeads * sig.headDim * 4;
    const cap = options.maxLengthCap ?? 4096;
    const maxLength = options.maxLength ?? Math.min(cap, Math.floor(B / 4 / bytesPerPosition));
    if (!Number.isSafeInteger(maxLength) || maxLength < 2) throw new TesseraError('LIMIT_EXCEEDED', `${modelPath}: a memory budget of ${formatBytes(B)} leaves room for ${maxLength} cache positions at ${formatBytes(bytesPerPosition)} each; at least 2 needed`);
    const kvBytes = maxLength * bytesPerPosition;
    const streamBudget = B - 2 * kvBytes;
    const why = `memory budget ${formatBytes(B)}: KV cache ${formatBytes(kvBytes)} at max length ${maxLength}${options.maxLength === undefined ? ' (a quarter of the budget, counted twice)' : ''}, counted twice (the cache and a decode run's present outputs); ${formatBytes(Math.max(0, streamBudget))} left for the streamed weights and activations`;
    // decode first: its activations are the smaller, so its weight share the larger; prefill's is cut within it
    let smallest = 0;
    const refused = (err: unknown): null => {
      if (!(err instanceof BudgetInfeasible)) throw err;
      smallest = Math.max(smallest, err.smallestBytes);
      return null;
    };
    const room = Math.max(1, streamBudget);
    const decode = await StreamedModel.open(path, { budgetBytes: room, inputShapes: StreamedGenerator.shapes(sig, 1, maxLength) }).catch(refused);
    const prefill = options.promptLength === undefined ? null : await StreamedModel.open(path, { budgetBytes: room, inputShapes: StreamedGenerator.shapes(sig, options.promptLength, 0), ...(decode ? { arena: decode.arena, weightShareBytes: decode.arena.bytes } : {}) }).catch(refused);
    if (!decode || !prefill && options.promptLength !== undefined) {
      await decode?.release();
      await prefill?.release();
      const total = smallest + 2 * kvBytes;
      throw new TesseraError('BUDGET_INFEASIBLE', `${modelPath}: ${why}, which cannot hold one node's streamed weights with the activations of ${decode ? `a prefill of ${options.promptLength} tokens` : 'a decode step'}; the smallest feasible budget at this max length is ${formatBytes(total)} (${total} bytes)`);
    }
    const weightBytes = modelWeightBytes(proto);
    const budget: KvBudget = { maxLength, budgetBytes: B, bytesPerPosition, workingBytes: 0, why: `${why}; weights (${formatBytes(weightBytes)}) streamed from the model's files through a ${formatBytes(decode.arena.bytes)} weight arena` };
    return new StreamedGenerator(path, sig, maxLength, decode, streamBudget, kvBytes, options, budget, weightBytes, prefill);
  }

  /** Input shapes of a run of `n` new tokens after a past of `past` slots. */
  private static shapes(sig: DecoderSignature, n: number, past: number): Record<string, number[]> {
    const s: Record<string, number[]> = { input_ids: [1, n], attention_mask: [1, past + n], position_ids: [1, n] };
    for (let l = 0; l < sig.layers; l++) for (const kv of ['key', 'value']) s[`past_key_values.${l}.${kv}`] = [1, sig.kvHeads, past, sig.headDim];
    return s;
  }

  get done(): StopReason | null {
    return this.stopReason;
  }

  get length(): number {
    return this.position;
  }

  /** Copies rows [from, from + n) of each layer's present (rows `src`… of a tensor of `total` rows) into the cache's slots. */
  private keep(out: Record<string, Tensor>, src: number, total: number, from: number, n: number): number {
    const { layers, kvHeads: H, headDim: D } = this.signature;
    let bytes = 0;
    for (let l = 0; l < layers; l++) {
      ['key', 'value'].forEach((kv, j) => {
        const p = out[`present.${l}.${kv}`].data as Float32Array;
        const c = this.cache[2 * l + j];
        for (let h = 0; h < H; h++) c.set(p.subarray((h * total + src) * D, (h * total + src + n) * D), (h * this.maxLength + from) * D);
        bytes += H * n * D * 4;
      });
    }
    return bytes;
  }

  private emit(logits: Float32Array): number {
    const vocab = this.signature.vocab ?? logits.length;
    const token = this.sample(logits.subarray(logits.length - vocab));
    this.pending = token;
    this.steps++;
    if (this.options.eosTokenIds?.includes(token)) this.stopReason = 'eos';
    else if (this.options.maxSteps !== undefined && this.steps >= this.options.maxSteps) this.stopReason = 'max-steps';
    else if (this.position >= this.maxLength) this.stopReason = 'max-length';
    return token;
  }

  /** Runs the prompt (a streamed model at its shapes, sharing the weight arena, released after); returns the first generated token. */
  async prefill(tokens: readonly number[]): Promise<number> {
    if (this.position !== 0) throw new TesseraError('BAD_ARGUMENT', 'prefill: the cache is not empty');
    if (tokens.length === 0 || tokens.length >= this.maxLength) throw new TesseraError('LIMIT_EXCEEDED', `prefill: a prompt of ${tokens.length} tokens must be non-empty and leave room in a cache of max length ${this.maxLength} (${this.stats.budget.why})`);
    const n = tokens.length;
    const t0 = performance.now();
    const planned = this.prefillModel && this.options.promptLength === n ? this.prefillModel : null;
    this.prefillModel = null;
    const model = planned ?? (await StreamedModel.open(this.path, { budgetBytes: this.budgetBytes, inputShapes: StreamedGenerator.shapes(this.signature, n, 0), arena: this.decode.arena, weightShareBytes: this.decode.arena.bytes }));
    try {
      const feeds: Record<string, Tensor> = { input_ids: int64(tokens, [1, n]), attention_mask: int64(tokens.map(() => 1), [1, n]), position_ids: int64(tokens.map((_, i) => i), [1, n]) };
      for (let l = 0; l < this.signature.layers; l++) for (const kv of ['key', 'value']) feeds[`past_key_values.${l}.${kv}`] = new Tensor('float32', new Float32Array(0), [1, this.signature.kvHeads, 0, this.signature.headDim]);
      const out = await model.run(feeds);
      const copied = this.keep(out, 0, n, 0, n);
      this.position = n;
      const token = this.emit(out.logits.data as Float32Array);
      const ms = performance.now() - t0;
      this.stats.prefillMs = ms;
      this.stats.prefillKvCopyBytes = copied;
      this.stats.events.push({ phase: 'prefill', startMs: t0 - this.created, position: 0, tokens: n, ms, kvCopyBytes: copied });
      return token;
    } finally {
      await model.release();
    }
  }

  /** One decode step at the fixed shape: the last token at its position, the cache's filled slots unmasked. */
  async next(): Promise<number> {
    if (this.pending === null) throw new TesseraError('BAD_ARGUMENT', 'next: call prefill first');
    if (this.stopReason) throw new TesseraError('BAD_ARGUMENT', `next: generation has stopped (${this.stopReason})`);
    const p = this.position, M = this.maxLength;
    const t0 = performance.now();
    const mask = new Array<number>(M + 1).fill(0);
    for (let i = 0; i < p; i++) mask[i] = 1;
    mask[M] = 1;
    const feeds: Record<string, Tensor> = { input_ids: int64([this.pending], [1, 1]), attention_mask: int64(mask, [1, M + 1]), position_ids: int64([p], [1, 1]) };
    const { layers, kvHeads, headDim } = this.signature;
    for (let l = 0; l < layers; l++) ['key', 'value'].forEach((kv, j) => (feeds[`past_key_values.${l}.${kv}`] = new Tensor('float32', this.cache[2 * l + j], [1, kvHeads, M, headDim])));
    const before = { read: this.decode.stats.readBytes, wait: this.decode.stats.waitMs };
    const out = await this.decode.run(feeds);
    const copied = this.keep(out, M, M + 1, p, 1);
    this.position = p + 1;
    const token = this.emit(out.logits.data as Float32Array);
    const ms = performance.now() - t0;
    this.stats.readBytesPerToken = this.decode.stats.readBytes - before.read;
    this.stats.decodeWaitMs += this.decode.stats.waitMs - before.wait;
    this.stats.decodeMs.push(ms);
    this.stats.events.push({ phase: 'decode', startMs: t0 - this.created, position: p, tokens: 1, ms, kvCopyBytes: copied } satisfies GenerationEvent);
    return token;
  }

  async generate(prompt: readonly number[], steps: number): Promise<number[]> {
    const out = [await this.prefill(prompt)];
    while (out.length < steps && !this.stopReason) out.push(await this.next());
    return out;
  }

  traceEvents(): object[] {
    return this.stats.events.map((e) => ({
      name: e.phase === 'prefill' ? `prefill ${e.tokens} tokens at ${e.position} (weights streamed)` : `decode at ${e.position} (weights streamed)`,
      cat: e.phase, ph: 'X', pid: 1, tid: e.phase === 'prefill' ? 1 : 2, ts: Math.round(e.startMs * 1000), dur: Math.max(1, Math.round(e.ms * 1000)),
      args: { position: e.position, tokens: e.tokens, kvCopyBytes: e.kvCopyBytes },
    }));
  }

  async release(): Promise<void> {
    await this.prefillModel?.release();
    await this.decode.release();
  }
}

/** Whether `tessera generate` must stream the model's weights under `memoryBudget`: they do not fit it resident beside the working memory (kv-budget.ts). */
export function needsStreaming(modelPath: string, memoryBudget: number, prefillChunk: number): boolean {
  const proto = decodeModel(readModelFile(resolve(modelPath)), modelPath);
  return !weightsFit(decoderSignature(proto, modelPath), modelWeightBytes(proto), memoryBudget, prefillChunk);
}
