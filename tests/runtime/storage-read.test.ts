/**
 * The storage's cold read bandwidth (runtime/storage-read.ts) — its plumbing, never its speed (a shared
 * machine's timing is not asserted): a file range read as the weight arena reads it gives the file's
 * bytes; eviction leaves none of the file in the page cache (where fincore can tell); the measurement
 * reads what it says and removes its scratch file; the figure is a profile field the phones carry
 * (sourced) and that a streamed plan's prefetch decision takes from the host profile.
 */
import { randomFillSync } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { PRESETS, writeDecoder } from '../../bench/models/decoder.js';
import { planStream } from '../../src/compiler/stream.js';
import { TesseraError } from '../../src/errors.js';
import { cachedBytes, evictFromPageCache, measureStorageRead, READ_BLOCK, readRange } from '../../src/runtime/storage-read.js';
import { loadTarget } from '../../src/targets/index.js';
import { uncalibratedHost } from '../../src/targets/host.js';
import { parseTarget } from '../../src/targets/schema.js';

const tmp = mkdtempSync(join(tmpdir(), 'tessera-storage-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const profileEnv = process.env.TESSERA_HOST_PROFILE;
afterEach(() => {
  if (profileEnv === undefined) delete process.env.TESSERA_HOST_PROFILE;
  else process.env.TESSERA_HOST_PROFILE = profileEnv;
});

describe('storage read bandwidth', () => {
  const file = join(tmp, 'data.bin');
  const bytes = randomFillSync(new Uint8Array(READ_BLOCK * 2 + 12345));
  writeFileSync(file, bytes);

  it('reads a range in blocks of at most READ_BLOCK bytes into a view: the file\'s bytes; past the end is TRUNCATED', async () => {
    const fh = await open(file, 'r');
    try {
      const view = new Uint8Array(READ_BLOCK + 1000);
      await readRange(fh, view, 777, 'test');
      expect(Buffer.compare(view, bytes.subarray(777, 777 + view.byteLength))).toBe(0);
      const err = await readRange(fh, new Uint8Array(100), bytes.byteLength - 50, 'test weight').catch((e) => e);
      expect(err).toBeInstanceOf(TesseraError);
      expect(err.code).toBe('TRUNCATED');
      expect(err.message).toContain('test weight');
    } finally {
      await fh.close();
    }
  });

  it('evicts a file from the page cache (where the host can: GNU dd; fincore tells what stays)', async () => {
    readFileSync(file);
    const evicted = await evictFromPageCache(file);
    const cached = cachedBytes(file);
    if (evicted && cached !== undefined) expect(cached).toBe(0);
    // the file is untouched
    expect(Buffer.compare(readFileSync(file), bytes)).toBe(0);
  });

  it('measures cold runs of a scratch file it writes and removes, and says how', async () => {
    const dir = join(tmp, 'scratch');
    const r = await measureStorageRead({ dir, bytes: 3 * READ_BLOCK + 4096, runs: 2 });
    expect(r.bytes).toBe(3 * READ_BLOCK + 4096);
    expect(readdirSync(dir)).toEqual([]);
    expect(Number.isFinite(r.warmGbs) && r.warmGbs > 0).toBe(true);
    if (r.coldGbs === undefined) expect(r.source).toMatch(/not measured cold/);
    else {
      expect(r.coldRuns.length).toBe(2);
      expect(r.coldGbs).toBe([...r.coldRuns].sort((a, b) => a - b)[1]);
      expect(r.source).toMatch(/evicted from the page cache before each run/);
      expect(r.source).toContain(`${READ_BLOCK >> 20} MB reads`);
      if (r.cachedAfterEvict !== undefined) expect(r.cachedAfterEvict).toBe(0);
    }
    // a given file is read, not removed
    const f = await measureStorageRead({ file, runs: 1 });
    expect(f.bytes).toBe(bytes.byteLength);
    expect(existsSync(file)).toBe(true);
  }, 60_000);

  it('is a figure of target profiles: the phones carry a sourced UFS 4.0 figure; a profile with one validates', async () => {
    for (const name of ['snapdragon-8-gen-3', 'dimensity-9300']) {
      const t = await loadTarget(name);
      expect(t.memory?.storageReadGBs?.value).toBeGreaterThan(1);
      expect(t.memory?.storageReadGBs?.source).toMatch(/UFS 4\.0/);
    }
    const host = { ...uncalibratedHost({ available: false, software: false, adapter: '' }), memory: { storageReadGBs: { value: 1.7, source: 'test' } } };
    expect(parseTarget(host, 'test').memory?.storageReadGBs?.value).toBe(1.7);
    expect(() => parseTarget({ ...host, memory: { storageReadGBs: { value: 0, source: 'test' } } }, 'test')).toThrow(/storageReadGBs/);
  });

  it("a streamed plan's prefetch decision takes the host profile's storage figure when none is given", async () => {
    const written = writeDecoder({ ...PRESETS.tiny, layers: 2 }, join(tmp, 'tiny'));
    const profile = join(tmp, 'host.json');
    process.env.TESSERA_HOST_PROFILE = profile;
    for (const gbs of [0.002, 900]) {
      writeFileSync(profile, JSON.stringify({ ...uncalibratedHost({ available: false, software: false, adapter: '' }), memory: { storageReadGBs: { value: gbs, source: 'measured for the test' } } }));
      const plan = await planStream(written.modelPath, { budgetBytes: 200_000 });
      expect(plan.prefetchDecision.storageGBs).toBe(gbs);
      expect(plan.prefetchDecision.storageSource).toContain('measured for the test');
      expect(plan.prefetch).toBe(gbs < 1);
    }
  }, 60_000);
});
