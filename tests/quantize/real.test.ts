/**
 * Quantized real models on real inputs, small: ppocr-v4-rec int8 on text lines rendered in Chromium (4 to
 * calibrate, 4 others to read), silero VAD w8 and int8 on speech from espeak-ng (one voice to calibrate,
 * another to judge). The evaluation at scale is bench/quantize's.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import { tensorFileBytes } from '../../src/ir/tensor-file.js';
import type { Weight } from '../../src/ir/weight.js';
import { quantizeModel } from '../../src/quantize/index.js';
import { chromiumMissing, Renderer } from '../../bench/quantize/render.js';
import { ctcDecode, editDistance, readWavMono16, recInput, recKeys } from '../../bench/quantize/tasks.js';
import { CORPUS, tempDir } from '../cli/helpers.js';

const { dir, cleanup } = tempDir('quantize-real');
afterAll(cleanup);
const f32 = (name: string, data: Float32Array, dims: number[]): Weight => ({ name, dtype: 'float32', dims, source: { kind: 'inline', bytes: new Uint8Array(data.buffer.slice(0)) } });
const has = (cmd: string) => spawnSync(cmd, ['--version']).status === 0;

describe.skipIf(!!chromiumMissing)('ppocr-v4-rec int8 on rendered lines', () => {
  it('reads the lines as float32 reads them', async () => {
    const calib = ['Licensed under the Apache License', 'WITHOUT WARRANTIES OR CONDITIONS', 'Version 2.0, January 2004', 'you may not use this file except'];
    const lines = ['GNU GENERAL PUBLIC LICENSE', 'Free Software Foundation, Inc.', 'the freedom to share and change', 'Everyone is permitted to copy'];
    const r = await Renderer.start();
    const imgs: Awaited<ReturnType<Renderer['line']>>[] = [];
    try {
      for (const [i, t] of calib.entries()) {
        const img = await r.line(t, { font: 'DejaVu Sans', size: 30, ink: 20, paper: 240 });
        mkdirSync(join(dir, 'rec', String(i)), { recursive: true });
        writeFileSync(join(dir, 'rec', String(i), 'input_0.pb'), tensorFileBytes(f32('x', recInput(img.rgb, img.width), [1, 3, 48, img.width])));
      }
      for (const t of lines) imgs.push(await r.line(t, { font: 'DejaVu Serif', size: 30, ink: 30, paper: 230 }));
    } finally {
      await r.close();
    }
    const model = join(CORPUS, 'models', 'ppocr-v4-rec.onnx');
    const { bytes, report } = await quantizeModel(model, { scheme: 'int8', calibration: join(dir, 'rec') });
    expect(report.weightBytes.float / report.weightBytes.quantized).toBeGreaterThan(3.5);
    const keys = recKeys();
    const read = async (s: ort.InferenceSession) => {
      const out = [];
      for (const img of imgs) { const y = (await s.run({ x: new ort.Tensor('float32', recInput(img.rgb, img.width), [1, 3, 48, img.width]) })); const t = Object.values(y)[0]; out.push(ctcDecode(t.data as Float32Array, t.dims[1], t.dims[2], keys)); }
      return out;
    };
    const float = await read(await ort.InferenceSession.create(model));
    const quant = await read(await ort.InferenceSession.create(bytes));
    const cer = (got: string[]) => got.reduce((a, g, i) => a + editDistance(g, lines[i]), 0) / lines.join('').length;
    expect(cer(float)).toBeLessThan(0.03);
    expect(cer(quant)).toBeLessThanOrEqual(cer(float) + 0.02);
  });
});

describe.skipIf(!has('espeak-ng') || !has('sox'))('silero VAD quantized on synthesized speech', () => {
  const model = join(CORPUS, 'models', 'silero-vad-op18-ifless.onnx');
  const speech = (voice: string, text: string, name: string) => {
    execFileSync('espeak-ng', ['-v', voice, '-w', join(dir, `${name}.raw.wav`), text]);
    execFileSync('sox', ['-R', join(dir, `${name}.raw.wav`), '-r', '16000', '-b', '16', '-c', '1', join(dir, `${name}.wav`), 'pad', '0.5', '0.5']);
    return readWavMono16(new Uint8Array(readFileSync(join(dir, `${name}.wav`))));
  };
  const sr = new ort.Tensor('int64', BigInt64Array.of(16000n), []);
  const run = async (s: ort.InferenceSession, audio: Float32Array, keep?: (input: Float32Array, state: Float32Array) => void) => {
    let state = new Float32Array(256);
    const probs: number[] = [];
    for (let at = 0; at + 512 <= audio.length; at += 512) {
      const input = new Float32Array(576);
      input.set(audio.subarray(Math.max(0, at - 64), at), 64 - Math.min(at, 64));
      input.set(audio.subarray(at, at + 512), 64);
      keep?.(input, state);
      const r = await s.run({ input: new ort.Tensor('float32', input, [1, 576]), sr, state: new ort.Tensor('float32', state, [2, 1, 128]) });
      probs.push((r.output.data as Float32Array)[0]);
      state = new Float32Array(r.stateN.data as Float32Array);
    }
    return probs;
  };

  it('w8 and int8 decide speech frames as float32 does', async () => {
    const float = await ort.InferenceSession.create(model);
    let n = 0;
    await run(float, speech('en-us', 'The licenses for most software are designed to take away your freedom.', 'cal'), (input, state) => {
      if (n % 4 === 0) {
        const d = join(dir, 'vad', String(n).padStart(3, '0'));
        mkdirSync(d, { recursive: true });
        writeFileSync(join(d, 'input_0.pb'), tensorFileBytes(f32('input', input, [1, 576])));
        writeFileSync(join(d, 'input_1.pb'), tensorFileBytes({ name: 'sr', dtype: 'int64', dims: [], source: { kind: 'inline', bytes: new Uint8Array(BigInt64Array.of(16000n).buffer) } }));
        writeFileSync(join(d, 'input_2.pb'), tensorFileBytes(f32('state', state, [2, 1, 128])));
      }
      n++;
    });
    const audio = speech('en-gb-scotland+f3', 'Everyone is permitted to copy and distribute verbatim copies of this document.', 'eval');
    const want = await run(float, audio);
    expect(want.some((p) => p > 0.5) && want.some((p) => p < 0.5)).toBe(true); // speech and silence both there
    for (const scheme of ['w8', 'int8'] as const) {
      const { bytes } = await quantizeModel(model, { scheme, calibration: join(dir, 'vad') });
      const got = await run(await ort.InferenceSession.create(bytes), audio);
      const agree = got.filter((p, i) => (p > 0.5) === (want[i] > 0.5)).length / got.length;
      expect(agree).toBeGreaterThanOrEqual(0.97);
      expect(got.reduce((a, p, i) => a + Math.abs(p - want[i]), 0) / got.length).toBeLessThan(0.03); // mean |Δ probability|
    }
  });
});
