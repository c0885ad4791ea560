/** The corpus as the benchmarks use it: model paths, realistic input shapes, and feeds a caller would give. */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Tensor, randomFeeds, type TensorMap } from '../src/backends/tensor.js';
import type { Graph } from '../src/ir/graph.js';

export const CORPUS = join(import.meta.dirname, '../../shared/corpus');

/** Input shapes a real caller uses (the corpus sidecars' realisticInput); others take the declared shapes. */
export const SHAPES: Record<string, Record<string, number[]>> = {
  'ppocr-v4-det': { x: [1, 3, 640, 640] },
  'ppocr-v4-rec': { x: [1, 3, 48, 320] },
  'silero-vad-v5': { input: [1, 576] },
  'silero-vad-op18-ifless': { input: [1, 576] },
  'silero-vad-v4-legacy': { input: [1, 512] },
};

/** Every model in corpus/models and corpus/onnx-node/light. */
export function corpusModels(): { name: string; path: string }[] {
  const list = (dir: string) => readdirSync(join(CORPUS, dir)).filter((f) => f.endsWith('.onnx')).map((f) => ({ name: f.replace('.onnx', ''), path: join(CORPUS, dir, f) }));
  return [...list('models'), ...list('onnx-node/light')];
}

/** Seeded random feeds, except what a real caller fixes: silero's sample rate (16 kHz) and zero state. */
export function realisticFeeds(graph: Graph, shapes: Record<string, number[]>): TensorMap {
  const feeds = randomFeeds(graph, shapes);
  if (graph.inputs.includes('sr')) feeds.sr = new Tensor('int64', BigInt64Array.from([16000n]), []);
  for (const s of ['state', 'h', 'c']) if (feeds[s]) feeds[s] = new Tensor('float32', new Float32Array(feeds[s].size), [...feeds[s].dims]);
  return feeds;
}
