/**
 * A small builder for ONNX models in code, for tests and examples:
 *
 *   const b = new GraphBuilder('tiny');
 *   const x = b.input('x', 'float32', ['N', 4]);
 *   const w = b.initializer('w', new Float32Array(4 * 2), [4, 2]);
 *   b.output(b.node('MatMul', [x, w], 'y'), 'float32');
 *   writeFileSync('tiny.onnx', b.toBytes());
 *
 * It checks nothing on purpose: tests use it to make broken models too (cycles, dangling values,
 * unknown domains). Import the bytes with `importOnnx` to have them checked.
 *
 * Large models: given an ExternalDataWriter (onnx-export.ts), initializers of at least its threshold
 * are written to the external-data file as they are added, and `streamedInitializer` takes a tensor's
 * bytes in chunks, so no weight need be held whole; `data.commit(b.toBytes())` writes the model.
 */
import { create, toBinary } from '@bufbuild/protobuf';
import {
  AttributeProto_AttributeType as AT,
  AttributeProtoSchema,
  GraphProtoSchema,
  ModelProtoSchema,
  NodeProtoSchema,
  OperatorSetIdProtoSchema,
  TypeProtoSchema,
  ValueInfoProtoSchema,
  type AttributeProto,
  type NodeProto,
  type TensorProto,
  type ValueInfoProto,
} from 'onnx-buf';
import { onnxCode, type DType } from './dtype.js';
import type { Attribute, Shape } from './graph.js';
import { weightToProto, type ExternalDataWriter } from './onnx-export.js';
import type { Weight } from './weight.js';

/**
 * An attribute value. Plain numbers are INT when whole and FLOAT otherwise (likewise arrays);
 * write `{ type: 'float', value: 1 }` for a float that happens to be whole.
 */
export type AttrValue = number | number[] | string | string[] | Attribute;

export type TypedArray =
  | Float32Array | Float64Array | Int8Array | Uint8Array | Int16Array | Uint16Array
  | Int32Array | Uint32Array | BigInt64Array | BigUint64Array;

const DTYPE_OF: [new (n: number) => TypedArray, DType][] = [
  [Float32Array, 'float32'], [Float64Array, 'float64'], [Int8Array, 'int8'], [Uint8Array, 'uint8'],
  [Int16Array, 'int16'], [Uint16Array, 'uint16'], [Int32Array, 'int32'], [Uint32Array, 'uint32'],
  [BigInt64Array, 'int64'], [BigUint64Array, 'uint64'],
];

const enc = new TextEncoder();

function attributeProto(name: string, v: AttrValue): AttributeProto {
  const a: Attribute =
    typeof v === 'number' ? { type: Number.isInteger(v) ? 'int' : 'float', value: v }
    : typeof v === 'string' ? { type: 'string', value: v }
    : Array.isArray(v) && v.every((x): x is string => typeof x === 'string') && v.length > 0 ? { type: 'strings', value: v }
    : Array.isArray(v) ? { type: (v as number[]).every(Number.isInteger) ? 'ints' : 'floats', value: v as number[] }
    : v;
  const p = create(AttributeProtoSchema, { name });
  switch (a.type) {
    case 'float': p.type = AT.FLOAT; p.f = a.value; break;
    case 'int': p.type = AT.INT; p.i = BigInt(a.value); break;
    case 'string': p.type = AT.STRING; p.s = enc.encode(a.value); break;
    case 'floats': p.type = AT.FLOATS; p.floats = [...a.value]; break;
    case 'ints': p.type = AT.INTS; p.ints = a.value.map((x) => BigInt(x)); break;
    case 'strings': p.type = AT.STRINGS; p.strings = a.value.map((s) => enc.encode(s)); break;
    case 'tensor': p.type = AT.TENSOR; p.t = weightToProto(a.value); break;
    case 'graph': p.type = AT.GRAPH; p.g = a.value; break;
    default: throw new Error(`GraphBuilder: attribute '${name}' of type '${a.type}' is not supported`);
  }
  return p;
}

function valueInfo(name: string, dtype: DType, shape?: Shape): ValueInfoProto {
  const dim = shape?.map((d) => ({ value: typeof d === 'number' ? { case: 'dimValue' as const, value: BigInt(d) } : { case: 'dimParam' as const, value: d } }));
  const type = create(TypeProtoSchema, { value: { case: 'tensorType', value: { elemType: onnxCode(dtype), shape: dim && { dim } } } });
  return create(ValueInfoProtoSchema, { name, type });
}

/** A constant tensor (Weight with inline bytes) from a typed array; `dtype` overrides, e.g. 'bool' over a Uint8Array. */
export function tensor(name: string, data: TypedArray, dims: readonly number[], dtype?: DType): Weight {
  const type = dtype ?? DTYPE_OF.find(([ctor]) => data instanceof ctor)![1];
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice(); // little-endian hosts
  return { name, dtype: type, dims: [...dims], source: { kind: 'inline', bytes } };
}

export class GraphBuilder {
  private readonly inputs: ValueInfoProto[] = [];
  private readonly outputs: ValueInfoProto[] = [];
  private readonly initializers: TensorProto[] = [];
  private readonly nodes: NodeProto[] = [];
  private readonly opsets = new Map<string, number>();
  private readonly irVersion: number;
  private readonly externalData?: ExternalDataWriter;

  constructor(readonly name = 'graph', options: { opset?: number; irVersion?: number; externalData?: ExternalDataWriter } = {}) {
    this.opsets.set('', options.opset ?? 17);
    this.irVersion = options.irVersion ?? 8;
    this.externalData = options.externalData;
  }

  /** Imports an operator set (the default domain '' is imported at the constructor's opset). */
  opset(domain: string, version: number): this {
    this.opsets.set(domain, version);
    return this;
  }

  /** Declares a graph input; symbolic dims are strings. Returns its name. */
  input(name: string, dtype: DType, shape: Shape): string {
    this.inputs.push(valueInfo(name, dtype, shape));
    return name;
  }

  /** Adds an initializer (a weight); to the external-data file when the builder has one and it is large enough. Returns its name. */
  initializer(name: string, data: TypedArray, dims: readonly number[], dtype?: DType): string {
    this.initializers.push(weightToProto(tensor(name, data, dims, dtype), name, this.externalData));
    return name;
  }

  /**
   * Adds an initializer whose little-endian bytes come in chunks, each written to the external-data
   * file as it comes (a chunk's buffer may be reused for the next). Needs the builder's externalData.
   */
  streamedInitializer(name: string, dtype: DType, dims: readonly number[], chunks: Iterable<Uint8Array>): string {
    if (!this.externalData) throw new Error(`GraphBuilder: streamedInitializer('${name}') needs the builder's externalData option`);
    this.initializers.push(this.externalData.tensorProto(name, dtype, dims, chunks));
    return name;
  }

  /** Adds a node; '' in `inputs` marks an omitted optional input. Returns the name of its first output. */
  node(op: string, inputs: readonly string[], outputs: string | readonly string[], attrs: Record<string, AttrValue> = {}, options: { name?: string; domain?: string } = {}): string {
    const outs = typeof outputs === 'string' ? [outputs] : [...outputs];
    this.nodes.push(create(NodeProtoSchema, {
      name: options.name ?? `${op}_${this.nodes.length}`,
      opType: op,
      domain: options.domain ?? '',
      input: [...inputs],
      output: outs,
      attribute: Object.entries(attrs).map(([k, v]) => attributeProto(k, v)),
    }));
    return outs[0];
  }

  /** Declares a graph output (the shape may be left out). */
  output(name: string, dtype: DType, shape?: Shape): this {
    this.outputs.push(valueInfo(name, dtype, shape));
    return this;
  }

  /** The model as a serialized ONNX ModelProto. */
  toBytes(): Uint8Array {
    const graph = create(GraphProtoSchema, {
      name: this.name, node: this.nodes, initializer: this.initializers, input: this.inputs, output: this.outputs,
    });
    const model = create(ModelProtoSchema, {
      irVersion: BigInt(this.irVersion),
      opsetImport: [...this.opsets].map(([domain, version]) => create(OperatorSetIdProtoSchema, { domain, version: BigInt(version) })),
      producerName: 'tessera-builder',
      graph,
    });
    return toBinary(ModelProtoSchema, model);
  }
}
