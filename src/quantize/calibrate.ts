/**
 * The calibration run: the prepared float graph on onnxruntime's CPU EP with every float activation
 * exposed as an output, over the calibration samples; each activation's range by the chosen method.
 */
import { createSession, runSession } from '../backends/ort.js';
import type { Graph } from '../ir/graph.js';
import { exportOnnx } from '../ir/onnx-export.js';
import type { Range } from '../passes/quantize-qdq.js';
import type { Sample } from './data.js';
import { entropyRange, HISTOGRAM_BINS, observeHistogram, observeMinMax, percentileRange, type CalibrationMethod } from './ranges.js';

/** The float32 values calibration measures: graph inputs and activations not computed from weights alone. */
export function measuredValues(graph: Graph): string[] {
  return [...graph.values.values()].filter((v) => v.dtype === 'float32' && !v.isConst && (v.role === 'activation' || v.role === 'input')).map((v) => v.name);
}

/** Runs the samples once, handing every measured value's data to `visit`. */
async function visitActivations(graph: Graph, samples: readonly Sample[], visit: (name: string, data: Float32Array) => void): Promise<void> {
  const names = measuredValues(graph);
  const outputs = [...new Set([...graph.outputs, ...names.filter((n) => graph.values.get(n)!.role !== 'input')])];
  const exported = exportOnnx(graph, undefined, { outputs });
  const where = `${graph.meta.source} (calibration run)`;
  const session = await createSession(exported.bytes, 'cpu', where);
  try {
    for (const s of samples) {
      const res = await runSession(session, s.feeds, exported.outputs, where);
      for (const n of names) {
        const t = graph.values.get(n)!.role === 'input' ? s.feeds[n] : res[n];
        if (t) visit(n, t.data as Float32Array);
      }
    }
  } finally {
    await session.release();
  }
}

export interface CalibrationOptions {
  method: CalibrationMethod;
  /** For 'percentile': the share of values kept (default 99.999). */
  percentile?: number;
}

export interface Calibration {
  ranges: Map<string, Range>;
  /** Root mean square of each activation over the samples. */
  rms: Map<string, number>;
}

/** Each float activation's range over the samples, and its root mean square. */
export async function calibrateRanges(graph: Graph, samples: readonly Sample[], options: CalibrationOptions): Promise<Calibration> {
  const minmax = new Map<string, Range>();
  const power = new Map<string, [number, number]>();
  await visitActivations(graph, samples, (n, d) => {
    minmax.set(n, observeMinMax(d, minmax.get(n)));
    let s = 0;
    for (let i = 0; i < d.length; i++) s += d[i] * d[i];
    const [a, c] = power.get(n) ?? [0, 0];
    power.set(n, [a + s, c + d.length]);
  });
  const rms = new Map([...power].map(([n, [s, c]]) => [n, Math.sqrt(s / Math.max(1, c))]));
  if (options.method === 'minmax') return { ranges: minmax, rms };
  const absolute = options.method === 'entropy';
  const hists = new Map<string, Float64Array>();
  await visitActivations(graph, samples, (n, d) => {
    let h = hists.get(n);
    if (!h) hists.set(n, (h = new Float64Array(HISTOGRAM_BINS)));
    observeHistogram(d, minmax.get(n)!, h, absolute);
  });
  const out = new Map<string, Range>();
  for (const [n, r] of minmax) {
    const h = hists.get(n)!;
    // a graph output keeps its whole range: clipping what the model answers (a probability map) is no calibration
    out.set(n, graph.outputs.includes(n) ? r : options.method === 'percentile' ? percentileRange(h, r, options.percentile ?? 99.999) : entropyRange(h, r));
  }
  return { ranges: out, rms };
}
