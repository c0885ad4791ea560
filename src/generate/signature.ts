/**
 * What a decoder's ONNX signature says about its KV cache, read from the model file's graph (inputs,
 * outputs and their declared dims) — the Hugging Face Optimum naming: inputs `input_ids`,
 * `attention_mask`, optional `position_ids`, `past_key_values.N.key` / `.value` [batch, kv_heads,
 * past_sequence, head_dim]; outputs `logits` [batch, sequence, vocab], `present.N.key` / `.value`.
 * Anything else is refused with a TesseraError naming what is missing or mismatched.
 */
import type { ModelProto, ValueInfoProto } from 'onnx-buf';
import { TesseraError } from '../errors.js';

export interface DecoderSignature {
  layers: number;
  kvHeads: number;
  headDim: number;
  /** From the logits output's last dim; null when it is symbolic (known after the first run). */
  vocab: number | null;
  hasPositionIds: boolean;
}

type Dim = number | string | null;

function dimsOf(v: ValueInfoProto): Dim[] | null {
  const t = v.type?.value;
  if (t?.case !== 'tensorType' || !t.value.shape) return null;
  return t.value.shape.dim.map((d) => (d.value.case === 'dimValue' ? Number(d.value.value) : d.value.case === 'dimParam' ? d.value.value : null));
}

const elemType = (v: ValueInfoProto) => (v.type?.value.case === 'tensorType' ? v.type.value.value.elemType : 0);
const FLOAT = 1;
const INT64 = 7;

export function decoderSignature(model: ModelProto, where: string): DecoderSignature {
  const g = model.graph;
  const bad = (why: string): never => {
    throw new TesseraError('BAD_MODEL', `${where}: not a decoder with the Optimum past/present signature: ${why}`);
  };
  if (!g) return bad('the model has no graph');
  const initializers = new Set(g.initializer.map((t) => t.name));
  const inputs = new Map(g.input.filter((i) => !initializers.has(i.name)).map((i) => [i.name, i]));
  const outputs = new Map(g.output.map((o) => [o.name, o]));
  for (const name of ['input_ids', 'attention_mask']) {
    const i = inputs.get(name);
    if (!i) bad(`no input '${name}' (inputs: ${[...inputs.keys()].join(', ')})`);
    else if (elemType(i) !== INT64) bad(`input '${name}' must be int64`);
  }
  if (!outputs.has('logits')) bad(`no output 'logits' (outputs: ${[...outputs.keys()].join(', ')})`);
  let layers = 0;
  while (inputs.has(`past_key_values.${layers}.key`)) layers++;
  if (layers === 0) bad(`no input 'past_key_values.0.key'`);
  let kvHeads = 0, headDim = 0;
  for (let l = 0; l < layers; l++) {
    for (const kv of ['key', 'value']) {
      const past = inputs.get(`past_key_values.${l}.${kv}`);
      if (!past) return bad(`input 'past_key_values.${l}.key' has no matching 'past_key_values.${l}.value'`);
      if (!outputs.has(`present.${l}.${kv}`)) bad(`input 'past_key_values.${l}.${kv}' has no matching output 'present.${l}.${kv}' (outputs: ${[...outputs.keys()].join(', ')})`);
      if (elemType(past) !== FLOAT) bad(`'past_key_values.${l}.${kv}' must be float32 (this generator keeps a float32 KV cache)`);
      const d = dimsOf(past);
      if (!d || d.length !== 4 || typeof d[1] !== 'number' || typeof d[3] !== 'number') {
        return bad(`'past_key_values.${l}.${kv}' must be [batch, kv_heads, past_sequence, head_dim] with fixed kv_heads and head_dim (declared ${d ? `[${d.join(', ')}]` : 'without a shape'})`);
      }
      if (l === 0 && kv === 'key') [kvHeads, headDim] = [d[1], d[3]];
      else if (d[1] !== kvHeads || d[3] !== headDim) bad(`'past_key_values.${l}.${kv}' is [.., ${d[1]}, .., ${d[3]}], layer 0's key [.., ${kvHeads}, .., ${headDim}]: every layer must have the same KV heads and head size`);
    }
  }
  const extraPast = [...inputs.keys()].find((n) => n.startsWith('past_key_values.') && !/^past_key_values\.\d+\.(key|value)$/.test(n) || new RegExp(`^past_key_values\\.(\\d+)\\.`).exec(n) && Number(/\d+/.exec(n)![0]) >= layers);
  if (extraPast) bad(`input '${extraPast}' does not follow past_key_values.N.key / .value for N = 0 … ${layers - 1}`);
  const extraPresent = [...outputs.keys()].find((n) => n.startsWith('present.') && !(/^present\.(\d+)\.(key|value)$/.test(n) && Number(/\d+/.exec(n)![0]) < layers));
  if (extraPresent) bad(`output '${extraPresent}' has no matching past_key_values input`);
  const logits = dimsOf(outputs.get('logits')!);
  const vocab = logits && typeof logits[logits.length - 1] === 'number' ? (logits[logits.length - 1] as number) : null;
  return { layers, kvHeads, headDim, vocab, hasPositionIds: inputs.has('position_ids') };
}
