/**
 * The streaming read bandwidth: what it reads and reports (never its speed: a shared machine's timing
 * is not asserted), and that a profile's measured streaming figure is the decode floor's bandwidth in
 * place of the fitted one.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { LLAMA_1B_INT4, roofline } from '../../src/generate/predict.js';
import { lastLevelCache, measureStreamBandwidth } from '../../src/runtime/stream-bandwidth.js';
import { parseTarget } from '../../src/targets/schema.js';

describe('streaming read bandwidth', () => {
  it('reads the working set it reports through onnxruntime and natively, and takes the faster', async () => {
    const r = await measureStreamBandwidth({ bytes: 48 * 2 ** 20, runs: 2 });
    // 256 rows of a multiple of 1024 floats, no more than asked
    expect(r.workingSetBytes).toBeLessThanOrEqual(48 * 2 ** 20);
    expect(r.workingSetBytes % (256 * 1024 * 4)).toBe(0);
    expect(r.workingSetBytes).toBeGreaterThan(40 * 2 ** 20);
    for (const v of [r.reduceGbs, r.compareGbs, r.quarterGbs]) expect(Number.isFinite(v) && v > 0).toBe(true);
    expect(r.gbs).toBe(Math.max(r.reduceGbs, r.compareGbs));
    expect(r.source).toContain(`${(r.workingSetBytes / 2 ** 20).toFixed(0)} MB`);
    expect(r.source).toContain(r.llcSource);
  }, 60_000);

  it('knows the last-level cache or says it does not', () => {
    const c = lastLevelCache();
    if (c.bytes === undefined) expect(c.source).toMatch(/unknown/);
    else expect(c.bytes).toBeGreaterThanOrEqual(256 * 1024);
  });

  it("the decode floor reads a profile's streamBandwidthGBs in place of its fitted bandwidthGBs", () => {
    const target = JSON.parse(readFileSync(new URL('../../src/targets/builtin/x86-laptop-rtx4060.json', import.meta.url), 'utf8'));
    const cpuOnly = { ...target, processors: target.processors.filter((p: { kind: string }) => p.kind === 'cpu'), links: [] };
    const fitted = roofline(parseTarget(cpuOnly, 'test'), LLAMA_1B_INT4, 1024, 'float32');
    const cpu = cpuOnly.processors[0];
    const streamed = parseTarget({ ...cpuOnly, processors: [{ ...cpu, streamBandwidthGBs: { value: cpu.bandwidthGBs.value / 3, source: 'test' } }] }, 'test');
    const r = roofline(streamed, LLAMA_1B_INT4, 1024, 'float32');
    expect(fitted.bandwidthGBs).toBe(cpu.bandwidthGBs.value);
    expect(r.bandwidthGBs).toBe(cpu.bandwidthGBs.value / 3);
    expect(r.decodeTokensPerS).toBeCloseTo(((cpu.bandwidthGBs.value / 3) * 1e9) / (r.weightBytes + r.kvBytes), 6);
    expect(r.arithmetic.join('\n')).toContain('measured streaming read');
  });
});
