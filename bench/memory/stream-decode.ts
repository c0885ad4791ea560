/**
 * Streamed decode (src/generate/streamed.ts): the generated decoder (preset 500m: 2 GB of float32
 * weights) generating under memory budgets smaller than its weights, each run its own process
 * (`tessera generate --memory-budget B --json` of the built CLI, under /usr/bin/time), against
 * onnxruntime running the same graph step by step (bench/models/ort-generate.ts) for the tokens. Per
 * budget: peak RSS against budget + the engine floor (the same command on a 0.1 M-parameter decoder
 * streamed), time to first token, decode tokens/s, weight bytes read per decode step, and the
 * storage-read floor: read bandwidth (reading the weight file in 8 MB blocks in this process, same run:
 * the page cache, the file being cached) / bytes read per token.
 *   part of bench/decode.ts (--streamed 256MB,512MB); alone:
 *   npm run build && npx tsx bench/memory/stream-decode.ts [--preset 500m] [--budgets 256MB,512MB] [--prompt 16] [--steps 8] [--runs 2]
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as ort from 'onnxruntime-node';
import { PRESETS, presetDecoder, writeDecoder, type PresetName } from '../models/decoder.js';
import { ortGreedy, seededPrompt } from '../models/ort-generate.js';
import { measure } from './measure.js';
import { readBandwidth } from './stream-decoder.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url)).replace(/\/$/, '');
const TESSERA = join(ROOT, 'bin/tessera.js');
const MB = 1e6;
const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const rng = (xs: number[], f: (x: number) => string) => (xs.length ? (Math.min(...xs) === Math.max(...xs) ? f(xs[0]) : `${f(Math.min(...xs))}–${f(Math.max(...xs))}`) : '-');
const bytesOf = (s: string) => Number(s.replace(/MB$/i, '')) * (/MB$/i.test(s) ? MB : 1);

export async function streamDecodeBench(o: { preset?: PresetName; budgets?: string[]; prompt?: number; steps?: number; runs?: number } = {}) {
  const preset = o.preset ?? '500m', budgets = o.budgets ?? ['256MB', '512MB'], P = o.prompt ?? 16, S = o.steps ?? 8, runs = o.runs ?? 2;
  const model = presetDecoder(preset);
  const c = PRESETS[preset];
  const prompt = seededPrompt(P, c.vocab, 1);
  const session = await ort.InferenceSession.create(model.modelPath, { logSeverityLevel: 3 });
  const ref = await ortGreedy(session, prompt, S);
  await session.release();
  const work = mkdtempSync(join(tmpdir(), 'tessera-stream-decode-'));
  try {
    // the engine floor: the same command streaming a 0.1 M-parameter decoder (under 200 KB)
    const tiny = join(work, 'tiny');
    mkdirSync(tiny, { recursive: true });
    writeDecoder(PRESETS.tiny, tiny);
    const floor: number[] = [];
    for (let r = 0; r < runs; r++) {
      const m = measure(process.execPath, [TESSERA, 'generate', join(tiny, 'model.onnx'), '--prompt-length', String(P), '--steps', String(S), '--memory-budget', '300000', '--json']);
      if (m.status !== 0 || !JSON.parse(m.stdout).streamed) throw new Error(`engine floor run failed (or did not stream): ${m.stderr.slice(-1500)}`);
      floor.push(m.peakRssBytes);
    }
    const bw: number[] = [];
    const rows = [];
    for (const budget of budgets) {
      const rss: number[] = [], tps: number[] = [], ttft: number[] = [], read: number[] = [];
      let tokensEqual = true;
      for (let r = 0; r < runs; r++) {
        bw.push(readBandwidth(model.dataPath));
        const m = measure(process.execPath, [TESSERA, 'generate', model.modelPath, '--prompt-length', String(P), '--steps', String(S), '--memory-budget', budget, '--json']);
        if (m.status !== 0) throw new Error(`tessera generate --memory-budget ${budget} failed: ${m.stderr.slice(-2000)}`);
        const out = JSON.parse(m.stdout);
        tokensEqual &&= out.tokens.join() === ref.tokens.join();
        rss.push(m.peakRssBytes);
        tps.push(out.tokensPerS);
        ttft.push(out.ttftMs);
        read.push(out.streamed.readBytesPerToken);
      }
      rows.push({ budget, budgetBytes: bytesOf(budget), peakRssBytes: rss, tokensPerS: tps, ttftMs: ttft, readBytesPerToken: read, tokensEqual });
    }
    const floorBytes = med(floor), bwMed = med(bw);
    console.log(`streamed decode, decoder ${preset} (${(model.dataBytes / MB).toFixed(0)} MB float32 weights): prompt ${P} tokens, ${S} greedy steps, each budget in its own process (tessera generate --json under /usr/bin/time), ${runs} runs`);
    console.log(`  read bandwidth ${rng(bw, (x) => (x / 1e9).toFixed(2))} GB/s (the weight file read in 8 MB blocks, same run: from the page cache — not the device); engine floor ${rng(floor, (x) => (x / MB).toFixed(0))} MB (the same command streaming a 0.1 M-parameter decoder)`);
    for (const r of rows) {
      const limit = r.budgetBytes + floorBytes;
      const floorTps = bwMed / med(r.readBytesPerToken);
      console.log(`  ${r.budget.padEnd(6)} peak RSS ${rng(r.peakRssBytes, (x) => (x / MB).toFixed(0))} MB (×${(med(r.peakRssBytes) / limit).toFixed(2)} of budget + floor = ${(limit / MB).toFixed(0)} MB)  tokens ${r.tokensEqual ? 'equal to' : 'DIFFER from'} onnxruntime's step-by-step loop  time to first token ${rng(r.ttftMs, (x) => (x / 1000).toFixed(2))} s  decode ${rng(r.tokensPerS, (x) => x.toFixed(3))} tokens/s, reading ${(med(r.readBytesPerToken) / MB).toFixed(0)} MB a token → storage-read floor ${floorTps.toFixed(3)} tokens/s, reached ×${(med(r.tokensPerS) / floorTps).toFixed(2)}`);
    }
    return { preset, prompt: P, steps: S, readBandwidthBs: bw, floorBytes: floor, rows };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const args = process.argv.slice(2);
  const opt = (k: string) => (args.includes(k) ? args[args.indexOf(k) + 1] : undefined);
  await streamDecodeBench({ preset: opt('--preset') as PresetName | undefined, budgets: opt('--budgets')?.split(','), prompt: opt('--prompt') ? Number(opt('--prompt')) : undefined, steps: opt('--steps') ? Number(opt('--steps')) : undefined, runs: opt('--runs') ? Number(opt('--runs')) : undefined });
}
