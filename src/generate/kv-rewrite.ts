/**
 * The decode graph: the KV cache written in place. In an Optimum decoder each layer's present key and
 * value are `Concat(past_key_values.N.x, new, axis 2)` — a new tensor every step, the whole cache copied
 * into it. This rewrite makes each of them `ScatterND(tessera.kv.N.x, tessera.kv_index, new)` over a
 * new input holding the cache at its full length (max_length): the step's new rows go to their slots,
 * and when the present output is bound to that input's own buffer (src/generate/generator.ts),
 * onnxruntime's ScatterND sees data and output at one address and copies nothing (it copies data to
 * output only when they differ). Attention then reads all max_length slots; the slots not yet written
 * are masked out by `attention_mask` (1 for the positions written so far, 0 after). The original past
 * inputs stay, fed as views of max_length − 1 rows of the same buffers: a graph that takes its past
 * length from their shape (a causal mask built as Hugging Face does, positions from the past length)
 * sees past + 1 = max_length = the mask's length, consistent. Positions come from `position_ids`, or in
 * models without it from the mask. The rewrite works on the ModelProto, so weights stay where they are
 * (external data is not read).
 *
 * `tessera.kv_index` is [1, kv_heads, 1, 3]: the (batch, head, slot) of the step's new row.
 */
import { clone, create } from '@bufbuild/protobuf';
import { TensorShapeProto_DimensionSchema, TypeProtoSchema, ValueInfoProtoSchema, type ModelProto, type ValueInfoProto } from 'onnx-buf';
import { TesseraError } from '../errors.js';
import { opTraits } from '../ir/ops/traits.js';
import type { DecoderSignature } from './signature.js';

export const KV_INDEX = 'tessera.kv_index';
export const kvInput = (l: number, kv: string) => `tessera.kv.${l}.${kv}`;

function setSeqDim(v: ValueInfoProto | undefined, name: string): void {
  const shape = v?.type?.value.case === 'tensorType' ? v.type.value.value.shape : undefined;
  if (shape && shape.dim.length === 4) shape.dim[2] = create(TensorShapeProto_DimensionSchema, { value: { case: 'dimParam', value: name } });
}

/** Rewrites `model` (a decoded copy: it is changed) into the in-place decode graph. */
export function rewriteForInPlaceKv(model: ModelProto, sig: DecoderSignature, where: string): ModelProto {
  const g = model.graph!;
  const producer = new Map(g.node.flatMap((n) => n.output.map((o) => [o, n] as const)));
  for (let l = 0; l < sig.layers; l++) {
    for (const kv of ['key', 'value']) {
      const past = `past_key_values.${l}.${kv}`, present = `present.${l}.${kv}`;
      const n = producer.get(present);
      const axis = n?.attribute.find((a) => a.name === 'axis')?.i;
      if (!n || n.opType !== 'Concat' || n.domain !== '' || n.input.length !== 2 || n.input[0] !== past || (axis !== 2n && axis !== -2n)) {
        throw new TesseraError('BAD_MODEL', `${where}: cannot keep the KV cache in place: '${present}' must be Concat('${past}', new, axis 2); it is ${n ? `${n.opType}(${n.input.join(', ')})` : 'produced by no node'}`);
      }
      n.opType = 'ScatterND';
      n.input = [kvInput(l, kv), KV_INDEX, n.input[1]];
      n.attribute = [];
      const cache = clone(ValueInfoProtoSchema, g.input.find((i) => i.name === past)!);
      cache.name = kvInput(l, kv);
      setSeqDim(cache, 'max_length');
      g.input.push(cache);
      setSeqDim(g.output.find((o) => o.name === present), 'max_length');
    }
  }
  // After the rewrite the original past inputs carry only their shape: refuse a graph that reads their data elsewhere.
  for (const n of g.node) {
    const p = n.input.find((i) => i.startsWith('past_key_values.'));
    if (p && !opTraits(n.opType).readsShapeOnly) throw new TesseraError('BAD_MODEL', `${where}: cannot keep the KV cache in place: '${p}' is read by ${n.opType} node '${n.name}' besides the Concat that makes its present`);
  }
  g.input.push(create(ValueInfoProtoSchema, {
    name: KV_INDEX,
    type: create(TypeProtoSchema, { value: { case: 'tensorType', value: { elemType: 7, shape: { dim: [1, sig.kvHeads, 1, 3].map((d) => create(TensorShapeProto_DimensionSchema, { value: typeof d === 'number' ? { case: 'dimValue', value: BigInt(d) } : { case: 'dimParam', value: d } })) } } } }),
  }));
  return model;
}
