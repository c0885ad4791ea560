/**
 * A model's signature read from its bytes without decoding (src/ir/model-signature.ts), against the
 * import (the protobuf decoder and the graph it builds) as the reference: the same inputs, outputs,
 * element types and declared shapes on every corpus model and on built ones; the same refusals for the
 * limits and for value names; and null — import it — wherever the import confines, refuses or reads
 * something this reading does not (external data, sparse tensors, malformed bytes). The wire format's
 * field numbers are checked against onnx-buf's descriptors.
 */
import { readFileSync } from 'node:fs';
import { create, fromBinary, toBinary, type DescMessage } from '@bufbuild/protobuf';
import {
  AttributeProtoSchema, FunctionProtoSchema, GraphProtoSchema, ModelProtoSchema, NodeProtoSchema, SparseTensorProtoSchema, TensorProtoSchema,
  TensorShapeProto_DimensionSchema, TensorShapeProtoSchema, TypeProto_TensorSchema, TypeProtoSchema, ValueInfoProtoSchema,
} from 'onnx-buf';
import { describe, expect, it } from 'vitest';
import { addModel, BOMBS, bombModel, externalAddModel, externalSubgraphModel, HOSTILE_NAMES, manyNodesModel, namedModel, nestedModel } from '../../bench/hostile-models.js';
import { TesseraError } from '../../src/errors.js';
import { GraphBuilder } from '../../src/ir/builder.js';
import { DEFAULT_LIMITS, resolveLimits } from '../../src/ir/limits.js';
import { readSignature, type ModelSignature } from '../../src/ir/model-signature.js';
import { importOnnx } from '../../src/ir/onnx-import.js';
import { FIELD } from '../../src/ir/onnx-wire.js';
import { corpusCases } from '../helpers/models.js';

/** What a session shows of a model: its inputs and outputs, each with its element type and declared shape. */
function shown(g: ModelSignature) {
  const v = (n: string) => {
    const x = g.values.get(n)!;
    return { name: n, dtype: x.dtype, shape: x.declaredShape ?? x.shape };
  };
  return { inputs: g.inputs.map(v), outputs: g.outputs.map(v) };
}

function outcome(f: () => unknown): string {
  try {
    const r = f();
    return r === null ? 'null' : 'read';
  } catch (err) {
    return err instanceof TesseraError ? `${err.code}: ${err.message}` : `crash: ${String(err)}`;
  }
}

describe('the wire format', () => {
  it("every field number is onnx.proto's, as onnx-buf's descriptors give it", () => {
    const schemas: Record<keyof typeof FIELD, DescMessage> = {
      model: ModelProtoSchema, graph: GraphProtoSchema, function: FunctionProtoSchema, node: NodeProtoSchema, attribute: AttributeProtoSchema,
      sparseTensor: SparseTensorProtoSchema, tensor: TensorProtoSchema, valueInfo: ValueInfoProtoSchema, type: TypeProtoSchema,
      typeTensor: TypeProto_TensorSchema, shape: TensorShapeProtoSchema, dim: TensorShapeProto_DimensionSchema,
    };
    let checked = 0;
    for (const [message, fields] of Object.entries(FIELD) as [keyof typeof FIELD, Record<string, number>][]) {
      for (const [name, number] of Object.entries(fields)) {
        // a Dimension's oneof members are dim_value and dim_param
        const local = message === 'dim' ? `dim${name[0].toUpperCase()}${name.slice(1)}` : name;
        const field = schemas[message].fields.find((f) => f.localName === local);
        expect(field?.number, `${message}.${name}`).toBe(number);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(25);
  });
});

describe('the signature, against the import', () => {
  it.each(corpusCases().map((c) => [c.name, c.path] as const))('%s: the same inputs and outputs, types and declared shapes', (_, file) => {
    const bytes = new Uint8Array(readFileSync(file));
    const sig = readSignature(bytes, file, DEFAULT_LIMITS);
    expect(sig).not.toBeNull();
    expect(shown(sig!)).toEqual(shown(importOnnx(bytes, { path: file })));
  });

  it('built models: symbolic, unnamed and fixed dims; an initializer listed as an input (IR 3); an output that is an input; several outputs', () => {
    const b = new GraphBuilder('sig', { irVersion: 3, opset: 9 });
    b.input('x', 'float32', ['batch', 3, 'h']);
    b.input('k', 'int64', []);
    const w = b.initializer('w', new Float32Array(3), [3]);
    const y = b.node('Add', ['x', w], 'y');
    b.node('Relu', [y], 'z');
    b.output('z', 'float32', ['batch', 3, 'h']).output('y', 'float32').output('k', 'int64', []);
    const model = fromBinary(ModelProtoSchema, b.toBytes());
    model.graph!.input.push(create(ValueInfoProtoSchema, { name: 'w', type: create(TypeProtoSchema, { value: { case: 'tensorType', value: { elemType: 1, shape: { dim: [{ value: { case: 'dimValue', value: 3n } }] } } } }) }));
    // an unnamed dim on x (no value, no param)
    (model.graph!.input[0].type!.value.value as { shape: { dim: unknown[] } }).shape.dim.push(create(TensorShapeProto_DimensionSchema, {}));
    const bytes = toBinary(ModelProtoSchema, model);
    const sig = readSignature(bytes, 'sig', DEFAULT_LIMITS)!;
    const ref = importOnnx(bytes);
    expect(shown(sig)).toEqual(shown(ref));
    expect(sig.inputs).toEqual(['x', 'k']);
    expect(sig.values.get('x')!.declaredShape).toEqual(['batch', 3, 'h', '?3']);
  });

  it('null wherever the import confines, refuses or reads another way: external data (top level, subgraph, function), sparse tensors, malformed bytes', () => {
    const sparse = addModel();
    sparse.graph!.sparseInitializer.push(create(SparseTensorProtoSchema, { values: create(TensorProtoSchema, { name: 's', dims: [1n], dataType: 1, floatData: [1] }), indices: create(TensorProtoSchema, { dims: [1n], dataType: 7, int64Data: [0n] }), dims: [4n] }));
    const fn = addModel();
    fn.functions.push(create(FunctionProtoSchema, {
      name: 'F', domain: 'local', input: ['a'], output: ['b'],
      node: [create(NodeProtoSchema, { opType: 'Constant', output: ['b'], attribute: [create(AttributeProtoSchema, { name: 'value', type: 4, t: create(TensorProtoSchema, { name: 'k', dims: [4n], dataType: 1, dataLocation: 1, externalData: [{ key: 'location', value: 'k.bin' }] as never }) })] })],
    }));
    const good = toBinary(ModelProtoSchema, addModel());
    const cases: Record<string, Uint8Array> = {
      'external initializer': externalAddModel('w.bin'),
      'external data in a subgraph': externalSubgraphModel('w.bin'),
      'external data in a function': toBinary(ModelProtoSchema, fn),
      'a sparse initializer': toBinary(ModelProtoSchema, sparse),
      truncated: good.subarray(0, good.length - 7),
      'not protobuf': new TextEncoder().encode('this is not an ONNX model at all'),
      'no graph': toBinary(ModelProtoSchema, create(ModelProtoSchema, { irVersion: 8n })),
    };
    for (const [what, bytes] of Object.entries(cases)) expect(outcome(() => readSignature(bytes, what, DEFAULT_LIMITS)), what).toBe('null');
    expect(outcome(() => readSignature(good, 'good', DEFAULT_LIMITS))).toBe('read');
  });

  it('the limits refuse what the import refuses, with its code: declared bombs, nesting, node counts', () => {
    for (const kind of BOMBS) {
      const bytes = bombModel(kind);
      const ref = outcome(() => importOnnx(bytes));
      const got = outcome(() => readSignature(bytes, '<bytes>', DEFAULT_LIMITS));
      // bombs the import finds in declarations it refuses; the signature refuses the same (inferred bombs: neither reads them)
      if (ref.startsWith('LIMIT_EXCEEDED')) expect(got, kind).toMatch(/^LIMIT_EXCEEDED: .*maxTensorBytes/);
      else expect(got, kind).toBe('read');
    }
    const deep = nestedModel(DEFAULT_LIMITS.maxSubgraphDepth + 1);
    expect(outcome(() => readSignature(deep, 'deep', DEFAULT_LIMITS))).toMatch(/^LIMIT_EXCEEDED: .*maxSubgraphDepth/);
    expect(outcome(() => readSignature(nestedModel(20), 'deep', resolveLimits({ maxSubgraphDepth: 20 })))).toBe('read');
    const many = manyNodesModel(10);
    expect(outcome(() => importOnnx(many, { limits: { maxNodes: 5 } }))).toMatch(/^LIMIT_EXCEEDED: .*maxNodes/);
    expect(outcome(() => readSignature(many, 'many', resolveLimits({ maxNodes: 5 })))).toMatch(/^LIMIT_EXCEEDED: .*maxNodes/);
  });

  it('value names that key feeds and outputs: refused as the import refuses them, hostile but legal names read as the import reads them', () => {
    for (const name of ['__proto__', 'constructor', 'toString']) {
      const b = new GraphBuilder('names');
      b.input(name, 'float32', [1]);
      b.node('Relu', [name], 'y');
      b.output('y', 'float32', [1]);
      const bytes = b.toBytes();
      expect(outcome(() => readSignature(bytes, 'names', DEFAULT_LIMITS)), name).toMatch(/^BAD_MODEL: .*value name/);
      expect(outcome(() => importOnnx(bytes, { path: 'names' })), name).toMatch(/^BAD_MODEL: .*value name/);
    }
    for (const [i] of HOSTILE_NAMES.entries()) {
      const bytes = namedModel((k) => `${HOSTILE_NAMES[(i + k) % HOSTILE_NAMES.length]}#${k}`);
      const ref = outcome(() => importOnnx(bytes));
      if (ref !== 'read') continue;
      expect(shown(readSignature(bytes, 'hostile', DEFAULT_LIMITS)!)).toEqual(shown(importOnnx(bytes)));
    }
  });
});
