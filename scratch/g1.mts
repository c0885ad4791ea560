import * as ort from 'onnxruntime-node';
import { Generator } from '../src/generate/index.js';
import { ortGreedy, seededPrompt } from '../bench/models/ort-generate.js';
const model = process.argv[2];
const ref = await ort.InferenceSession.create(model, { logSeverityLevel: 3 });
const prompt = seededPrompt(64, 256, 1);
const want = await ortGreedy(ref, prompt, 32);
const g = await Generator.create(model, { maxLength: 100, prefillChunk: Number(process.argv[3] ?? 128) });
const toks = [await g.prefill(prompt)];
const diffs = [];
const d = (a: Float32Array, b: Float32Array) => { let m = 0; for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i])); return m; };
diffs.push(d(g.lastLogits, want.logits[0]));
while (toks.length < 32) { toks.push(await g.next()); diffs.push(d(g.lastLogits, want.logits[toks.length - 1])); }
console.log(JSON.stringify(toks) === JSON.stringify(want.tokens), Math.max(...diffs), g.stats.prefillKvCopyBytes, g.stats.events.length);
