/** onnxruntime running a whole model once on seeded random inputs (for the peak-RSS comparison of bench/memory). `--load-only`: create the session, do not run. */
import * as ort from 'onnxruntime-node';
import { randomFeeds } from '../../src/backends/tensor.js';
import { importOnnxFile } from '../../src/ir/onnx-import.js';
import { resolveInputShapes } from '../../src/ir/infer.js';

const model = process.argv[2];
const graph = importOnnxFile(model);
const feeds = randomFeeds(graph, resolveInputShapes(graph, {}));
const session = await ort.InferenceSession.create(model, { executionProviders: ['cpu'], logSeverityLevel: 4 });
if (!process.argv.includes('--load-only')) await session.run(feeds as unknown as ort.InferenceSession.FeedsType);
await session.release();
