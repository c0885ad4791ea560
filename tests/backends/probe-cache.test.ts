/**
 * The WebGPU probe's result is kept between processes (TESSERA_PROBE_CACHE names the file here): a kept
 * result for this setup is used instead of probing again; one from another setup (its key differs) or
 * older than a day is not; TESSERA_PROBE_CACHE=off writes nothing. Each step is a fresh process (a
 * process probes once and keeps the answer in memory).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT, tempDir } from '../cli/helpers.js';

const tmp = tempDir('probe-cache');
afterAll(() => tmp.cleanup());
const file = join(tmp.dir, 'probe.json');
const WEBGPU = pathToFileURL(join(ROOT, 'src/backends/webgpu.ts')).href;

function probeInChild(cache: string): { available: boolean; adapter: string } {
  const r = spawnSync(process.execPath, ['--import', import.meta.resolve('tsx'), '--input-type=module', '-e', `const { probeWebGpu } = await import(${JSON.stringify(WEBGPU)}); console.log(JSON.stringify(await probeWebGpu()));`], { encoding: 'utf8', env: { ...process.env, TESSERA_PROBE_CACHE: cache } });
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

type Kept = { key: string; at: number; probe: { available: boolean; software: boolean; adapter: string } };
/** The file keeps one entry per setup; these tests have one setup. */
const kept = (): Kept => (JSON.parse(readFileSync(file, 'utf8')) as { setups: Kept[] }).setups.at(-1)!;
const keep = (k: Kept) => writeFileSync(file, JSON.stringify({ setups: [k] }));

describe('the WebGPU probe kept between processes', () => {
  it('a probe writes its result; the next process of the same setup reads it instead of probing', () => {
    const first = probeInChild(file);
    expect(kept().probe).toEqual(first);
    keep({ ...kept(), probe: { ...kept().probe, adapter: 'marker: read from the file' } });
    expect(probeInChild(file).adapter).toBe('marker: read from the file');
  }, 120_000);

  it('a result older than a day, or from another setup, is probed again', () => {
    const k = kept();
    keep({ ...k, at: Date.now() - 25 * 3600 * 1000 });
    expect(probeInChild(file).adapter).not.toBe('marker: read from the file');
    keep({ ...k, key: k.key.replace('"node"', '"node-other"'), at: Date.now() });
    expect(probeInChild(file).adapter).not.toBe('marker: read from the file');
    // the other setup's entry is kept beside this one's
    expect((JSON.parse(readFileSync(file, 'utf8')) as { setups: Kept[] }).setups.map((x) => x.key.includes('"node-other"'))).toEqual([true, false]);
  }, 120_000);

  it('TESSERA_PROBE_CACHE=off probes and keeps nothing', () => {
    keep({ ...kept(), at: Date.now(), probe: { available: false, software: false, adapter: 'marker' } });
    const before = readFileSync(file, 'utf8');
    expect(probeInChild('off').adapter).not.toBe('marker');
    expect(readFileSync(file, 'utf8')).toBe(before);
    expect(existsSync(join(tmp.dir, 'off'))).toBe(false);
  }, 120_000);
});
