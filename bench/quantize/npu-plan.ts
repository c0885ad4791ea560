/**
 * The int8 ppocr-v4-rec as the compiler plans it for snapdragon-8-gen-3: where its nodes go and in which
 * precision, the predicted latency of its plan against the float32 model's (float16 on the NPU), and the
 * plan run emulated (onnxruntime's CPU EP with the NPU's types: QDQ groups on their quantized numerics,
 * float ops in float16) against onnxruntime running the quantized model whole, on the evaluation lines
 * make-data.ts rendered (those at most --width pixels wide, padded with paper to that width: one plan).
 *
 *   npx tsx bench/quantize/make-data.ts && npx tsx bench/quantize/npu-plan.ts [--width 480] [--model q.onnx]
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { Tensor } from '../../src/backends/tensor.js';
import { compile, type Compilation } from '../../src/compiler/index.js';
import { quantizeModel } from '../../src/quantize/index.js';
import { PlanRunner } from '../../src/runtime/runner.js';
import { ctcDecode, CORPUS, DATA, editDistance, recInput, recKeys } from './tasks.js';

const argv = process.argv.slice(2);
const value = (n: string, d: string) => (argv.includes(n) ? argv[argv.indexOf(n) + 1] : d);
const width = Number(value('--width', '480'));
const float = join(CORPUS, 'ppocr-v4-rec.onnx');
const TARGET = 'snapdragon-8-gen-3';

const given = value('--model', '');
const bytes = given ? new Uint8Array(readFileSync(given)) : (await quantizeModel(float, { scheme: 'int8', calibration: join(DATA, 'rec', 'calibration') })).bytes;
const dir = join(DATA, 'rec', 'evaluation');
const lines = (JSON.parse(readFileSync(join(dir, 'lines.json'), 'utf8')) as { file: string; width: number; text: string }[]).filter((l) => l.width <= width);
const inputs = lines.map((l) => {
  const rgb = new Uint8Array(readFileSync(join(dir, l.file)));
  // paper: the line's own top-left pixel
  const wide = new Uint8Array(width * 48 * 3).fill(rgb[0]);
  for (let y = 0; y < 48; y++) wide.set(rgb.subarray(y * l.width * 3, (y + 1) * l.width * 3), y * width * 3);
  return recInput(wide, width);
});
const shape = [1, 3, 48, width];
const options = { inputShapes: { x: shape }, sampleFeeds: { x: new Tensor('float32', inputs[0], shape) } };

const summary = (c: Compilation) => {
  const runtime = c.plan.nodes.filter((n) => !n.folded);
  const npu = runtime.filter((n) => n.processor === 'npu');
  const precision: Record<string, number> = {};
  for (const n of npu) if (n.precision) precision[n.precision] = (precision[n.precision] ?? 0) + 1;
  return { nodes: runtime.length, npu: npu.length, partitions: c.plan.partitions.length, precision, predictedMs: c.plan.estimate.latencyUs / 1000, npuWeightBytes: c.plan.memory.npu.weightBytes };
};
const fp = await compile(float, TARGET, { ...options, lower: false });
const q = await compile(bytes, TARGET, options);
const plans = { float32: summary(fp), int8: summary(q) };

const whole = await ort.InferenceSession.create(bytes);
const runner = await PlanRunner.create({ graph: q.graph, plan: q.plan, target: q.target, partitions: q.partitions! }, q.bind);
const keys = recKeys();
const T = q.graph.values.get(q.graph.outputs[0])!.shape![1] as number;
let sameReading = 0, maxEdit = 0, sameArgmax = 0, steps = 0, sameElements = 0, elements = 0, maxSteps = 0, errPlan = 0, errWhole = 0, chars = 0;
for (const [k, x] of inputs.entries()) {
  const want = Object.values(await whole.run({ x: new ort.Tensor('float32', x, shape) }))[0].data as Float32Array;
  const got = Object.values(await runner.run({ x: new Tensor('float32', x, shape) }))[0].data as Float32Array;
  const C = want.length / T;
  const a = ctcDecode(got, T, C, keys), b = ctcDecode(want, T, C, keys);
  if (a === b) sameReading++;
  maxEdit = Math.max(maxEdit, editDistance(a, b));
  errPlan += editDistance(a, lines[k].text); errWhole += editDistance(b, lines[k].text); chars += [...lines[k].text].length;
  for (let t = 0; t < T; t++) {
    let ga = 0, wa = 0;
    for (let j = 1; j < C; j++) { if (got[t * C + j] > got[t * C + ga]) ga = j; if (want[t * C + j] > want[t * C + wa]) wa = j; }
    if (ga === wa) sameArgmax++;
    steps++;
  }
  for (let j = 0; j < want.length; j++) {
    if (got[j] === want[j]) sameElements++;
    // the output is a DequantizeLinear of uint8 probabilities: steps of 1/255
    maxSteps = Math.max(maxSteps, Math.round(Math.abs(got[j] - want[j]) * 255));
  }
  elements += want.length;
}
const binding = runner.bindings.find((b) => b.processor === 'npu')!;
await runner.dispose();
await whole.release();

const result = {
  command: `npx tsx bench/quantize/npu-plan.ts --width ${width}${given ? ` --model ${given}` : ''}`,
  target: TARGET, input: shape, npuBinding: binding.note, plans,
  emulatedAgainstWhole: {
    lines: lines.length, sameReading, mostCharactersDifferent: maxEdit, timeStepsSameArgmax: `${sameArgmax}/${steps}`, elementsIdentical: sameElements / elements, maxDifferenceSteps: maxSteps,
    cerPercent: { plan: (100 * errPlan) / chars, whole: (100 * errWhole) / chars },
  },
};
console.log(JSON.stringify(result, null, 1));
writeFileSync(join(import.meta.dirname, 'npu-plan.json'), `${JSON.stringify(result, null, 1)}\n`);
