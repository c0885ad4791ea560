/**
 * Mixed precision: each layer's weight quantized alone to 16, 8 and 4 bits and the model's output error
 * measured on the calibration data (its sensitivity); then per layer the bits that meet an error target
 * with the fewest bytes, or a size target with the least error (a greedy walk over the best error per
 * byte, adding the layers' measured errors), and the chosen model measured as a whole.
 */
import type { Graph } from '../ir/graph.js';
import { exportOnnx } from '../ir/onnx-export.js';
import { quantizeWeightsOnly, weightUses, type LayerReport, type WeightBits, type WeightChoice, type WeightUse } from '../passes/quantize-weights.js';
import type { Sample } from './data.js';
import { outputError, runSamples } from './evaluate.js';
import type { TensorMap } from '../backends/tensor.js';

export const MIXED_BITS: readonly WeightBits[] = [16, 8, 4];

export interface Sensitivity {
  node: string;
  op: string;
  weight: string;
  floatBytes: number;
  /** Per bits: the model's output error (relative squared) with this layer alone quantized, and the layer's bytes. */
  error: Record<WeightBits, number>;
  bytes: Record<WeightBits, number>;
}

export interface MixedOptions {
  blockSize: number;
  targetError?: number;
  targetBytes?: number;
  /** Samples used to measure (default 8). */
  sensitivitySamples?: number;
}

export interface MixedRow { node: string; op: string; weight: string; bits: WeightBits; error: number; bytes: number }

export interface MixedReport {
  target: { error?: number; bytes?: number };
  /** The sum of the chosen layers' measured errors, and the error of the whole mixed model, measured. */
  predictedError: number;
  measuredError: number;
  /** Bytes of the quantized layers' weights (the rest of the model's weights are unchanged). */
  layerBytes: number;
  rows: MixedRow[];
}

export const DEFAULT_TARGET_ERROR = 1e-3;

const choiceOf = (bits: WeightBits, blockSize: number): WeightChoice => ({ bits, blockSize: bits === 4 ? blockSize : 0 });

async function reference(g: Graph, samples: readonly Sample[]): Promise<TensorMap[]> {
  return runSamples(exportOnnx(g, undefined, { inputShapes: false }).bytes, samples, `${g.meta.source} (float32, prepared)`);
}

async function errorOf(g: Graph, extra: readonly WeightUse[], choices: ReadonlyMap<string, WeightChoice>, samples: readonly Sample[], ref: readonly TensorMap[]) {
  const r = quantizeWeightsOnly(g, choices, extra);
  const got = await runSamples(exportOnnx(r.graph, undefined, { inputShapes: false }).bytes, samples, `${g.meta.source} (mixed candidate)`);
  return { error: outputError(ref, got).relError, layers: r.layers, graph: r.graph };
}

/** Each layer alone at each bit width: the model's output error on the samples. */
export async function measureSensitivity(g: Graph, extra: readonly WeightUse[], samples: readonly Sample[], blockSize: number, progress?: (done: number, total: number) => void): Promise<Sensitivity[]> {
  const ref = await reference(g, samples);
  const uses = [...weightUses(g), ...extra];
  const out: Sensitivity[] = [];
  for (const [i, u] of uses.entries()) {
    const s: Sensitivity = { node: u.node, op: u.op, weight: u.weight, floatBytes: u.dims.reduce((a, b) => a * b, 4), error: { 16: 0, 8: 0, 4: 0 }, bytes: { 16: 0, 8: 0, 4: 0 } };
    for (const bits of MIXED_BITS) {
      const r = await errorOf(g, extra, new Map([[u.weight, choiceOf(bits, blockSize)]]), samples, ref);
      s.error[bits] = r.error;
      s.bytes[bits] = r.layers.find((l) => l.weight === u.weight)!.bytes;
    }
    out.push(s);
    progress?.(i + 1, uses.length);
  }
  return out;
}

/**
 * Bits per layer. With an error target: all at 4 bits, then the widening that removes the most error per
 * added byte, until the summed error is within the target. With a size target: all at 16 bits, then the
 * narrowing that adds the least error per saved byte, until the bytes fit.
 */
export function pickBits(sens: readonly Sensitivity[], target: { error?: number; bytes?: number }): Map<string, WeightBits> {
  const bits = new Map<string, WeightBits>();
  const total = (f: (s: Sensitivity, b: WeightBits) => number) => sens.reduce((a, s) => a + f(s, bits.get(s.weight)!), 0);
  const err = () => total((s, b) => s.error[b]);
  const size = () => total((s, b) => s.bytes[b]);
  const step = (dir: 1 | -1) => {
    let best: { s: Sensitivity; to: WeightBits; score: number } | null = null;
    for (const s of sens) {
      const from = bits.get(s.weight)!;
      const k = MIXED_BITS.indexOf(from) - dir;
      if (k < 0 || k >= MIXED_BITS.length) continue;
      const to = MIXED_BITS[k];
      const dErr = s.error[from] - s.error[to], dBytes = Math.abs(s.bytes[to] - s.bytes[from]) || 1;
      const score = dErr / dBytes; // widening: error removed per byte added; narrowing: minus the error added per byte saved
      if (!best || score > best.score) best = { s, to, score };
    }
    if (best) bits.set(best.s.weight, best.to);
    return !!best;
  };
  if (target.bytes !== undefined) {
    sens.forEach((s) => bits.set(s.weight, 16));
    while (size() > target.bytes && step(-1));
  } else {
    const limit = target.error ?? DEFAULT_TARGET_ERROR;
    sens.forEach((s) => bits.set(s.weight, 4));
    while (err() > limit && step(1));
  }
  return bits;
}

/** Applies a choice of bits and measures the whole model; the report names every layer's choice. */
export async function applyMixed(g: Graph, extra: readonly WeightUse[], sens: readonly Sensitivity[], bits: ReadonlyMap<string, WeightBits>, samples: readonly Sample[], blockSize: number, target: MixedReport['target']) {
  const ref = await reference(g, samples);
  const choices = new Map([...bits].map(([w, b]) => [w, choiceOf(b, blockSize)]));
  const r = await errorOf(g, extra, choices, samples, ref);
  const rows: MixedRow[] = sens.map((s) => ({ node: s.node, op: s.op, weight: s.weight, bits: bits.get(s.weight)!, error: s.error[bits.get(s.weight)!], bytes: s.bytes[bits.get(s.weight)!] }));
  const report: MixedReport = { target, predictedError: rows.reduce((a, x) => a + x.error, 0), measuredError: r.error, layerBytes: rows.reduce((a, x) => a + x.bytes, 0), rows };
  return { graph: r.graph, layers: r.layers as LayerReport[], report };
}

export async function chooseMixed(g: Graph, extra: readonly WeightUse[], samples: readonly Sample[], o: MixedOptions) {
  const use = samples.slice(0, o.sensitivitySamples ?? 8);
  const sens = await measureSensitivity(g, extra, use, o.blockSize);
  const target = o.targetBytes !== undefined ? { bytes: o.targetBytes } : { error: o.targetError ?? DEFAULT_TARGET_ERROR };
  return applyMixed(g, extra, sens, pickBits(sens, target), use, o.blockSize, target);
}
