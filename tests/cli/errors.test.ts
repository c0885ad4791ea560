/**
 * Every failure a user can cause ends in a TesseraError with a stable code and a message naming the
 * file, node or value — through the library and through the `tessera` command, which prints the
 * message without a stack trace, exits 2, and writes nothing.
 */
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { toBinary } from '@bufbuild/protobuf';
import { TensorProtoSchema } from 'onnx-buf';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Tensor } from '../../src/backends/tensor.js';
import { writeFilesAtomically } from '../../src/atomic.js';
import { inspectModel } from '../../src/compiler/inspect.js';
import { runModel } from '../../src/runtime/run-model.js';
import { TesseraError, type ErrorCode } from '../../src/errors.js';
import { GraphBuilder, tensor, type TypedArray } from '../../src/ir/builder.js';
import { parseInputShapes } from '../../src/ir/infer.js';
import { importOnnxFile } from '../../src/ir/onnx-import.js';
import { weightToProto } from '../../src/ir/onnx-export.js';
import { parseBind } from '../../src/backends/binding.js';
import { Session } from '../../src/runtime/session.js';
import { CORPUS, tempDir, tessera } from './helpers.js';

const { dir, cleanup } = tempDir('errors');
const p = (name: string) => join(dir, name);
const MODEL = p('two.onnx'); // z = x + y, x and y float32 [2,3]

function tensorFile(data: TypedArray, dims: number[]): Uint8Array {
  return toBinary(TensorProtoSchema, weightToProto(tensor('t', data, dims)));
}

function dataDir(name: string, files: Uint8Array[]): string {
  mkdirSync(p(name));
  files.forEach((f, i) => writeFileSync(join(p(name), `input_${i}.pb`), f));
  return p(name);
}

function model(name: string, build: (b: GraphBuilder) => void): string {
  const b = new GraphBuilder(name);
  build(b);
  writeFileSync(p(`${name}.onnx`), b.toBytes());
  return p(`${name}.onnx`);
}

beforeAll(() => {
  model('two', (b) => {
    b.node('Add', [b.input('x', 'float32', [2, 3]), b.input('y', 'float32', [2, 3])], 'z');
    b.output('z', 'float32', [2, 3]);
  });
  model('cycle', (b) => {
    b.node('Add', [b.input('x', 'float32', [2]), 'b'], 'a', {}, { name: 'first' });
    b.node('Relu', ['a'], 'b', {}, { name: 'second' });
    b.output('b', 'float32');
  });
  model('dangling', (b) => {
    b.node('Add', [b.input('x', 'float32', [2]), 'ghost'], 'y', {}, { name: 'adder' });
    b.output('y', 'float32');
  });
  model('dangling-output', (b) => {
    b.node('Relu', [b.input('x', 'float32', [2])], 'y', {}, { name: 'relu' });
    b.output('nowhere', 'float32');
  });
  model('unknown-domain', (b) => {
    b.opset('com.example', 1);
    b.node('Frobnicate', [b.input('x', 'float32', [2])], 'y', {}, { name: 'frob', domain: 'com.example' });
    b.output('y', 'float32');
  });
  model('unimported-domain', (b) => {
    b.node('Frobnicate', [b.input('x', 'float32', [2])], 'y', {}, { name: 'frob', domain: 'com.example' });
    b.output('y', 'float32');
  });
  const real = readFileSync(join(CORPUS, 'models/wakeword-hello-deepa.onnx'));
  writeFileSync(p('truncated.onnx'), real.subarray(0, real.length >> 1));
  copyFileSync(join(CORPUS, 'models/wakeword-hello-deepa.json'), p('json.onnx'));
  writeFileSync(p('empty.onnx'), '');
  writeFileSync(p('afile'), 'a regular file where a directory is expected');

  const x = tensorFile(new Float32Array(6), [2, 3]);
  dataDir('data-one', [x]);
  dataDir('data-three', [x, x, x]);
  dataDir('data-misshaped', [tensorFile(new Float32Array(6), [3, 2]), x]);
  dataDir('data-rank', [tensorFile(new Float32Array(6), [6]), x]);
  dataDir('data-dtype', [tensorFile(new BigInt64Array(6), [2, 3]), x]);
  dataDir('data-garbage', [new TextEncoder().encode('{"not": "a tensor"}'), x]);
  dataDir('data-good', [x, x]);
});
afterAll(cleanup);

/** Calls fn and returns what it threw (failing when it throws nothing). */
async function thrown(fn: () => unknown): Promise<unknown> {
  try {
    await fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected a TesseraError, but nothing was thrown');
}

async function withSession<T>(fn: (s: Session) => Promise<T>): Promise<T> {
  const s = await Session.create(MODEL);
  try {
    return await fn(s);
  } finally {
    await s.release();
  }
}

const f32 = (dims: number[]) => new Tensor('float32', new Float32Array(dims.reduce((a, b) => a * b, 1)), dims);

interface Case {
  what: string;
  code: ErrorCode;
  /** What the message must name: files, nodes, values. */
  mentions: string[];
  /** The failure through the library (omitted when only the CLI can cause it). */
  library?: () => unknown;
  /** The failure through the CLI, one or more command lines (`run` ones get --out <dir that must stay absent>). */
  cli?: string[][];
}

const missing = p('no-such-model.onnx');
const cases: Case[] = [
  { what: 'a missing model file', code: 'FILE_NOT_FOUND', mentions: [missing],
    library: () => importOnnxFile(missing), cli: [['inspect', missing], ['run', missing]] },
  { what: 'bytes that are not ONNX (a JSON file)', code: 'NOT_ONNX', mentions: [p('json.onnx')],
    library: () => Session.create(p('json.onnx')), cli: [['inspect', p('json.onnx')], ['run', p('json.onnx')]] },
  { what: 'an empty file', code: 'NOT_ONNX', mentions: [p('empty.onnx')],
    library: () => importOnnxFile(p('empty.onnx')), cli: [['run', p('empty.onnx')]] },
  { what: 'a truncated model (the first half of a corpus model)', code: 'TRUNCATED', mentions: [p('truncated.onnx')],
    library: () => importOnnxFile(p('truncated.onnx')), cli: [['inspect', p('truncated.onnx')], ['run', p('truncated.onnx')]] },
  { what: 'a graph with a cycle', code: 'GRAPH_CYCLE', mentions: [p('cycle.onnx'), "'first'", "'second'"],
    library: () => importOnnxFile(p('cycle.onnx')), cli: [['inspect', p('cycle.onnx')], ['run', p('cycle.onnx')]] },
  { what: 'a node reading a value nothing defines', code: 'DANGLING_VALUE', mentions: [p('dangling.onnx'), "'adder'", "'ghost'"],
    library: () => importOnnxFile(p('dangling.onnx')), cli: [['inspect', p('dangling.onnx')], ['run', p('dangling.onnx')]] },
  { what: 'a graph output nothing produces', code: 'DANGLING_VALUE', mentions: [p('dangling-output.onnx'), "'nowhere'"],
    library: () => importOnnxFile(p('dangling-output.onnx')), cli: [['inspect', p('dangling-output.onnx')]] },
  { what: 'an op domain no backend implements', code: 'UNKNOWN_DOMAIN', mentions: [p('unknown-domain.onnx'), "'frob'", "'com.example'"],
    library: () => importOnnxFile(p('unknown-domain.onnx')), cli: [['inspect', p('unknown-domain.onnx')], ['run', p('unknown-domain.onnx')]] },
  { what: 'an op domain the model does not import', code: 'UNKNOWN_DOMAIN', mentions: [p('unimported-domain.onnx'), "'frob'", "'com.example'"],
    library: () => importOnnxFile(p('unimported-domain.onnx')), cli: [['inspect', p('unimported-domain.onnx')]] },
  { what: 'a missing feed', code: 'MISSING_FEED', mentions: [MODEL, "'y'"],
    library: () => withSession((s) => s.run({ x: f32([2, 3]) })) },
  { what: 'a feed that is not an input', code: 'UNKNOWN_FEED', mentions: [MODEL, "'w'"],
    library: () => withSession((s) => s.run({ x: f32([2, 3]), y: f32([2, 3]), w: f32([2, 3]) })) },
  { what: 'a misshaped feed', code: 'FEED_SHAPE', mentions: [MODEL, "'x'", '[3,2]'],
    library: () => withSession((s) => s.run({ x: f32([3, 2]), y: f32([2, 3]) })) },
  { what: 'a feed of the wrong dtype', code: 'FEED_DTYPE', mentions: [MODEL, "'x'", 'int64'],
    library: () => withSession((s) => s.run({ x: new Tensor('int64', new BigInt64Array(6), [2, 3]), y: f32([2, 3]) })) },
  { what: 'a misshaped input file in --data', code: 'FEED_SHAPE', mentions: [join(p('data-misshaped'), 'input_0.pb'), MODEL, "'x'", '[3,2]'],
    library: () => runModel(MODEL, { data: p('data-misshaped') }), cli: [['run', MODEL, '--data', p('data-misshaped')]] },
  { what: 'an input file of the wrong rank in --data', code: 'FEED_SHAPE', mentions: [join(p('data-rank'), 'input_0.pb'), "'x'", '[6]'],
    library: () => runModel(MODEL, { data: p('data-rank') }), cli: [['run', MODEL, '--data', p('data-rank'), '--check']] },
  { what: 'an input file of the wrong dtype in --data', code: 'FEED_DTYPE', mentions: [join(p('data-dtype'), 'input_0.pb'), MODEL, "'x'", 'int64'],
    library: () => runModel(MODEL, { data: p('data-dtype') }), cli: [['run', MODEL, '--data', p('data-dtype')]] },
  { what: 'an input file that is not a TensorProto', code: 'BAD_TEST_DATA', mentions: [join(p('data-garbage'), 'input_0.pb')],
    library: () => runModel(MODEL, { data: p('data-garbage') }), cli: [['run', MODEL, '--data', p('data-garbage')]] },
  { what: 'too few input_*.pb files (a missing feed through the CLI)', code: 'BAD_TEST_DATA', mentions: [p('data-one'), "'x'", "'y'"],
    library: () => runModel(MODEL, { data: p('data-one') }), cli: [['run', MODEL, '--data', p('data-one')]] },
  { what: 'too many input_*.pb files', code: 'BAD_TEST_DATA', mentions: [p('data-three'), '3 input_*.pb'],
    library: () => runModel(MODEL, { data: p('data-three') }), cli: [['run', MODEL, '--data', p('data-three')]] },
  { what: 'a --data directory that does not exist', code: 'BAD_TEST_DATA', mentions: [p('no-such-dir')],
    library: () => runModel(MODEL, { data: p('no-such-dir') }), cli: [['run', MODEL, '--data', p('no-such-dir')]] },
  { what: 'an --input-shape spec with non-numeric dims', code: 'BAD_INPUT_SHAPE', mentions: ["'x=abc'"],
    library: () => parseInputShapes('x=abc'), cli: [['inspect', MODEL, '--input-shape', 'x=abc'], ['run', MODEL, '--input-shape', 'x=abc']] },
  { what: 'an --input-shape spec without NAME=', code: 'BAD_INPUT_SHAPE', mentions: ["'2x3'"],
    library: () => parseInputShapes(['x=2x3', '2x3']), cli: [['run', MODEL, '--input-shape', '2x3']] },
  { what: 'an --input-shape spec with a negative dim', code: 'BAD_INPUT_SHAPE', mentions: ["'x=-1x3'"],
    library: () => parseInputShapes('x=-1x3'), cli: [['run', MODEL, '--input-shape', 'x=-1x3']] },
  { what: 'an --input-shape for an input the model lacks', code: 'BAD_INPUT_SHAPE', mentions: ["'q'", "'x'", "'y'"],
    library: () => inspectModel(MODEL, { q: [2, 3] }), cli: [['inspect', MODEL, '--input-shape', 'q=2x3'], ['run', MODEL, '--input-shape', 'q=2x3']] },
  { what: 'an --input-shape of the wrong rank', code: 'BAD_INPUT_SHAPE', mentions: ["'x'", '[2,3,4]'],
    library: () => runModel(MODEL, { inputShapes: { x: [2, 3, 4] } }), cli: [['run', MODEL, '--input-shape', 'x=2x3x4']] },
  { what: 'an --input-shape contradicting a fixed dim', code: 'BAD_INPUT_SHAPE', mentions: ["'y'", '[2,2]'],
    library: () => inspectModel(MODEL, { y: [2, 2] }), cli: [['inspect', MODEL, '--input-shape', 'x=2x3,y=2x2']] },
  { what: 'an --input-shape contradicting the --data files', code: 'BAD_INPUT_SHAPE', mentions: ["'x'", 'x=3x3'],
    library: () => runModel(MODEL, { data: p('data-good'), inputShapes: { x: [3, 3] } }),
    cli: [['run', MODEL, '--data', p('data-good'), '--input-shape', 'x=3x3']] },
  { what: 'an unknown --target', code: 'BAD_TARGET', mentions: ["'no-such-target'"],
    library: () => runModel(MODEL, { target: 'no-such-target' }), cli: [['run', MODEL, '--target', 'no-such-target']] },
  { what: 'a bad --bind spec', code: 'BAD_ARGUMENT', mentions: ["'gpu=cuda'"],
    library: () => parseBind('gpu=cuda'), cli: [['run', MODEL, '--bind', 'gpu=cuda']] },
  { what: 'an --out directory that cannot be created', code: 'BAD_ARGUMENT', mentions: [join(p('afile'), 'out', 'output_0.pb')],
    library: () => runModel(MODEL, { out: join(p('afile'), 'out') }), cli: [['run', MODEL, '--out', join(p('afile'), 'out')]] },
];

describe('user errors', () => {
  for (const c of cases) describe(`${c.what} → ${c.code}`, () => {
    if (c.library) {
      it('library: a TesseraError with the code and a message naming where', async () => {
        const err = await thrown(c.library!);
        expect(err).toBeInstanceOf(TesseraError);
        const e = err as TesseraError;
        expect(e.code).toBe(c.code);
        for (const m of c.mentions) expect(e.message).toContain(m);
      });
    }
    for (const args of c.cli ?? []) {
      it(`CLI: tessera ${args.map((a) => a.replace(dir, '<tmp>')).join(' ')}: prints the message, exits 2, writes nothing`, () => {
        const out = p(`out-${Math.random().toString(36).slice(2)}`);
        const before = readdirSync(dir).sort();
        const r = tessera(...args, ...(args[0] === 'run' && !args.includes('--out') ? ['--out', out] : []));
        expect(r.status).toBe(2);
        expect(r.stderr).toContain(`tessera: error [${c.code}]: `);
        for (const m of c.mentions) expect(r.stderr).toContain(m);
        expect(r.stderr).not.toMatch(/^\s+at /m); // no stack trace without --verbose
        expect(r.stdout).toBe('');
        expect(existsSync(out)).toBe(false);
        expect(readdirSync(dir).sort()).toEqual(before);
      });
    }
  });
});

describe("the CLI's error output", () => {
  it('prints the stack trace with --verbose', () => {
    const r = tessera('inspect', p('cycle.onnx'), '--verbose');
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('tessera: error [GRAPH_CYCLE]');
    expect(r.stderr).toMatch(/^\s+at /m);
  });

  it('rejects an unknown option with usage help and exit 2', () => {
    const r = tessera('run', MODEL, '--no-such-flag');
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("unknown option '--no-such-flag'");
    expect(r.stderr).not.toMatch(/^\s+at /m);
  });
});

describe('writeFilesAtomically', () => {
  it('leaves no file and no directory behind when one of the files cannot be written', () => {
    const first = join(p('fresh'), 'nested', 'output_0.pb');
    const err = (() => {
      try {
        writeFilesAtomically([{ path: first, bytes: 'one' }, { path: join(p('afile'), 'x', 'output_1.pb'), bytes: 'two' }]);
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(TesseraError);
    expect((err as TesseraError).code).toBe('BAD_ARGUMENT');
    expect(existsSync(p('fresh'))).toBe(false);
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });
});
