/**
 * A batch-1 MatMul alone, as a decode step reads its weights: a chain of `--layers` MatMuls [1, K] × [K, K]
 * (float32 weights of K² × 4 bytes each, 256 MB in all by default), timed under onnxruntime's thread and
 * prepacking settings, alternating, best of `--runs`; prints the weights' bytes over the time (GB/s),
 * to put beside the streaming read (`tessera calibrate`'s streamBandwidthGBs). Measured, provisional on a
 * shared machine.
 *
 *   npx tsx bench/batch1-matmul.ts [--k 2048] [--layers 16] [--runs 15]
 */
import * as ort from 'onnxruntime-node';
import { GraphBuilder } from '../src/ir/builder.js';

const args = process.argv.slice(2);
const opt = (name: string, d: number) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : d);
const K = opt('--k', 2048), layers = opt('--layers', 16), runs = opt('--runs', 15);
const b = new GraphBuilder('batch1_matmul');
let x = b.input('x', 'float32', [1, K]);
for (let l = 0; l < layers; l++) {
  const w = new Float32Array(K * K);
  for (let i = 0; i < w.length; i += 97) w[i] = 1e-3;
  x = b.node('MatMul', [x, b.initializer(`w${l}`, w, [K, K])], `y${l}`);
}
b.output(x, 'float32');
const bytes = b.toBytes();
const feeds = { x: new ort.Tensor('float32', new Float32Array(K).fill(1), [1, K]) };
const config = (c: Record<string, string>) => ({ extra: { session: c } }) as ort.InferenceSession.SessionOptions;
const variants: Record<string, ort.InferenceSession.SessionOptions> = {
  'one thread': { intraOpNumThreads: 1 },
  'default threads, no spinning': config({ 'intra_op.allow_spinning': '0' }),
  'default threads, spinning': {},
  'one thread, no prepacking': { intraOpNumThreads: 1, ...config({ disable_prepacking: '1' }) },
};
const sessions = Object.fromEntries(await Promise.all(Object.entries(variants).map(async ([k, o]) => [k, await ort.InferenceSession.create(bytes, { logSeverityLevel: 3, ...o })] as const)));
const best: Record<string, number> = {};
for (let r = 0; r < runs; r++) {
  for (const [k, s] of Object.entries(sessions)) {
    await s.run(feeds);
    const t0 = performance.now();
    await s.run(feeds);
    best[k] = Math.min(best[k] ?? Infinity, performance.now() - t0);
  }
}
console.log(`command: npx tsx bench/batch1-matmul.ts ${args.join(' ')}`);
console.log(`${layers} MatMuls [1, ${K}] × [${K}, ${K}] float32: ${((layers * K * K * 4) / 2 ** 20).toFixed(0)} MB of weights a run; best of ${runs}, alternating`);
for (const [k, ms] of Object.entries(best)) console.log(`  ${k.padEnd(30)} ${ms.toFixed(2)} ms  ${((layers * K * K * 4) / ms / 1e6).toFixed(1)} GB/s`);
for (const s of Object.values(sessions)) await s.release();
