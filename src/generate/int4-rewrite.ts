/**
 * Block-quantized INT4 weights that onnxruntime leaves dequantized every run. A `DequantizeLinear` of
 * an int4 initializer is fused by onnxruntime into `MatMulNBits` only when a `MatMul` reads it with the
 * blocks along K (axis 0 of B). A tied embedding quantized along its hidden axis — [vocab, hidden],
 * blocks along axis 1 — is read by a `Gather` (the embedding) and a `Gemm` with transB (the LM head),
 * neither fused: onnxruntime then dequantizes the whole table on every run (for the ~100M decoder 85%
 * of a decode step) and multiplies in float32.
 * This rewrite reads such a table where it is:
 * - `Gemm(A, DQ(W), transB = 1)` (no C, alpha 1, no transA) → `com.microsoft.MatMulNBits(A, W', scales)`
 *   with K = hidden, N = vocab: W's rows are MatMulNBits's [N, K / block, block / 2] layout already;
 *   its nibbles are signed, MatMulNBits's unsigned with a default zero point of 8, so each byte is
 *   XOR 0x88 (q + 8 for q in −8 … 7), the dequantized values unchanged;
 * - `Gather(DQ(W), ids, axis 0)` → `com.microsoft.GatherBlockQuantized(W, ids, scales)`, gathering the
 *   rows then dequantizing only them.
 * The DequantizeLinear goes when nothing else reads it. Only inline initializers, symmetric (no zero
 * point), a 2-D weight blocked along axis 1 with a block MatMulNBits takes; anything else is left as it is.
 * MatMulNBits computes in float32 (accuracy level 0, as the Gemm over the dequantized weight did).
 */
import { create } from '@bufbuild/protobuf';
import { AttributeProto_AttributeType as AT, AttributeProtoSchema, NodeProtoSchema, OperatorSetIdProtoSchema, TensorProtoSchema, type AttributeProto, type ModelProto, type NodeProto, type TensorProto } from 'onnx-buf';

const INT4 = 22, UINT8 = 2, FLOAT = 1;
const MS = 'com.microsoft';
const BLOCKS = new Set([16, 32, 64, 128, 256]);

const intAttr = (name: string, v: number): AttributeProto => create(AttributeProtoSchema, { name, type: AT.INT, i: BigInt(v) });
const attr = (n: NodeProto, name: string, d: number): number => {
  const a = n.attribute.find((x) => x.name === name);
  return a ? (a.type === AT.FLOAT ? a.f : Number(a.i)) : d;
};
const floatBytes = (t: TensorProto): Uint8Array | null =>
  t.dataType !== FLOAT ? null : t.rawData.length ? t.rawData : t.floatData.length ? new Uint8Array(Float32Array.from(t.floatData).buffer) : null;

/** Rewrites the model in place; returns how many readers of a dequantized int4 table it changed. */
export function fuseInt4Tables(model: ModelProto): number {
  const g = model.graph!;
  const inits = new Map(g.initializer.map((t) => [t.name, t]));
  const readers = new Map<string, NodeProto[]>();
  for (const n of g.node) for (const i of n.input) if (i) readers.set(i, [...(readers.get(i) ?? []), n]);
  const graphOutputs = new Set(g.output.map((o) => o.name));
  let changed = 0;
  const drop = new Set<NodeProto>();
  for (const dq of g.node) {
    if (dq.opType !== 'DequantizeLinear' || dq.domain !== '' || (dq.input[2] ?? '') !== '') continue;
    const w = inits.get(dq.input[0]), s = inits.get(dq.input[1]);
    const block = attr(dq, 'block_size', 0), axis = attr(dq, 'axis', 1);
    if (!w || !s || w.dataType !== INT4 || w.dims.length !== 2 || (axis !== 1 && axis !== -1) || !BLOCKS.has(block)) continue;
    const [N, K] = w.dims.map(Number);
    const scales = floatBytes(s);
    if (K % block !== 0 || w.rawData.length !== (N * K) / 2 || !scales || s.dims.length !== 2 || Number(s.dims[0]) !== N || Number(s.dims[1]) !== K / block) continue;
    const out = dq.output[0];
    let unsigned: string | null = null;
    const rest: NodeProto[] = [];
    for (const r of readers.get(out) ?? []) {
      if (r.opType === 'Gemm' && r.domain === '' && r.input[1] === out && r.input[0] !== out && !(r.input[2] ?? '') && attr(r, 'transB', 0) === 1 && attr(r, 'transA', 0) === 0 && attr(r, 'alpha', 1) === 1) {
        if (!unsigned) {
          unsigned = `${w.name}__nbits`;
          const raw = new Uint8Array(w.rawData.length);
          for (let i = 0; i < raw.length; i++) raw[i] = w.rawData[i] ^ 0x88;
          g.initializer.push(create(TensorProtoSchema, { name: unsigned, dataType: UINT8, dims: [BigInt(N), BigInt(K / block), BigInt(block / 2)], rawData: raw }));
          g.initializer.push(create(TensorProtoSchema, { name: `${s.name}__nbits`, dataType: FLOAT, dims: [BigInt((N * K) / block)], rawData: new Uint8Array(scales) }));
        }
        Object.assign(r, create(NodeProtoSchema, {
          opType: 'MatMulNBits', domain: MS, name: `${r.name}__nbits`, input: [r.input[0], unsigned, `${s.name}__nbits`], output: r.output,
          attribute: [intAttr('K', K), intAttr('N', N), intAttr('bits', 4), intAttr('block_size', block), intAttr('accuracy_level', 0)],
        }));
        changed++;
      } else if (r.opType === 'Gather' && r.domain === '' && r.input[0] === out && r.input[1] !== out && attr(r, 'axis', 0) === 0) {
        Object.assign(r, create(NodeProtoSchema, {
          opType: 'GatherBlockQuantized', domain: MS, name: `${r.name}__bq`, input: [w.name, r.input[1], s.name], output: r.output,
          attribute: [intAttr('gather_axis', 0), intAttr('quantize_axis', 1), intAttr('block_size', block)],
        }));
        changed++;
      } else rest.push(r);
    }
    if (rest.length === 0 && !graphOutputs.has(out)) drop.add(dq);
  }
  if (drop.size) g.node = g.node.filter((n) => !drop.has(n));
  if (changed && !model.opsetImport.some((o) => o.domain === MS)) model.opsetImport.push(create(OperatorSetIdProtoSchema, { domain: MS, version: 1n }));
  return changed;
}
