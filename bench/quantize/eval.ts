/**
 * The task metrics of bench/quantize on the evaluation sets made by make-data.ts: each task runs a model
 * (onnxruntime CPU) over its items and returns one output per item; `score` compares the float32 and the
 * quantized runs (and the float32 one with the ground truth where there is one).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { ctcDecode, DATA, detInput, editDistance, maskOverlap, readWavMono16, recInput, recKeys, VAD } from './tasks.js';

export type Feeds = Record<string, ort.Tensor>;

export interface Task {
  name: string;
  model: string;
  calibration: string;
  /** Items evaluated (lines, pages, seconds of audio). */
  size: string;
  /** The main output of every item. */
  run(session: ort.InferenceSession): Promise<Float32Array[]>;
  /** A typical input, for latency. */
  latencyFeeds(): Feeds;
  /** Metric lines: float32 against ground truth (when any), quantized against float32 or ground truth. */
  score(float: Float32Array[], quant: Float32Array[]): { metric: string; float?: number; quantized: number; detail?: string };
}

const tensor = (data: Float32Array, dims: number[]) => new ort.Tensor('float32', data, dims);

export function recTask(model: string): Task {
  const dir = join(DATA, 'rec', 'evaluation');
  const lines = JSON.parse(readFileSync(join(dir, 'lines.json'), 'utf8')) as { file: string; width: number; text: string }[];
  const keys = recKeys();
  const input = (l: (typeof lines)[number]) => tensor(recInput(new Uint8Array(readFileSync(join(dir, l.file))), l.width), [1, 3, 48, l.width]);
  const cer = (outs: Float32Array[]) => {
    let errors = 0, chars = 0;
    outs.forEach((o, i) => { errors += editDistance(ctcDecode(o, o.length / 6625, 6625, keys), lines[i].text); chars += [...lines[i].text].length; });
    return (100 * errors) / chars;
  };
  return {
    name: 'ppocr-v4-rec', model, calibration: join(DATA, 'rec', 'calibration'), size: `${lines.length} lines`,
    async run(s) { const out = []; for (const l of lines) out.push((await s.run({ [s.inputNames[0]]: input(l) }))[s.outputNames[0]].data as Float32Array); return out; },
    latencyFeeds() { const l = lines.reduce((a, b) => (Math.abs(b.width - 320) < Math.abs(a.width - 320) ? b : a)); return { x: input(l) }; },
    score: (f, q) => ({ metric: 'CER % vs ground truth', float: cer(f), quantized: cer(q) }),
  };
}

export function detTask(model: string): Task {
  const dir = join(DATA, 'det', 'evaluation');
  const pages = JSON.parse(readFileSync(join(dir, 'pages.json'), 'utf8')) as { file: string; width: number; height: number }[];
  const input = (p: (typeof pages)[number]) => tensor(detInput(new Uint8Array(readFileSync(join(dir, p.file))), p.width, p.height), [1, 3, p.height, p.width]);
  return {
    name: 'ppocr-v4-det', model, calibration: join(DATA, 'det', 'calibration'), size: `${pages.length} pages`,
    async run(s) { const out = []; for (const p of pages) out.push((await s.run({ x: input(p) }))[s.outputNames[0]].data as Float32Array); return out; },
    latencyFeeds: () => ({ x: input(pages[0]) }),
    score(f, q) {
      let inter = 0, union = 0, worst = 1;
      f.forEach((a, i) => { const o = maskOverlap(a, q[i]); inter += o.inter; union += o.union; worst = Math.min(worst, o.union ? o.inter / o.union : 1); });
      return { metric: 'mask IoU @0.3 vs float32', quantized: inter / union, detail: `worst page ${worst.toFixed(4)}` };
    },
  };
}

/** silero-vad op18-ifless (inputs input, sr, state) over the evaluation clips, state carried frame to frame. */
export function vadTask(model: string): Task {
  const clips = (JSON.parse(readFileSync(join(DATA, 'vad', 'clips.json'), 'utf8')) as { evaluation: { file: string; seconds: number; speech: [number, number][] }[] }).evaluation;
  const audio = clips.map((c) => readWavMono16(new Uint8Array(readFileSync(join(DATA, 'vad', c.file)))));
  const sr = new ort.Tensor('int64', BigInt64Array.of(16000n), []);
  const chunk = (a: Float32Array, s: number) => {
    const x = new Float32Array(VAD.context + VAD.frame);
    x.set(a.subarray(Math.max(0, s - VAD.context), s), VAD.context - Math.min(s, VAD.context));
    x.set(a.subarray(s, s + VAD.frame), VAD.context);
    return x;
  };
  const labels = clips.map((c, k) => Array.from({ length: Math.floor(audio[k].length / VAD.frame) }, (_, f) => c.speech.some(([a, b]) => Math.min(b, (f + 1) * VAD.frame) - Math.max(a, f * VAD.frame) > VAD.frame / 2)));
  const decide = (outs: Float32Array[]) => outs.flatMap((o) => Array.from(o, (p) => p > VAD.threshold));
  return {
    name: 'silero-vad-op18-ifless', model, calibration: join(DATA, 'vad', 'calibration'), size: `${clips.reduce((a, c) => a + c.seconds, 0).toFixed(0)} s`,
    async run(s) {
      const out = [];
      for (const a of audio) {
        let state: Float32Array = new Float32Array(256);
        const probs = new Float32Array(Math.floor(a.length / VAD.frame));
        for (let f = 0; f < probs.length; f++) {
          const r = await s.run({ input: tensor(chunk(a, f * VAD.frame), [1, VAD.context + VAD.frame]), sr, state: tensor(state, [2, 1, 128]) });
          probs[f] = (r.output.data as Float32Array)[0];
          state = r.stateN.data as Float32Array;
        }
        out.push(probs);
      }
      return out;
    },
    latencyFeeds: () => ({ input: tensor(chunk(audio[0], 40 * VAD.frame), [1, VAD.context + VAD.frame]), sr, state: tensor(new Float32Array(256), [2, 1, 128]) }),
    score(f, q) {
      const a = decide(f), b = decide(q), truth = labels.flat();
      const agree = a.filter((x, i) => x === b[i]).length / a.length;
      return { metric: 'frame agreement % vs float32', quantized: 100 * agree, detail: `${a.length} frames; float32 vs labels ${(100 * a.filter((x, i) => x === truth[i]).length / a.length).toFixed(1)}%, quantized vs labels ${(100 * b.filter((x, i) => x === truth[i]).length / b.length).toFixed(1)}%` };
    },
  };
}

/** Cosine similarity of each item's output with float32's: mean and smallest. */
export function cosines(f: Float32Array[], q: Float32Array[]): { mean: number; min: number } {
  const cs = f.map((a, i) => {
    const b = q[i];
    let dot = 0, na = 0, nb = 0;
    for (let k = 0; k < a.length; k++) { dot += a[k] * b[k]; na += a[k] * a[k]; nb += b[k] * b[k]; }
    return na === 0 && nb === 0 ? 1 : dot / Math.sqrt(na * nb);
  });
  return { mean: cs.reduce((x, y) => x + y, 0) / cs.length, min: Math.min(...cs) };
}
