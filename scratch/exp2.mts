import { readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { create, toBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema, NodeProtoSchema, ValueInfoProtoSchema, TypeProtoSchema } from 'onnx-buf';
import { ensureDecoder, PRESETS } from '../bench/models/decoder.js';
import { ortGreedy, seededPrompt } from '../bench/models/ort-generate.js';
import { decodeModel } from '../src/ir/onnx-import.js';
const c = PRESETS.tiny;
const w = ensureDecoder(c, '/tmp/t16/tiny');
const proto = decodeModel(new Uint8Array(readFileSync(w.modelPath)), 'tiny');
const g = proto.graph!;
for (const n of g.node) {
  if (n.opType === 'Concat' && n.output[0].startsWith('present.')) {
    const upd = n.input[1];
    n.opType = 'ScatterND'; n.input = [n.input[0], 'tessera_kv_index', upd]; n.attribute = [];
  }
}
const idx = structuredClone(g.input.find((i) => i.name === 'input_ids')!);
g.input.push(create(ValueInfoProtoSchema, { name: 'tessera_kv_index', type: create(TypeProtoSchema, { value: { case: 'tensorType', value: { elemType: 7 } } }) }));
const bytes = toBinary(ModelProtoSchema, proto);
const s = await ort.InferenceSession.create(bytes, { logSeverityLevel: 3, extra: { session: { model_external_initializers_file_folder_path: '/tmp/t16/tiny' } } } as any);
const ref = await ort.InferenceSession.create(w.modelPath, { logSeverityLevel: 3 });
const prompt = seededPrompt(8, c.vocab, 1);
const want = await ortGreedy(ref, prompt, 6);
const MAX = 32, kvh = c.kvHeads, hd = c.headDim;
const cache = Array.from({ length: c.layers * 2 }, () => new Float32Array(kvh * MAX * hd));
const i64 = (v: number[], dims: number[]) => new ort.Tensor('int64', BigInt64Array.from(v, BigInt), dims);
// prefill token by token on the rewritten graph (decode style)
const seq = [...prompt];
const out: number[] = [];
for (let pos = 0; pos < prompt.length + 5; pos++) {
  const tok = seq[pos];
  const feeds: Record<string, ort.Tensor> = {
    input_ids: i64([tok], [1, 1]),
    attention_mask: i64(Array.from({ length: MAX }, (_, j) => (j <= pos ? 1 : 0)), [1, MAX]),
    position_ids: i64([pos], [1, 1]),
    tessera_kv_index: i64(Array.from({ length: kvh }, (_, h) => [0, h, pos]).flat(), [1, kvh, 1, 3]),
  };
  const fetches: Record<string, ort.Tensor | null> = { logits: null };
  for (let l = 0; l < c.layers; l++) for (const [k, kv] of ['key', 'value'].entries()) {
    const t = new ort.Tensor('float32', cache[2 * l + k], [1, kvh, MAX, hd]);
    feeds[`past_key_values.${l}.${kv}`] = t;
    fetches[`present.${l}.${kv}`] = t;
  }
  const r = await s.run(feeds, fetches as any);
  if (pos === 0) console.log('same buffer:', (r['present.0.key'].data as Float32Array).buffer === cache[0].buffer, r['present.0.key'].data === cache[0]);
  const logits = r.logits.data as Float32Array;
  let best = 0; for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
  if (pos >= prompt.length - 1) { out.push(best); if (pos + 1 >= seq.length) seq.push(best);
    const k = out.length - 1; let m = 0; for (let i = 0; i < logits.length; i++) m = Math.max(m, Math.abs(logits[i] - want.logits[k][i])); console.log('step', k, 'maxdiff', m); }
}
console.log(out, want.tokens);
console.log('row pos 3 nonzero', cache[0].subarray(3 * hd, 4 * hd).some((x) => x !== 0), 'row 20 zero', cache[0].subarray(20 * hd, 21 * hd).every((x) => x === 0));
{
  const pos = 20;
  const feeds: Record<string, ort.Tensor> = {
    input_ids: i64([1], [1, 1]), attention_mask: i64(Array.from({ length: MAX }, (_, j) => (j <= pos ? 1 : 0)), [1, MAX]),
    position_ids: i64([pos], [1, 1]), tessera_kv_index: i64(Array.from({ length: kvh }, (_, h) => [0, h, pos]).flat(), [1, kvh, 1, 3]),
  };
  const fetches: Record<string, ort.Tensor | null> = { logits: null };
  for (let l = 0; l < c.layers; l++) for (const [k, kv] of ['key', 'value'].entries()) {
    const t = new ort.Tensor('float32', cache[2 * l + k], [1, kvh, MAX, hd]);
    feeds[`past_key_values.${l}.${kv}`] = t; fetches[`present.${l}.${kv}`] = t;
  }
  const r = await s.run(feeds, fetches as any);
  const d = r['present.0.key'].data as Float32Array;
  d[5] = 12345;
  console.log('aliased memory:', cache[0][5] === 12345, d.byteOffset, d.length, cache[0].length);
  // only fetch logits: does ORT still write in place with no present fetch?
}
