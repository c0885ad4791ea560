/**
 * int8 with an error target: where 8-bit activations lose too much (ppocr-v4-det's stem, whose depthwise
 * convolution outputs span ±100 while most of their channels are small), raise groups of activations to
 * uint16 — the 16a8w mix Qualcomm's HTP runs — chosen by measurement: the activations, in graph order, are
 * cut into groups; each group alone kept at 8 bits (the rest at 16) gives that group's share of the output
 * error; the worst groups are widened, more of them until the whole model's measured error meets the target.
 */
import type { TensorMap } from '../backends/tensor.js';
import type { Graph } from '../ir/graph.js';
import { exportOnnx } from '../ir/onnx-export.js';
import { insertQdq, type QdqOptions, type QdqResult } from '../passes/quantize-qdq.js';
import type { Sample } from './data.js';
import { outputError, runSamples } from './evaluate.js';

export interface Widening {
  result: QdqResult;
  /** Activations raised to uint16. */
  wide: string[];
  /** The output error (relative squared) measured with all activations at 8 bits, and with the widening. */
  errorAll8: number;
  error: number;
  evaluations: number;
}

export async function widenForError(g: Graph, options: QdqOptions, samples: readonly Sample[], target: number, groupCount = 24): Promise<Widening> {
  const ref: TensorMap[] = await runSamples(exportOnnx(g, undefined, { inputShapes: false }).bytes, samples, `${g.meta.source} (float32, prepared)`);
  let evaluations = 0;
  const measure = async (wide: ReadonlySet<string>) => {
    const result = insertQdq(g, { ...options, wide });
    evaluations++;
    const got = await runSamples(exportOnnx(result.graph, undefined, { inputShapes: false }).bytes, samples, `${g.meta.source} (int8 candidate)`);
    return { result, error: outputError(ref, got).relError };
  };
  const all8 = await measure(new Set());
  if (all8.error <= target) return { result: all8.result, wide: [], errorAll8: all8.error, error: all8.error, evaluations };
  const order = new Map(g.nodes.map((n, i) => [n.name, i]));
  const tensors = [...options.ranges.keys()].sort((a, b) => (g.values.get(a)!.producer) - (g.values.get(b)!.producer) || (order.get(a) ?? 0) - (order.get(b) ?? 0));
  const size = Math.ceil(tensors.length / groupCount);
  const groups = Array.from({ length: Math.ceil(tensors.length / size) }, (_, k) => tensors.slice(k * size, (k + 1) * size));
  const share: number[] = [];
  for (const grp of groups) {
    const narrow = new Set(grp);
    share.push((await measure(new Set(tensors.filter((t) => !narrow.has(t))))).error);
  }
  const ranked = groups.map((grp, k) => ({ grp, e: share[k] })).sort((a, b) => b.e - a.e);
  for (let k = 1; k < ranked.length; k *= 2) {
    const wide = ranked.slice(0, k).flatMap((r) => r.grp);
    const m = await measure(new Set(wide));
    if (m.error <= target) return { result: m.result, wide, errorAll8: all8.error, error: m.error, evaluations };
  }
  const best = await measure(new Set(tensors));
  const wide = tensors;
  return { result: best.result, wide, errorAll8: all8.error, error: best.error, evaluations };
}
