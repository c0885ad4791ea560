/**
 * The prefill graph computes the logits of the last position only. A decoder as exported computes the
 * LM head for every prompt position — for a 64-token prompt over a 32000-word vocabulary 64 rows of
 * vocab × hidden (about a quarter of the ~100M decoder's prefill FLOPs and an 8 MB output) — of which
 * generation reads the last row. The rewrite slices the LM head's input to its last row along the
 * sequence axis (axis −2: [batch, seq, hidden] or the flattened [seq, hidden] at batch 1), so the head
 * multiplies one row; a Reshape on the way to `logits` that would put the sequence length back gets
 * `[1, -1, vocab]` (the Generator runs batch 1). The head is the first matrix product met walking back
 * from `logits` through its data input; the ops on that way must be Reshapes or elementwise ops whose
 * other inputs are constants (a bias, a softcap scale) — anything else and the graph is left as it is.
 * The logits come out [1, 1, vocab]: the last row, the same values (the same products, one row of them).
 */
import { create } from '@bufbuild/protobuf';
import { NodeProtoSchema, type ModelProto, type NodeProto } from 'onnx-buf';
import { tensor } from '../ir/builder.js';
import { weightToProto } from '../ir/onnx-export.js';
import { opTraits } from '../ir/ops/traits.js';

/** Rewrites `model` in place; returns whether it did. */
export function lastRowLogits(model: ModelProto, vocab: number | null): boolean {
  const g = model.graph!;
  const opset = Number(model.opsetImport.find((o) => o.domain === '' || o.domain === 'ai.onnx')?.version ?? 0);
  if (opset < 13 || vocab === null) return false;
  const producer = new Map(g.node.flatMap((n) => n.output.map((o) => [o, n] as const)));
  const constant = new Set(g.initializer.map((t) => t.name));
  for (const n of g.node) if (n.opType === 'Constant') constant.add(n.output[0]);
  const readers = new Map<string, number>();
  for (const n of g.node) for (const i of n.input) readers.set(i, (readers.get(i) ?? 0) + 1);
  const reshapes: NodeProto[] = [];
  let cur = 'logits';
  let head: NodeProto | undefined;
  for (let hops = 0; hops < 16 && !head; hops++) {
    const n = producer.get(cur);
    if (!n || (cur !== 'logits' && readers.get(cur) !== 1)) return false; // a tensor read elsewhere keeps its shape
    if (n.domain === '' && opTraits(n.opType).class === 'matmul') head = n;
    else if (n.opType === 'MatMulNBits' && n.domain === 'com.microsoft') head = n;
    else if (n.opType === 'Reshape' && n.domain === '') reshapes.push(n);
    else if (n.domain === '' && opTraits(n.opType).class === 'elementwise' && n.input.slice(1).every((i) => constant.has(i))) { /* bias, scale */ }
    else return false;
    cur = n.input[0];
  }
  if (!head || constant.has(head.input[0]) || (head.opType === 'Gemm' && head.attribute.some((a) => a.name === 'transA' && a.i !== 0n))) return false;
  const sliced = `${head.input[0]}.tessera.last_row`;
  const c = (name: string, v: number[]) => weightToProto(tensor(name, BigInt64Array.from(v.map(BigInt)), [v.length]));
  g.initializer.push(c('tessera.last_row.starts', [-1]), c('tessera.last_row.ends', [Number.MAX_SAFE_INTEGER]), c('tessera.last_row.axes', [-2]), c('tessera.last_row.shape', [1, -1, vocab]));
  g.node.splice(g.node.indexOf(head), 0, create(NodeProtoSchema, {
    opType: 'Slice', domain: '', name: `${sliced}__Slice`, input: [head.input[0], 'tessera.last_row.starts', 'tessera.last_row.ends', 'tessera.last_row.axes'], output: [sliced],
  }));
  head.input[0] = sliced;
  for (const r of reshapes) r.input[1] = 'tessera.last_row.shape';
  return true;
}
