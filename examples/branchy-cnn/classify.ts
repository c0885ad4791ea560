/**
 * The Session API, shaped like onnxruntime's InferenceSession:
 * `npx tsx examples/branchy-cnn/classify.ts [model.onnx]` (build the model first: `npm run demo`).
 */
import { fileURLToPath } from 'node:url';
import { Tensor } from '../../src/backends/tensor.js';
import { Session } from '../../src/runtime/session.js';

const path = process.argv[2] ?? fileURLToPath(new URL('./model.onnx', import.meta.url));
const session = await Session.create(path, { inputShapes: { image: [2, 3, 32, 32] } });
// two made-up images: smooth stripes of different frequencies
const pixels = Float32Array.from({ length: 2 * 3 * 32 * 32 }, (_, i) => Math.sin(i * (i < 3072 ? 0.05 : 0.5)));
const outputs = await session.run({ image: new Tensor('float32', pixels, [2, 3, 32, 32]) });
const probs = outputs.probs.data as Float32Array;
for (let n = 0; n < 2; n++) {
  const row = Array.from(probs.subarray(n * 10, n * 10 + 10));
  const best = row.indexOf(Math.max(...row));
  console.log(`image ${n}: class ${best} (p = ${row[best].toFixed(3)})`);
}
console.log(`inputs ${session.inputNames.join(', ')}; outputs ${session.outputNames.join(', ')}`);
await session.release();
