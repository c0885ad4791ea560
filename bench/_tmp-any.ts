import * as ort from 'onnxruntime-node';
import { InferenceSession, Tensor } from '../src/index.js';
const m = process.argv[2];
const t0 = performance.now();
const s = await InferenceSession.create(m);
console.log('create', (performance.now()-t0).toFixed(0), s.inputNames, JSON.stringify(s.inputMetadata));
const ref = await ort.InferenceSession.create(m);
for (const w of [64, 320, 2048, 64, 100]) {
  const dims = m.includes('det') ? [1, 3, w, w] : [1, 3, 48, w];
  const data = Float32Array.from({ length: dims.reduce((a, b) => a * b) }, (_, i) => Math.sin(i * 0.37));
  const t = performance.now();
  const o = await s.run({ x: new Tensor('float32', data, dims) });
  const dt = performance.now() - t;
  const r = await ref.run({ x: new ort.Tensor('float32', data, dims) });
  const n = s.outputNames[0]; let md = 0;
  const a = o[n].data as Float32Array, b = r[n].data as Float32Array;
  for (let i = 0; i < a.length; i++) md = Math.max(md, Math.abs(a[i] - b[i]));
  console.log(w, dt.toFixed(0), o[n].dims, 'maxdiff', md, 'compiles', s.compiles, s.anyShapeWithoutRecompiling);
}
await s.release();
