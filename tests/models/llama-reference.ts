/**
 * A brute-force Llama forward pass in plain TypeScript (float64, loops, no cache), written from the
 * Hugging Face LlamaModel definition and not from the ONNX graph: the independent reference for the
 * generated decoder. It reads the weights from the model file by their Hugging Face names.
 */
import type { Graph } from '../../src/ir/graph.js';
import { weightBytes } from '../../src/ir/weight.js';
import type { DecoderConfig } from '../../bench/models/decoder.js';

type Weights = (name: string) => Float32Array;

export function weightsOf(graph: Graph): Weights {
  const read = new Map<string, Float32Array>();
  return (name) => {
    if (!read.has(name)) {
      const w = graph.values.get(name)?.initializer;
      if (!w) throw new Error(`reference: no weight '${name}'`);
      const b = weightBytes(w);
      read.set(name, new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength)));
    }
    return read.get(name)!;
  };
}

/** y[o] = Σ_i x[i]·W[i, o] for W stored [in, out] row-major. */
function matvec(x: Float64Array, w: Float32Array, out: number): Float64Array {
  const y = new Float64Array(out);
  for (let i = 0; i < x.length; i++) {
    const xi = x[i];
    for (let o = 0; o < out; o++) y[o] += xi * w[i * out + o];
  }
  return y;
}

function rmsNorm(x: Float64Array, w: Float32Array, eps: number): Float64Array {
  let ms = 0;
  for (const v of x) ms += v * v;
  const r = 1 / Math.sqrt(ms / x.length + eps);
  return x.map((v, i) => v * r * w[i]);
}

/** Hugging Face's rotate_half convention: pairs (j, j + d/2) turn by position · θ^(−2j/d). */
function rotary(u: Float64Array, pos: number, theta: number): Float64Array {
  const d = u.length, h = d / 2;
  const out = new Float64Array(d);
  for (let j = 0; j < h; j++) {
    const a = pos * theta ** ((-2 * j) / d);
    const c = Math.cos(a), s = Math.sin(a);
    out[j] = u[j] * c - u[j + h] * s;
    out[j + h] = u[j + h] * c + u[j] * s;
  }
  return out;
}

/**
 * Logits [tokens.length][vocab] of a full forward over `tokens` (batch 1) at `positions`, token t
 * attending to tokens s ≤ t whose `mask` entry is 1.
 */
export function referenceLogits(c: DecoderConfig, W: Weights, tokens: readonly number[], positions: readonly number[] = tokens.map((_, i) => i), mask: readonly number[] = tokens.map(() => 1)): Float64Array[] {
  const { hidden: H, heads: nh, kvHeads: nkv, headDim: hd, intermediate: I, vocab: V } = c;
  const S = tokens.length;
  const embed = W('model.embed_tokens.weight');
  let x = tokens.map((t) => Float64Array.from(embed.subarray(t * H, (t + 1) * H)));
  for (let l = 0; l < c.layers; l++) {
    const p = `model.layers.${l}`;
    const n = x.map((v) => rmsNorm(v, W(`${p}.input_layernorm.weight`), c.rmsEps));
    const q = n.map((v) => matvec(v, W(`${p}.self_attn.q_proj.weight`), nh * hd));
    const k = n.map((v) => matvec(v, W(`${p}.self_attn.k_proj.weight`), nkv * hd));
    const v = n.map((u) => matvec(u, W(`${p}.self_attn.v_proj.weight`), nkv * hd));
    const head = (m: Float64Array, h: number) => m.subarray(h * hd, (h + 1) * hd);
    const ctx = Array.from({ length: S }, () => new Float64Array(nh * hd));
    for (let h = 0; h < nh; h++) {
      const kvh = Math.floor(h / (nh / nkv)); // repeat_kv: query heads h·g … h·g+g−1 share KV head h
      const keys = k.map((m, s) => rotary(head(m, kvh), positions[s], c.ropeTheta));
      for (let t = 0; t < S; t++) {
        const qt = rotary(head(q[t], h), positions[t], c.ropeTheta);
        const scores = keys.map((ks, s) => (s <= t && mask[s] === 1 ? qt.reduce((a, qv, d) => a + qv * ks[d], 0) / Math.sqrt(hd) : -Infinity));
        const top = Math.max(...scores);
        const e = top === -Infinity ? scores.map(() => 1) : scores.map((sc) => Math.exp(sc - top));
        const z = e.reduce((a, b) => a + b, 0);
        for (let s = 0; s < S; s++) for (let d = 0; d < hd; d++) ctx[t][h * hd + d] += (e[s] / z) * head(v[s], kvh)[d];
      }
    }
    x = x.map((xv, t) => {
      const o = matvec(ctx[t], W(`${p}.self_attn.o_proj.weight`), H);
      return xv.map((a, i) => a + o[i]);
    });
    x = x.map((xv) => {
      const m = rmsNorm(xv, W(`${p}.post_attention_layernorm.weight`), c.rmsEps);
      const gate = matvec(m, W(`${p}.mlp.gate_proj.weight`), I);
      const up = matvec(m, W(`${p}.mlp.up_proj.weight`), I);
      const act = gate.map((g, i) => (g / (1 + Math.exp(-g))) * up[i]);
      const d = matvec(act, W(`${p}.mlp.down_proj.weight`), H);
      return xv.map((a, i) => a + d[i]);
    });
  }
  const lm = W(c.tied ? 'model.embed_tokens.weight' : 'lm_head.weight'); // [V, H]
  return x.map((xv) => {
    const n = rmsNorm(xv, W('model.norm.weight'), c.rmsEps);
    const out = new Float64Array(V);
    for (let vv = 0; vv < V; vv++) {
      let a = 0;
      for (let i = 0; i < H; i++) a += n[i] * lm[vv * H + i];
      out[vv] = a;
    }
    return out;
  });
}
