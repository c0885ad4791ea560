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
 * sees past + 1 = max_length = the mask's length, consistent; those nothing reads after the rewrite are
 * dropped. Positions come from `position_ids`, or in
 * models without it from the mask. The rewrite works on the ModelProto, so weights stay where they are
 * (external data is not read).
 *
 * `tessera.kv_index` is [1, kv_heads, 1, 3]: the (batch, head, slot) of the step's new row.
 *
 * With `kv: 'int8'` the cache is stored as int8 with one float32 scale per (head, row), symmetric: the
 * step's new rows are quantized in the graph (scale = max |row| / 127 per head, `QuantizeLinear` per axis
 * over the heads) before their ScatterND, the scales go into a second in-place cache
 * [1, kv_heads, max_length, 1] (`tessera.kv.N.x.scale`, its ScatterND output `….scale.present` bound to
 * the same buffer), and what attention reads is the cache dequantized: Cast to float32 times the row's
 * scale (a per-row scale is a 2-D scale, which `DequantizeLinear` takes only as a blocked scale from
 * opset 21). The present outputs are then int8, and so are the shape-only past inputs.
 */
import { clone, create } from '@bufbuild/protobuf';
import { AttributeProto_AttributeType as AT, AttributeProtoSchema, NodeProtoSchema, TensorShapeProto_DimensionSchema, TypeProtoSchema, ValueInfoProtoSchema, type AttributeProto, type GraphProto, type ModelProto, type ValueInfoProto } from 'onnx-buf';
import { TesseraError } from '../errors.js';
import { tensor } from '../ir/builder.js';
import { onnxCode } from '../ir/dtype.js';
import { weightToProto } from '../ir/onnx-export.js';
import { opTraits } from '../ir/ops/traits.js';
import type { DecoderSignature } from './signature.js';

export const KV_INDEX = 'tessera.kv_index';
export const kvInput = (l: number, kv: string) => `tessera.kv.${l}.${kv}`;
/** int8 cache: the per-(head, row) scales [1, kv_heads, max_length, 1], and the ScatterND output bound to them. */
export const kvScaleInput = (l: number, kv: string) => `tessera.kv.${l}.${kv}.scale`;
export const kvScaleOutput = (l: number, kv: string) => `tessera.kv.${l}.${kv}.scale.present`;

/** How the cache is stored: float32 as the model's, or int8 with a float32 scale per (head, row). */
export type KvStorage = 'float32' | 'int8';
/** The largest |q| an int8 row is scaled to (symmetric: −127 … 127). */
export const KV_INT8_MAX = 127;
/** The smallest scale (an all-zero row): its values quantize to 0. */
export const KV_MIN_SCALE = 1e-30;

const intAttr = (name: string, v: number): AttributeProto => create(AttributeProtoSchema, { name, type: AT.INT, i: BigInt(v) });
const intsAttr = (name: string, v: number[]): AttributeProto => create(AttributeProtoSchema, { name, type: AT.INTS, ints: v.map(BigInt) });

function setElemType(v: ValueInfoProto | undefined, code: number): void {
  if (v?.type?.value.case === 'tensorType') v.type.value.value.elemType = code;
}

/**
 * Replaces the node at `at` (present = Concat(past, new)) by the int8 in-place form (see the head): a ScatterND writes
 * quantized rows into the int8 cache and their scales into the scale cache, and the graph's readers of
 * `present` read the dequantized cache instead.
 */
function quantizeKv(g: GraphProto, at: number, l: number, kv: string, fresh: string, opset: number, consts: Record<'max' | 'tiny' | 'heads' | 'zero' | 'axes', string>): void {
  const present = `present.${l}.${kv}`, base = `tessera.kv.${l}.${kv}`;
  const node = (opType: string, input: string[], output: string, attribute: AttributeProto[] = []) =>
    create(NodeProtoSchema, { opType, domain: '', name: `${output}__${opType}`, input, output: [output], attribute });
  const dequantized = `${base}.dequantized`;
  for (const n of g.node) n.input = n.input.map((i) => (i === present ? dequantized : i));
  const reduce = opset >= 18
    ? node('ReduceMax', [`${base}.abs`, consts.axes], `${base}.absmax`, [intAttr('keepdims', 1)])
    : node('ReduceMax', [`${base}.abs`], `${base}.absmax`, [intsAttr('axes', [3]), intAttr('keepdims', 1)]);
  g.node.splice(at, 1,
    node('Abs', [fresh], `${base}.abs`),
    reduce,
    node('Div', [`${base}.absmax`, consts.max], `${base}.scale_raw`),
    node('Max', [`${base}.scale_raw`, consts.tiny], `${base}.row_scale`),
    node('Reshape', [`${base}.row_scale`, consts.heads], `${base}.head_scale`),
    node('QuantizeLinear', [fresh, `${base}.head_scale`, consts.zero], `${base}.quantized`, [intAttr('axis', 1)]),
    node('ScatterND', [kvInput(l, kv), KV_INDEX, `${base}.quantized`], present),
    node('ScatterND', [kvScaleInput(l, kv), KV_INDEX, `${base}.row_scale`], kvScaleOutput(l, kv)),
    node('Cast', [present], `${base}.cast`, [intAttr('to', onnxCode('float32'))]),
    node('Mul', [`${base}.cast`, kvScaleOutput(l, kv)], dequantized),
  );
}

function setSeqDim(v: ValueInfoProto | undefined, name: string): void {
  const shape = v?.type?.value.case === 'tensorType' ? v.type.value.value.shape : undefined;
  if (shape && shape.dim.length === 4) shape.dim[2] = create(TensorShapeProto_DimensionSchema, { value: { case: 'dimParam', value: name } });
}

/** Rewrites `model` (a decoded copy: it is changed) into the in-place decode graph, its cache stored as `kv`. */
export function rewriteForInPlaceKv(model: ModelProto, sig: DecoderSignature, where: string, kv: KvStorage = 'float32'): ModelProto {
  const g = model.graph!;
  const producer = new Map(g.node.flatMap((n) => n.output.map((o) => [o, n] as const)));
  const opset = Number(model.opsetImport.find((o) => o.domain === '' || o.domain === 'ai.onnx')?.version ?? 0);
  const int8 = kv === 'int8';
  if (int8 && opset < 13) throw new TesseraError('BAD_MODEL', `${where}: an int8 KV cache quantizes per head (QuantizeLinear with an axis, opset 13); the model imports opset ${opset}`);
  const consts = { max: 'tessera.kv.int8_max', tiny: 'tessera.kv.min_scale', heads: 'tessera.kv.heads', zero: 'tessera.kv.zero_point', axes: 'tessera.kv.last_axis' };
  if (int8) {
    g.initializer.push(
      weightToProto(tensor(consts.max, Float32Array.of(KV_INT8_MAX), [])),
      weightToProto(tensor(consts.tiny, Float32Array.of(KV_MIN_SCALE), [])),
      weightToProto(tensor(consts.heads, BigInt64Array.of(BigInt(sig.kvHeads)), [1])),
      weightToProto(tensor(consts.zero, new Int8Array(sig.kvHeads), [sig.kvHeads])),
      weightToProto(tensor(consts.axes, BigInt64Array.of(3n), [1])),
    );
  }
  for (let l = 0; l < sig.layers; l++) {
    for (const kv of ['key', 'value']) {
      const past = `past_key_values.${l}.${kv}`, present = `present.${l}.${kv}`;
      const n = producer.get(present);
      const axis = n?.attribute.find((a) => a.name === 'axis')?.i;
      if (!n || n.opType !== 'Concat' || n.domain !== '' || n.input.length !== 2 || n.input[0] !== past || (axis !== 2n && axis !== -2n)) {
        throw new TesseraError('BAD_MODEL', `${where}: cannot keep the KV cache in place: '${present}' must be Concat('${past}', new, axis 2); it is ${n ? `${n.opType}(${n.input.join(', ')})` : 'produced by no node'}`);
      }
      const fresh = n.input[1];
      if (int8) {
        quantizeKv(g, g.node.indexOf(n), l, kv, fresh, opset, consts);
      } else {
        n.opType = 'ScatterND';
        n.input = [kvInput(l, kv), KV_INDEX, fresh];
        n.attribute = [];
      }
      const cache = clone(ValueInfoProtoSchema, g.input.find((i) => i.name === past)!);
      cache.name = kvInput(l, kv);
      setSeqDim(cache, 'max_length');
      g.input.push(cache);
      const out = g.output.find((o) => o.name === present);
      setSeqDim(out, 'max_length');
      if (int8) {
        const INT8 = onnxCode('int8');
        for (const v of [cache, out, g.input.find((i) => i.name === past)]) setElemType(v, INT8);
        const scale = clone(ValueInfoProtoSchema, cache);
        scale.name = kvScaleInput(l, kv);
        setElemType(scale, onnxCode('float32'));
        const dims = scale.type?.value.case === 'tensorType' ? scale.type.value.value.shape?.dim : undefined;
        if (dims?.length === 4) dims[3] = create(TensorShapeProto_DimensionSchema, { value: { case: 'dimValue', value: 1n } });
        g.input.push(scale);
        g.output.push(Object.assign(clone(ValueInfoProtoSchema, scale), { name: kvScaleOutput(l, kv) }));
      }
    }
  }
  // value infos of the presents would say float32 where the int8 graph has int8: dropped (onnxruntime infers them)
  if (int8) g.valueInfo = g.valueInfo.filter((v) => !v.name.startsWith('present.'));
  // After the rewrite the original past inputs carry only their shape: refuse a graph that reads their data elsewhere,
  // and drop the ones nothing reads any more (fewer tensors to hand over each step)
  const read = new Set<string>();
  for (const n of g.node) {
    for (const p of n.input.filter((i) => i.startsWith('past_key_values.'))) {
      if (!opTraits(n.opType).readsShapeOnly) throw new TesseraError('BAD_MODEL', `${where}: cannot keep the KV cache in place: '${p}' is read by ${n.opType} node '${n.name}' besides the Concat that makes its present`);
      read.add(p);
    }
  }
  g.input = g.input.filter((i) => !i.name.startsWith('past_key_values.') || read.has(i.name));
  g.input.push(create(ValueInfoProtoSchema, {
    name: KV_INDEX,
    type: create(TypeProtoSchema, { value: { case: 'tensorType', value: { elemType: 7, shape: { dim: [1, sig.kvHeads, 1, 3].map((d) => create(TensorShapeProto_DimensionSchema, { value: typeof d === 'number' ? { case: 'dimValue', value: BigInt(d) } : { case: 'dimParam', value: d } })) } } } }),
  }));
  return model;
}
