/**
 * Map: lower a partition to what its backend takes — a standalone ONNX sub-model for onnxruntime —
 * and legalize dtypes for the processor. Values folded at compile time become initializers. A
 * partition on a processor that takes no float32 (an fp16 NPU) runs in float16: its float32 inputs
 * and outputs become float16 at the edges, its weights are rounded to float16 and every float32 value
 * inside is rounded to float16 after the op that makes it.
 *
 * The float16 lowering is an emulation built for onnxruntime's CPU EP, which has no fp16 kernels on
 * x86: storage is float16 or int16 (edges, weights, every intermediate), arithmetic is float32.
 *
 * A quantized graph's QDQ groups are lowered as they are: their QuantizeLinear/DequantizeLinear nodes, the
 * integer weights and the float32 scales stay, and the values inside the groups are not rounded (the
 * storage policy keeps them float32), so onnxruntime runs each group on the quantized numerics.
 */
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { AttributeProto_AttributeType, AttributeProtoSchema, ModelProtoSchema, NodeProtoSchema, TensorProtoSchema, type AttributeProto, type ModelProto, type NodeProto, type TensorProto } from 'onnx-buf';
import { onnxCode, type DType } from '../ir/dtype.js';
import { nodeReads, type Value } from '../ir/graph.js';
import type { ShapedGraph } from '../ir/infer.js';
import { exportOnnx } from '../ir/onnx-export.js';
import { qdqRole } from '../ir/ops/quantization.js';
import { opTraits } from '../ir/ops/traits.js';
import { floatToHalf, halfToFloat, numbersToBytes } from '../ir/tensor-data.js';
import type { Processor } from '../targets/schema.js';
import type { StaticInfo } from '../ir/static.js';
import type { PartitionSpec } from '../plan/partitioning.js';
import { partitionPrecision, type Precision, type Storage } from '../targets/storage.js';

export interface LoweredPartition {
  bytes: Uint8Array;
  /** Model inputs and outputs, with the element type each has at the partition's edge. */
  inputs: { name: string; dtype: DType }[];
  outputs: { name: string; dtype: DType }[];
  precision: Precision;
  /** The directory the model's weights it references are in (external data relative to it), when it references any. */
  externalDataDir?: string;
}

/** The graph with every folded (known) value that the nodes read turned into an initializer. */
function withFoldedAsWeights(graph: ShapedGraph, nodes: readonly number[], st: StaticInfo): ShapedGraph {
  const values = new Map(graph.values);
  for (const i of nodes) {
    for (const r of nodeReads(graph.nodes[i])) {
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

/**
 * Lowers a partition. `storage` says how each value is stored in the partition's memory (from the
 * plan's buffers); on a float16 processor a float32 value is stored as float16, or as int16 with a
 * scale when its calibrated range does not fit float16.
 */
export function lowerPartition(graph: ShapedGraph, part: PartitionSpec, proc: Processor, st: StaticInfo, storage: (name: string) => Storage, referenceWeightsIn?: string): LoweredPartition {
  const runtimeNodes = part.nodes.filter((i) => !st.folded.has(i));
  const view = withFoldedAsWeights(graph, runtimeNodes, st);
  const precision = partitionPrecision(proc);
  // weights in the model's files stay there (referenced, read by the engine), unless the lowering rewrites them
  const referenced = precision === 'native' ? referenceWeightsIn : undefined;
  const exported = exportOnnx(view, runtimeNodes, { outputs: part.outputs, name: `partition_${part.id}`, ...(referenced !== undefined ? { referenceWeightsIn: referenced } : {}) });
  const dtypeOf = (n: string) => graph.values.get(n)!.dtype as DType;
  if (precision === 'native') {
    return {
      bytes: exported.bytes, precision, ...(referenced !== undefined ? { externalDataDir: referenced } : {}),
      inputs: exported.inputs.map((name) => ({ name, dtype: dtypeOf(name) })),
      outputs: exported.outputs.map((name) => ({ name, dtype: dtypeOf(name) })),
    };
  }
  const model = fromBinary(ModelProtoSchema, exported.bytes);
  const opset = Number(model.opsetImport.find((o) => o.domain === '' || o.domain === 'ai.onnx')?.version ?? 13);
  // values whose storage keeps them float32 (inside QDQ groups) are left as they are
  legalizeStorage(model, opset, (n) => { if (graph.values.get(n)?.dtype !== 'float32') return null; const s = storage(n); return s.dtype === 'float32' ? null : s; });
  const edge = (name: string) => ({ name, dtype: dtypeOf(name) === 'float32' ? (storage(name).dtype as DType) : dtypeOf(name) });
  return { bytes: toBinary(ModelProtoSchema, model), precision, inputs: exported.inputs.map(edge), outputs: exported.outputs.map(edge) };
}

const FLOAT = onnxCode('float32');
const CODES: Record<string, number> = { float16: onnxCode('float16'), int16: onnxCode('int16') };

function node(op: string, input: string[], output: string, attrs: AttributeProto[] = []): NodeProto {
  return create(NodeProtoSchema, { opType: op, name: `${output}__${op}`, input, output: [output], attribute: attrs });
}

function intAttr(name: string, v: number): AttributeProto {
  return create(AttributeProtoSchema, { name, type: AttributeProto_AttributeType.INT, i: BigInt(v) });
}

function floatAttr(name: string, v: number): AttributeProto {
  return create(AttributeProtoSchema, { name, type: AttributeProto_AttributeType.FLOAT, f: v });
}

function roundTensorToHalf(t: TensorProto): void {
  if (t.dataType !== FLOAT) return;
  if (t.rawData.length) {
    const raw = new Uint8Array(t.rawData.byteLength);
    raw.set(t.rawData);
    const view = new DataView(raw.buffer);
    for (let i = 0; i < raw.length; i += 4) view.setFloat32(i, halfToFloat(floatToHalf(view.getFloat32(i, true))), true);
    t.rawData = raw;
  } else {
    t.floatData = t.floatData.map((x) => halfToFloat(floatToHalf(x)));
  }
}

/**
 * Rewrites a float32 model so every float32 value is stored as the plan says: weights rounded to
 * float16; inputs and outputs in their stored type at the edges; every value inside rounded to its
 * stored type after the op that makes it (Cast to float16 and back, or int16 quantize-dequantize with
 * Floor(x/s + 0.5) clipped to the int16 range, then × s).
 */
function legalizeStorage(model: ModelProto, opset: number, storageOf: (name: string) => Storage | null): void {
  const g = model.graph!;
  // A compiler for such a processor folds BatchNormalization into the op before it in float32 (its
  // variance and scale lose everything in float16): keep the statistics in float32, and round the
  // product's output only after the normalization.
  const fused = new Set<string>();
  const keptFloat32 = new Set<string>();
  const consumers = new Map<string, number>();
  for (const n of g.node) for (const i of n.input) consumers.set(i, (consumers.get(i) ?? 0) + 1);
  const producers = new Map(g.node.flatMap((n) => n.output.map((o) => [o, n.opType] as const)));
  for (const n of g.node) {
    if (opTraits(n.opType).fusible !== 'batchnorm') continue;
    n.input.slice(1, 5).forEach((i) => keptFloat32.add(i));
    const x = n.input[0];
    if (opTraits(producers.get(x) ?? '').linear && consumers.get(x) === 1) fused.add(x);
  }
  // the scales of QuantizeLinear/DequantizeLinear are the quantization itself: kept float32, as every value inside a QDQ group
  for (const n of g.node) if (qdqRole(n.opType, n.domain)) n.input.slice(1).forEach((i) => keptFloat32.add(i));
  for (const t of g.initializer) if (!keptFloat32.has(t.name)) roundTensorToHalf(t);
  const consts = new Map<number, string>();
  const scalar = (v: number): string => {
    let name = consts.get(v);
    if (!name) {
      name = `__legal_const_${consts.size}`;
      consts.set(v, name);
      g.initializer.push(create(TensorProtoSchema, { name, dataType: FLOAT, dims: [], floatData: [v] }));
    }
    return name;
  };
  const clip = (x: string, out: string) =>
    opset < 11 ? node('Clip', [x], out, [floatAttr('min', -32768), floatAttr('max', 32767)]) : node('Clip', [x, scalar(-32768), scalar(32767)], out);
  /** Float32 `x` → the stored integer of int16 storage with scale s, still as float32. */
  const quantize = (x: string, s: number, out: string): NodeProto[] => [
    node('Mul', [x, scalar(1 / s)], `${out}__scaled`),
    node('Add', [`${out}__scaled`, scalar(0.5)], `${out}__half`),
    node('Floor', [`${out}__half`], `${out}__floor`),
    clip(`${out}__floor`, out),
  ];
  /** Rounds float32 `x` to what its storage can hold, as float32 `out`. */
  const round = (x: string, st: Storage, out: string): NodeProto[] =>
    st.dtype === 'int16'
      ? [...quantize(x, st.scale!, `${out}__q`), node('Mul', [`${out}__q`, scalar(st.scale!)], out)]
      : [node('Cast', [x], `${out}__h`, [intAttr('to', CODES[st.dtype])]), node('Cast', [`${out}__h`], out, [intAttr('to', FLOAT)])];

  const rename = new Map<string, string>();
  const prologue: NodeProto[] = [];
  for (const vi of g.input) {
    const st = storageOf(vi.name);
    if (!st || vi.type?.value.case !== 'tensorType') continue;
    vi.type.value.value.elemType = CODES[st.dtype];
    const f32 = `${vi.name}__f32`;
    rename.set(vi.name, f32);
    if (st.dtype === 'int16') prologue.push(node('Cast', [vi.name], `${f32}__int`, [intAttr('to', FLOAT)]), node('Mul', [`${f32}__int`, scalar(st.scale!)], f32));
    else prologue.push(node('Cast', [vi.name], f32, [intAttr('to', FLOAT)]));
  }
  const outputs = new Set(g.output.map((o) => o.name));
  const body: NodeProto[] = [];
  for (const n of g.node) {
    n.input = n.input.map((x) => rename.get(x) ?? x);
    if (!(n.opType === 'Constant' && n.output.some((o) => keptFloat32.has(o)))) for (const a of n.attribute) if (a.t) roundTensorToHalf(a.t);
    const after: NodeProto[] = [];
    n.output = n.output.map((o) => {
      const st = o === '' || fused.has(o) || keptFloat32.has(o) ? null : storageOf(o);
      if (!st) return o;
      const raw = `${o}__raw`;
      if (outputs.has(o)) {
        // the edge leaves in the stored type; consumers inside read the rounded float32 value
        const f32 = `${o}__f32`;
        rename.set(o, f32);
        after.push(...round(raw, st, f32));
        if (st.dtype === 'int16') after.push(...quantize(raw, st.scale!, `${o}__qo`), node('Cast', [`${o}__qo`], o, [intAttr('to', CODES.int16)]));
        else after.push(node('Cast', [raw], o, [intAttr('to', CODES[st.dtype])]));
      } else {
        after.push(...round(raw, st, o));
      }
      return raw;
    });
    body.push(n, ...after);
  }
  for (const o of g.output) {
    const st = storageOf(o.name);
    if (st && o.type?.value.case === 'tensorType') o.type.value.value.elemType = CODES[st.dtype];
  }
  g.node = [...prologue, ...body];
}
