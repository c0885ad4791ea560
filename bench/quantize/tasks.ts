/**
 * The three tasks of bench/quantize, as data and metrics: text lines for ppocr-v4-rec (character error
 * rate of greedy CTC decoding), pages for ppocr-v4-det (text-mask IoU at 0.3), speech with silence and
 * noise for silero VAD (frame decisions at 0.5). Shared by make-data.ts (which writes the data) and run.ts.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { rng } from '../../src/backends/tensor.js';

export const ROOT = join(import.meta.dirname, '..', '..');
export const CORPUS = join(ROOT, '..', 'shared', 'corpus', 'models');
export const DATA = process.env.TESSERA_EVAL_DATA ?? join(ROOT, 'eval-data');

/** Real text on every Debian machine: the licence texts in /usr/share/common-licenses (base-files). */
export const LICENSES = '/usr/share/common-licenses';
export const TEXT_SOURCES = { calibration: ['Apache-2.0', 'Artistic', 'BSD', 'CC0-1.0'], evaluation: ['GPL-3', 'MPL-2.0', 'LGPL-2.1'] } as const;

export function recKeys(): string[] {
  return readFileSync(join(CORPUS, 'ppocr-v4-rec.keys.txt'), 'utf8').split('\n');
}

/**
 * Lines of `minLen`–`maxLen` characters cut at word boundaries from the files, only characters the
 * recognizer's dictionary has, in a seeded random order; none in `avoid`.
 */
export function textLines(files: readonly string[], seed: number, count: number, alphabet: ReadonlySet<string>, avoid: ReadonlySet<string> = new Set(), minLen = 8, maxLen = 36): string[] {
  const next = rng(seed);
  const words = files.flatMap((f) => readFileSync(join(LICENSES, f), 'utf8').split(/\s+/)).map((w) => [...w].filter((c) => alphabet.has(c)).join('')).filter(Boolean);
  const lines: string[] = [];
  let cur = '', want = minLen + Math.floor(next() * (maxLen - minLen));
  for (const w of words) {
    const cand = cur ? `${cur} ${w}` : w;
    if (cand.length > maxLen) { if (cur.length >= minLen) lines.push(cur); cur = w.slice(0, maxLen); want = minLen + Math.floor(next() * (maxLen - minLen)); continue; }
    cur = cand;
    if (cur.length >= want) { lines.push(cur); cur = ''; want = minLen + Math.floor(next() * (maxLen - minLen)); }
  }
  const unique = [...new Set(lines)].filter((l) => !avoid.has(l));
  for (let i = unique.length - 1; i > 0; i--) { const j = Math.floor(next() * (i + 1)); [unique[i], unique[j]] = [unique[j], unique[i]]; }
  return unique.slice(0, count);
}

/** ppocr-v4-rec's input: [1, 3, 48, W], BGR, (v/255 − 0.5)/0.5. */
export function recInput(rgb: Uint8Array, width: number, height = 48): Float32Array {
  const out = new Float32Array(3 * height * width);
  const plane = height * width;
  for (let p = 0; p < plane; p++) for (let c = 0; c < 3; c++) out[c * plane + p] = (rgb[p * 3 + (2 - c)] / 255 - 0.5) / 0.5;
  return out;
}

/** ppocr-v4-det's input: [1, 3, H, W], channels in BGR order normalized with PaddleOCR's mean and std (as PaddleOCR applies them to cv2's BGR image). */
export function detInput(rgb: Uint8Array, width: number, height: number): Float32Array {
  const mean = [0.485, 0.456, 0.406], std = [0.229, 0.224, 0.225];
  const out = new Float32Array(3 * height * width);
  const plane = height * width;
  for (let p = 0; p < plane; p++) for (let c = 0; c < 3; c++) out[c * plane + p] = (rgb[p * 3 + (2 - c)] / 255 - mean[c]) / std[c];
  return out;
}

/** Greedy CTC: argmax per time step, repeats merged, blanks (class 0) dropped; class k is keys[k−1], the last class a space. */
export function ctcDecode(probs: Float32Array, steps: number, classes: number, keys: readonly string[]): string {
  let out = '', prev = -1;
  for (let t = 0; t < steps; t++) {
    let best = 0, bv = -Infinity;
    for (let k = 0; k < classes; k++) { const v = probs[t * classes + k]; if (v > bv) { bv = v; best = k; } }
    if (best !== prev && best !== 0) out += best === classes - 1 ? ' ' : keys[best - 1];
    prev = best;
  }
  return out.trim();
}

export function editDistance(a: string, b: string): number {
  const x = [...a], y = [...b];
  let prev = Array.from({ length: y.length + 1 }, (_, j) => j);
  for (let i = 1; i <= x.length; i++) {
    const cur = [i];
    for (let j = 1; j <= y.length; j++) cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x[i - 1] === y[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[y.length];
}

/** Intersection and union of the masks prob > threshold of two probability maps. */
export function maskOverlap(a: Float32Array, b: Float32Array, threshold = 0.3): { inter: number; union: number } {
  let inter = 0, union = 0;
  for (let i = 0; i < a.length; i++) {
    const p = a[i] > threshold, q = b[i] > threshold;
    if (p && q) inter++;
    if (p || q) union++;
  }
  return { inter, union };
}

/** silero VAD at 16 kHz: 512 new samples a frame, with the previous 64 as context. */
export const VAD = { rate: 16000, frame: 512, context: 64, threshold: 0.5 } as const;
/** espeak-ng voices (language + variant): the calibration and evaluation sets use different ones. */
export const VOICES = { calibration: ['en-us', 'en-gb+f2'], evaluation: ['en-gb-scotland', 'en-029+f3', 'en-gb-x-rp+m3', 'en-us+f4'] } as const;

export function readWavMono16(bytes: Uint8Array): Float32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let off = 12;
  while (off + 8 <= bytes.length) {
    const id = String.fromCharCode(...bytes.subarray(off, off + 4)), size = view.getUint32(off + 4, true);
    if (id === 'data') {
      const n = Math.floor(Math.min(size, bytes.length - off - 8) / 2);
      return Float32Array.from({ length: n }, (_, i) => view.getInt16(off + 8 + i * 2, true) / 32768);
    }
    off += 8 + size + (size & 1);
  }
  throw new Error('no data chunk in the wav file');
}

export function wavMono16(samples: Float32Array, rate: number): Uint8Array {
  const out = new Uint8Array(44 + samples.length * 2);
  const v = new DataView(out.buffer);
  const str = (o: number, s: string) => [...s].forEach((c, i) => v.setUint8(o + i, c.charCodeAt(0)));
  str(0, 'RIFF'); v.setUint32(4, 36 + samples.length * 2, true); str(8, 'WAVE'); str(12, 'fmt ');
  v.setUint32(16, 16, true); v.setUint16(20, 1, true); v.setUint16(22, 1, true); v.setUint32(24, rate, true);
  v.setUint32(28, rate * 2, true); v.setUint16(32, 2, true); v.setUint16(34, 16, true); str(36, 'data'); v.setUint32(40, samples.length * 2, true);
  samples.forEach((x, i) => v.setInt16(44 + i * 2, Math.max(-32768, Math.min(32767, Math.round(x * 32767))), true));
  return out;
}
