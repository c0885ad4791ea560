/**
 * The GraphBuilder (src/ir/builder.ts) and the bundled example programs, run the way the README
 * tells a user to run them.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fromBinary } from '@bufbuild/protobuf';
import * as ort from 'onnxruntime-node';
import { AttributeProto_AttributeType as AT, ModelProtoSchema } from 'onnx-buf';
import { afterAll, describe, expect, it } from 'vitest';
import { buildBranchyCnn } from '../../examples/branchy-cnn/model.js';
import { GraphBuilder } from '../../src/ir/builder.js';
import { importOnnx } from '../../src/ir/onnx-import.js';
import { ROOT, tempDir } from './helpers.js';

const { dir, cleanup } = tempDir('examples');
afterAll(cleanup);

describe('GraphBuilder', () => {
  const b = new GraphBuilder('tiny');
  const x = b.input('x', 'float32', ['N', 4]);
  const w = b.initializer('w', Float32Array.from({ length: 8 }, (_, i) => i / 8), [4, 2]);
  const y = b.node('MatMul', [x, w], 'y', {}, { name: 'mm' });
  const shape = b.initializer('shape', BigInt64Array.from([-1n]), [1]);
  const flat = b.node('Reshape', [y, shape], 'flat');
  b.node('LeakyRelu', [flat], 'out', { alpha: 0.25 });
  b.node('Gemm', [x, w], 'g', { alpha: { type: 'float', value: 2 }, transA: 0 });
  b.output('out', 'float32', ['N2']).output('g', 'float32');
  const bytes = b.toBytes();

  it('writes a ModelProto at IR 8 / opset 17 with typed attributes and initializers', () => {
    const m = fromBinary(ModelProtoSchema, bytes);
    expect(m.irVersion).toBe(8n);
    expect(m.opsetImport.map((o) => [o.domain, o.version])).toEqual([['', 17n]]);
    const g = m.graph!;
    expect(g.node.map((n) => n.opType)).toEqual(['MatMul', 'Reshape', 'LeakyRelu', 'Gemm']);
    expect(g.node[0].name).toBe('mm');
    expect(g.initializer.map((t) => [t.name, t.dataType, t.rawData.length])).toEqual([['w', 1, 32], ['shape', 7, 8]]);
    const attrs = Object.fromEntries(g.node.flatMap((n) => n.attribute).map((a) => [a.name, a.type]));
    expect(attrs).toEqual({ alpha: AT.FLOAT, transA: AT.INT });
    expect(g.node[2].attribute[0].f).toBe(0.25);
    expect(g.node[3].attribute[0].f).toBe(2);
  });

  it('imports into the IR with the declared inputs, outputs and weights', () => {
    const graph = importOnnx(bytes);
    expect(graph.inputs).toEqual(['x']);
    expect(graph.outputs).toEqual(['out', 'g']);
    expect(graph.values.get('x')!.shape).toEqual(['N', 4]);
    expect(graph.values.get('w')!.initializer!.dims).toEqual([4, 2]);
    expect(graph.values.get('shape')!.dtype).toBe('int64');
  });

  it('makes models onnxruntime runs', async () => {
    const session = await ort.InferenceSession.create(bytes);
    const res = await session.run({ x: new ort.Tensor('float32', Float32Array.from([1, -1, 1, -1, 0, 0, 0, 1]), [2, 4]) });
    await session.release();
    // row 0: [1,-1,1,-1]·w = [(0-2+4-6)/8, (1-3+5-7)/8] = [-0.5, -0.5] → LeakyRelu(0.25) → -0.125
    expect(Array.from(res.out.data as Float32Array)).toEqual([-0.125, -0.125, 6 / 8, 7 / 8]);
    expect(res.out.dims).toEqual([4]);
    expect(Array.from(res.g.data as Float32Array)).toEqual([-1, -1, 12 / 8, 14 / 8]);
  });
});

describe('examples/branchy-cnn', () => {
  it('builds the same bytes every time (seeded weights)', () => {
    expect(Buffer.from(buildBranchyCnn()).equals(Buffer.from(buildBranchyCnn()))).toBe(true);
  });

  it('build.ts writes the model and classify.ts runs it through the Session API', () => {
    const model = join(dir, 'model.onnx');
    const tsx = join(ROOT, 'node_modules/.bin/tsx');
    const build = spawnSync(tsx, ['examples/branchy-cnn/build.ts', model], { cwd: ROOT, encoding: 'utf8' });
    expect(build.status).toBe(0);
    expect(Buffer.from(readFileSync(model)).equals(Buffer.from(buildBranchyCnn()))).toBe(true);

    const run = spawnSync(tsx, ['examples/branchy-cnn/classify.ts', model], { cwd: ROOT, encoding: 'utf8' });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(/^image 0: class \d \(p = 0\.\d{3}\)\nimage 1: class \d \(p = 0\.\d{3}\)\ninputs image; outputs probs\n$/);
  });
});
