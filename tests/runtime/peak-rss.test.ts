/**
 * Peak RSS as a process reports it is its own, not the peak of the process that started it:
 * `process.resourceUsage().maxRSS` carries a forked parent's peak across exec (Linux), so a child of a
 * large parent would report at least the parent's size.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PRESETS, writeDecoder } from '../../bench/models/decoder.js';
import { peakRssBytes } from '../../src/runtime/peak-rss.js';
import { tessera } from '../cli/helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'tessera-peak-rss-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('peak RSS', () => {
  it('is at least what this process holds now', () => {
    expect(peakRssBytes()).toBeGreaterThanOrEqual(process.memoryUsage().rss * 0.9);
  });

  it.runIf(process.platform === 'linux')('tessera generate started by a process holding 1.5 GB reports its own peak, not the parent\u2019s', () => {
    writeDecoder(PRESETS.tiny, join(tmp, 'tiny'));
    const held = Buffer.alloc(1.5e9, 1); // touched: resident in this process
    const r = tessera('generate', join(tmp, 'tiny', 'model.onnx'), '--prompt-tokens', '1,2,3', '--steps', '2', '--json');
    expect(r.status).toBe(0);
    expect(held[12345]).toBe(1);
    const peak = JSON.parse(r.stdout).peakRssBytes;
    expect(process.memoryUsage().rss).toBeGreaterThan(1.5e9);
    expect(peak).toBeLessThan(1e9);
    expect(peak).toBeGreaterThan(20e6);
  }, 120_000);
});
