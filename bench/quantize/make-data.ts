/**
 * Makes the evaluation and calibration data of bench/quantize from real sources on this machine, the same
 * bytes for the same seed:
 *   rec/  text lines (licence texts from /usr/share/common-licenses) rendered 48 px high in headless
 *         Chromium with Debian's DejaVu, Liberation and Noto fonts, with their ground-truth strings;
 *   det/  640×480 pages of such lines, with each line's box;
 *   vad/  English sentences spoken by espeak-ng, joined with silences and mixed with noise by sox, with
 *         the sample spans of speech; calibration chunks carry the float model's own recurrent state.
 * Calibration and evaluation sets are disjoint: other licence texts (and no shared line), other voices.
 *
 *   npx tsx bench/quantize/make-data.ts [--seed N] [--out DIR]      (needs scripts/setup-eval.sh, setup-browser.sh)
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { rng } from '../../src/backends/tensor.js';
import { tensorFileBytes } from '../../src/ir/tensor-file.js';
import type { Weight } from '../../src/ir/weight.js';
import { FONTS, Renderer, type LineStyle, type PageLine } from './render.js';
import { CORPUS, DATA, detInput, LICENSES, readWavMono16, recInput, recKeys, TEXT_SOURCES, textLines, VAD, VOICES, wavMono16 } from './tasks.js';

const arg = (name: string, dflt: string) => { const i = process.argv.indexOf(name); return i > 0 ? process.argv[i + 1] : dflt; };
const seed = Number(arg('--seed', '1'));
const out = arg('--out', DATA);
const COUNTS = { recCalibration: 64, recEvaluation: 320, detCalibration: 8, detEvaluation: 32, vadCalibrationClips: 2, vadEvaluationClips: 4, vadCalibrationChunks: 128 };

const f32Weight = (name: string, data: Float32Array, dims: number[]): Weight => ({ name, dtype: 'float32', dims, source: { kind: 'inline', bytes: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) } });
const writeSample = (dir: string, inputs: Weight[]) => { mkdirSync(dir, { recursive: true }); inputs.forEach((w, i) => writeFileSync(join(dir, `input_${i}.pb`), tensorFileBytes(w))); };
const pad = (i: number) => String(i).padStart(4, '0');

function styleOf(next: () => number, fonts: readonly string[], size: [number, number]): LineStyle {
  return { font: fonts[Math.floor(next() * fonts.length)], size: size[0] + Math.floor(next() * (size[1] - size[0] + 1)), ink: Math.floor(next() * 70), paper: 215 + Math.floor(next() * 41) };
}

async function makeRec(r: Renderer, fonts: string[], alphabet: Set<string>) {
  const next = rng(seed * 1000 + 1);
  const calib = textLines(TEXT_SOURCES.calibration, seed, COUNTS.recCalibration, alphabet);
  const evalLines = textLines(TEXT_SOURCES.evaluation, seed + 1, COUNTS.recEvaluation, alphabet, new Set(calib));
  for (const [i, text] of calib.entries()) {
    const img = await r.line(text, styleOf(next, fonts, [26, 36]));
    const dir = join(out, 'rec', 'calibration', pad(i));
    writeSample(dir, [f32Weight('x', recInput(img.rgb, img.width), [1, 3, 48, img.width])]);
    writeFileSync(join(dir, 'text.txt'), text);
  }
  const meta = [];
  for (const [i, text] of evalLines.entries()) {
    const style = styleOf(next, fonts, [26, 36]);
    const img = await r.line(text, style);
    writeFileSync(join(out, 'rec', 'evaluation', `${pad(i)}.rgb`), img.rgb);
    meta.push({ file: `${pad(i)}.rgb`, width: img.width, height: img.height, text, ...style });
  }
  writeFileSync(join(out, 'rec', 'evaluation', 'lines.json'), JSON.stringify(meta, null, 1));
  return { calibration: calib.length, evaluation: evalLines.length };
}

async function makePages(r: Renderer, fonts: string[], texts: string[], count: number, next: () => number, set: string) {
  const W = 640, H = 480, meta = [];
  let t = 0;
  for (let p = 0; p < count; p++) {
    const lines: PageLine[] = [];
    let y = 12;
    while (t < texts.length) {
      const style = styleOf(next, fonts, [14, 30]);
      const width = await r.measure(texts[t], style);
      if (y + style.size * 1.3 > H - 8) break;
      y += style.size;
      if (width < W - 16) lines.push({ text: texts[t], x: 8 + Math.floor(next() * (W - 16 - width)), y, style: { ...style, paper: 0 } });
      y += Math.floor(style.size * 0.3 + next() * 24);
      t++;
    }
    const paper = 220 + Math.floor(next() * 36);
    const img = await r.renderPage(W, H, paper, lines);
    if (set === 'calibration') writeSample(join(out, 'det', set, pad(p)), [f32Weight('x', detInput(img.rgb, W, H), [1, 3, H, W])]);
    else writeFileSync(join(out, 'det', set, `${pad(p)}.rgb`), img.rgb);
    meta.push({ file: `${pad(p)}.rgb`, width: W, height: H, lines: lines.map((l, i) => ({ text: l.text, box: img.boxes[i] })) });
  }
  writeFileSync(join(out, 'det', set, 'pages.json'), JSON.stringify(meta, null, 1));
  return count;
}

async function makeDet(r: Renderer, fonts: string[], alphabet: Set<string>) {
  const calib = textLines(TEXT_SOURCES.calibration, seed + 2, 100000, alphabet, new Set(), 6, 40);
  const evalTexts = textLines(TEXT_SOURCES.evaluation, seed + 3, 100000, alphabet, new Set(calib), 6, 40);
  return {
    calibration: await makePages(r, fonts, calib, COUNTS.detCalibration, rng(seed * 1000 + 2), 'calibration'),
    evaluation: await makePages(r, fonts, evalTexts, COUNTS.detEvaluation, rng(seed * 1000 + 3), 'evaluation'),
  };
}

/** A clip: sentences by the given voices with silences between, mixed by sox with noise; the spans of speech. */
function makeClip(work: string, sentences: string[], voices: readonly string[], next: () => number, name: string, seconds: number) {
  const rate = VAD.rate;
  const parts: Float32Array[] = [];
  const spans: [number, number][] = [];
  let at = 0;
  const silence = (s: number) => { const n = Math.floor(s * rate); parts.push(new Float32Array(n)); at += n; };
  silence(0.5 + next());
  for (let k = 0; at < seconds * rate && k < sentences.length; k++) {
    const voice = voices[Math.floor(next() * voices.length)];
    const raw = join(work, 'raw.wav'), res = join(work, 'res.wav');
    execFileSync('espeak-ng', ['-v', voice, '-s', String(140 + Math.floor(next() * 50)), '-w', raw, sentences[k]]);
    execFileSync('sox', ['-R', raw, '-r', String(rate), '-b', '16', '-c', '1', res]);
    const speech = readWavMono16(readFileSync(res));
    const gain = 0.5 + next() * 0.5;
    parts.push(speech.map((x) => x * gain));
    spans.push([at, at + speech.length]);
    at += speech.length;
    silence(0.3 + next() * 2.2);
  }
  const total = new Float32Array(at);
  let o = 0;
  for (const p of parts) { total.set(p, o); o += p.length; }
  const clean = join(work, 'clean.wav'), noise = join(work, 'noise.wav'), mixed = join(out, 'vad', name);
  writeFileSync(clean, wavMono16(total, rate));
  const kind = ['whitenoise', 'pinknoise', 'brownnoise'][Math.floor(next() * 3)];
  execFileSync('sox', ['-R', '-n', '-r', String(rate), '-b', '16', '-c', '1', noise, 'synth', String(total.length / rate), kind, 'vol', (0.01 + next() * 0.04).toFixed(3)]);
  execFileSync('sox', ['-R', '-m', clean, noise, '-b', '16', mixed]);
  return { file: name, samples: total.length, seconds: total.length / rate, noise: kind, speech: spans };
}

/** Calibration samples for silero-vad-op18-ifless (inputs: input [1,576], sr, state [2,1,128]): chunks of the calibration clips with the state the float model carries there. */
async function vadCalibration(clips: { file: string }[]) {
  const session = await ort.InferenceSession.create(join(CORPUS, 'silero-vad-op18-ifless.onnx'));
  const chunks: { input: Float32Array; state: Float32Array }[] = [];
  for (const c of clips) {
    const audio = readWavMono16(readFileSync(join(out, 'vad', c.file)));
    let state = new Float32Array(2 * 128);
    for (let s = 0; s + VAD.frame <= audio.length; s += VAD.frame) {
      const input = new Float32Array(VAD.context + VAD.frame);
      input.set(audio.subarray(Math.max(0, s - VAD.context), s), VAD.context - Math.min(s, VAD.context));
      input.set(audio.subarray(s, s + VAD.frame), VAD.context);
      chunks.push({ input, state });
      const res = await session.run({ input: new ort.Tensor('float32', input, [1, input.length]), sr: new ort.Tensor('int64', BigInt64Array.of(16000n), []), state: new ort.Tensor('float32', state, [2, 1, 128]) });
      state = Float32Array.from(res.stateN.data as Float32Array);
    }
  }
  await session.release();
  const step = Math.max(1, Math.floor(chunks.length / COUNTS.vadCalibrationChunks));
  let n = 0;
  for (let i = 0; i < chunks.length && n < COUNTS.vadCalibrationChunks; i += step, n++) {
    const sr: Weight = { name: 'sr', dtype: 'int64', dims: [], source: { kind: 'inline', bytes: new Uint8Array(BigInt64Array.of(16000n).buffer) } };
    writeSample(join(out, 'vad', 'calibration', pad(n)), [f32Weight('input', chunks[i].input, [1, chunks[i].input.length]), sr, f32Weight('state', chunks[i].state, [2, 1, 128])]);
  }
  return n;
}

async function makeVad() {
  const work = mkdtempSync(join(tmpdir(), 'tessera-vad-'));
  try {
    const sentences = (files: readonly string[]) => files.flatMap((f) => readFileSync(join(LICENSES, f), 'utf8').replace(/\s+/g, ' ').split(/(?<=[.;:])\s+/)).map((s) => s.trim()).filter((s) => s.length > 20 && s.length < 200);
    const next = rng(seed * 1000 + 4);
    const calibSentences = sentences(TEXT_SOURCES.calibration), evalSentences = sentences(TEXT_SOURCES.evaluation);
    const calib = [], evaluation = [];
    for (let i = 0; i < COUNTS.vadCalibrationClips; i++) calib.push(makeClip(work, calibSentences.slice(i * 40), VOICES.calibration, next, `calibration-${i}.wav`, 30));
    for (let i = 0; i < COUNTS.vadEvaluationClips; i++) evaluation.push(makeClip(work, evalSentences.slice(i * 40), VOICES.evaluation, next, `evaluation-${i}.wav`, 50));
    writeFileSync(join(out, 'vad', 'clips.json'), JSON.stringify({ calibration: calib, evaluation }, null, 1));
    const chunks = await vadCalibration(calib);
    return { calibrationClips: calib.length, calibrationChunks: chunks, evaluationSeconds: evaluation.reduce((a, c) => a + c.seconds, 0) };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

const t0 = Date.now();
rmSync(out, { recursive: true, force: true });
for (const d of ['rec/calibration', 'rec/evaluation', 'det/calibration', 'det/evaluation', 'vad/calibration']) mkdirSync(join(out, d), { recursive: true });
const r = await Renderer.start();
const fonts = await r.availableFonts();
if (fonts.length < FONTS.length) console.warn(`fonts missing in the browser: ${FONTS.filter((f) => !fonts.includes(f)).join(', ')} (run scripts/setup-eval.sh)`);
const alphabet = new Set(recKeys());
let rec, det;
try {
  rec = await makeRec(r, fonts, alphabet);
  det = await makeDet(r, fonts, alphabet);
} finally {
  await r.close();
}
const vad = await makeVad();
const manifest = { seed, fonts, textSources: { dir: LICENSES, ...TEXT_SOURCES }, voices: VOICES, rec, det, vad, espeak: execFileSync('espeak-ng', ['--version']).toString().trim(), sox: execFileSync('sox', ['--version']).toString().trim() };
writeFileSync(join(out, 'manifest.json'), JSON.stringify(manifest, null, 1));
console.log(`${out}: made in ${((Date.now() - t0) / 1000).toFixed(0)} s: ${JSON.stringify({ rec, det, vad })}`);
