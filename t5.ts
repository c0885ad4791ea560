import { importOnnxFile } from './src/ir/onnx-import.js';
import { inferShapes } from './src/ir/infer.js';
import { ortProber } from './src/backends/ort.js';
const [f, shape] = process.argv.slice(2);
const g = importOnnxFile(f);
const shapes = shape ? JSON.parse(shape) : undefined;
const ours = await inferShapes(g, { inputShapes: shapes, prober: ortProber });
const acts = [...ours.values.values()].filter(v => v.role === 'activation').map(v => v.name);
const real = await ortProber(g, acts, ours.inputShapes);
let shown = 0;
for (const n of ours.nodes) for (const o of n.outputs) {
  const a = ours.values.get(o)!; const r = real.get(o);
  if (!r) continue;
  if (JSON.stringify(a.shape) !== JSON.stringify(r.shape) || a.dtype !== r.dtype) { if (shown++ < 5) console.log(n.index, n.op, n.name, o, a.dtype, a.shape, a.shapeSource, 'ORT', r.dtype, r.shape, 'inputs', n.inputs.map(i => JSON.stringify(ours.values.get(i)?.shape)), JSON.stringify(n.attrs).slice(0, 300)); }
}
console.log('mismatches', shown, 'of', acts.length);
