/**
 * Map: lower a partition to what its backend takes — a standalone ONNX sub-model for onnxruntime —
 * and legalize dtypes for the processor. Values folded at compile time become initializers. A
 * partition on a processor that takes no float32 (an fp16 NPU) runs in float16: its float32 inputs
 * and outputs become float16 at the edges, its weights are rounded to float16 and every float32 value
 * inside is rounded to float16 after the op that makes it.
 *
 * The float16 lowering is an emulation built for onnxruntime's CPU EP, which has no fp16 kernels on
 * x86: storage is float16 (edges, weights, every intermediate), arithmetic is float32.
 */
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { AttributeProto_AttributeType, AttributeProtoSchema, ModelProtoSchema, NodeProtoSchema, type ModelProto, type NodeProto, type TensorProto } from 'onnx-buf';
import { onnxCode, type DType } from '../ir/dtype.js';
import type { Value } from '../ir/graph.js';
import type { ShapedGraph } from '../ir/infer.js';
import { exportOnnx } from '../ir/onnx-export.js';
import { floatToHalf, halfToFloat, numbersToBytes } from '../ir/tensor-data.js';
import type { Processor } from '../targets/schema.js';
import type { PartitionSpec } from './partition.js';
import { storedDtype } from './residency.js';
import type { StaticInfo } from './static.js';

export type Precision = 'native' | 'float16';

export interface LoweredPartition {
  bytes: Uint8Array;
  /** Model inputs and outputs, with the element type each has at the partition's edge. */
  inputs: { name: string; dtype: DType }[];
  outputs: { name: string; dtype: DType }[];
  precision: Precision;
}

export function partitionPrecision(proc: Processor): Precision {
  return storedDtype(proc, 'float32') === 'float16' ? 'float16' : 'native';
}

/** The graph with every folded (known) value that the nodes read turned into an initializer. */
function withFoldedAsWeights(graph: ShapedGraph, nodes: readonly number[], st: StaticInfo): ShapedGraph {
  const values = new Map(graph.values);
  for (const i of nodes) {
    for (const r of graph.nodes[i].inputs) {
      if (!r) continue;
      const v = graph.values.get(r)!;
      const k = graph.known.get(r);
      if (!st.isStatic(r) || v.isConst || !k) continue;
      const folded: Value = {
        ...v, role: 'initializer', producer: -1, isConst: true, consumers: [...v.consumers],
        initializer: { name: r, dtype: k.dtype, dims: [...k.dims], source: { kind: 'inline', bytes: numbersToBytes(k.dtype, k.data) } },
      };
      values.set(r, folded);
    }
  }
  return { ...graph, values };
}

export function lowerPartition(graph: ShapedGraph, part: PartitionSpec, proc: Processor, st: StaticInfo): LoweredPartition {
  const runtimeNodes = part.nodes.filter((i) => !st.folded.has(i));
  const view = withFoldedAsWeights(graph, runtimeNodes, st);
  const exported = exportOnnx(view, runtimeNodes, { outputs: part.outputs, name: `partition_${part.id}` });
  const dtypeOf = (n: string) => graph.values.get(n)!.dtype as DType;
  const precision = partitionPrecision(proc);
  if (precision === 'native') {
    return {
      bytes: exported.bytes, precision,
      inputs: exported.inputs.map((name) => ({ name, dtype: dtypeOf(name) })),
      outputs: exported.outputs.map((name) => ({ name, dtype: dtypeOf(name) })),
    };
  }
  const model = fromBinary(ModelProtoSchema, exported.bytes);
  toFloat16Storage(model, (n) => graph.values.get(n)?.dtype ?? null);
  const edge = (name: string) => ({ name, dtype: dtypeOf(name) === 'float32' ? ('float16' as DType) : dtypeOf(name) });
  return { bytes: toBinary(ModelProtoSchema, model), precision, inputs: exported.inputs.map(edge), outputs: exported.outputs.map(edge) };
}

const FLOAT = onnxCode('float32');
const FLOAT16 = onnxCode('float16');

function castNode(input: string, output: string, to: number) {
  return create(NodeProtoSchema, {
    opType: 'Cast', name: `${output}__cast`, input: [input], output: [output],
    attribute: [create(AttributeProtoSchema, { name: 'to', type: AttributeProto_AttributeType.INT, i: BigInt(to) })],
  });
}

function roundTensorToHalf(t: TensorProto): void {
  if (t.dataType !== FLOAT) return;
  const raw = t.rawData.length ? new Uint8Array(t.rawData.byteLength) : null;
  raw?.set(t.rawData);
  if (raw) {
    const view = new DataView(raw.buffer);
    for (let i = 0; i < raw.length; i += 4) view.setFloat32(i, halfToFloat(floatToHalf(view.getFloat32(i, true))), true);
    t.rawData = raw as Uint8Array<ArrayBuffer>;
  } else {
    t.floatData = t.floatData.map((x) => halfToFloat(floatToHalf(x)));
  }
}

/** Rewrites a float32 model so that every float32 value is stored as float16 (see the file comment). */
function toFloat16Storage(model: ModelProto, dtypeOf: (name: string) => DType | null): void {
  const g = model.graph!;
  for (const t of g.initializer) roundTensorToHalf(t);
  const rename = new Map<string, string>();
  const prologue: NodeProto[] = [];
  for (const vi of g.input) {
    if (vi.type?.value.case !== 'tensorType' || vi.type.value.value.elemType !== FLOAT) continue;
    vi.type.value.value.elemType = FLOAT16;
    rename.set(vi.name, `${vi.name}__f32`);
    prologue.push(castNode(vi.name, `${vi.name}__f32`, FLOAT));
  }
  const outputs = new Set(g.output.map((o) => o.name));
  const body: NodeProto[] = [];
  for (const node of g.node) {
    node.input = node.input.map((n) => rename.get(n) ?? n);
    for (const a of node.attribute) if (a.t) roundTensorToHalf(a.t);
    const after: NodeProto[] = [];
    node.output = node.output.map((o) => {
      if (o === '' || dtypeOf(o) !== 'float32') return o;
      const raw = `${o}__raw`;
      if (outputs.has(o)) {
        after.push(castNode(raw, o, FLOAT16)); // edge: leave as float16
        rename.set(o, `${o}__f32`);
        after.push(castNode(o, `${o}__f32`, FLOAT));
      } else {
        after.push(castNode(raw, `${o}__h`, FLOAT16), castNode(`${o}__h`, o, FLOAT)); // round to float16
      }
      return raw;
    });
    body.push(node, ...after);
  }
  for (const o of g.output) {
    if (o.type?.value.case === 'tensorType' && o.type.value.value.elemType === FLOAT) o.type.value.value.elemType = FLOAT16;
  }
  g.node = [...prologue, ...body];
}
