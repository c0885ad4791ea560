/**
 * A model's external data is confined to its directory. The three hostile models of issue 19 — y = x + w
 * with w's data at the absolute path of a secret file outside the model's directory, at
 * `../secret.txt`, or at `w-link.bin`, a symbolic link to it — are refused with EXTERNAL_DATA by
 * `tessera inspect`, `compile`, `run`, `viz` (as a user runs them) and by Session.create, with the secret
 * never read (its access time), no file written, and none of its text printed. onnxruntime refuses the
 * same three files. A model whose external data is in its own directory, or a subdirectory, runs as
 * onnxruntime runs it.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addModel, ESCAPES, externalAddModel, externalize, externalSubgraphModel, makeSandbox, markUnread, SECRET, wasRead, writeEscape, type Sandbox } from '../../bench/hostile-models.js';
import { importOnnx, importOnnxFile } from '../../src/compiler/api.js';
import { Session, Tensor } from '../../src/index.js';
import { floatTensorFile, tessera } from '../cli/helpers.js';
import { atimeWorks, caught, expectContained } from './helpers.js';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { AttributeProto_AttributeType, AttributeProtoSchema, FunctionProtoSchema, ModelProtoSchema, NodeProtoSchema, OperatorSetIdProtoSchema, SparseTensorProtoSchema, TensorProtoSchema } from 'onnx-buf';

let sb: Sandbox;
beforeAll(() => {
  sb = makeSandbox('sec-ext');
});
afterAll(() => sb.cleanup());

const x0 = () => ({ x: new Tensor('float32', new Float32Array(4), [4]) });
const cliText = (r: { stdout: string; stderr: string }) => r.stdout + r.stderr;

/** A CLI refusal: exit 2, one line with the code, naming the initializer and its location. */
function expectRefusedCli(r: { status: number | null; stdout: string; stderr: string }, location: string): void {
  expect(r.status, cliText(r)).toBe(2);
  expect(r.stderr).toMatch(/^tessera: error \[EXTERNAL_DATA\]: /);
  expect(r.stderr).toContain("initializer 'w'");
  expect(r.stderr).toContain(`'${location}'`);
}

const locationOf = (kind: string, s: Sandbox) => (kind === 'absolute' ? s.secret : kind === 'escaping' ? '../secret.txt' : 'w-link.bin');

describe('the sandbox', () => {
  it('records reads in access times (so "the secret was not read" is a real check here)', () => {
    expect(atimeWorks(sb)).toBe(true);
  });
});

describe('onnxruntime refuses the three hostile models too (the reference behaviour)', () => {
  for (const kind of ESCAPES) {
    it(kind, async () => {
      const path = writeEscape(sb, kind);
      markUnread(sb.secret);
      await expect(ort.InferenceSession.create(path)).rejects.toThrow(kind === 'absolute' ? /Absolute path not allowed/ : /escapes model directory/);
      expect(wasRead(sb.secret)).toBe(false);
    });
  }
});

describe('the three hostile models are refused with EXTERNAL_DATA, the secret unread, nothing written', () => {
  for (const kind of ESCAPES) {
    describe(kind, () => {
      let model: string;
      beforeAll(() => {
        model = writeEscape(sb, kind);
      });

      it('tessera inspect', async () => {
        const r = await expectContained(sb, () => tessera('inspect', model, '--json'), cliText);
        expectRefusedCli(r, locationOf(kind, sb));
      });

      it('tessera compile --out', async () => {
        const out = join(sb.root, 'out', 'plan.json');
        const r = await expectContained(sb, () => tessera('compile', model, '--target', 'snapdragon-8-gen-3', '--out', out), cliText);
        expectRefusedCli(r, locationOf(kind, sb));
      });

      it('tessera compile --data (calibration of float16 ranges on given inputs)', async () => {
        const data = join(sb.root, `data-${kind}`);
        mkdirSync(data, { recursive: true });
        writeFileSync(join(data, 'input_0.pb'), floatTensorFile([4], new Float32Array(4)));
        const r = await expectContained(sb, () => tessera('compile', model, '--target', 'snapdragon-8-gen-3', '--data', data, '--out', join(sb.root, 'plan.json')), cliText);
        expectRefusedCli(r, locationOf(kind, sb));
      });

      it('tessera run --out --check', async () => {
        const r = await expectContained(sb, () => tessera('run', model, '--out', join(sb.root, 'out-run'), '--check', '--json'), cliText);
        expectRefusedCli(r, locationOf(kind, sb));
      });

      it('tessera viz (the plan beside the model, and with --model)', async () => {
        // a plan for this very file (its sha256), compiled from a twin whose w is inline
        const twin = join(mkdtempSync(join(sb.root, 'twin-')), 'twin.onnx');
        writeFileSync(twin, toBinary(ModelProtoSchema, addModel()));
        const compiled = tessera('compile', twin, '--target', 'snapdragon-8-gen-3', '--out', join(sb.root, 'twin.json'));
        expect(compiled.status, cliText(compiled)).toBe(0);
        rmSync(join(twin, '..'), { recursive: true });
        const plan = JSON.parse(readFileSync(join(sb.root, 'twin.json'), 'utf8'));
        rmSync(join(sb.root, 'twin.json'));
        plan.model.file = basename(model);
        plan.model.sha256 = createHash('sha256').update(readFileSync(model)).digest('hex');
        const planPath = join(sb.modelDir, `${kind}-plan.json`);
        writeFileSync(planPath, JSON.stringify(plan));
        for (const args of [[], ['--model', model]]) {
          const r = await expectContained(sb, () => tessera('viz', planPath, '-o', join(sb.root, 'plan.html'), ...args), cliText);
          expectRefusedCli(r, locationOf(kind, sb));
        }
        rmSync(planPath);
      });

      it('Session.create, from the path and from bytes with the model directory named', async () => {
        for (const create of [() => Session.create(model), () => Session.create(new Uint8Array(readFileSync(model)), { externalDataDir: sb.modelDir })]) {
          const err = await expectContained(sb, () => caught(create), (e) => e.message);
          expect(err.code).toBe('EXTERNAL_DATA');
          expect(err.message).toContain("initializer 'w'");
          expect(err.message).toContain(`'${locationOf(kind, sb)}'`);
        }
      });
    });
  }
});

describe('other external data that is refused before anything is read', () => {
  const at = (name: string) => join(sb.modelDir, name);

  it('data past the end of its file (inside the directory): EXTERNAL_DATA at import, by Session and the CLI', async () => {
    writeFileSync(at('short.bin'), new Uint8Array(12));
    writeFileSync(at('short.onnx'), externalAddModel('short.bin'));
    const err = await expectContained(sb, () => caught(() => Session.create(at('short.onnx'))), (e) => e.message);
    expect(err.code).toBe('EXTERNAL_DATA');
    expect(err.message).toMatch(/'short\.bin'.*16 bytes at offset 0 run past the end of the file \(12 bytes\)/);
    const offset = await caught(() => importOnnx(externalAddModel('short.bin', { offset: '8', length: '16' }), { path: at('m.onnx') }));
    expect(offset.code).toBe('EXTERNAL_DATA');
    const r = await expectContained(sb, () => tessera('run', at('short.onnx'), '--out', join(sb.root, 'o')), cliText);
    expectRefusedCli(r, 'short.bin');
  });

  it('a model given as bytes reads no external file unless a directory is named', async () => {
    writeFileSync(at('w4.bin'), new Float32Array([1, 2, 3, 4]));
    const bytes = externalAddModel('w4.bin');
    markUnread(at('w4.bin'));
    for (const f of [() => importOnnx(bytes), () => Session.create(bytes)]) {
      const err = await caught(f);
      expect(err.code).toBe('EXTERNAL_DATA');
      expect(err.message).toMatch(/given as bytes.*externalDataDir/);
    }
    expect(wasRead(at('w4.bin')), 'the data file beside the process was read').toBe(false);
    const session = await Session.create(bytes, { externalDataDir: sb.modelDir });
    expect([...(await session.run(x0())).y.data as Float32Array]).toEqual([1, 2, 3, 4]);
    await session.release();
  });

  it('external data in a subgraph (an If branch) is checked at import, before inference or export reads it', async () => {
    markUnread(sb.secret);
    for (const loc of [sb.secret, '../secret.txt', 'w-link.bin']) {
      const err = await caught(() => Session.create(externalSubgraphModel(loc), { externalDataDir: sb.modelDir }));
      expect(err.code).toBe('EXTERNAL_DATA');
      expect(err.message).toContain("then_branch': initializer 'w'");
    }
    expect(wasRead(sb.secret)).toBe(false);
  });

  it('a test-data tensor (run --data) with external data is refused: its file is read by no one', async () => {
    writeFileSync(at('plain.onnx'), toBinary(ModelProtoSchema, addModel()));
    const data = mkdtempSync(join(sb.root, 'data-'));
    const t = fromBinary(TensorProtoSchema, floatTensorFile([4], new Float32Array(4)));
    externalize(t, sb.secret);
    writeFileSync(join(data, 'input_0.pb'), toBinary(TensorProtoSchema, t));
    const r = await expectContained(sb, () => tessera('run', at('plain.onnx'), '--data', data, '--out', join(sb.root, 'o')), cliText);
    expect(r.status, cliText(r)).toBe(2);
    expect(r.stderr).toMatch(/\[BAD_TEST_DATA\]: .*input_0\.pb.*refused/);
  });

  it('external data in a function or a sparse tensor (passed to engines unread) is refused outright', async () => {
    const ext = (name: string) => {
      const t = create(TensorProtoSchema, { name, dims: [4n], dataType: 1, rawData: new Uint8Array(16) });
      externalize(t, 'w4.bin');
      return t;
    };
    // a model-local function whose Constant holds external data
    const f = fromBinary(ModelProtoSchema, externalAddModel('w4.bin'));
    f.graph!.initializer[0] = create(TensorProtoSchema, { name: 'w', dims: [4n], dataType: 1, rawData: new Uint8Array(16) });
    f.opsetImport.push(create(OperatorSetIdProtoSchema, { domain: 'local', version: 1n }));
    f.functions.push(create(FunctionProtoSchema, {
      name: 'F', domain: 'local', input: ['a'], output: ['b'], opsetImport: [create(OperatorSetIdProtoSchema, { domain: '', version: 17n })],
      node: [create(NodeProtoSchema, { opType: 'Constant', output: ['k'], attribute: [create(AttributeProtoSchema, { name: 'value', type: AttributeProto_AttributeType.TENSOR, t: ext('k') })] }), create(NodeProtoSchema, { opType: 'Add', input: ['a', 'k'], output: ['b'] })],
    }));
    // a sparse Constant whose values are external
    const sp = fromBinary(ModelProtoSchema, toBinary(ModelProtoSchema, f));
    sp.functions = [];
    sp.graph!.node.unshift(create(NodeProtoSchema, { opType: 'Constant', output: ['s'], attribute: [create(AttributeProtoSchema, { name: 'sparse_value', type: AttributeProto_AttributeType.SPARSE_TENSOR, sparseTensor: create(SparseTensorProtoSchema, { values: ext('v'), indices: create(TensorProtoSchema, { dims: [4n], dataType: 7, rawData: new Uint8Array(32) }), dims: [8n] }) })] }));
    for (const [m, why] of [[f, /function 'F'.*'w4\.bin' refused: a function may not hold external data/], [sp, /'w4\.bin' refused: a sparse tensor may not hold external data/]] as const) {
      const err = await caught(() => importOnnx(toBinary(ModelProtoSchema, m), { path: at('m.onnx') }));
      expect(err.code).toBe('EXTERNAL_DATA');
      expect(err.message).toMatch(why);
    }
  });

  it('a directory, a missing file, an odd offset: each named', async () => {
    mkdirSync(at('sub'), { recursive: true });
    const cases: [Uint8Array, RegExp][] = [
      [externalAddModel('sub'), /'sub' refused: it is not a regular file/],
      [externalAddModel('.'), /'\.' refused: it is not a regular file/],
      [externalAddModel('nope.bin'), /'nope\.bin' refused: no such file/],
      [externalAddModel(''), /'' refused: the location is empty/],
      [externalAddModel('sub/../../secret.txt'), /escapes the model's directory/],
      [externalAddModel('C:\\secret.txt'), /absolute paths are not allowed/],
      [externalAddModel('w4.bin', { offset: '-4' }), /offset '-4' is not a non-negative decimal integer/],
      [externalAddModel('w4.bin', { length: '1e3' }), /length '1e3' is not a non-negative decimal integer/],
    ];
    markUnread(sb.secret);
    for (const [bytes, why] of cases) {
      const err = await caught(() => importOnnx(bytes, { path: at('m.onnx') }));
      expect(err.code, err.message).toBe('EXTERNAL_DATA');
      expect(err.message).toMatch(why);
    }
    expect(wasRead(sb.secret)).toBe(false);
  });
});

describe('legitimate external data still loads and runs as onnxruntime runs it', () => {
  const w = Float32Array.from({ length: 4 }, (_, i) => 0.5 * i - 1);

  for (const where of ['its own directory', 'a subdirectory']) {
    it(`y = x + w with w in ${where}: Session, tessera run --check and --out against onnxruntime on the same file`, async () => {
      const dir = mkdtempSync(join(sb.root, 'legit-'));
      const location = where === 'a subdirectory' ? 'data/w.bin' : 'w.bin';
      mkdirSync(join(dir, 'data'));
      // w at offset 8 of its file, after 8 bytes of something else, as exporters align data
      writeFileSync(join(dir, location), Buffer.concat([Buffer.alloc(8, 7), Buffer.from(w.buffer)]));
      const path = join(dir, 'model.onnx');
      writeFileSync(path, externalAddModel(location, { offset: '8' }));
      const x = new Float32Array([0.25, -3, 8, 1e-3]);

      const ref = await ort.InferenceSession.create(path);
      const want = (await ref.run({ x: new ort.Tensor('float32', x, [4]) })).y.data as Float32Array;
      await ref.release();
      const session = await Session.create(path);
      const got = (await session.run({ x: new Tensor('float32', x, [4]) })).y.data as Float32Array;
      await session.release();
      expect([...got]).toEqual([...want]);
      expect([...got]).toEqual([...x].map((v, i) => Math.fround(v + w[i])));

      const r = tessera('run', path, '--check', '--out', join(dir, 'out'));
      expect(r.status, cliText(r)).toBe(0);
      expect(r.stdout).toContain('vs onnxruntime (original model): max abs 0.00e+0');
      expect(readFileSync(join(dir, 'out', 'output_0.pb')).length).toBeGreaterThan(16);
      expect(importOnnxFile(path).values.get('w')!.initializer!.source.kind).toBe('file');
    });
  }

  it('the secret is what it was (nothing here wrote to it)', () => {
    expect(readFileSync(sb.secret, 'utf8')).toBe(SECRET);
  });
});
