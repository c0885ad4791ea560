/**
 * Plans and target files are untrusted input too. A plan whose names are paths (its model file, its
 * target) is refused by its schema (BAD_PLAN) before anything is opened by that name; a plan's target is
 * looked up among the built-in targets by name, never opened as a file (the old lookup opened a file of
 * that name and echoed its first bytes in the JSON error). Absurd figures — zero, negative or infinite
 * bandwidths and rates, NaN, negative times, an arena far beyond its buffers, memory for a processor the
 * target lacks — are refused by the schema or the verifier. Names inside a model that look like paths
 * are only names: the model compiles and runs as onnxruntime runs it, and nothing is written by them.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addModel, HOSTILE_NAMES, makeSandbox, namedModel, SECRET, type Sandbox } from '../../bench/hostile-models.js';
import { parsePlan } from '../../src/compiler/api.js';
import { parseTarget, Session, Tensor } from '../../src/index.js';
import { ROOT, tessera, tesseraIn } from '../cli/helpers.js'; // tesseraIn: run in the sandbox, where a plan's names would resolve if they were paths
import { caught, expectContained } from './helpers.js';
import { toBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema } from 'onnx-buf';

let sb: Sandbox;
let model: string;
let planText: string;
const TARGET = 'snapdragon-8-gen-3';
beforeAll(() => {
  sb = makeSandbox('sec-plans');
  model = join(sb.modelDir, 'add.onnx');
  writeFileSync(model, toBinary(ModelProtoSchema, addModel()));
  const planPath = join(sb.modelDir, 'plan.json');
  const r = tessera('compile', model, '--target', TARGET, '--out', planPath);
  expect(r.status, r.stderr).toBe(0);
  planText = readFileSync(planPath, 'utf8');
});
afterAll(() => sb.cleanup());

const cliText = (r: { stdout: string; stderr: string }) => r.stdout + r.stderr;

/** Writes a copy of the plan changed by `edit` (or given as text) beside the model. */
function writePlan(name: string, edit: (p: Record<string, any>) => void): string {
  const plan = JSON.parse(planText);
  edit(plan);
  const path = join(sb.modelDir, name);
  writeFileSync(path, JSON.stringify(plan));
  return path;
}

/**
 * run --plan, viz and Session.create with the plan: each refused with `code`, the secret unread, nothing
 * written. (The viewer only draws a plan: what the verifier refuses before a run, it draws as it is.)
 */
async function expectPlanRefused(planPath: string, code: string, why: RegExp, byVerifier = false): Promise<void> {
  const viz = ['viz', planPath, '-o', join(sb.root, 'v.html')];
  for (const args of [['run', model, '--plan', planPath, '--out', join(sb.root, 'out')], ...(byVerifier ? [] : [viz])]) {
    const r = await expectContained(sb, () => tesseraIn(sb.root, ...args), cliText);
    expect(r.status, cliText(r)).toBe(2);
    expect(r.stderr).toContain(`[${code}]`);
    expect(r.stderr).toMatch(why);
  }
  const err = await expectContained(sb, () => caught(() => Session.create(model, { plan: planPath })), (e) => e.message);
  expect(err.code).toBe(code);
}

describe('the plan as compiled runs (the baseline the hostile copies are made from)', () => {
  it('run --plan', () => {
    const r = tessera('run', model, '--plan', join(sb.modelDir, 'plan.json'), '--check');
    expect(r.status, cliText(r)).toBe(0);
  });
});

describe('plans whose names are paths', () => {
  for (const [what, value] of [['absolute', () => sb.secret], ['escaping', () => '../secret.txt'], ['a Windows path', () => 'C:\\secret.txt']] as const) {
    it(`model.file ${what}: BAD_PLAN by the schema`, async () => {
      const p = writePlan(`file-${what}.json`, (plan) => (plan.model.file = value()));
      await expectPlanRefused(p, 'BAD_PLAN', /model\.file: a name, not a path/);
    });
    it(`target.name ${what}: BAD_PLAN by the schema`, async () => {
      const p = writePlan(`target-${what}.json`, (plan) => (plan.target.name = value()));
      await expectPlanRefused(p, 'BAD_PLAN', /target\.name: a name, not a path/);
    });
  }

  it('target.name naming a file in the working directory: looked up among built-in targets only, the file never opened', async () => {
    // the sandbox is the working directory and holds secret.txt: the old lookup opened it as a target file
    // and put its first bytes ("root:x:0:0:…") in the JSON error
    const p = writePlan('target-name-file.json', (plan) => (plan.target.name = 'secret.txt'));
    const r = await expectContained(sb, () => tesseraIn(sb.root, 'run', model, '--plan', p), cliText);
    expect(r.status, cliText(r)).toBe(2);
    expect(r.stderr).toMatch(/\[BAD_TARGET\]: the plan was compiled for target 'secret\.txt', which is not a built-in target/);
    // viz draws the plan without per-node predictions (the target is not built in) and says so, as text
    const html = join(sb.root, 'named.html');
    const v = tesseraIn(sb.root, 'viz', p, '-o', html);
    expect(v.status, cliText(v)).toBe(0);
    const page = readFileSync(html, 'utf8');
    expect(page).toContain("target 'secret.txt' is not a built-in target here");
    expect(page).not.toContain(SECRET.slice(0, 8));
  });
});

describe('absurd figures in plans', () => {
  const cases: [string, (p: Record<string, any>) => void, RegExp, boolean][] = [
    ['a negative start time', (p) => (p.steps[0].startUs = -5), /steps\.0\.startUs/, false],
    ['NaN written as a string', (p) => (p.estimate.latencyUs = 'NaN'), /estimate\.latencyUs/, false],
    ['a negative buffer size', (p) => (Object.values(p.memory as Record<string, any>).find((m) => m.buffers.length)!.buffers[0].bytes = -1), /bytes/, false],
    ['an arena of 2^50 bytes (a petabyte to allocate): the verifier, before a run', (p) => (Object.values(p.memory as Record<string, any>).find((m) => m.buffers.length)!.arenaBytes = 2 ** 50), /more than its \d+ buffers take laid end to end/, true],
    ['an arena for a processor the target lacks: the verifier, before a run', (p) => (p.memory.zzz = { arenaBytes: 2 ** 40, peakBytes: 0, lowerBoundBytes: 0, weightBytes: 0, buffers: [] }), /memory plan for 'zzz', which is not a processor/, true],
  ];
  for (const [what, edit, why, byVerifier] of cases) {
    it(what, async () => {
      await expectPlanRefused(writePlan(`absurd-${what.replace(/\W+/g, '-')}.json`, edit), 'BAD_PLAN', why, byVerifier);
    });
  }

  it('Infinity (1e999 in the JSON text) is refused, not read as a time', () => {
    const text = planText.replace(/"latencyUs": [0-9.e+-]+/, '"latencyUs": 1e999');
    expect(text).toContain('1e999');
    expect(() => parsePlan(text, 'p.json')).toThrow(expect.objectContaining({ code: 'BAD_PLAN', message: expect.stringContaining('estimate.latencyUs') }));
  });
});

describe('absurd figures in target files', () => {
  const base = () => JSON.parse(readFileSync(join(ROOT, 'src/targets/builtin', `${TARGET}.json`), 'utf8'));
  const cases: [string, (t: Record<string, any>) => void, RegExp][] = [
    ['zero bandwidth', (t) => (t.processors[0].bandwidthGBs.value = 0), /processors\.0\.bandwidthGBs\.value/],
    ['negative bandwidth', (t) => (t.processors[1].bandwidthGBs.value = -8), /processors\.1\.bandwidthGBs\.value/],
    ['a zero peak rate', (t) => (t.processors[0].peakGflops.float32.value = 0), /processors\.0\.peakGflops\.float32\.value/],
    ['a link of zero bandwidth', (t) => (t.links[0].bandwidthGBs.value = 0), /links\.0\.bandwidthGBs\.value/],
    ['a negative launch overhead', (t) => (t.processors[0].launchOverheadUs.value = -1), /processors\.0\.launchOverheadUs\.value/],
    ['NaN as a string', (t) => (t.processors[0].bandwidthGBs.value = 'NaN'), /processors\.0\.bandwidthGBs\.value/],
    ['a name that is a path', (t) => (t.name = '../../etc/passwd'), /name: a name, not a path/],
  ];
  for (const [what, edit, why] of cases) {
    it(`${what}: BAD_TARGET naming the field (tessera compile --target FILE)`, async () => {
      const t = base();
      edit(t);
      const file = join(sb.modelDir, 'target.json');
      writeFileSync(file, JSON.stringify(t));
      const r = await expectContained(sb, () => tessera('compile', model, '--target', file, '--out', join(sb.root, 'p.json')), cliText);
      expect(r.status, cliText(r)).toBe(2);
      expect(r.stderr).toMatch(/\[BAD_TARGET\]/);
      expect(r.stderr).toMatch(why);
    });
  }

  it('NaN and Infinity in a target object (parseTarget, as an API caller may hand it): BAD_TARGET', () => {
    for (const v of [NaN, Infinity, -Infinity]) {
      const t = base();
      t.processors[0].bandwidthGBs.value = v;
      expect(() => parseTarget(t, 'given')).toThrow(expect.objectContaining({ code: 'BAD_TARGET' }));
    }
  });
});

describe('names inside a model that look like paths or markup are only names', () => {
  it('compile, run --check and --out as onnxruntime runs it; only the named outputs are written', async () => {
    const path = join(sb.modelDir, 'named.onnx');
    writeFileSync(path, namedModel((i) => `${HOSTILE_NAMES[i % HOSTILE_NAMES.length]}#${i}`));
    const out = join(sb.root, 'named-out');
    const plan = join(sb.root, 'named-plan.json');
    expect(tessera('compile', path, '--target', TARGET, '--out', plan).status).toBe(0);
    const r = tessera('run', path, '--plan', plan, '--check', '--out', out);
    expect(r.status, cliText(r)).toBe(0);
    expect(r.stdout).toContain('check: all outputs pass');
    // the one output file, by index, in --out; nothing named after a value anywhere
    const x = new Float32Array([0.5, -2, 3, 0]);
    const ref = await ort.InferenceSession.create(path);
    const input = ref.inputNames[0];
    const want = (await ref.run({ [input]: new ort.Tensor('float32', x, [1, 4]) }))[ref.outputNames[0]].data as Float32Array;
    await ref.release();
    const s = await Session.create(path);
    const got = (await s.run({ [input]: new Tensor('float32', x, [1, 4]) }))[s.outputNames[0]].data as Float32Array;
    await s.release();
    expect([...got]).toEqual([...want]);
    expect(readFileSync(join(out, 'output_0.pb')).length).toBeGreaterThan(16);
    expect(readdirSync(out)).toEqual(['output_0.pb']);
    expect(readdirSync(sb.root).sort()).toEqual(['model', 'named-out', 'named-plan.json', 'secret.txt'].concat(readdirSync(sb.root).filter((f) => f.endsWith('.html'))).sort());
  });

  it("names every JavaScript object has ('__proto__', 'constructor', …) are refused as value names: BAD_MODEL, not a crash", async () => {
    for (const name of ['__proto__', 'constructor', 'toString', 'hasOwnProperty']) {
      const bytes = namedModel((i) => (i === 0 ? name : `v${i}`));
      const err = await caught(() => Session.create(bytes));
      expect(err.code).toBe('BAD_MODEL');
      expect(err.message).toContain(`value name '${name}' is refused`);
    }
  });
});
