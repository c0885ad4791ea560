/**
 * What a session with nothing to plan loads: an InferenceSession whose target leaves the host's CPU EP
 * all the work runs the model as one engine call, and loads none of what compiling needs — no zod (target
 * and plan schemas), no protobuf decoder, no compiler driver, no importer. Measured in a child process
 * (tests/helpers/loaded-modules.mjs: a loader hook and require's cache), with the same child loading them
 * afterwards as the control that the check sees them. The package's main entry (`import … from 'tessera'`,
 * src/index.ts) loads no more than that: the compiler's synchronous API is `tessera/compiler`.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CORPUS, ROOT } from '../cli/helpers.js';

const MODEL = join(CORPUS, 'models/wakeword-hello-deepa.onnx');

function steps(...args: string[]): { step: string; loaded: string[] }[] {
  const r = spawnSync(process.execPath, ['--import', import.meta.resolve('tsx'), join(ROOT, 'tests/helpers/loaded-modules.mjs'), ...args], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout.trim().split('\n').map((l) => JSON.parse(l));
}

const zod = (loaded: string[]) => loaded.filter((u) => /\/node_modules\/zod\//.test(u));
const protobuf = (loaded: string[]) => loaded.filter((u) => /\/node_modules\/(@bufbuild\/protobuf|onnx-buf)\//.test(u));
const ours = (loaded: string[], re: RegExp) => loaded.filter((u) => u.includes('/src/') && re.test(u.split('/src/')[1]));

describe('a session with nothing to plan loads nothing of the compiler', () => {
  it('no zod, no protobuf, no compiler driver, no importer, no passes; the control steps load them and are seen', () => {
    const [planless, target, imported] = steps(`planless:${MODEL}`, 'target', `import:${MODEL}`);
    expect(planless.loaded.some((u) => u.endsWith('/src/runtime/inference-session.ts'))).toBe(true);
    expect(zod(planless.loaded)).toEqual([]);
    expect(protobuf(planless.loaded)).toEqual([]);
    expect(ours(planless.loaded, /^(compiler\/index|compiler\/pipeline|ir\/onnx-import|ir\/infer|passes\/|plan\/schema\.ts$|runtime\/session|runtime\/runner)/)).toEqual([]);
    // the controls: parsing a target file loads zod, importing the model loads the decoder
    expect(zod(target.loaded).length).toBeGreaterThan(0);
    expect(protobuf(target.loaded)).toEqual([]);
    expect(protobuf(imported.loaded).length).toBeGreaterThan(0);
    expect(ours(imported.loaded, /^ir\/onnx-import/)).toHaveLength(1);
  });
});

describe("the main entry ('tessera') loads nothing of the compiler", () => {
  const heavy = /^(compiler\/(index|pipeline|lower|budget|stream|repeats|api)|ir\/onnx-import|ir\/infer|ir\/builder|passes\/|plan\/schema\.ts$|plan\/verify|runtime\/runner|runtime\/stream\.ts$|generate\/)/;
  it('importing it, and then running a session with nothing to plan through it, loads no zod, protobuf, compiler, passes, runner or generator; importing tessera/compiler does', () => {
    const [entry, planless, compiler] = steps('entry', `entry-planless:${MODEL}`, 'compiler');
    expect(entry.loaded.some((u) => u.endsWith('/src/index.ts'))).toBe(true);
    for (const s of [entry, planless]) {
      expect(zod(s.loaded), s.step).toEqual([]);
      expect(protobuf(s.loaded), s.step).toEqual([]);
      expect(ours(s.loaded, heavy), s.step).toEqual([]);
    }
    // the same entry's other sessions load their modules when created: no more of ours than the InferenceSession needs, plus Session's (light) module and the entry
    expect(ours(planless.loaded, /./).length).toBe(ours(entry.loaded, /./).length);
    // the control: the compiler entry loads what the checks above look for
    expect(protobuf(compiler.loaded).length).toBeGreaterThan(0);
    expect(ours(compiler.loaded, heavy).length).toBeGreaterThan(20);
  });
});
