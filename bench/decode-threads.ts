/**
 * The Generator's decode under different thread and spinning settings, alternating in one process
 * (`--rounds` rounds, each a 64-token prefill and 31 greedy steps per setting): which default to give a
 * host. Prints tokens/s and first-token ms per round and the medians. Measured, provisional on a shared
 * machine.
 *
 *   npx tsx bench/decode-threads.ts [--preset 100m] [--rounds 4]
 */
import { availableParallelism, loadavg } from 'node:os';
import { Generator } from '../src/generate/index.js';
import { PRESETS, presetDecoder, type PresetName } from './models/decoder.js';
import { seededPrompt } from './models/ort-generate.js';

const args = process.argv.slice(2);
const opt = (name: string, fallback: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : fallback);
const preset = opt('--preset', '100m') as PresetName;
const rounds = Number(opt('--rounds', '4'));
const settings = {
  default: {},
  'one decode thread': { decodeThreads: 1 },
  'no spinning': { decodeSpinning: false, prefillSpinning: false },
} as const;

const median = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1];
const { modelPath } = presetDecoder(preset);
const prompt = seededPrompt(64, PRESETS[preset].vocab, 1);
console.log(`command: npx tsx bench/decode-threads.ts ${args.join(' ')}`);
console.log(`${preset} float32, ${availableParallelism()} cores, 1-minute load average ${loadavg()[0].toFixed(2)} at start; ${rounds} rounds alternating`);
const gens = new Map<string, Generator>();
for (const [name, o] of Object.entries(settings)) gens.set(name, await Generator.create(modelPath, { maxLength: 96, ...o }));
const tps = new Map<string, number[]>(), ttft = new Map<string, number[]>();
for (let r = 0; r < rounds; r++) {
  for (const [name, g] of gens) {
    g.reset();
    await g.prefill(prompt);
    for (let i = 0; i < 31; i++) await g.next();
    const ms = g.stats.decodeMs;
    tps.set(name, [...(tps.get(name) ?? []), ms.length / (ms.reduce((a, b) => a + b, 0) / 1000)]);
    ttft.set(name, [...(ttft.get(name) ?? []), g.stats.prefillMs]);
  }
}
for (const name of gens.keys()) {
  const t = tps.get(name)!, f = ttft.get(name)!;
  console.log(`${name.padEnd(20)} decode tokens/s ${t.map((x) => x.toFixed(1)).join(', ')} (median ${median(t).toFixed(1)}); first token ms ${f.map((x) => x.toFixed(0)).join(', ')} (median ${median(f).toFixed(0)})`);
}
for (const g of gens.values()) await g.release();
