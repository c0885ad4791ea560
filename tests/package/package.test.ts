/**
 * Tessera as an app developer gets it. `npm pack` packs the repository (its `prepare` builds dist/ from
 * the current source), and the tarball is installed into a fresh app in a temp dir: no TypeScript
 * tooling, no npm configuration of its own, the npm registry and cache as this machine has them. There:
 *  - `node app.mjs` imports the library by name and runs ppocr-v4-rec; every output equals what
 *    onnxruntime-node, run in the same app on the whole model, gives;
 *  - require('tessera') from CommonJS gets the same exports, and so does require('tessera/compiler');
 *  - import('tessera') loads no protobuf decoder, no zod and none of the compiler (they are
 *    `tessera/compiler`'s, and a session's when it first compiles);
 *  - the `tessera` command runs (built JavaScript: the app has no tsx), its built-in targets and viewer
 *    included;
 *  - a TypeScript file type-checks against the shipped .d.ts (typescript installed for that check only,
 *    after the checks above).
 * The install must not reach for NuGet: onnxruntime-node's install script runs and finds nothing to
 * download (scripts/skip-cuda-download.cjs).
 */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CORPUS, ROOT, tempDir } from '../cli/helpers.js';

const MODEL = join(CORPUS, 'models/ppocr-v4-rec.onnx');
const SMALL_MODEL = join(CORPUS, 'onnx-node/light/light_squeezenet.onnx');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
const devPkg = (name: string) => `${name}@${pkg.devDependencies[name]}`;

/** The ways an app creates a session, each run by its own app.mjs (`create` is the whole difference); InferenceSession joins as one more line. */
const ENTRY_POINTS = [
  { name: 'Session', create: 'await Session.create(model, { inputShapes: { x: dims } })' },
  { name: 'InferenceSession', create: 'await InferenceSession.create(model)' },
];

/** An app written as a user would write it: the library by name, the reference run beside it. */
const appSource = (e: (typeof ENTRY_POINTS)[number]) => `import { writeFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { ${e.name}, Tensor } from 'tessera';

const [model, outDir] = process.argv.slice(2);
const dims = [1, 3, 48, 320];
const data = Float32Array.from({ length: 3 * 48 * 320 }, (_, i) => Math.sin(i * 0.37));
const session = ${e.create};
const outputs = await session.run({ x: new Tensor('float32', data, dims) });
const reference = await (await ort.InferenceSession.create(model)).run({ x: new ort.Tensor('float32', data, dims) });
const meta = {};
for (const [name, t] of Object.entries(reference)) {
  meta[name] = { dims: outputs[name]?.dims, referenceDims: t.dims };
  writeFileSync(\`\${outDir}/\${name}.tessera.bin\`, outputs[name].data);
  writeFileSync(\`\${outDir}/\${name}.ort.bin\`, t.data);
}
writeFileSync(\`\${outDir}/meta.json\`, JSON.stringify(meta));
`;

const TS_APP = `import { InferenceSession, Session, Tensor, TesseraError, type InferenceSessionOptions, type Plan, type SessionOptions, type TensorMap } from 'tessera';
import { compile, GraphBuilder, parsePlan, type Compilation } from 'tessera/compiler';

const options: SessionOptions = { target: 'host', inputShapes: { x: [1, 3, 48, 320] } };
const session: Session = await Session.create('model.onnx', options);
const outputs: TensorMap = await session.run({ x: new Tensor('float32', new Float32Array(3 * 48 * 320), [1, 3, 48, 320]) });
const first: Tensor = outputs[session.outputNames[0]];
const plan: Plan = session.plan;
console.log(first.dims, plan.target.name, new TesseraError('BAD_ARGUMENT', 'x').code);
// onnxruntime's options and Tessera's in one object; metadata as onnxruntime types it
const any: InferenceSession = await InferenceSession.create('model.onnx', { executionProviders: ['cpu'], graphOptimizationLevel: 'all', shapeCacheSize: 4 } satisfies InferenceSessionOptions);
const meta = any.inputMetadata[0];
if (meta.isTensor) console.log(meta.shape.join('x'), meta.type);
const picked: TensorMap = await any.run({ x: new Tensor('float32', new Float32Array(3 * 48 * 64), [1, 3, 48, 64]) }, [any.outputNames[0]]);
console.log(Object.keys(picked), any.compiles);
// the compiler's API from tessera/compiler, its compilation run by the main entry's Session
const compiled: Compilation = await compile('model.onnx', 'host', { inputShapes: { x: [1, 3, 48, 320] } });
const again: Session = await Session.of(compiled);
console.log(parsePlan(JSON.stringify(again.plan), 'plan.json').partitions.length, typeof GraphBuilder);
// The types are real, not any: a wrong option is a type error.
// @ts-expect-error inputShapes takes name → dims
await Session.create('model.onnx', { inputShapes: 3 });
// @ts-expect-error shapeCacheSize is a number
await InferenceSession.create('model.onnx', { shapeCacheSize: '4' });
`;

const TS_CONFIG = {
  // skipLibCheck as most apps set it (and checking every dependency's .d.ts costs ~8 s of CPU): what
  // it would hide in Tessera's own .d.ts, an import of a package users do not get, is checked below.
  compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, skipLibCheck: true, types: ['node'] },
  include: ['app.ts'],
};

/** npm as a user's shell runs it: none of the npm_* variables of the `npm test` running this (they carry the repository's .npmrc). */
const userEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k) && k !== 'ONNXRUNTIME_NODE_INSTALL' && k !== 'INIT_CWD'));

function run(cmd: string, args: string[], cwd: string, timeout = 240_000): SpawnSyncReturns<string> {
  return spawnSync(cmd, args, { cwd, env: userEnv, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout });
}
/** A file of float32 values (copied out: a Buffer may start at any offset). */
const floats = (path: string) => {
  const b = readFileSync(path);
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
};
const said = (r: SpawnSyncReturns<string>) => `exit ${r.status}${r.error ? ` (${r.error.message})` : ''}\n${r.stdout}\n${r.stderr}`.slice(-4000);

const npmMissing = run('npm', ['--version'], ROOT).status !== 0 ? 'npm is not on PATH' : '';

describe.skipIf(npmMissing)(`the packed package in a fresh app${npmMissing ? ` (skipped: ${npmMissing})` : ''}`, () => {
  const tmp = tempDir('package');
  const app = join(tmp.dir, 'app');
  let tarball = '';
  let packed: string[] = [];
  let install: SpawnSyncReturns<string>;
  afterAll(() => tmp.cleanup());

  beforeAll(() => {
    const pack = run('npm', ['pack', '--json', '--pack-destination', tmp.dir], ROOT);
    expect(pack.status, said(pack)).toBe(0);
    const [info] = JSON.parse(pack.stdout) as { filename: string; files: { path: string }[] }[];
    tarball = join(tmp.dir, info.filename);
    packed = info.files.map((f) => f.path);

    mkdirSync(app);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true, type: 'module' }));
    const t0 = Date.now();
    install = run('npm', ['install', tarball, `onnxruntime-node@${pkg.dependencies['onnxruntime-node']}`, '--prefer-offline', '--no-audit', '--no-fund', '--foreground-scripts', '--loglevel=info'], app);
    console.log(`package test: npm install of the tarball took ${((Date.now() - t0) / 1000).toFixed(1)} s (--prefer-offline; one run)`);
  }, 480_000);

  it('the tarball holds the built JavaScript, its types and the command, and no sources, tests or benchmarks', () => {
    for (const f of ['package.json', 'README.md', 'bin/tessera.js', 'dist/index.js', 'dist/index.d.ts', 'dist/compiler/api.js', 'dist/compiler/api.d.ts', 'dist/cli/main.js', 'dist/targets/builtin/snapdragon-8-gen-3.json']) expect(packed).toContain(f);
    expect(packed.filter((f) => /^(src|tests|bench|examples|docs|scripts\/setup)|\.(png|onnx)$/.test(f))).toEqual([]);
  });

  it('installs with nothing but the npm registry: onnxruntime-node finds no CUDA libraries to fetch from NuGet', () => {
    expect(install.status, said(install)).toBe(0);
    expect(`${install.stdout}${install.stderr}`).not.toMatch(/nuget/i);
    if (process.platform === 'linux' && process.arch === 'x64' && !existsSync('/proc/driver/nvidia/version')) {
      const bin = join(app, 'node_modules/onnxruntime-node/bin/napi-v6/linux/x64');
      expect(readdirSync(bin).filter((f) => f.startsWith('libonnxruntime_providers_'))).toHaveLength(3);
    }
    expect(existsSync(join(app, 'node_modules/typescript')) || existsSync(join(app, 'node_modules/tsx'))).toBe(false);
  });

  for (const e of ENTRY_POINTS) {
    it(`import { ${e.name}, Tensor } from 'tessera' runs ppocr-v4-rec with onnxruntime-node's outputs`, () => {
      const out = join(tmp.dir, `out-${e.name}`);
      mkdirSync(out);
      writeFileSync(join(app, `${e.name}.mjs`), appSource(e));
      const r = run(process.execPath, [`${e.name}.mjs`, MODEL, out], app);
      expect(r.status, said(r)).toBe(0);
      const meta = JSON.parse(readFileSync(join(out, 'meta.json'), 'utf8')) as Record<string, { dims: number[]; referenceDims: number[] }>;
      expect(Object.keys(meta).length).toBeGreaterThan(0);
      for (const [name, m] of Object.entries(meta)) {
        expect(m.dims, name).toEqual(m.referenceDims);
        const got = floats(join(out, `${name}.tessera.bin`));
        const want = floats(join(out, `${name}.ort.bin`));
        expect(got.length).toBe(want.length);
        let maxAbs = 0;
        for (let i = 0; i < want.length; i++) maxAbs = Math.max(maxAbs, Math.abs(got[i] - want[i]));
        expect(maxAbs, name).toBeLessThanOrEqual(1e-5);
      }
    });
  }

  it("require('tessera') from CommonJS gets the same exports as import", () => {
    const keys = (src: string, ext: string) => {
      writeFileSync(join(app, `keys.${ext}`), src);
      const r = run(process.execPath, [`keys.${ext}`], app);
      expect(r.status, said(r)).toBe(0);
      return r.stdout.trim();
    };
    const imported = keys("import * as t from 'tessera';\nconsole.log(Object.keys(t).sort().join());\n", 'mjs');
    expect(imported).toContain('Session');
    expect(keys("console.log(Object.keys(require('tessera')).sort().join());\n", 'cjs')).toBe(imported);
    const compiler = keys("import * as t from 'tessera/compiler';\nconsole.log(Object.keys(t).sort().join());\n", 'mjs');
    expect(compiler.split(',')).toEqual(expect.arrayContaining(['compile', 'GraphBuilder', 'importOnnx', 'parsePlan']));
    expect(keys("console.log(Object.keys(require('tessera/compiler')).sort().join());\n", 'cjs')).toBe(compiler);
  });

  it("import('tessera') loads no protobuf decoder, zod or compiler; import('tessera/compiler') does", () => {
    const resolve = createRequire(join(app, 'package.json')).resolve;
    const r = run(process.execPath, [join(ROOT, 'tests/helpers/loaded-modules.mjs'), `module:${resolve('tessera')}`, `module:${resolve('tessera/compiler')}`], app);
    expect(r.status, said(r)).toBe(0);
    const [main, compiler] = r.stdout.trim().split('\n').map((l) => JSON.parse(l).loaded as string[]);
    const heavy = (loaded: string[]) => loaded.filter((u) => /\/node_modules\/(zod|@bufbuild\/protobuf|onnx-buf)\/|\/node_modules\/tessera\/dist\/(compiler\/(index|pipeline|api)|ir\/onnx-import|passes\/)/.test(u));
    expect(main.some((u) => u.includes('/node_modules/onnxruntime-node/'))).toBe(true);
    expect(heavy(main)).toEqual([]);
    expect(heavy(compiler).length).toBeGreaterThan(60);
  });

  it('the tessera command runs: help, the built-in targets, compile and the plan viewer', () => {
    const tessera = (...args: string[]) => run(join(app, 'node_modules/.bin/tessera'), args, app);
    const help = tessera('--help');
    expect(help.status, said(help)).toBe(0);
    expect(help.stdout).toMatch(/compile/);
    const targets = tessera('targets');
    expect(targets.status, said(targets)).toBe(0);
    expect(targets.stdout).toContain('snapdragon-8-gen-3');
    const compile = tessera('compile', SMALL_MODEL, '--target', 'snapdragon-8-gen-3', '--out', 'plan.json');
    expect(compile.status, said(compile)).toBe(0);
    const viz = tessera('viz', 'plan.json', '--model', SMALL_MODEL, '-o', 'plan.html');
    expect(viz.status, said(viz)).toBe(0);
    expect(readFileSync(join(app, 'plan.html'), 'utf8')).toMatch(/^<!doctype html>[\s\S]*"format":"tessera.plan"/);
  });

  it('the shipped .d.ts import nothing but Node and the package\'s dependencies', () => {
    const files = (dir: string): string[] => readdirSync(dir, { withFileTypes: true }).flatMap((d) => (d.isDirectory() ? files(join(dir, d.name)) : [join(dir, d.name)]));
    const dts = files(join(app, 'node_modules/tessera/dist')).filter((f) => f.endsWith('.d.ts'));
    expect(dts.length).toBeGreaterThan(0);
    const bare = new Set<string>();
    for (const f of dts) for (const m of readFileSync(f, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').matchAll(/(?:from|import\()\s*['"]([^'"./][^'"]*)['"]/g)) bare.add(m[1]);
    const packageOf = (spec: string) => spec.split('/').slice(0, spec.startsWith('@') ? 2 : 1).join('/');
    expect([...bare].filter((s) => !s.startsWith('node:') && !(packageOf(s) in pkg.dependencies))).toEqual([]);
  });

  it('a TypeScript app type-checks against the shipped .d.ts (tsc --noEmit)', () => {
    const add = run('npm', ['install', '--no-save', devPkg('typescript'), devPkg('@types/node'), '--prefer-offline', '--no-audit', '--no-fund'], app);
    expect(add.status, said(add)).toBe(0);
    writeFileSync(join(app, 'app.ts'), TS_APP);
    writeFileSync(join(app, 'tsconfig.json'), JSON.stringify(TS_CONFIG));
    const tsc = run(process.execPath, [join(app, 'node_modules/typescript/bin/tsc'), '-p', '.'], app);
    expect(tsc.status, said(tsc)).toBe(0);
  });
});
