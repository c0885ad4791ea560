/**
 * Tensor and attribute conversions through import → export, against onnxruntime's own reading of the
 * original file: every element type in every TensorProto encoding (typed *_data fields, raw_data,
 * external data), as initializers and as Constant attributes, and integer attributes at the int64
 * limits.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { create, toBinary } from '@bufbuild/protobuf';
import { AttributeProtoSchema, AttributeProto_AttributeType as AT, ModelProtoSchema, StringStringEntryProtoSchema, TensorProto_DataLocation, TensorProtoSchema, type GraphProto, type ModelProto, type TensorProto } from 'onnx-buf';
import { afterAll, describe, expect, it } from 'vitest';
import { compareTensors } from '../../src/backends/compare.js';
import { Tensor, type TensorMap } from '../../src/backends/tensor.js';
import { GraphBuilder } from '../../src/ir/builder.js';
import { onnxCode, type DType } from '../../src/ir/dtype.js';
import { inferShapes } from '../../src/ir/infer.js';
import { exportOnnx } from '../../src/ir/onnx-export.js';
import { decodeModel, importOnnx, importOnnxFile } from '../../src/ir/onnx-import.js';
import { corpusModels, feedsFor, runOrt } from './corpus.js';

const tmp = mkdtempSync(join(tmpdir(), 'tessera-ir-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Exact equality of two onnxruntime tensors: type, dims and every element (bigints and NaNs included). */
function expectIdentical(got: Tensor, want: Tensor, what: string): void {
  expect(got.type, what).toBe(want.type);
  expect([...got.dims], what).toEqual([...want.dims]);
  const a = Array.from(got.data as ArrayLike<unknown>, (x) => (typeof x === 'bigint' ? x.toString() : Number.isNaN(x) ? 'NaN' : x));
  const b = Array.from(want.data as ArrayLike<unknown>, (x) => (typeof x === 'bigint' ? x.toString() : Number.isNaN(x) ? 'NaN' : x));
  expect(a, what).toEqual(b);
}

/** A model whose output is `weight` (fetched as is, or cast to `castTo`), the weight given as a TensorProto. */
function weightModel(proto: TensorProto, dtype: DType, how: 'initializer' | 'constant', castTo?: DType, opset = 25): Uint8Array {
  const b = new GraphBuilder('w', { opset, irVersion: 11 });
  const w = how === 'initializer' ? 'w' : b.node('Constant', [], 'w', {});
  const out = castTo ? b.node('Cast', [w], 'y', { to: onnxCode(castTo) }) : b.node('Identity', [w], 'y');
  b.output(out, castTo ?? dtype);
  const m = decodeModel(b.toBytes(), 'builder');
  const t = { ...proto, name: 'w' } as TensorProto;
  if (how === 'initializer') m.graph!.initializer.push(create(TensorProtoSchema, t));
  else {
    const node = m.graph!.node[0];
    node.attribute.push(create(AttributeProtoSchema, { name: 'value', type: AT.TENSOR, t: create(TensorProtoSchema, t) }));
  }
  return toBinary(ModelProtoSchema, m);
}

const f16 = (v: number) => {
  const f = new Float32Array([v]);
  const u = new Uint32Array(f.buffer)[0];
  // exact for the values used here (normal halves)
  return ((u >> 16) & 0x8000) | ((((u >> 23) & 0xff) - 112) << 10) | ((u >> 13) & 0x3ff);
};

interface Case {
  dtype: DType;
  dims: number[];
  fields: { floatData?: number[]; doubleData?: number[]; int32Data?: number[]; int64Data?: bigint[]; uint64Data?: bigint[]; stringData?: Uint8Array<ArrayBuffer>[] };
  /** Cast to this type before fetching, when onnxruntime's JS API cannot fetch `dtype` itself. */
  castTo?: DType;
}

const CASES: Case[] = [
  { dtype: 'float32', dims: [3], fields: { floatData: [1.5, -2, 3.25] } },
  { dtype: 'float64', dims: [2], fields: { doubleData: [1e300, -0.125] } },
  { dtype: 'int32', dims: [3], fields: { int32Data: [-5, 7, 2147483647] } },
  { dtype: 'int64', dims: [4], fields: { int64Data: [-9007199254740993n, 5n, 9223372036854775807n, -9223372036854775808n] } },
  { dtype: 'uint64', dims: [2], fields: { uint64Data: [18446744073709551615n, 9007199254740993n] } },
  { dtype: 'uint32', dims: [2], fields: { uint64Data: [4294967295n, 7n] } },
  { dtype: 'int8', dims: [3], fields: { int32Data: [-128, 127, -1] } },
  { dtype: 'uint8', dims: [2], fields: { int32Data: [255, 0] } },
  { dtype: 'int16', dims: [2], fields: { int32Data: [-32768, 32767] } },
  { dtype: 'uint16', dims: [2], fields: { int32Data: [65535, 1] } },
  { dtype: 'bool', dims: [3], fields: { int32Data: [1, 0, 1] } },
  { dtype: 'float16', dims: [3], fields: { int32Data: [f16(1.5), f16(-2), f16(0.5)] } },
  { dtype: 'bfloat16', dims: [2], fields: { int32Data: [0x3fc0, 0xc000] }, castTo: 'float32' }, // 1.5, -2
  { dtype: 'float8e4m3fn', dims: [2], fields: { int32Data: [0x3c, 0xc0] }, castTo: 'float32' }, // 1.5, -2
  { dtype: 'float8e5m2', dims: [2], fields: { int32Data: [0x3e, 0xc0] }, castTo: 'float32' }, // 1.5, -2
  // 4-bit: two elements per byte, first in the low nibble; 3 elements → 2 bytes.
  { dtype: 'int4', dims: [3], fields: { int32Data: [0x9 | (0x7 << 4), 0x1] }, castTo: 'int8' }, // -7, 7, 1
  { dtype: 'uint4', dims: [3], fields: { int32Data: [0xf | (0x3 << 4), 0x8] }, castTo: 'uint8' }, // 15, 3, 8
  { dtype: 'string', dims: [3], fields: { stringData: ['a', 'grüße', ''].map((s) => new Uint8Array(new TextEncoder().encode(s))) } },
];

describe('tensor encodings survive import → export (onnxruntime reads both files)', () => {
  for (const c of CASES) {
    for (const how of ['initializer', 'constant'] as const) {
      it(`${c.dtype} from typed fields, as ${how === 'initializer' ? 'an initializer' : 'a Constant attribute'}`, async () => {
        const proto = create(TensorProtoSchema, { dims: c.dims.map(BigInt), dataType: onnxCode(c.dtype), ...c.fields });
        const bytes = weightModel(proto, c.dtype, how, c.castTo);
        const want = await runOrt(bytes, {});
        const graph = importOnnx(bytes);
        const exported = exportOnnx(graph);
        const got = await runOrt(exported.bytes, {});
        expectIdentical(got.y, want.y, `${c.dtype} ${how}`);
        // Inference agrees on the value's type and shape.
        const shaped = await inferShapes(graph);
        expect(shaped.values.get('y')!.dtype).toBe(c.castTo ?? c.dtype);
        expect(shaped.values.get('y')!.shape).toEqual(c.dims);
      });
    }
  }
});

describe('external data', () => {
  /**
   * Moves the initializers of 1 KiB and more into one side file (aligned offsets) and writes both, as
   * exporters do (onnxruntime wants small shape tensors inline).
   */
  function externalize(model: ModelProto, dir: string, file: string): string {
    const chunks: Uint8Array[] = [];
    let offset = 0;
    for (const t of model.graph!.initializer) {
      if (t.rawData.length < 1024) continue;
      const pad = (4096 - (offset % 4096)) % 4096;
      if (pad) chunks.push(new Uint8Array(pad));
      offset += pad;
      chunks.push(t.rawData);
      t.externalData = [
        create(StringStringEntryProtoSchema, { key: 'location', value: file }),
        create(StringStringEntryProtoSchema, { key: 'offset', value: String(offset) }),
        create(StringStringEntryProtoSchema, { key: 'length', value: String(t.rawData.length) }),
      ];
      t.dataLocation = TensorProto_DataLocation.EXTERNAL;
      offset += t.rawData.length;
      t.rawData = new Uint8Array(0);
    }
    writeFileSync(join(dir, file), Buffer.concat(chunks));
    const path = join(dir, 'model.onnx');
    writeFileSync(path, toBinary(ModelProtoSchema, model));
    return path;
  }

  it('a model with its weights in a side file imports lazily, exports inline, and runs like the original', async () => {
    const model = corpusModels().find((m) => m.name === 'silero-vad-op18-ifless')!;
    const original = importOnnxFile(model.path);
    const dir = mkdtempSync(join(tmp, 'ext-'));
    const proto = decodeModel(new Uint8Array(readFileSync(model.path)), model.path);
    const path = externalize(proto, dir, 'weights.bin');

    const graph = importOnnxFile(path);
    const external = [...graph.values.values()].filter((v) => v.initializer?.source.kind === 'file' && (v.initializer.source as { path: string }).path.endsWith('weights.bin'));
    expect(external.length).toBeGreaterThan(0);

    const feeds: TensorMap = feedsFor(original, model, model.realistic);
    const want = await runOrt(model.path, feeds);
    const viaSideFile = await runOrt(path, feeds); // onnxruntime resolves the side file itself
    const exported = exportOnnx(graph);
    const got = await runOrt(exported.bytes, feeds);
    for (const o of graph.outputs) {
      expect(compareTensors(viaSideFile[o], want[o]).ok).toBe(true);
      expect(compareTensors(got[o], want[o]).ok, o).toBe(true);
    }
    const shaped = await inferShapes(graph, { inputShapes: model.realistic });
    expect(shaped.values.get(graph.outputs[0])!.shape).toEqual([...want[graph.outputs[0]].dims]);
  });

  it('weights inside If branches (Constant attributes) in a side file: inference reads them, export inlines them', async () => {
    const model = corpusModels().find((m) => m.name === 'silero-vad-v5')!;
    const proto = decodeModel(new Uint8Array(readFileSync(model.path)), model.path);
    const dir = mkdtempSync(join(tmp, 'ext-sub-'));
    const chunks: Uint8Array[] = [];
    let offset = 0, moved = 0;
    const walk = (g: GraphProto) => {
      for (const node of g.node) {
        for (const a of node.attribute) {
          if (a.t && a.t.rawData.length >= 1024) {
            chunks.push(a.t.rawData);
            a.t.externalData = [
              create(StringStringEntryProtoSchema, { key: 'location', value: 'branches.bin' }),
              create(StringStringEntryProtoSchema, { key: 'offset', value: String(offset) }),
              create(StringStringEntryProtoSchema, { key: 'length', value: String(a.t.rawData.length) }),
            ];
            a.t.dataLocation = TensorProto_DataLocation.EXTERNAL;
            offset += a.t.rawData.length;
            a.t.rawData = new Uint8Array(0);
            moved++;
          }
          if (a.g) walk(a.g);
          a.graphs.forEach(walk);
        }
      }
    };
    walk(proto.graph!);
    expect(moved).toBeGreaterThan(0);
    writeFileSync(join(dir, 'branches.bin'), Buffer.concat(chunks));
    const path = join(dir, 'model.onnx');
    writeFileSync(path, toBinary(ModelProtoSchema, proto));

    const graph = importOnnxFile(path);
    const feeds = feedsFor(graph, model, model.realistic);
    const want = await runOrt(model.path, feeds);
    const viaSideFile = await runOrt(path, feeds);
    const shaped = await inferShapes(graph, { inputShapes: model.realistic });
    const exported = exportOnnx(shaped);
    let external = 0;
    const count = (g: GraphProto) => {
      external += g.initializer.filter((t) => t.dataLocation === TensorProto_DataLocation.EXTERNAL).length;
      for (const n of g.node) for (const a of n.attribute) {
        if (a.t?.dataLocation === TensorProto_DataLocation.EXTERNAL) external++;
        if (a.g) count(a.g);
        a.graphs.forEach(count);
      }
    };
    count(decodeModel(exported.bytes, 'export').graph!);
    expect(external, 'external-data tensors left in the exported model').toBe(0);
    const got = await runOrt(exported.bytes, feeds); // from bytes: no directory to find branches.bin in
    for (const o of graph.outputs) {
      expect(compareTensors(viaSideFile[o], want[o]).ok).toBe(true);
      expect(compareTensors(got[o], want[o]).ok, o).toBe(true);
      expect(shaped.values.get(o)!.shape).toEqual([...want[o].dims]);
    }
  });

  it('an external-data length that does not fit the tensor is refused at import', () => {
    const model = corpusModels().find((m) => m.name === 'silero-vad-op18-ifless')!;
    const dir = mkdtempSync(join(tmp, 'ext-len-'));
    const proto = decodeModel(new Uint8Array(readFileSync(model.path)), model.path);
    const path = externalize(proto, dir, 'weights.bin');
    const t = proto.graph!.initializer.find((i) => i.externalData.length)!;
    t.externalData.find((e) => e.key === 'length')!.value = String(Number(t.externalData.find((e) => e.key === 'length')!.value) - 4);
    writeFileSync(path, toBinary(ModelProtoSchema, proto));
    expect(() => importOnnxFile(path)).toThrow(expect.objectContaining({ code: 'BAD_MODEL', message: expect.stringContaining(t.name) }));
  });

  it('a side file that is too short is refused at import with its name, not read past its end', async () => {
    const model = corpusModels().find((m) => m.name === 'silero-vad-op18-ifless')!;
    const dir = mkdtempSync(join(tmp, 'ext-short-'));
    const proto = decodeModel(new Uint8Array(readFileSync(model.path)), model.path);
    const path = externalize(proto, dir, 'weights.bin');
    writeFileSync(join(dir, 'weights.bin'), new Uint8Array(100));
    expect(() => importOnnxFile(path)).toThrow(expect.objectContaining({ code: 'EXTERNAL_DATA', message: expect.stringMatching(/weights\.bin.*past the end/) }));
  });
});

describe('integer attributes at the int64 limits', () => {
  it('Slice-1 with INT64_MIN starts and INT64_MAX ends keeps their meaning', async () => {
    const b = new GraphBuilder('s', { opset: 9, irVersion: 4 });
    const x = b.input('x', 'float32', [4, 5]);
    b.node('Slice', [x], 'a', { starts: [1, 0], ends: [1, 3], axes: [0, 1] });
    const bytes = b.output('a', 'float32').toBytes();
    // Put the real sentinels in: builder ints are numbers.
    const m = decodeModel(bytes, 'b');
    const ends = m.graph!.node[0].attribute.find((a) => a.name === 'ends')!;
    ends.ints = [9223372036854775807n, 3n];
    const starts = m.graph!.node[0].attribute.find((a) => a.name === 'starts')!;
    starts.ints = [-9223372036854775808n, 0n];
    const model = toBinary(ModelProtoSchema, m);
    const feeds: TensorMap = { x: new Tensor('float32', Float32Array.from({ length: 20 }, (_, i) => i), [4, 5]) };
    const want = await runOrt(model, feeds);
    const graph = importOnnx(model);
    const got = await runOrt(exportOnnx(graph).bytes, feeds);
    expectIdentical(got.a, want.a, 'Slice');
    const shaped = await inferShapes(graph);
    expect(shaped.values.get('a')!.shape).toEqual([...want.a.dims]);
    // The exported attribute holds the int64 sentinels again.
    const back = decodeModel(exportOnnx(graph).bytes, 'export').graph!.node[0].attribute.find((a) => a.name === 'ends')!;
    expect(back.ints).toEqual([9223372036854775807n, 3n]);
  });

  it('int64 attribute values beyond 2^53 round-trip exactly (no clamping of non-sentinel values)', () => {
    const b = new GraphBuilder('c', { opset: 17 });
    b.node('Constant', [], 'c', { value_ints: [1, 2] });
    const m = decodeModel(b.output('c', 'int64').toBytes(), 'b');
    const big = [9007199254740993n, -9007199254740995n, 1234567890123456789n, 9223372036854775806n];
    m.graph!.node[0].attribute[0].ints = big;
    const graph = importOnnx(toBinary(ModelProtoSchema, m));
    const back = decodeModel(exportOnnx(graph).bytes, 'export').graph!.node[0].attribute[0];
    expect(back.ints).toEqual(big);
  });
});

describe('graph outputs that are inputs, initializers or weights', () => {
  it('export and run keep them (onnxruntime on the original is the reference)', async () => {
    const b = new GraphBuilder('io', { opset: 17 });
    const x = b.input('x', 'float32', [2, 3]);
    b.input('unused', 'int64', [1]);
    const w = b.initializer('w', Float32Array.from([1, 2, 3, 4, 5, 6]), [2, 3]);
    const y = b.node('Add', [x, w], 'y');
    const c = b.node('Constant', [], 'c', { value_floats: { type: 'floats', value: [0.5, 1.5] } });
    const c2 = b.node('Mul', [c, c], 'c2');
    b.output(y, 'float32').output(x, 'float32').output(w, 'float32').output(c2, 'float32');
    const bytes = b.toBytes();
    const feeds: TensorMap = { x: new Tensor('float32', Float32Array.from([1, 1, 1, 2, 2, 2]), [2, 3]), unused: new Tensor('int64', BigInt64Array.from([7n]), [1]) };
    const want = await runOrt(bytes, feeds);
    const graph = importOnnx(bytes);
    expect(graph.outputs).toEqual(['y', 'x', 'w', 'c2']);
    const exported = exportOnnx(graph);
    expect(exported.inputs, 'the whole graph keeps its signature').toEqual(['x', 'unused']);
    expect(exported.outputs).toEqual(['y', 'x', 'w', 'c2']);
    const got = await runOrt(exported.bytes, feeds);
    for (const o of graph.outputs) expectIdentical(got[o], want[o], o);

    const shaped = await inferShapes(graph);
    expect(shaped.values.get('c2')!.shape).toEqual([2]);
    expect(shaped.values.get('y')!.shape).toEqual([2, 3]);

    // The Add alone: x comes in, y goes out; w travels with it.
    const part = exportOnnx(shaped, [graph.values.get('y')!.producer]);
    expect(part.inputs, 'a part takes only what it reads').toEqual(['x']);
    expect(part.outputs).toEqual(['y']);
    const p = await runOrt(part.bytes, feeds);
    expectIdentical(p.y, want.y, 'part');
  });
});
