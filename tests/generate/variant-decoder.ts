/**
 * A decoder with the Optimum past/present naming that the project's builder (bench/models/decoder.ts)
 * did not make: GPT-2-like — LayerNorm, learned positions taken from the attention mask (no position_ids
 * input: position = cumsum(mask) − 1), multi-head attention (every head its own KV), fused QKV with bias,
 * GELU (erf form), untied head; the causal mask built from the past's shape as Hugging Face builds it
 * (past length = past_key_values.N.key's dim 2, new token i at past + i), Concat on axis −2.
 * `break` makes the bad variants the generator must refuse. Weights inline (small).
 */
import { writeFileSync } from 'node:fs';
import { rng as seededStream } from '../../src/backends/tensor.js';
import { GraphBuilder } from '../../src/ir/builder.js';

export interface VariantConfig {
  layers: number;
  hidden: number;
  heads: number;
  vocab: number;
  maxPositions: number;
  seed: number;
  break?: 'no-logits' | 'mismatched-past' | 'present-not-concat';
}

export const VARIANT: VariantConfig = { layers: 3, hidden: 24, heads: 3, vocab: 50, maxPositions: 160, seed: 11 };

/** Weights uniform in [-0.5, 0.5), from the library's seeded stream. */
function rng(seed: number): () => number {
  const next = seededStream(seed);
  return () => next() - 0.5;
}

export function writeVariant(c: VariantConfig, path: string): void {
  const { layers, hidden: H, heads: nh, vocab: V } = c;
  const hd = H / nh;
  const r = rng(c.seed);
  const b = new GraphBuilder('variant-gpt', { opset: 17 });
  const w = (name: string, dims: number[], scale: number, mean = 0) => b.initializer(name, Float32Array.from({ length: dims.reduce((a, x) => a * x, 1) }, () => mean + scale * r()), dims);
  const i64 = (name: string, ...v: number[]) => b.initializer(name, BigInt64Array.from(v.map(BigInt)), [v.length]);
  const f = (name: string, v: number) => b.initializer(name, Float32Array.of(v), []);
  const node = (op: string, inputs: string[], out: string, attrs: Parameters<GraphBuilder['node']>[3] = {}) => b.node(op, inputs, out, attrs, { name: out });
  b.input('input_ids', 'int64', ['batch', 'seq']);
  b.input('attention_mask', 'int64', ['batch', 'total']);
  for (let l = 0; l < layers; l++) for (const kv of ['key', 'value']) b.input(`past_key_values.${l}.${kv}`, 'float32', ['batch', nh, 'past', hd]);
  i64('one', 1); i64('zero', 0); i64('ax1', 1); i64('ax12', 1, 2); i64('two', 2);
  b.initializer('one_s', BigInt64Array.of(1n), []); b.initializer('zero_s', BigInt64Array.of(0n), []);
  f('half', 0.5); f('sqrt2', Math.SQRT2); f('onef', 1); f('scale', 1 / Math.sqrt(hd)); f('zf', 0); f('neg', -1e9);
  i64('shape_h', 0, 0, nh, hd); i64('shape_o', 0, 0, H);
  // positions from the mask: cumsum − 1 over the last `seq` columns, at least 0
  node('Shape', ['input_ids'], 'ids_shape');
  node('Gather', ['ids_shape', 'one_s'], 'seq_len');
  node('Shape', ['past_key_values.0.key'], 'past_shape');
  node('Gather', ['past_shape', 'two'], 'past_len1'); // [1]
  node('Squeeze', ['past_len1'], 'past_len');
  node('Add', ['past_len', 'seq_len'], 'total_len');
  node('CumSum', ['attention_mask', 'one_s'], 'mask_cum');
  node('Sub', ['mask_cum', 'one'], 'pos_all');
  node('Max', ['pos_all', 'zero'], 'pos_nonneg');
  node('Unsqueeze', ['total_len', 'zero'], 'total1');
  node('Sub', ['total1', 'seq_len'], 'start1');
  node('Slice', ['pos_nonneg', 'start1', 'total1', 'ax1'], 'positions');
  const wte = w('wte', [V, H], 1), wpe = w('wpe', [c.maxPositions, H], 0.5);
  node('Gather', [wte, 'input_ids'], 'tok_emb');
  node('Gather', [wpe, 'positions'], 'pos_emb');
  let x = node('Add', ['tok_emb', 'pos_emb'], 'x0');
  // causal mask from the past's shape: row i (at past + i) sees key j when j <= past + i, and the mask keeps j
  node('Range', ['past_len', 'total_len', 'one_s'], 'rows');
  node('Range', ['zero_s', 'total_len', 'one_s'], 'cols');
  node('Unsqueeze', ['rows', 'ax1'], 'rows2');
  node('Unsqueeze', ['cols', 'zero'], 'cols2');
  node('LessOrEqual', ['cols2', 'rows2'], 'causal');
  node('Cast', ['attention_mask'], 'keep', { to: 9 });
  node('Unsqueeze', ['keep', 'ax12'], 'keep4');
  node('And', ['causal', 'keep4'], 'allowed');
  node('Where', ['allowed', 'zf', 'neg'], 'bias');
  const ln = (x: string, p: string) => node('LayerNormalization', [x, w(`${p}.g`, [H], 0.2, 1), w(`${p}.b`, [H], 0.2)], p, { axis: -1, epsilon: 1e-5 });
  for (let l = 0; l < layers; l++) {
    const p = `h.${l}`;
    const n1 = ln(x, `${p}.ln1`);
    node('MatMul', [n1, w(`${p}.qkv.w`, [H, 3 * H], 2 / Math.sqrt(H))], `${p}.qkv0`);
    node('Add', [`${p}.qkv0`, w(`${p}.qkv.b`, [3 * H], 0.2)], `${p}.qkv`);
    b.node('Split', [`${p}.qkv`], [`${p}.q`, `${p}.k`, `${p}.v`], { axis: -1 }, { name: `${p}.split` });
    const heads = (t: string) => {
      node('Reshape', [t, 'shape_h'], `${t}.h`);
      return node('Transpose', [`${t}.h`], `${t}.t`, { perm: [0, 2, 1, 3] });
    };
    const q = heads(`${p}.q`), k = heads(`${p}.k`), v = heads(`${p}.v`);
    const kAll = c.break === 'present-not-concat' && l === 1
      ? node('Identity', [k], `present.${l}.key`)
      : node('Concat', [`past_key_values.${l}.key`, k], `present.${l}.key`, { axis: -2 });
    const vAll = node('Concat', [`past_key_values.${l}.value`, v], `present.${l}.value`, { axis: -2 });
    node('Transpose', [kAll], `${p}.kT`, { perm: [0, 1, 3, 2] });
    node('MatMul', [q, `${p}.kT`], `${p}.s0`);
    node('Mul', [`${p}.s0`, 'scale'], `${p}.s1`);
    node('Add', [`${p}.s1`, 'bias'], `${p}.s`);
    node('Softmax', [`${p}.s`], `${p}.pr`, { axis: -1 });
    node('MatMul', [`${p}.pr`, vAll], `${p}.ctx0`);
    node('Transpose', [`${p}.ctx0`], `${p}.ctx1`, { perm: [0, 2, 1, 3] });
    node('Reshape', [`${p}.ctx1`, 'shape_o'], `${p}.ctx`);
    node('MatMul', [`${p}.ctx`, w(`${p}.o.w`, [H, H], 0.5 / Math.sqrt(H))], `${p}.attn`);
    x = node('Add', [x, `${p}.attn`], `${p}.res1`);
    const n2 = ln(x, `${p}.ln2`);
    node('MatMul', [n2, w(`${p}.fc.w`, [H, 4 * H], 2 / Math.sqrt(H))], `${p}.fc`);
    node('Div', [`${p}.fc`, 'sqrt2'], `${p}.fc_s`);
    node('Erf', [`${p}.fc_s`], `${p}.erf`);
    node('Add', [`${p}.erf`, 'onef'], `${p}.erf1`);
    node('Mul', [`${p}.fc`, `${p}.erf1`], `${p}.g0`);
    node('Mul', [`${p}.g0`, 'half'], `${p}.gelu`);
    node('MatMul', [`${p}.gelu`, w(`${p}.proj.w`, [4 * H, H], 0.5 / Math.sqrt(4 * H))], `${p}.mlp`);
    x = node('Add', [x, `${p}.mlp`], `${p}.res2`);
  }
  const nf = ln(x, 'ln_f');
  const logitsName = c.break === 'no-logits' ? 'scores' : 'logits';
  node('MatMul', [nf, w('lm_head', [H, V], 4 / Math.sqrt(H))], logitsName);
  b.output(logitsName, 'float32', ['batch', 'seq', V]);
  for (let l = 0; l < layers; l++) {
    for (const kv of ['key', 'value']) {
      const name = c.break === 'mismatched-past' && l === 2 && kv === 'value' ? `present.${l}.values` : `present.${l}.${kv}`;
      if (name !== `present.${l}.${kv}`) node('Identity', [`present.${l}.${kv}`], name);
      b.output(name, 'float32', ['batch', nh, 'total', hd]);
    }
  }
  writeFileSync(path, b.toBytes());
}
