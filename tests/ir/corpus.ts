/**
 * The model corpus (../shared/corpus, never copied into the project) and helpers to run models on
 * onnxruntime as the reference: the original file, run by onnxruntime-node directly.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { compareTensors } from '../../src/backends/compare.js';
import { randomTensor, Tensor, tensorFromBytes, type TensorMap } from '../../src/backends/tensor.js';
import type { Graph } from '../../src/ir/graph.js';
import type { ShapedGraph } from '../../src/ir/infer.js';
import { exportOnnx } from '../../src/ir/onnx-export.js';
import type { Known } from '../../src/ir/ops/registry.js';
import { canDecode, numbersToBytes } from '../../src/ir/tensor-data.js';

export const CORPUS = fileURLToPath(new URL('../../../shared/corpus/', import.meta.url));
export const ONNX_NODE = join(CORPUS, 'onnx-node');

export interface CorpusModel {
  /** File name without `.onnx`. */
  name: string;
  path: string;
  kind: 'npm' | 'light';
  /** Concrete shapes a real caller feeds (inputs not listed take their declared shape, symbolic dims = 1). */
  realistic: Record<string, number[]>;
  /** For light models: the expected output of ONNX's reference evaluator for the arange feed. */
  expectedOutput?: string;
  /** Why the model cannot run with its symbolic dims set to 1 (onnxruntime rejects it too; checked). */
  defaultShapesRejected?: string;
  /** Inputs the model cannot take (onnxruntime fails too; checked), and why. */
  rejects?: { shapes: Record<string, number[]>; why: string }[];
  /** Other realistic inputs: shapes, and silero's sample rate. */
  alternatives?: { shapes: Record<string, number[]>; sampleRate?: number }[];
}

const SILERO_SHORT = 'reflect Pad of the STFT front end needs at least 2 samples; onnxruntime rejects input [1,1]';

const REALISTIC: Record<string, Pick<CorpusModel, 'realistic' | 'defaultShapesRejected' | 'alternatives' | 'rejects'>> = {
  'silero-vad-v5': {
    realistic: { input: [1, 576], state: [2, 1, 128], sr: [] }, defaultShapesRejected: SILERO_SHORT,
    alternatives: [{ shapes: { input: [2, 512], state: [2, 2, 128], sr: [] } }, { shapes: { input: [1, 288], state: [2, 1, 128], sr: [] }, sampleRate: 8000 }],
  },
  'silero-vad-op18-ifless': {
    realistic: { input: [1, 576], state: [2, 1, 128], sr: [] }, defaultShapesRejected: SILERO_SHORT,
    alternatives: [{ shapes: { input: [3, 576], state: [2, 3, 128], sr: [] } }, { shapes: { input: [1, 288], state: [2, 1, 128], sr: [] }, sampleRate: 8000 }],
  },
  'silero-vad-v4-legacy': {
    realistic: { input: [1, 512], h: [2, 1, 64], c: [2, 1, 64], sr: [] }, defaultShapesRejected: SILERO_SHORT,
    alternatives: [{ shapes: { input: [1, 1536], h: [2, 1, 64], c: [2, 1, 64], sr: [] } }, { shapes: { input: [2, 512], h: [2, 2, 64], c: [2, 2, 64], sr: [] }, sampleRate: 8000 }],
  },
  'ppocr-v4-rec': { realistic: { x: [1, 3, 48, 320] }, alternatives: [{ shapes: { x: [2, 3, 48, 100] } }] },
  'ppocr-v4-det': {
    realistic: { x: [1, 3, 320, 320] }, alternatives: [{ shapes: { x: [2, 3, 224, 96] } }],
    rejects: [{ shapes: { x: [1, 3, 100, 77] }, why: 'H and W must be multiples of 32: the FPN adds upsampled maps of different sizes' }],
  },
};

export function corpusModels(): CorpusModel[] {
  const out: CorpusModel[] = [];
  const npmDir = join(CORPUS, 'models');
  for (const f of readdirSync(npmDir).filter((f) => f.endsWith('.onnx')).sort()) {
    const name = f.slice(0, -5);
    out.push({ name, path: join(npmDir, f), kind: 'npm', ...(REALISTIC[name] ?? { realistic: {} }) });
  }
  const lightDir = join(ONNX_NODE, 'light');
  for (const f of readdirSync(lightDir).filter((f) => f.endsWith('.onnx')).sort()) {
    const name = f.slice(0, -5);
    const expected = join(lightDir, `${name}_output_0.pb`);
    out.push({ name, path: join(lightDir, f), kind: 'light', realistic: {}, expectedOutput: existsSync(expected) ? expected : undefined });
  }
  return out;
}

const count = (dims: readonly number[]) => dims.reduce((a, b) => a * b, 1);

/**
 * Input data: silero's sample rate is int64 16000 and its recurrent state zeros; light models get
 * ONNX's runner feed arange(n)/n; everything else seeded uniform noise. `shapes` overrides the
 * declared shapes (symbolic dims not given = 1).
 */
export function feedsFor(graph: Graph, model: Pick<CorpusModel, 'name' | 'kind'>, shapes: Record<string, number[]>, sampleRate = 16000): TensorMap {
  const feeds: TensorMap = {};
  graph.inputs.forEach((name, i) => {
    const v = graph.values.get(name)!;
    const dims = shapes[name] ?? v.shape!.map((d) => (typeof d === 'number' ? d : 1));
    if (!v.dtype) throw new Error(`input '${name}' is not a tensor`);
    if (name === 'sr' && model.name.startsWith('silero')) feeds[name] = new Tensor('int64', BigInt64Array.from([BigInt(sampleRate)]), dims);
    else if (model.name.startsWith('silero') && ['state', 'h', 'c'].includes(name)) feeds[name] = new Tensor('float32', new Float32Array(count(dims)), dims);
    else if (model.kind === 'light' && v.dtype === 'float32') {
      const n = count(dims);
      feeds[name] = new Tensor('float32', Float32Array.from({ length: n }, (_, k) => k / n), dims);
    } else feeds[name] = randomTensor(v.dtype, dims, 11 + i);
  });
  return feeds;
}

export function shapesOf(feeds: TensorMap): Record<string, number[]> {
  return Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, [...t.dims]]));
}

/** Runs a model (a file path or bytes) on onnxruntime-node's CPU EP; the session is always released. */
export async function runOrt(model: string | Uint8Array, feeds: TensorMap, outputs?: readonly string[]): Promise<TensorMap> {
  const session = typeof model === 'string'
    ? await ort.InferenceSession.create(model, { logSeverityLevel: 4 })
    : await ort.InferenceSession.create(model, { logSeverityLevel: 4 });
  try {
    const wanted = outputs ?? session.outputNames;
    const fed: TensorMap = {};
    for (const name of session.inputNames) fed[name] = feeds[name];
    return (await session.run(fed, [...wanted])) as TensorMap;
  } finally {
    await session.release();
  }
}

/**
 * Runs the whole graph on onnxruntime with `names` exposed as extra outputs (the reference for values
 * inside the graph: what onnxruntime computes, not what our rules say).
 */
export async function runExposing(graph: Graph, names: readonly string[], feeds: TensorMap): Promise<TensorMap> {
  const outputs = [...new Set([...graph.outputs, ...names])];
  const exported = exportOnnx(graph, undefined, { outputs });
  return runOrt(exported.bytes, feeds, outputs);
}

/** Values inference folded (the plan treats them as constants), other than weights. */
export function foldedActivations(shaped: ShapedGraph): string[] {
  return [...shaped.known.keys()].filter((n) => {
    const v = shaped.values.get(n)!;
    return v.role === 'activation' && !v.isConst && v.dtype !== null && canDecode(v.dtype) && v.dtype !== 'bfloat16' && !v.dtype.endsWith('int4') && !v.dtype.endsWith('int2');
  });
}

function knownTensor(k: Known): Tensor {
  return tensorFromBytes(k.dtype, k.dims, numbersToBytes(k.dtype, k.data));
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** Folded values that differ from what onnxruntime computes (dtype, dims, or contents beyond float32 rounding). */
export function foldingErrors(shaped: ShapedGraph, ref: TensorMap, names: readonly string[]): string[] {
  const errors: string[] = [];
  for (const name of names) {
    const k = shaped.known.get(name)!;
    const r = ref[name];
    if (!r) {
      errors.push(`${name}: not computed by onnxruntime`);
      continue;
    }
    const ours = knownTensor(k);
    if (ours.type !== r.type) {
      errors.push(`${name}: folded as ${ours.type}, onnxruntime gives ${r.type}`);
      continue;
    }
    // Integers exactly (int64 as bigints; beyond ±2^53 folding saturates, the INT64_MAX/MIN sentinels
    // of Slice and friends, so both sides are compared saturated); floats to float32 rounding.
    if (r.type === 'int64' || r.type === 'uint64') {
      const sat = (x: bigint) => String(x > MAX_SAFE ? MAX_SAFE : x < -MAX_SAFE ? -MAX_SAFE : x);
      const a = Array.from(ours.data as BigInt64Array, sat), b = Array.from(r.data as BigInt64Array, sat);
      if (a.join() !== b.join() || ours.dims.join() !== r.dims.join()) errors.push(`${name}: folded [${a.slice(0, 8)}] dims [${ours.dims}], onnxruntime [${b.slice(0, 8)}] dims [${r.dims}]`);
      continue;
    }
    const c = compareTensors(ours, r, { rtol: 1e-6, atol: 1e-7 });
    if (!c.ok) errors.push(`${name}: ${c.reason}`);
  }
  return errors;
}
