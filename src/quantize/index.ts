/**
 * `quantize`: an ONNX model in, a quantized ONNX model out (bytes; the caller writes them), with a report.
 * Schemes: int8 (static QDQ from calibration data), w8 / w4 (weight-only), mixed (weight bits per layer
 * from measured sensitivity, mixed.ts). The graph work is in src/passes/quantize-*.ts (pure); this file
 * reads the calibration data, runs onnxruntime where measuring is needed, and checks the result runs.
 */
import { ortProber } from '../backends/ort.js';
import { TesseraError } from '../errors.js';
import type { Graph } from '../ir/graph.js';
import { inferShapes, resolveInputShapes } from '../ir/infer.js';
import { exportOnnx } from '../ir/onnx-export.js';
import { importOnnx, readModelFile } from '../ir/onnx-import.js';
import { weightByteLength } from '../ir/weight.js';
import { isQuantizedOp } from '../ir/ops/quantization.js';
import { opTraits } from '../ir/ops/traits.js';
import { initializers } from '../passes/quantize-graph.js';
import { prepareForQuantization } from '../passes/quantize-prepare.js';
import { insertQdq, type FloatNode } from '../passes/quantize-qdq.js';
import { subgraphWeightUses } from '../passes/quantize-subgraph.js';
import { blockable, quantizeWeightsOnly, weightUses, type LayerReport, type WeightChoice } from '../passes/quantize-weights.js';
import { calibrateRanges } from './calibrate.js';
import { readSamples, type Sample } from './data.js';
import { outputError, runSamples, type OutputError } from './evaluate.js';
import { chooseMixed, type MixedReport } from './mixed.js';
import { widenForError } from './widen.js';
import { CALIBRATION_METHODS, type CalibrationMethod } from './ranges.js';

export const SCHEMES = ['int8', 'w8', 'w4', 'mixed'] as const;
export type Scheme = (typeof SCHEMES)[number];

export interface QuantizeOptions {
  scheme: Scheme;
  /** A test-data directory or a directory of them (required for int8 and mixed). */
  calibration?: string;
  /** int8: how activation ranges are found (default 'percentile': MinMax was fragile on ppocr-v4-rec, see README). */
  method?: CalibrationMethod;
  percentile?: number;
  /** int8: activation type (default uint8). */
  activationType?: 'uint8' | 'uint16';
  /** w4 and mixed: int4 block size along the reduction axis (default 32; ≥ 16). */
  blockSize?: number;
  /** int8: node names or op types to keep float. */
  exclude?: readonly string[];
  /**
   * mixed: the largest output error allowed (relative squared error on the calibration data), or the largest weight size in bytes.
   * int8: with targetError, activations are raised to uint16 in measured groups until the error is met (widen.ts).
   */
  targetError?: number;
  targetBytes?: number;
  /** At most this many calibration samples are used (default 32, spread evenly over those given). */
  maxSamples?: number;
}

export interface QuantizeReport {
  model: string;
  scheme: Scheme;
  method?: CalibrationMethod;
  samples: number;
  foldedBatchNorms: string[];
  /** int8: the nodes left float and why. */
  floatNodes: FloatNode[];
  quantizedNodes: number;
  layers: LayerReport[];
  /** Bytes of every weight before and after; of the MatMul/Gemm weights alone. */
  weightBytes: { float: number; quantized: number; matmulFloat: number; matmulQuantized: number };
  /** The quantized model against the original on the calibration samples (onnxruntime CPU). */
  check?: OutputError;
  mixed?: MixedReport;
  /** int8 with an error target: the activations raised to uint16, and the error with all at 8 bits and after. */
  widened?: { activations: string[]; of: number; errorAll8: number; error: number; evaluations: number };
}

export interface QuantizeResult {
  bytes: Uint8Array;
  report: QuantizeReport;
}


function checkOptions(o: QuantizeOptions): void {
  if (!SCHEMES.includes(o.scheme)) throw new TesseraError('BAD_ARGUMENT', `unknown quantization scheme '${o.scheme}': expected one of ${SCHEMES.join(', ')}`);
  if (o.method !== undefined && !CALIBRATION_METHODS.includes(o.method)) throw new TesseraError('BAD_ARGUMENT', `unknown calibration method '${o.method}': expected one of ${CALIBRATION_METHODS.join(', ')}`);
  if (o.activationType !== undefined && o.activationType !== 'uint8' && o.activationType !== 'uint16') throw new TesseraError('BAD_ARGUMENT', `activation type '${o.activationType}': expected uint8 or uint16`);
  if (o.blockSize !== undefined && !(Number.isInteger(o.blockSize) && o.blockSize >= 16)) throw new TesseraError('BAD_ARGUMENT', `block size ${o.blockSize}: expected an integer of 16 or more`);
  if (o.percentile !== undefined && !(o.percentile > 50 && o.percentile <= 100)) throw new TesseraError('BAD_ARGUMENT', `percentile ${o.percentile}: expected a number in (50, 100]`);
  if ((o.scheme === 'int8' || o.scheme === 'mixed') && !o.calibration) throw new TesseraError('BAD_ARGUMENT', `scheme '${o.scheme}' measures on calibration data: give a calibration directory (--calibration DIR)`);
}

function checkNotQuantized(graph: Graph): void {
  const q = graph.nodes.find((n) => isQuantizedOp(n.op));
  if (q) throw new TesseraError('ALREADY_QUANTIZED', `${graph.meta.source} is already quantized: node '${q.name}' is a ${q.op}; quantize the float model instead`);
}

const weightBytesOf = (g: Graph) => [...initializers(g).values()].reduce((a, w) => a + weightByteLength(w), 0);

export async function quantizeModel(path: string, options: QuantizeOptions): Promise<QuantizeResult> {
  checkOptions(options);
  const original = readModelFile(path);
  const graph = importOnnx(original, { path });
  checkNotQuantized(graph);
  const samples: Sample[] = options.calibration ? readSamples(graph, options.calibration, options.maxSamples ?? 32) : [];
  const first = samples[0]?.feeds;
  const inputShapes = first ? Object.fromEntries(Object.entries(first).map(([k, t]) => [k, [...t.dims]])) : resolveInputShapes(graph);
  const shaped = await inferShapes(graph, { inputShapes, prober: ortProber, feeds: first });
  const prepared = prepareForQuantization(shaped);
  const g = prepared.graph;
  const blockSize = options.blockSize ?? 32;
  const report: QuantizeReport = { model: path, scheme: options.scheme, samples: samples.length, foldedBatchNorms: prepared.foldedBatchNorms, floatNodes: [], quantizedNodes: 0, layers: [], weightBytes: { float: 0, quantized: 0, matmulFloat: 0, matmulQuantized: 0 } };
  const extra = subgraphWeightUses(g);
  const all = [...weightUses(g), ...extra];
  const uniform = (c: WeightChoice) => new Map(all.map((u) => [u.weight, c]));
  let out: Graph;
  switch (options.scheme) {
    case 'int8': {
      report.method = options.method ?? 'percentile';
      const { ranges } = await calibrateRanges(g, samples, { method: report.method, percentile: options.percentile });
      const qdq = { ranges, activationType: options.activationType ?? 'uint8', exclude: new Set(options.exclude ?? []) } as const;
      let q = insertQdq(g, qdq);
      if (options.targetError !== undefined) {
        const w = await widenForError(g, qdq, samples.slice(0, 4), options.targetError);
        q = w.result;
        report.widened = { activations: w.wide, of: ranges.size, errorAll8: w.errorAll8, error: w.error, evaluations: w.evaluations };
      }
      report.floatNodes = q.floatNodes;
      report.quantizedNodes = q.quantizedNodes.length;
      // weights read only inside subgraphs (activations there are out of reach): int8 per channel, weight-only
      const sub = quantizeWeightsOnly(q.graph, new Map(extra.map((u) => [u.weight, { bits: 8, blockSize: 0 }])), extra);
      out = sub.graph;
      report.layers = [
        ...q.weights.map((w) => ({ node: w.node, op: g.nodes.find((n) => n.name === w.node)!.op, weight: w.weight, bits: 8 as const, blockSize: 0, bytes: w.bytes, floatBytes: w.floatBytes, weightError: w.error })),
        ...sub.layers.filter((l) => l.bits !== 32),
      ];
      break;
    }
    case 'w8': case 'w4': {
      // w4: int4 in blocks where blocks fit the reduction axis; int8 per channel elsewhere (a depthwise Conv, a short axis)
      const choices = options.scheme === 'w8' ? uniform({ bits: 8, blockSize: 0 }) : new Map(all.map((u) => [u.weight, blockable(u, blockSize) ? { bits: 4 as const, blockSize } : { bits: 8 as const, blockSize: 0 }]));
      const r = quantizeWeightsOnly(g, choices, extra);
      out = r.graph;
      report.layers = r.layers;
      break;
    }
    case 'mixed': {
      const m = await chooseMixed(g, extra, samples, { blockSize, targetError: options.targetError, targetBytes: options.targetBytes });
      out = m.graph;
      report.layers = m.layers;
      report.mixed = m.report;
      break;
    }
  }
  const bytes = exportOnnx(out).bytes;
  report.weightBytes = {
    float: weightBytesOf(g),
    quantized: weightBytesOf(out),
    matmulFloat: report.layers.filter((l) => opTraits(l.op).class === 'matmul').reduce((a, l) => a + l.floatBytes, 0),
    matmulQuantized: report.layers.filter((l) => opTraits(l.op).class === 'matmul').reduce((a, l) => a + l.bytes, 0),
  };
  if (samples.length) {
    const check = samples.slice(0, 4);
    const ref = await runSamples(original, check, `${path} (float32 reference)`);
    const got = await runSamples(bytes, check, `${path} quantized (${options.scheme})`);
    report.check = outputError(ref, got);
  }
  return { bytes, report };
}
