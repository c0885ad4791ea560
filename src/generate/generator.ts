/**
 * Stateful generation over a decoder with the Optimum past/present signature (signature.ts):
 *
 *   const g = await Generator.create('model.onnx', { memoryBudget: 2e9 });
 *   let t = await g.prefill([17, 4, 99]);   // the first generated token
 *   while (!g.done) t = await g.next();      // one decode step each
 *
 * The KV cache is Tessera's: one buffer per layer (its key and value halves), each half
 * [1, kv_heads, max_length, head_dim] float32, allocated once. Two onnxruntime sessions share it:
 * - prefill runs the model as exported, in chunks of `prefillChunk` tokens; each chunk's new rows are
 *   written into the cache's slots (the first chunk reads an empty past; a later one reads the cache's
 *   filled rows, gathered — counted in `stats.prefillKvCopyBytes`);
 * - decode runs the in-place graph (kv-rewrite.ts): a layer's cache input and its present output are
 *   bound to the same buffer, so the step's new rows are written into their slots and nothing of the cache is copied
 *   (`stats.decodeKvCopyBytes` stays 0). onnxruntime-node's binding copies every fetched output back
 *   into a new JavaScript buffer after the run, the bound ones included; that copy (of the bound
 *   cache, discarded) is outside the engine and counted apart in `stats.bindingCopyBackBytesPerStep`.
 * With `kv: 'int8'` the cache is stored as int8 with a float32 scale per (head, row) — about a quarter of
 * the float32 bytes (head size + 4 bytes a row instead of 4 × head size): decode quantizes its new rows and
 * dequantizes the cache inside the graph (kv-rewrite.ts); prefill's rows are quantized here, the same way
 * (round half to even), and a later prefill chunk reads the filled rows dequantized.
 * Before the sessions open, the graphs are rewritten where onnxruntime would do needless work, each
 * rewrite checked against onnxruntime on the original graph and each with an option to turn it off:
 * int4 tables it would dequantize whole every run read quantized (int4-rewrite.ts, both graphs), the
 * key Transpose folded into attention's MatMul (transpose-rewrite.ts, both), and prefill's LM head over
 * the last position only (prefill-rewrite.ts).
 * Decode's session may run with its own threads (`decodeThreads`, `decodeSpinning`): batch-1 decode
 * streams weights through ~500 small ops a token, where a pool's hand-offs cost as much as its second core
 * gives on a small machine.
 * The two sessions are held together by default (each with its own prepacked weights), or one at a
 * time (`oneSessionAtATime`: decode's opens after the first token, prefill's is released). The max
 * length is given, or chosen from the memory budget (kv-budget.ts); a prompt that does not fit is
 * refused. `stats.events` is the trace: one event per prefill chunk and decode step, with the KV bytes
 * copied for it.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { clone, toBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema } from 'onnx-buf';
import type * as ortTypes from 'onnxruntime-node';
import { asTesseraError, TesseraError } from '../errors.js';
import { decodeModel, readModelFile } from '../ir/onnx-import.js';
import { roundHalfEven } from '../passes/quantize-math.js';
import { fuseInt4Tables } from './int4-rewrite.js';
import { lastRowLogits } from './prefill-rewrite.js';
import { transposeAfterUnsqueeze } from './transpose-rewrite.js';
import { chooseMaxLength, modelWeightBytes, type KvBudget } from './kv-budget.js';
import { KV_INDEX, KV_INT8_MAX, KV_MIN_SCALE, kvInput, kvScaleInput, kvScaleOutput, rewriteForInPlaceKv, type KvStorage } from './kv-rewrite.js';
import { makeSampler, type Sampler, type SamplingOptions } from './sampling.js';
import { decoderSignature, type DecoderSignature } from './signature.js';

export interface GeneratorOptions {
  /** Cache length in tokens (prompt + generated). Default: chosen from `memoryBudget`. */
  maxLength?: number;
  /** Bytes for weights, KV cache and working memory; default: half the free memory. */
  memoryBudget?: number;
  /** No more than this many slots even when the budget allows more (default 4096). */
  maxLengthCap?: number;
  /** Tokens per prefill run (default 128): a longer prompt is prefilled in chunks of this length. */
  prefillChunk?: number;
  /** Generation stops after emitting one of these. */
  eosTokenIds?: readonly number[];
  /** Generation stops after this many tokens (the prefill's first included). Default: until the cache is full. */
  maxSteps?: number;
  sampling?: SamplingOptions;
  /**
   * Let onnxruntime prepack MatMul weights (default true): faster prefill and decode, but each of the two
   * sessions holds its own packed copy; false keeps one memory-mapped copy of external weights (pages
   * shared, though counted in RSS once per session).
   */
  prepack?: boolean;
  /** Extra onnxruntime session config entries, e.g. { 'session.qdq_matmulnbits_accuracy_level': '0' } (float compute in int4 MatMuls). */
  ortConfig?: Record<string, string>;
  /**
   * Hold one onnxruntime session at a time (default false): prefill's is released before decode's is
   * opened (and the other way on the next prompt), so only one copy of the prepacked weights is held;
   * the opening happens between the first and the second token (stats.sessionOpenMs).
   */
  oneSessionAtATime?: boolean;
  /** onnxruntime threads within an op (default: onnxruntime's). */
  intraOpThreads?: number;
  /**
   * onnxruntime threads within an op in the decode session. Default: intraOpThreads when given, else
   * onnxruntime's (one a core). On the 2-core host of 2026-12-08 two threads decoded 100m float32 at
   * 56–68 tokens/s against one thread's 42–55 (alternating rounds, quiet); an earlier VM (508 MB
   * last-level cache) had favoured one.
   */
  decodeThreads?: number;
  /**
   * Let the decode session's threads spin-wait between ops within a step (default true, as onnxruntime's own
   * default; they stop when the step's run ends, `session.force_spinning_stop`, leaving the cores to JavaScript).
   */
  decodeSpinning?: boolean;
  /**
   * Let the prefill session's threads spin-wait between ops within a run (default true, as onnxruntime's own
   * default), with onnxruntime's `session.force_spinning_stop` so that they stop when the run ends and leave
   * the cores to decode. False under other load: there a spinning pool took 1.5–2.5× longer (A/B, alternating).
   */
  prefillSpinning?: boolean;
  /** Other onnxruntime session options for both sessions (enableProfiling, graphOptimizationLevel, …); the ones above win. */
  sessionOptions?: ortTypes.InferenceSession.SessionOptions;
  /**
   * Read block-quantized int4 tables that onnxruntime would dequantize whole every run — a tied embedding's
   * Gather and its LM head Gemm — quantized instead (int4-rewrite.ts; default true).
   */
  fuseInt4?: boolean;
  /**
   * Reorder `Transpose(keys) → Unsqueeze → MatMul` to `Unsqueeze → Transpose → MatMul`, which onnxruntime
   * folds into the MatMul, instead of transposing the whole cache each layer and step (transpose-rewrite.ts; default true).
   */
  foldKeyTranspose?: boolean;
  /** Prefill computes the LM head for the prompt's last position only (prefill-rewrite.ts; default true). */
  prefillLastRowOnly?: boolean;
  /** How the KV cache is stored (default float32): 'int8' keeps int8 rows with a float32 scale per (head, row). */
  kv?: KvStorage;
}

export type StopReason = 'eos' | 'max-steps' | 'max-length';

/** One run of the trace: a prefill chunk or a decode step. */
export interface GenerationEvent {
  phase: 'prefill' | 'decode';
  /** Start, in ms since the generator was created. */
  startMs: number;
  /** First position written, tokens run. */
  position: number;
  tokens: number;
  ms: number;
  /** Bytes of the KV cache Tessera copied for this run. */
  kvCopyBytes: number;
}

export interface GenerationStats {
  maxLength: number;
  kv: KvStorage;
  /** Bytes of the cache's buffers (rows and, for int8, their scales), all layers. */
  kvBytes: number;
  weightBytes: number;
  budget: KvBudget;
  prefillMs: number;
  decodeMs: number[];
  prefillKvCopyBytes: number;
  /** Always 0: decode writes the new rows in place. */
  decodeKvCopyBytes: number;
  bindingCopyBackBytesPerStep: number;
  /** Time to open a session, each time one was opened after create (oneSessionAtATime). */
  sessionOpenMs: number[];
  events: GenerationEvent[];
}

type Ort = typeof ortTypes;
type Phase = 'prefill' | 'decode';

/** One layer's cache: its key and value rows, [1, kv_heads, max_length, head_dim]; with an int8 cache, each row's scale [1, kv_heads, max_length, 1]. */
interface LayerCache {
  key: Float32Array | Int8Array;
  value: Float32Array | Int8Array;
  scale?: { key: Float32Array; value: Float32Array };
}

const fround = Math.fround;
const MIN_SCALE = fround(KV_MIN_SCALE);

/** Quantizes one row (symmetric int8, scale = max |x| / 127 in float32) into `q` at `at`; returns the scale. */
function quantizeRow(x: Float32Array, q: Int8Array, at: number): number {
  let amax = 0;
  for (let i = 0; i < x.length; i++) amax = Math.max(amax, Math.abs(x[i]));
  const scale = Math.max(fround(amax / KV_INT8_MAX), MIN_SCALE);
  for (let i = 0; i < x.length; i++) q[at + i] = Math.max(-128, Math.min(127, roundHalfEven(fround(x[i] / scale))));
  return scale;
}

/** The cache bytes of one position, all layers: for the memory budget. */
function kvPosition(sig: DecoderSignature, kv: KvStorage): { bytes: number; what: string } {
  const { layers, kvHeads: H, headDim: D } = sig;
  return kv === 'int8'
    ? { bytes: 2 * layers * H * (D + 4), what: `${layers} layers × key and value × ${H} heads × (${D} int8 + a 4-byte scale)` }
    : { bytes: 2 * layers * H * D * 4, what: `${layers} layers × key and value × ${H} heads × ${D} × 4 bytes` };
}

/** 'session.a_b': 'v' → { session: { a_b: 'v' } } (onnxruntime-node's `extra` takes config entries as a tree split at dots). */
function configTree(entries: Record<string, string>): Record<string, Record<string, string>> {
  const tree: Record<string, Record<string, string>> = {};
  for (const [k, v] of Object.entries(entries)) {
    const dot = k.indexOf('.');
    (tree[k.slice(0, dot)] ??= {})[k.slice(dot + 1)] = v;
  }
  return tree;
}

export class Generator {
  readonly signature: DecoderSignature;
  readonly maxLength: number;
  /** Per layer: key then value, each [1, kv_heads, max_length, head_dim] (and their scales when int8), in one buffer. */
  private readonly cache: LayerCache[];
  readonly kv: KvStorage;
  private position = 0;
  private pending: number | null = null;
  private steps = 0;
  private stopReason: StopReason | null = null;
  private logits: Float32Array | null = null;
  private readonly sample: Sampler;
  private readonly eos: Set<number>;
  readonly stats: GenerationStats;
  // decode feeds, allocated once and refilled each step
  private readonly mask: BigInt64Array;
  private readonly decodeFeeds: Record<string, ortTypes.Tensor>;
  private readonly decodeFetches: Record<string, ortTypes.Tensor | null>;
  private readonly ids = new BigInt64Array(1);
  private readonly pos = new BigInt64Array(1);
  private readonly index: BigInt64Array;
  private readonly created = performance.now();

  private constructor(
    private readonly ort: Ort,
    private readonly open: Record<Phase, () => Promise<ortTypes.InferenceSession>>,
    private readonly sessions: Partial<Record<Phase, ortTypes.InferenceSession>>,
    sig: DecoderSignature,
    maxLength: number,
    budget: KvBudget,
    weightBytes: number,
    private readonly options: GeneratorOptions,
    decodeInputs: ReadonlySet<string>,
  ) {
    this.signature = sig;
    this.maxLength = maxLength;
    this.kv = options.kv ?? 'float32';
    const half = sig.kvHeads * maxLength * sig.headDim, rows = sig.kvHeads * maxLength;
    this.cache = Array.from({ length: sig.layers }, (): LayerCache => {
      if (this.kv === 'float32') {
        const buffer = new ArrayBuffer(2 * half * 4); // one buffer per layer
        return { key: new Float32Array(buffer, 0, half), value: new Float32Array(buffer, half * 4, half) };
      }
      const scales = Math.ceil((2 * half) / 4) * 4;
      const buffer = new ArrayBuffer(scales + 2 * rows * 4);
      return {
        key: new Int8Array(buffer, 0, half), value: new Int8Array(buffer, half, half),
        scale: { key: new Float32Array(buffer, scales, rows), value: new Float32Array(buffer, scales + rows * 4, rows) },
      };
    });
    const kvBytes = this.cache.reduce((a, c) => a + c.key.buffer.byteLength, 0);
    this.sample = makeSampler(options.sampling);
    this.eos = new Set(options.eosTokenIds ?? []);
    this.stats = {
      maxLength, kv: this.kv, kvBytes, weightBytes, budget, prefillMs: 0, decodeMs: [], prefillKvCopyBytes: 0, decodeKvCopyBytes: 0,
      bindingCopyBackBytesPerStep: kvBytes, sessionOpenMs: [], events: [],
    };
    const T = ort.Tensor;
    this.mask = new BigInt64Array(maxLength);
    this.index = new BigInt64Array(sig.kvHeads * 3);
    this.decodeFeeds = {
      input_ids: new T('int64', this.ids, [1, 1]),
      attention_mask: new T('int64', this.mask, [1, maxLength]),
      [KV_INDEX]: new T('int64', this.index, [1, sig.kvHeads, 1, 3]),
    };
    if (sig.hasPositionIds) this.decodeFeeds.position_ids = new T('int64', this.pos, [1, 1]);
    this.decodeFetches = { logits: null };
    const dims = [1, sig.kvHeads, maxLength, sig.headDim];
    const tensor = (a: Float32Array | Int8Array, d: number[]) => (a instanceof Int8Array ? new T('int8', a, d) : new T('float32', a, d));
    this.cache.forEach((c, l) => {
      for (const kv of ['key', 'value'] as const) {
        const t = tensor(c[kv], dims);
        this.decodeFeeds[kvInput(l, kv)] = t;
        this.decodeFetches[`present.${l}.${kv}`] = t; // the same buffer: written in place
        if (c.scale) {
          const s = new T('float32', c.scale[kv], [1, sig.kvHeads, maxLength, 1]);
          this.decodeFeeds[kvScaleInput(l, kv)] = s;
          this.decodeFetches[kvScaleOutput(l, kv)] = s;
        }
        // the original past input, for graphs that read its length: max_length − 1 rows (a view, never read as data)
        if (decodeInputs.has(`past_key_values.${l}.${kv}`)) this.decodeFeeds[`past_key_values.${l}.${kv}`] = tensor(c[kv].subarray(0, sig.kvHeads * (maxLength - 1) * sig.headDim), [1, sig.kvHeads, maxLength - 1, sig.headDim]);
      }
    });
  }

  static async create(modelPath: string, options: GeneratorOptions = {}): Promise<Generator> {
    const path = resolve(modelPath);
    const proto = decodeModel(readModelFile(path), modelPath);
    const sig = decoderSignature(proto, modelPath);
    const kv = options.kv ?? 'float32';
    if (kv !== 'float32' && kv !== 'int8') throw new TesseraError('BAD_ARGUMENT', `kv '${kv}': expected 'float32' or 'int8'`);
    const weightBytes = modelWeightBytes(proto);
    // int4 tables onnxruntime would dequantize every run (a tied embedding and LM head): read quantized, in both graphs
    if (options.fuseInt4 !== false) fuseInt4Tables(proto);
    const decodeProto = rewriteForInPlaceKv(clone(ModelProtoSchema, proto), sig, modelPath, kv);
    // attention reads the keys through a Transpose onnxruntime folds into its MatMul (transpose-rewrite.ts)
    if (options.foldKeyTranspose !== false) for (const m of [proto, decodeProto]) transposeAfterUnsqueeze(m);
    // prefill: the LM head over the last position only (prefill-rewrite.ts)
    if (options.prefillLastRowOnly !== false) lastRowLogits(proto, sig.vocab);
    const chunk = options.prefillChunk ?? 128;
    if (!Number.isSafeInteger(chunk) || chunk < 1) throw new TesseraError('BAD_ARGUMENT', `prefillChunk ${chunk}: expected a positive integer`);
    if (options.maxSteps !== undefined && (!Number.isSafeInteger(options.maxSteps) || options.maxSteps < 1)) throw new TesseraError('BAD_ARGUMENT', `maxSteps ${options.maxSteps}: expected a positive integer`);
    const budget = chooseMaxLength(sig, weightBytes, { ...options, prefillChunk: chunk, kvPosition: kvPosition(sig, kv) }, modelPath);
    const ort = await import('onnxruntime-node');
    const sessionOptions = {
      ...options.sessionOptions,
      logSeverityLevel: 3 as const,
      ...(options.intraOpThreads ? { intraOpNumThreads: options.intraOpThreads } : {}),
      // prepacked MatMul weights are faster but a copy per session; without, both sessions read the memory-mapped external data
      // the two sessions' thread pools spin-wait only within a run (force_spinning_stop below): an idle pool's
      // spinning took the busy one's cores (on 2 cores, decode and prefill ran ~1.6× slower)
      extra: configTree({ 'session.intra_op.allow_spinning': '0', ...options.ortConfig, 'session.model_external_initializers_file_folder_path': dirname(path), 'session.disable_prepacking': options.prepack === false ? '1' : '0' }),
    };
    const bytes = { prefill: toBinary(ModelProtoSchema, proto), decode: toBinary(ModelProtoSchema, decodeProto) };
    const threads = { prefill: options.intraOpThreads, decode: options.decodeThreads ?? options.intraOpThreads };
    const open = (phase: Phase) => async () => {
      try {
        // spinning within a run (faster on a quiet host: first token 47–73 against 68–83 ms), stopped when the run ends
        const spinning = phase === 'decode' ? options.decodeSpinning !== false : options.prefillSpinning !== false;
        const stop = spinning ? { force_spinning_stop: '1' } : {};
        const spin = spinning ? { extra: { ...sessionOptions.extra, session: { ...sessionOptions.extra.session, 'intra_op.allow_spinning': '1', ...stop } } } : {};
        return await ort.InferenceSession.create(bytes[phase], { ...sessionOptions, ...spin, ...(threads[phase] ? { intraOpNumThreads: threads[phase] } : {}) });
      } catch (err) {
        throw asTesseraError(err, 'BACKEND_FAILED', `${modelPath}: onnxruntime could not load the decoder (${phase} graph)`);
      }
    };
    const opener = { prefill: open('prefill'), decode: open('decode') };
    const sessions = options.oneSessionAtATime ? { prefill: await opener.prefill() } : { prefill: await opener.prefill(), decode: await opener.decode() };
    const decodeInputs = new Set(decodeProto.graph!.input.map((i) => i.name));
    return new Generator(ort, opener, sessions, sig, budget.maxLength, budget, weightBytes, { ...options, prefillChunk: chunk }, decodeInputs);
  }

  /** The next position to be written (tokens in the cache). */
  get length(): number {
    return this.position;
  }

  /** Why generation stopped, or null while it goes on. */
  get done(): StopReason | null {
    return this.stopReason;
  }

  /** The logits row that chose the last token returned (a view, valid until the next call). */
  get lastLogits(): Float32Array {
    if (!this.logits) throw new TesseraError('BAD_ARGUMENT', 'no logits yet: call prefill first');
    return this.logits;
  }

  /**
   * The cache halves of layer `l` as float32, [kv_heads, max_length, head_dim] (for inspection: rows
   * 0 … length − 1 of each head are filled): the buffers themselves, or with an int8 cache their rows
   * dequantized (a copy).
   */
  kvOf(l: number): { key: Float32Array; value: Float32Array } {
    const c = this.cache[l];
    const D = this.signature.headDim;
    const float = (kv: 'key' | 'value') => {
      const a = c[kv];
      if (a instanceof Float32Array) return a;
      const out = new Float32Array(a.length);
      for (let r = 0; r < c.scale![kv].length; r++) this.dequantizeRows(l, kv, r, 1, out, r * D);
      return out;
    };
    return { key: float('key'), value: float('value') };
  }

  /** The int8 rows and their scales of layer `l` (an int8 cache only). */
  kvInt8Of(l: number): { key: Int8Array; value: Int8Array; keyScale: Float32Array; valueScale: Float32Array } {
    const c = this.cache[l];
    if (!c.scale) throw new TesseraError('BAD_ARGUMENT', `kvInt8Of: the cache is ${this.kv}`);
    return { key: c.key as Int8Array, value: c.value as Int8Array, keyScale: c.scale.key, valueScale: c.scale.value };
  }

  /** Rows `row` … `row + n − 1` (flat over heads × max_length) of one half, as float32 into `out` at `at`. */
  private dequantizeRows(l: number, kv: 'key' | 'value', row: number, n: number, out: Float32Array, at: number): void {
    const c = this.cache[l], D = this.signature.headDim, q = c[kv];
    for (let r = 0; r < n; r++) {
      const s = c.scale![kv][row + r];
      for (let i = 0; i < D; i++) out[at + r * D + i] = fround(q[(row + r) * D + i] * s);
    }
  }

  /** Runs the prompt into an empty cache; returns the first generated token. */
  async prefill(tokens: readonly number[]): Promise<number> {
    if (this.position !== 0) throw new TesseraError('BAD_ARGUMENT', 'prefill: the cache is not empty (reset() first)');
    if (tokens.length === 0) throw new TesseraError('BAD_ARGUMENT', 'prefill: the prompt is empty');
    this.checkTokens(tokens);
    if (tokens.length >= this.maxLength) {
      throw new TesseraError('LIMIT_EXCEEDED', `prefill: a prompt of ${tokens.length} tokens leaves no room in a cache of max length ${this.maxLength} (${this.stats.budget.why})`);
    }
    const { layers, kvHeads: H, headDim: D } = this.signature;
    const T = this.ort.Tensor;
    const chunk = this.options.prefillChunk!;
    const t0 = performance.now();
    let last: Float32Array | null = null;
    for (let start = 0; start < tokens.length; start += chunk) {
      const part = tokens.slice(start, start + chunk);
      const S = part.length, P = start;
      const i64 = (v: number[]) => new T('int64', BigInt64Array.from(v, BigInt), [1, v.length]);
      const feeds: Record<string, ortTypes.Tensor> = { input_ids: i64(part), attention_mask: i64(new Array(P + S).fill(1)) };
      if (this.signature.hasPositionIds) feeds.position_ids = i64(part.map((_, i) => P + i));
      let copied = 0;
      for (let l = 0; l < layers; l++) {
        for (const kv of ['key', 'value'] as const) {
          const past = new Float32Array(H * P * D);
          const rows = this.cache[l][kv];
          for (let h = 0; h < H; h++) {
            if (rows instanceof Float32Array) past.set(rows.subarray(h * this.maxLength * D, (h * this.maxLength + P) * D), h * P * D);
            else this.dequantizeRows(l, kv, h * this.maxLength, P, past, h * P * D);
          }
          copied += past.byteLength;
          feeds[`past_key_values.${l}.${kv}`] = new T('float32', past, [1, H, P, D]);
        }
      }
      const r0 = performance.now();
      const out = await this.run(await this.session('prefill'), feeds);
      for (let l = 0; l < layers; l++) {
        for (const kv of ['key', 'value'] as const) {
          const present = out[`present.${l}.${kv}`];
          if (present.dims.length !== 4 || present.dims[1] !== H || present.dims[2] !== P + S || present.dims[3] !== D) {
            throw new TesseraError('BAD_MODEL', `prefill: 'present.${l}.${kv}' came out [${present.dims.join(', ')}], expected [1, ${H}, ${P + S}, ${D}] (past followed by the new rows)`);
          }
          const data = present.data as Float32Array;
          const c = this.cache[l], rows = c[kv];
          for (let h = 0; h < H; h++) {
            const fresh = data.subarray((h * (P + S) + P) * D, (h + 1) * (P + S) * D);
            if (rows instanceof Float32Array) rows.set(fresh, (h * this.maxLength + P) * D);
            else for (let r = 0; r < S; r++) c.scale![kv][h * this.maxLength + P + r] = quantizeRow(fresh.subarray(r * D, (r + 1) * D), rows, (h * this.maxLength + P + r) * D);
          }
        }
      }
      const logits = out.logits.data as Float32Array;
      last = logits.subarray(logits.length - Number(out.logits.dims.at(-1))); // the last position's row (the only one, after the prefill rewrite)
      this.stats.prefillKvCopyBytes += copied;
      this.stats.events.push({ phase: 'prefill', startMs: r0 - this.created, position: P, tokens: S, ms: performance.now() - r0, kvCopyBytes: copied });
    }
    this.position = tokens.length;
    for (let i = 0; i < this.position; i++) this.mask[i] = 1n;
    const first = this.emit(last!);
    this.stats.prefillMs = performance.now() - t0;
    return first;
  }

  /**
   * One decode step: runs the last token returned — or `force`, a token given instead (teacher forcing, a
   * forced continuation) — and returns the next.
   */
  async next(force?: number): Promise<number> {
    if (this.pending === null) throw new TesseraError('BAD_ARGUMENT', 'next: call prefill first');
    if (this.stopReason) throw new TesseraError('BAD_ARGUMENT', `next: generation has stopped (${this.stopReason})`);
    if (force !== undefined) {
      this.checkTokens([force]);
      this.pending = force;
    }
    const p = this.position;
    const session = await this.session('decode');
    const t0 = performance.now();
    this.ids[0] = BigInt(this.pending);
    this.pos[0] = BigInt(p);
    this.mask[p] = 1n;
    for (let h = 0; h < this.signature.kvHeads; h++) this.index.set([0n, BigInt(h), BigInt(p)], h * 3);
    const out = await this.run(session, this.decodeFeeds, this.decodeFetches);
    this.position = p + 1;
    const token = this.emit(out.logits.data as Float32Array);
    const ms = performance.now() - t0;
    this.stats.decodeMs.push(ms);
    this.stats.events.push({ phase: 'decode', startMs: t0 - this.created, position: p, tokens: 1, ms, kvCopyBytes: 0 });
    return token;
  }

  /** prefill then next() until a stop condition or `steps` tokens (the first from the prefill included). */
  async generate(prompt: readonly number[], steps: number): Promise<number[]> {
    const out = [await this.prefill(prompt)];
    while (out.length < steps && !this.stopReason) out.push(await this.next());
    return out;
  }

  /** Empties the cache (its slots are masked out again, not cleared) for another prompt; the stats start over. */
  reset(): void {
    this.mask.fill(0n);
    this.position = 0;
    this.pending = null;
    this.steps = 0;
    this.stopReason = null;
    this.logits = null;
    Object.assign(this.stats, { prefillMs: 0, decodeMs: [], prefillKvCopyBytes: 0, sessionOpenMs: [], events: [] });
  }

  /** The trace as Chrome Trace Event Format (ui.perfetto.dev, chrome://tracing): one slice per prefill chunk and decode step. */
  traceEvents(): object[] {
    return this.stats.events.map((e) => ({
      name: e.phase === 'prefill' ? `prefill ${e.tokens} tokens at ${e.position}` : `decode at ${e.position}`,
      cat: e.phase, ph: 'X', pid: 1, tid: e.phase === 'prefill' ? 1 : 2, ts: Math.round(e.startMs * 1000), dur: Math.max(1, Math.round(e.ms * 1000)),
      args: { position: e.position, tokens: e.tokens, kvCopyBytes: e.kvCopyBytes },
    }));
  }

  async release(): Promise<void> {
    for (const phase of ['prefill', 'decode'] as const) await this.sessions[phase]?.release();
  }

  /** The session of a phase; with oneSessionAtATime the other is released first and this one opened (timed in stats.sessionOpenMs). */
  private async session(phase: Phase): Promise<ortTypes.InferenceSession> {
    const have = this.sessions[phase];
    if (have) return have;
    const other = phase === 'prefill' ? 'decode' : 'prefill';
    await this.sessions[other]?.release();
    delete this.sessions[other];
    const t0 = performance.now();
    const s = await this.open[phase]();
    this.stats.sessionOpenMs.push(performance.now() - t0);
    return (this.sessions[phase] = s);
  }

  private emit(row: Float32Array): number {
    this.logits = row;
    const token = this.sample(row);
    this.pending = token;
    this.steps++;
    if (this.eos.has(token)) this.stopReason = 'eos';
    else if (this.options.maxSteps !== undefined && this.steps >= this.options.maxSteps) this.stopReason = 'max-steps';
    else if (this.position >= this.maxLength) this.stopReason = 'max-length';
    return token;
  }

  private checkTokens(tokens: readonly number[]): void {
    const vocab = this.signature.vocab;
    const bad = tokens.findIndex((t) => !Number.isSafeInteger(t) || t < 0 || (vocab !== null && t >= vocab));
    if (bad >= 0) throw new TesseraError('BAD_ARGUMENT', `prompt token ${bad} is ${tokens[bad]}: expected an integer id in 0 … ${vocab === null ? 'vocab' : vocab - 1}`);
  }

  private async run(s: ortTypes.InferenceSession, feeds: Record<string, ortTypes.Tensor>, fetches?: Record<string, ortTypes.Tensor | null>) {
    try {
      return await (fetches ? s.run(feeds, fetches) : s.run(feeds));
    } catch (err) {
      throw asTesseraError(err, 'BACKEND_FAILED', 'onnxruntime run of the decoder');
    }
  }
}
