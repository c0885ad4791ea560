/**
 * Writing ONNX external data (ExternalDataWriter in onnx-export.ts, used by GraphBuilder and
 * exportOnnx): one data file beside the model, relative location, streamed chunks, nothing left
 * behind on failure. The reference is onnxruntime loading the written files itself.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../src/ir/builder.js';
import { ExternalDataWriter, exportOnnx } from '../../src/ir/onnx-export.js';
import { importOnnxFile } from '../../src/ir/onnx-import.js';

const tmp = mkdtempSync(join(tmpdir(), 'tessera-extdata-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** y = x·W with W [4, 300] (4.8 KB, external) given in chunks of 7 rows' worth of bytes, and a bias of 300 inline-sized floats. */
function writeModel(path: string): Float32Array {
  const w = Float32Array.from({ length: 4 * 300 }, (_, i) => Math.sin(i));
  const data = new ExternalDataWriter(path);
  const b = new GraphBuilder('ext', { externalData: data });
  b.input('x', 'float32', [1, 4]);
  const bytes = new Uint8Array(w.buffer);
  function* chunks() {
    for (let o = 0; o < bytes.length; o += 28) yield bytes.subarray(o, Math.min(o + 28, bytes.length));
  }
  b.streamedInitializer('W', 'float32', [4, 300], chunks());
  b.initializer('two', Float32Array.from([2]), []); // 4 bytes: stays inline
  b.node('MatMul', ['x', 'W'], 'xw');
  b.node('Mul', ['xw', 'two'], 'y');
  b.output('y', 'float32', [1, 300]);
  data.commit(b.toBytes());
  return w;
}

describe('ExternalDataWriter', () => {
  it('writes the model and one data file beside it that onnxruntime and the importer read', async () => {
    const path = join(tmp, 'a', 'm.onnx');
    const w = writeModel(path);
    expect(readdirSync(join(tmp, 'a')).sort()).toEqual(['m.onnx', 'm.onnx.data']);
    const graph = importOnnxFile(path);
    const W = graph.values.get('W')!.initializer!;
    expect(W.source).toEqual({ kind: 'file', path: join(tmp, 'a', 'm.onnx.data'), offset: 0, length: 4800 });
    expect(graph.values.get('two')!.initializer!.source.kind).toBe('inline');

    const x = Float32Array.from([1, -2, 0.5, 3]);
    const s = await ort.InferenceSession.create(path);
    const y = (await s.run({ x: new ort.Tensor('float32', x, [1, 4]) })).y.data as Float32Array;
    await s.release();
    for (let o = 0; o < 300; o++) expect(y[o]).toBeCloseTo(2 * (x[0] * w[o] + x[1] * w[300 + o] + x[2] * w[600 + o] + x[3] * w[900 + o]), 4);

    // exportOnnx with a writer: the copy keeps its weights outside too, at an aligned offset
    const copyPath = join(tmp, 'b', 'copy.onnx');
    const writer = new ExternalDataWriter(copyPath, { location: 'weights.bin' });
    writer.commit(exportOnnx(graph, undefined, { externalData: writer }).bytes);
    expect(readdirSync(join(tmp, 'b')).sort()).toEqual(['copy.onnx', 'weights.bin']);
    expect(importOnnxFile(copyPath).values.get('W')!.initializer!.source).toMatchObject({ kind: 'file', path: join(tmp, 'b', 'weights.bin'), length: 4800 });
    const c = await ort.InferenceSession.create(copyPath);
    const y2 = (await c.run({ x: new ort.Tensor('float32', x, [1, 4]) })).y.data as Float32Array;
    await c.release();
    expect([...y2]).toEqual([...y]);
  });

  it('refuses a location that is not a plain file name beside the model', () => {
    for (const location of ['/tmp/w.bin', '../w.bin', 'sub/w.bin', '..', '']) {
      expect(() => new ExternalDataWriter(join(tmp, 'c', 'm.onnx'), { location }), location).toThrow(expect.objectContaining({ code: 'BAD_ARGUMENT' }));
    }
  });

  it('leaves nothing behind when abandoned or when a tensor is short of its bytes', () => {
    const dir = join(tmp, 'd');
    const data = new ExternalDataWriter(join(dir, 'm.onnx'));
    data.append(new Uint8Array(100));
    data.abort();
    expect(readdirSync(dir)).toEqual([]);

    const again = new ExternalDataWriter(join(dir, 'm.onnx'));
    const b = new GraphBuilder('short', { externalData: again });
    expect(() => b.streamedInitializer('W', 'float32', [10, 10], [new Uint8Array(396)])).toThrow(/396 bytes written/);
    expect(readdirSync(dir)).toEqual([]);
    expect(existsSync(join(dir, 'm.onnx'))).toBe(false);
  });
});
