/**
 * A generated decoder-only transformer, Llama-style (RMSNorm, rotary position embeddings, grouped-query
 * attention, SwiGLU MLP, tied or untied LM head, causal mask), built with the project's GraphBuilder
 * and written as ONNX with its weights in one external-data file beside the model (`model.onnx` +
 * `model.onnx.data`, location relative), streamed tensor by tensor so a 2 GB model is written in
 * little memory. Weights are seeded: the same config and seed give the same bytes.
 *
 * The graph has the Hugging Face Optimum decoder signature, so one graph serves prefill and decode:
 *   inputs   input_ids [batch_size, sequence_length] int64, attention_mask [batch_size,
 *            total_sequence_length] int64, position_ids [batch_size, sequence_length] int64,
 *            past_key_values.N.key / .value [batch_size, kv_heads, past_sequence_length, head_dim] float32
 *            (past_sequence_length may be 0: prefill)
 *   outputs  logits [batch_size, sequence_length, vocab], present.N.key / .value [batch_size, kv_heads,
 *            total_sequence_length, head_dim]
 * Position i of the new tokens sits at past + i for the causal mask (past = total − sequence length,
 * from the shapes); position_ids only turn the rotary embeddings. Query heads h·g … h·g+g−1 share KV
 * head h (g = heads / kv_heads), as Hugging Face's repeat_kv; the grouping is a reshape of the queries,
 * so K and V are never repeated.
 *
 * Scale: embeddings and the input projections have unit-variance outputs (std 1/√fan_in); the output
 * projections of attention and MLP are scaled by 1/√(2·layers) so the residual stream stays O(1) over
 * many layers; the LM head gives logits of about unit std.
 *
 *   npx tsx bench/models/decoder.ts --preset tiny|100m|500m [--out DIR] [--seed N] [--tied|--untied]
 *       [--layers N] [--hidden N] [--heads N] [--kv-heads N] [--head-dim N] [--intermediate N]
 *       [--vocab N] [--max-positions N]
 * Default DIR: .tessera-cache/models/decoder-<preset> (git-ignored). Prints the files, parameter count,
 * time and the process's peak RSS.
 */
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { TesseraError } from '../../src/errors.js';
import { GraphBuilder } from '../../src/ir/builder.js';
import { ExternalDataWriter } from '../../src/ir/onnx-export.js';

export interface DecoderConfig {
  layers: number;
  hidden: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  intermediate: number;
  vocab: number;
  maxPositions: number;
  /** The LM head is the embedding matrix (transposed). */
  tied: boolean;
  ropeTheta: number;
  rmsEps: number;
  seed: number;
}

const BASE = { ropeTheta: 10000, rmsEps: 1e-5, seed: 1 };

export const PRESETS = {
  /** For tests: 2 layers, GQA (4 heads, 2 KV heads), untied; about 0.1 M parameters, < 1 MB. */
  tiny: { layers: 2, hidden: 64, heads: 4, kvHeads: 2, headDim: 16, intermediate: 128, vocab: 256, maxPositions: 128, tied: false, ...BASE },
  /** About 100 M parameters (0.40 GB float32): 12 layers, hidden 768, 12 heads / 4 KV heads, tied. */
  '100m': { layers: 12, hidden: 768, heads: 12, kvHeads: 4, headDim: 64, intermediate: 2048, vocab: 32000, maxPositions: 2048, tied: true, ...BASE },
  /** About 500 M parameters (2.0 GB float32): 18 layers, hidden 1536, 24 heads / 8 KV heads, tied. */
  '500m': { layers: 18, hidden: 1536, heads: 24, kvHeads: 8, headDim: 64, intermediate: 4096, vocab: 32000, maxPositions: 2048, tied: true, ...BASE },
} satisfies Record<string, DecoderConfig>;

export type PresetName = keyof typeof PRESETS;

/** Parameters of one layer: attention and MLP projections, two norms. */
export function layerParameters(c: DecoderConfig): number {
  const attn = c.hidden * c.heads * c.headDim * 2 + c.hidden * c.kvHeads * c.headDim * 2;
  return attn + 3 * c.hidden * c.intermediate + 2 * c.hidden;
}

/** Trained parameters (embeddings, projections, norms, LM head); the rotary tables are not counted. */
export function parameterCount(c: DecoderConfig): number {
  return c.vocab * c.hidden * (c.tied ? 1 : 2) + c.layers * layerParameters(c) + c.hidden;
}

export function checkConfig(c: DecoderConfig): void {
  const bad = (why: string): never => {
    throw new TesseraError('BAD_ARGUMENT', `decoder config: ${why}`);
  };
  for (const k of ['layers', 'hidden', 'heads', 'kvHeads', 'headDim', 'intermediate', 'vocab', 'maxPositions'] as const) {
    if (!Number.isSafeInteger(c[k]) || c[k] < 1) bad(`${k} must be a positive integer (got ${c[k]})`);
  }
  if (c.heads % c.kvHeads !== 0) bad(`heads (${c.heads}) must be a multiple of kvHeads (${c.kvHeads})`);
  if (c.headDim % 2 !== 0) bad(`headDim (${c.headDim}) must be even (rotary embeddings turn pairs)`);
  if (!Number.isSafeInteger(c.seed)) bad(`seed must be an integer (got ${c.seed})`);
}

// ---- seeded weights, streamed in chunks -----------------------------------------------------

const CHUNK = 1 << 20; // elements per chunk written (4 MB)
const chunkBuffer = new Float32Array(CHUNK); // reused: each chunk is written before the next is made

/** A 32-bit seed per (model seed, tensor name), so every tensor is its own stream. */
function tensorSeed(seed: number, name: string): number {
  let h = 0x811c9dc5 ^ seed;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  return (h ^ (h >>> 13)) >>> 0 || 1;
}

/** `count` uniform values of mean `mean` and standard deviation `std` (xorshift32), as float32 chunks. */
function* uniformChunks(count: number, mean: number, std: number, seed: number): Generator<Uint8Array> {
  let s = seed;
  const half = std * Math.sqrt(3);
  const scale = (2 * half) / 4294967296;
  const lo = mean - half;
  for (let done = 0; done < count; ) {
    const n = Math.min(CHUNK, count - done);
    for (let i = 0; i < n; i++) {
      s ^= s << 13;
      s ^= s >>> 17;
      s ^= s << 5;
      chunkBuffer[i] = lo + (s >>> 0) * scale;
    }
    yield new Uint8Array(chunkBuffer.buffer, 0, n * 4);
    done += n;
  }
}

// ---- the graph --------------------------------------------------------------------------------

const i64 = (...v: number[]) => BigInt64Array.from(v.map(BigInt));
const f32 = (...v: number[]) => Float32Array.from(v);

/** Builds the model into `b` (weights streamed to its external-data writer). */
function buildDecoder(b: GraphBuilder, c: DecoderConfig): void {
  const { layers, hidden: H, heads: nh, kvHeads: nkv, headDim: hd, intermediate: I, vocab: V } = c;
  const g = nh / nkv;
  const weight = (name: string, dims: number[], mean: number, std: number) =>
    b.streamedInitializer(name, 'float32', dims, uniformChunks(dims.reduce((a, x) => a * x, 1), mean, std, tensorSeed(c.seed, name)));
  const node = (op: string, inputs: string[], out: string, attrs: Parameters<GraphBuilder['node']>[3] = {}) => b.node(op, inputs, out, attrs, { name: out });

  // Signature (Optimum naming).
  const B = 'batch_size', S = 'sequence_length', P = 'past_sequence_length', T = 'total_sequence_length';
  b.input('input_ids', 'int64', [B, S]);
  b.input('attention_mask', 'int64', [B, T]);
  b.input('position_ids', 'int64', [B, S]);
  for (let l = 0; l < layers; l++) {
    b.input(`past_key_values.${l}.key`, 'float32', [B, nkv, P, hd]);
    b.input(`past_key_values.${l}.value`, 'float32', [B, nkv, P, hd]);
  }

  // Small constants (inline).
  b.initializer('c.zero_i', i64(0), []);
  b.initializer('c.one_i', i64(1), []);
  b.initializer('c.axes0', i64(0), [1]);
  b.initializer('c.axes1', i64(1), [1]);
  b.initializer('c.axes2', i64(2), [1]);
  b.initializer('c.axes12', i64(1, 2), [2]);
  b.initializer('c.two', f32(2), []);
  b.initializer('c.eps', f32(c.rmsEps), []);
  b.initializer('c.scale', f32(1 / Math.sqrt(hd)), []);
  b.initializer('c.zero_f', f32(0), []);
  b.initializer('c.min_f', f32(-3.4028234663852886e38), []); // float32's lowest, as Hugging Face masks
  b.initializer('c.shape_q', i64(0, 0, nh, hd), [4]);
  b.initializer('c.shape_kv', i64(0, 0, nkv, hd), [4]);
  b.initializer('c.shape_q5', i64(0, nkv, g, -1, hd), [5]);
  b.initializer('c.shape_o', i64(0, 0, nh * hd), [3]);
  b.initializer('c.shape_2d', i64(-1, H), [2]);
  b.initializer('c.vocab', i64(V), [1]);

  // Rotary tables: row p holds cos/sin(p·θ^(−2j/hd)) for j < hd/2, repeated for the second half (rotate_half layout).
  const cos = new Float32Array(c.maxPositions * hd), sin = new Float32Array(c.maxPositions * hd);
  for (let p = 0; p < c.maxPositions; p++) {
    for (let j = 0; j < hd / 2; j++) {
      const a = p * c.ropeTheta ** ((-2 * j) / hd);
      cos[p * hd + j] = cos[p * hd + j + hd / 2] = Math.cos(a);
      sin[p * hd + j] = sin[p * hd + j + hd / 2] = Math.sin(a);
    }
  }
  b.initializer('rope.cos', cos, [c.maxPositions, hd]);
  b.initializer('rope.sin', sin, [c.maxPositions, hd]);
  node('Gather', ['rope.cos', 'position_ids'], 'rope.cos_pos'); // [B,S,hd]
  node('Gather', ['rope.sin', 'position_ids'], 'rope.sin_pos');
  node('Unsqueeze', ['rope.cos_pos', 'c.axes1'], 'rope.cos4'); // [B,1,S,hd]
  node('Unsqueeze', ['rope.sin_pos', 'c.axes1'], 'rope.sin4');

  // Mask bias [B,1,1,S,T]: new token i (at past + i) sees key j when j ≤ past + i and attention_mask[b, j] = 1.
  node('Shape', ['input_ids'], 'mask.ids_shape');
  node('Gather', ['mask.ids_shape', 'c.one_i'], 'mask.seq');
  node('Shape', ['attention_mask'], 'mask.mask_shape');
  node('Gather', ['mask.mask_shape', 'c.one_i'], 'mask.total');
  node('Sub', ['mask.total', 'mask.seq'], 'mask.past');
  node('Range', ['mask.past', 'mask.total', 'c.one_i'], 'mask.rows'); // [S]
  node('Range', ['c.zero_i', 'mask.total', 'c.one_i'], 'mask.cols'); // [T]
  node('Unsqueeze', ['mask.rows', 'c.axes1'], 'mask.rows2'); // [S,1]
  node('Unsqueeze', ['mask.cols', 'c.axes0'], 'mask.cols2'); // [1,T]
  node('LessOrEqual', ['mask.cols2', 'mask.rows2'], 'mask.causal'); // [S,T]
  node('Cast', ['attention_mask'], 'mask.keep', { to: 9 }); // bool
  node('Unsqueeze', ['mask.keep', 'c.axes12'], 'mask.keep4'); // [B,1,1,T]
  node('And', ['mask.causal', 'mask.keep4'], 'mask.allowed'); // [B,1,S,T]
  node('Where', ['mask.allowed', 'c.zero_f', 'c.min_f'], 'mask.bias4');
  node('Unsqueeze', ['mask.bias4', 'c.axes1'], 'mask.bias'); // [B,1,1,S,T]

  const rmsNorm = (x: string, w: string, out: string) => {
    node('Pow', [x, 'c.two'], `${out}.sq`);
    node('ReduceMean', [`${out}.sq`], `${out}.ms`, { axes: [-1], keepdims: 1 });
    node('Add', [`${out}.ms`, 'c.eps'], `${out}.mse`);
    node('Sqrt', [`${out}.mse`], `${out}.rms`);
    node('Div', [x, `${out}.rms`], `${out}.unit`);
    return node('Mul', [`${out}.unit`, w], out);
  };
  const normWeight = (name: string) => weight(name, [H], 1, 0.1); // near 1, not 1: a reference must apply it
  const rope = (x: string, out: string) => {
    b.node('Split', [x], [`${out}.x1`, `${out}.x2`], { axis: -1 }, { name: `${out}.split` });
    node('Neg', [`${out}.x2`], `${out}.nx2`);
    node('Concat', [`${out}.nx2`, `${out}.x1`], `${out}.rot`, { axis: -1 });
    node('Mul', [x, 'rope.cos4'], `${out}.xc`);
    node('Mul', [`${out}.rot`, 'rope.sin4'], `${out}.rs`);
    return node('Add', [`${out}.xc`, `${out}.rs`], out);
  };
  const projection = (x: string, w: string, out: string) => node('MatMul', [x, w], out);
  const residualStd = 1 / Math.sqrt(2 * layers);

  // The embedding: unit std when untied; 1/√H when it is also the LM head (logits of about unit std).
  // Weights are written in the order the graph reads them.
  const embed = weight('model.embed_tokens.weight', [V, H], 0, c.tied ? 1 / Math.sqrt(H) : 1);
  node('Gather', [embed, 'input_ids'], 'embed');
  let x = 'embed';
  for (let l = 0; l < layers; l++) {
    const p = `model.layers.${l}`;
    const n1 = rmsNorm(x, normWeight(`${p}.input_layernorm.weight`), `${p}.attn_norm`);
    const heads = (proj: string, n: number, shape: string) => {
      const w = weight(`${p}.self_attn.${proj}.weight`, [H, n * hd], 0, 1 / Math.sqrt(H));
      projection(n1, w, `${p}.${proj}`);
      node('Reshape', [`${p}.${proj}`, shape], `${p}.${proj}.heads`);
      return node('Transpose', [`${p}.${proj}.heads`], `${p}.${proj}.bhsd`, { perm: [0, 2, 1, 3] }); // [B,n,S,hd]
    };
    const q = rope(heads('q_proj', nh, 'c.shape_q'), `${p}.q_rot`);
    const k = rope(heads('k_proj', nkv, 'c.shape_kv'), `${p}.k_rot`);
    const v = heads('v_proj', nkv, 'c.shape_kv');
    const kAll = node('Concat', [`past_key_values.${l}.key`, k], `present.${l}.key`, { axis: 2 }); // [B,nkv,T,hd]
    const vAll = node('Concat', [`past_key_values.${l}.value`, v], `present.${l}.value`, { axis: 2 });
    node('Reshape', [q, 'c.shape_q5'], `${p}.q5`); // [B,nkv,g,S,hd]
    node('Transpose', [kAll], `${p}.kT`, { perm: [0, 1, 3, 2] }); // [B,nkv,hd,T]
    node('Unsqueeze', [`${p}.kT`, 'c.axes2'], `${p}.kT5`); // [B,nkv,1,hd,T]
    node('MatMul', [`${p}.q5`, `${p}.kT5`], `${p}.scores_raw`); // [B,nkv,g,S,T]
    node('Mul', [`${p}.scores_raw`, 'c.scale'], `${p}.scores_scaled`);
    node('Add', [`${p}.scores_scaled`, 'mask.bias'], `${p}.scores`);
    node('Softmax', [`${p}.scores`], `${p}.probs`, { axis: -1 });
    node('Unsqueeze', [vAll, 'c.axes2'], `${p}.v5`); // [B,nkv,1,T,hd]
    node('MatMul', [`${p}.probs`, `${p}.v5`], `${p}.ctx5`); // [B,nkv,g,S,hd]
    node('Transpose', [`${p}.ctx5`], `${p}.ctx_t`, { perm: [0, 3, 1, 2, 4] }); // [B,S,nkv,g,hd]
    node('Reshape', [`${p}.ctx_t`, 'c.shape_o'], `${p}.ctx`); // [B,S,nh·hd]
    const wo = weight(`${p}.self_attn.o_proj.weight`, [nh * hd, H], 0, residualStd / Math.sqrt(nh * hd));
    projection(`${p}.ctx`, wo, `${p}.attn_out`);
    x = node('Add', [x, `${p}.attn_out`], `${p}.attn_residual`);

    const n2 = rmsNorm(x, normWeight(`${p}.post_attention_layernorm.weight`), `${p}.mlp_norm`);
    projection(n2, weight(`${p}.mlp.gate_proj.weight`, [H, I], 0, 1 / Math.sqrt(H)), `${p}.gate`);
    projection(n2, weight(`${p}.mlp.up_proj.weight`, [H, I], 0, 1 / Math.sqrt(H)), `${p}.up`);
    node('Sigmoid', [`${p}.gate`], `${p}.gate_sig`);
    node('Mul', [`${p}.gate`, `${p}.gate_sig`], `${p}.gate_silu`);
    node('Mul', [`${p}.gate_silu`, `${p}.up`], `${p}.act`);
    projection(`${p}.act`, weight(`${p}.mlp.down_proj.weight`, [I, H], 0, residualStd / Math.sqrt(I)), `${p}.mlp_out`);
    x = node('Add', [x, `${p}.mlp_out`], `${p}.mlp_residual`);
  }
  const n = rmsNorm(x, normWeight('model.norm.weight'), 'final_norm');
  const head = c.tied ? embed : weight('lm_head.weight', [V, H], 0, 1 / Math.sqrt(H));
  // logits = n · headᵀ as a Gemm over [B·S, H] (the [V, H] matrix is read transposed, never copied).
  node('Reshape', [n, 'c.shape_2d'], 'final_norm_2d');
  node('Gemm', ['final_norm_2d', head], 'logits_2d', { transB: 1 });
  node('Concat', ['mask.ids_shape', 'c.vocab'], 'logits_shape', { axis: 0 });
  node('Reshape', ['logits_2d', 'logits_shape'], 'logits');

  b.output('logits', 'float32', [B, S, V]);
  for (let l = 0; l < layers; l++) {
    b.output(`present.${l}.key`, 'float32', [B, nkv, T, hd]);
    b.output(`present.${l}.value`, 'float32', [B, nkv, T, hd]);
  }
}

// ---- files ---------------------------------------------------------------------------------------

export interface WrittenDecoder {
  modelPath: string;
  dataPath: string;
  configPath: string;
  modelBytes: number;
  dataBytes: number;
  parameters: number;
}

const DATA_FILE = 'model.onnx.data';

/** The Hugging Face config.json fields for a config (what a generic decoder runner reads), plus the seed. */
function hfConfig(c: DecoderConfig) {
  return {
    architectures: ['LlamaForCausalLM'], model_type: 'llama', num_hidden_layers: c.layers, hidden_size: c.hidden,
    num_attention_heads: c.heads, num_key_value_heads: c.kvHeads, head_dim: c.headDim, intermediate_size: c.intermediate,
    vocab_size: c.vocab, max_position_embeddings: c.maxPositions, tie_word_embeddings: c.tied, rope_theta: c.ropeTheta,
    rms_norm_eps: c.rmsEps, hidden_act: 'silu', torch_dtype: 'float32', tessera_seed: c.seed,
  };
}

/** Writes `dir/model.onnx`, `dir/model.onnx.data` and `dir/config.json` (written last: it marks a finished model). */
export function writeDecoder(c: DecoderConfig, dir: string): WrittenDecoder {
  checkConfig(c);
  const modelPath = join(dir, 'model.onnx');
  const configPath = join(dir, 'config.json');
  rmSync(configPath, { force: true });
  const data = new ExternalDataWriter(modelPath, { location: DATA_FILE });
  try {
    const b = new GraphBuilder(`decoder-L${c.layers}-H${c.hidden}`, { opset: 17, externalData: data });
    buildDecoder(b, c);
    data.commit(b.toBytes());
  } catch (err) {
    data.abort();
    throw err;
  }
  writeFileSync(configPath, `${JSON.stringify(hfConfig(c), null, 2)}\n`);
  const dataPath = join(dir, DATA_FILE);
  return { modelPath, dataPath, configPath, modelBytes: statSync(modelPath).size, dataBytes: statSync(dataPath).size, parameters: parameterCount(c) };
}

export const CACHE_DIR = resolve(fileURLToPath(new URL('../..', import.meta.url)), '.tessera-cache/models');

/** The model for a config in `dir` (default: the cache), written when it is not there yet or was made from another config. */
export function ensureDecoder(c: DecoderConfig, dir: string): WrittenDecoder {
  const modelPath = join(dir, 'model.onnx'), dataPath = join(dir, DATA_FILE), configPath = join(dir, 'config.json');
  const want = JSON.stringify(hfConfig(c), null, 2) + '\n';
  if (existsSync(configPath) && existsSync(modelPath) && existsSync(dataPath) && readFileSync(configPath, 'utf8') === want) {
    return { modelPath, dataPath, configPath, modelBytes: statSync(modelPath).size, dataBytes: statSync(dataPath).size, parameters: parameterCount(c) };
  }
  return writeDecoder(c, dir);
}

/** A preset's model in the cache (.tessera-cache/models/decoder-<preset>). */
export function presetDecoder(preset: PresetName): WrittenDecoder {
  return ensureDecoder(PRESETS[preset], join(CACHE_DIR, `decoder-${preset}`));
}

// ---- command line --------------------------------------------------------------------------------

const INT_FLAGS: Record<string, keyof DecoderConfig> = {
  '--layers': 'layers', '--hidden': 'hidden', '--heads': 'heads', '--kv-heads': 'kvHeads', '--head-dim': 'headDim',
  '--intermediate': 'intermediate', '--vocab': 'vocab', '--max-positions': 'maxPositions', '--seed': 'seed',
};

function main(argv: string[]): void {
  let preset: PresetName = 'tiny';
  let out: string | undefined;
  const over: Partial<DecoderConfig> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--preset') {
      const p = argv[++i];
      if (!(p in PRESETS)) throw new TesseraError('BAD_ARGUMENT', `--preset '${p}': one of ${Object.keys(PRESETS).join(', ')}`);
      preset = p as PresetName;
    } else if (a === '--out') out = argv[++i];
    else if (a === '--tied') over.tied = true;
    else if (a === '--untied') over.tied = false;
    else if (a in INT_FLAGS) (over as Record<string, number>)[INT_FLAGS[a]] = Number(argv[++i]);
    else throw new TesseraError('BAD_ARGUMENT', `unknown argument '${a}' (see the head of bench/models/decoder.ts)`);
  }
  const config: DecoderConfig = { ...PRESETS[preset], ...over };
  const dir = resolve(out ?? join(CACHE_DIR, `decoder-${preset}`));
  const t0 = performance.now();
  const w = writeDecoder(config, dir);
  const ms = performance.now() - t0;
  const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;
  console.log(`command: npx tsx bench/models/decoder.ts ${argv.join(' ')}`);
  console.log(`config: ${JSON.stringify(config)}`);
  console.log(`wrote ${w.modelPath} (${mb(w.modelBytes)}) + ${w.dataPath} (${mb(w.dataBytes)}) + config.json`);
  console.log(`parameters: ${(w.parameters / 1e6).toFixed(2)} M (${mb(w.parameters * 4)} float32); per layer ${mb(4 * layerParameters(config))}; largest tensor ${mb(4 * config.vocab * config.hidden)} (the embedding${config.tied ? ', also the LM head' : ''})`);
  console.log(`time: ${(ms / 1000).toFixed(2)} s (measured, one run); peak RSS of this process: ${mb(process.resourceUsage().maxRSS * 1024)} (measured)`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  try {
    main(process.argv.slice(2));
  } catch (err) {
    console.error(err instanceof TesseraError ? `error [${err.code}]: ${err.message}` : err);
    process.exit(err instanceof TesseraError ? 2 : 3);
  }
}
