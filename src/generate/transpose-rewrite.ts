/**
 * The decode graph reads the keys transposed without transposing the cache every step. Attention as
 * exported computes `MatMul(q, Unsqueeze(Transpose(keys, swap of the last two axes)))` (the Unsqueeze
 * adds the grouped-query axis): onnxruntime fuses a Transpose into the MatMul that reads it (FusedMatMul
 * with transB) only when it feeds the MatMul directly, so here it transposes the whole cache — max length
 * × KV heads × head size — each layer, each step. This rewrite swaps the two: `Transpose(Unsqueeze(keys))`
 * with the same swap of the (still) last two axes, which is the same tensor and which onnxruntime folds
 * into the MatMul. Done only where the Unsqueeze inserts no axis among the last two and each of the
 * two is read by nothing else.
 */
import { create } from '@bufbuild/protobuf';
import { AttributeProto_AttributeType as AT, AttributeProtoSchema, type ModelProto, type NodeProto, type TensorProto } from 'onnx-buf';

const ints = (t: TensorProto): number[] | null =>
  t.dataType === 7 && t.rawData.length % 8 === 0 ? Array.from(new BigInt64Array(t.rawData.slice().buffer), Number) : t.int64Data.length ? t.int64Data.map(Number) : null;

/** Rewrites the model in place; returns how many Transpose → Unsqueeze → MatMul chains it reordered. */
export function transposeAfterUnsqueeze(model: ModelProto): number {
  const g = model.graph!;
  const inits = new Map(g.initializer.map((t) => [t.name, t]));
  const readers = new Map<string, NodeProto[]>();
  for (const n of g.node) for (const i of n.input) readers.set(i, [...(readers.get(i) ?? []), n]);
  const outputs = new Set(g.output.map((o) => o.name));
  const single = (name: string) => (outputs.has(name) ? undefined : readers.get(name)?.length === 1 ? readers.get(name)![0] : undefined);
  let changed = 0;
  for (const t of g.node) {
    if (t.opType !== 'Transpose' || t.domain !== '') continue;
    const perm = t.attribute.find((a) => a.name === 'perm')?.ints.map(Number);
    const r = perm?.length ?? 0;
    if (!perm || r < 2 || !perm.every((p, i) => p === (i === r - 2 ? r - 1 : i === r - 1 ? r - 2 : i))) continue;
    const u = single(t.output[0]);
    if (!u || u.opType !== 'Unsqueeze' || u.domain !== '') continue;
    const axesInit = u.input[1] ? inits.get(u.input[1]) : undefined;
    const axes = axesInit ? ints(axesInit) : u.attribute.find((a) => a.name === 'axes')?.ints.map(Number) ?? null;
    if (!axes || axes.length === 0) continue;
    const rank = r + axes.length;
    if (!axes.map((a) => (a < 0 ? a + rank : a)).every((a) => a >= 0 && a < rank - 2)) continue;
    const m = single(u.output[0]);
    if (!m || m.opType !== 'MatMul' || m.domain !== '' || m.input[1] !== u.output[0]) continue;
    const keys = t.input[0], unsqueezed = `${u.output[0]}.tessera.untransposed`;
    u.input[0] = keys;
    const out = u.output[0];
    u.output[0] = unsqueezed;
    t.input[0] = unsqueezed;
    t.output[0] = out;
    t.attribute = [create(AttributeProtoSchema, { name: 'perm', type: AT.INTS, ints: Array.from({ length: rank }, (_, i) => BigInt(i === rank - 2 ? rank - 1 : i === rank - 1 ? rank - 2 : i)) })];
    // keep the nodes in topological order: the Unsqueeze now runs before the Transpose
    g.node.splice(g.node.indexOf(u), 1);
    g.node.splice(g.node.indexOf(t), 0, u);
    changed++;
  }
  return changed;
}
