/**
 * Compile a model for a phone SoC and run it here with the Session API.
 * `npx tsx examples/phone-target.ts [model.onnx] [target]` (default: the branchy CNN from `npm run demo`,
 * on snapdragon-8-gen-3). This host has no NPU: the NPU's partitions run emulated, and it says so.
 */
import { fileURLToPath } from 'node:url';
import { Session, Tensor } from '../src/index.js';

const path = process.argv[2] ?? fileURLToPath(new URL('./branchy-cnn/model.onnx', import.meta.url));
const target = process.argv[3] ?? 'snapdragon-8-gen-3';
const session = await Session.create(path, { target });

for (const b of session.bindings) console.log(`${b.processor} → ${b.backend}${b.emulated ? ' (emulated)' : ''}: ${b.note}`);

// one input of the shape the plan was compiled for, filled with a smooth pattern
const feeds: Record<string, Tensor> = {};
for (const name of session.inputNames) {
  const { dtype, shape } = session.plan.inputs[name];
  const n = shape.reduce((a, b) => a * b, 1);
  if (dtype !== 'float32') throw new Error(`this example feeds float32 inputs only; '${name}' is ${dtype}`);
  feeds[name] = new Tensor('float32', Float32Array.from({ length: n }, (_, i) => Math.sin(i / 7)), shape);
}
const outputs = await session.run(feeds);
for (const name of session.outputNames) console.log(`output ${name}: [${outputs[name].dims.join(', ')}]`);

const trace = session.lastTrace!;
console.log(`predicted ${(session.plan.estimate.latencyUs / 1000).toFixed(2)} ms on ${target} (${session.plan.estimate.source}); ` +
  `measured ${(trace.totalUs / 1000).toFixed(2)} ms here (emulation: not the phone's time)`);
await session.release();
