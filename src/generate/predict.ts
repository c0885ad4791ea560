/**
 * Predicted prefill and decode speed of a decoder on a target, not measured. Two plans over the same
 * weights and KV cache, each compiled and placed by the cost model (src/compiler): decode is the
 * in-place graph (kv-rewrite.ts) at one token over a cache of `maxLength`; prefill is the model as
 * exported at a chunk of `prefillChunk` tokens after an empty past. Beside them, the roofline
 * arithmetic from the target profile: decode reads every weight and the whole cache once per token
 * (bytes / memory bandwidth: the floor of its time), prefill does 2 FLOPs per weight per token
 * (FLOPs / peak: the floor of its time) — shown as arithmetic, so the figures can be checked by hand.
 */
import { dirname, resolve } from 'node:path';
import { clone, toBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema } from 'onnx-buf';
import { compile } from '../compiler/index.js';
import { decodeModel, readModelFile } from '../ir/onnx-import.js';
import { loadTarget } from '../targets/index.js';
import type { Processor, Target } from '../targets/schema.js';
import { modelWeightBytes } from './kv-budget.js';
import { KV_INDEX, kvInput, rewriteForInPlaceKv } from './kv-rewrite.js';
import { decoderSignature, type DecoderSignature } from './signature.js';

export interface PhasePrediction {
  tokens: number;
  latencyUs: number;
  tokensPerS: number;
  /** Predicted compute time per processor in this plan. */
  processors: { id: string; nodes: number; predictedUs: number }[];
}

export interface Roofline {
  /** Bytes read per decode token: weights + KV cache. */
  weightBytes: number;
  kvBytes: number;
  processor: string;
  bandwidthGBs: number;
  decodeTokensPerS: number;
  flopsPerToken: number;
  peakGflops: number;
  peakDtype: string;
  prefillTokensPerS: number;
  arithmetic: string[];
}

export interface DecoderPrediction {
  target: string;
  maxLength: number;
  prefillChunk: number;
  decode: PhasePrediction;
  prefill: PhasePrediction;
  roofline: Roofline;
}

/** A decoder described by its shape (for one there is no file of: a published model's config). */
export interface DecoderShape {
  name: string;
  parameters: number;
  /** Bytes per weight as stored, scales included (INT4 in blocks of 32 with float16 scales: 0.5625). */
  bytesPerWeight: number;
  layers: number;
  kvHeads: number;
  headDim: number;
  /** Bytes per cached element (float32 4, float16 2). */
  kvBytesPerElement: number;
}

const gb = (n: number) => `${(n / 1e9).toFixed(3)} GB`;

/** The roofline of a decoder on a target at `context` cached tokens: the best processor for each phase. */
export function roofline(target: Target, shape: DecoderShape, context: number, computeDtype: string): Roofline {
  const weightBytes = shape.parameters * shape.bytesPerWeight;
  const kvBytes = 2 * shape.layers * shape.kvHeads * shape.headDim * shape.kvBytesPerElement * context;
  // a measured streaming read (tessera calibrate's streamBandwidthGBs) over the fitted bandwidth when the profile has one
  const streamOf = (p: Processor) => p.streamBandwidthGBs?.value ?? p.bandwidthGBs.value;
  const byBw = [...target.processors].sort((a, b) => streamOf(b) - streamOf(a))[0];
  const peak = (p: Processor) => (p.peakGflops as Record<string, { value: number } | undefined>)[computeDtype]?.value ?? 0;
  const byPeak = [...target.processors].sort((a, b) => peak(b) - peak(a))[0];
  const bw = streamOf(byBw);
  const bwWhat = byBw.streamBandwidthGBs ? 'its measured streaming read' : "the profile's memory bandwidth";
  const decodeTokensPerS = (bw * 1e9) / (weightBytes + kvBytes);
  const flopsPerToken = 2 * shape.parameters;
  const prefillTokensPerS = (peak(byPeak) * 1e9) / flopsPerToken;
  return {
    weightBytes, kvBytes, processor: byBw.id, bandwidthGBs: bw, decodeTokensPerS, flopsPerToken, peakGflops: peak(byPeak), peakDtype: computeDtype, prefillTokensPerS,
    arithmetic: [
      `decode reads every weight and the cache once per token: ${(shape.parameters / 1e9).toFixed(3)} B parameters × ${+shape.bytesPerWeight.toFixed(4)} bytes = ${gb(weightBytes)}, + KV ${shape.layers} layers × 2 × ${shape.kvHeads} heads × ${shape.headDim} × ${shape.kvBytesPerElement} bytes × ${context} tokens = ${gb(kvBytes)}`,
      `decode floor: ${bw} GB/s (${byBw.id}, ${bwWhat}) / ${gb(weightBytes + kvBytes)} = ${decodeTokensPerS.toFixed(1)} tokens/s at most`,
      `prefill ceiling: ${peak(byPeak)} GFLOP/s ${computeDtype} (${byPeak.id} peak) / (2 × ${(shape.parameters / 1e9).toFixed(3)} B FLOPs a token) = ${prefillTokensPerS.toFixed(0)} tokens/s at most`,
    ],
  };
}

/** The published figures the predictions are put beside (measured by others, on phones and Arm cores). */
export const ANCHORS = [
  { what: 'ExecuTorch Llama 3.2 1B SpinQuant INT4, OnePlus 12 (Snapdragon 8 Gen 3)', decode: 50.2, prefill: 260.5, note: '1.9 GB RSS' },
  { what: 'Qualcomm AI Hub Llama 3.2 3B w4a16, Snapdragon 8 Gen 3', decode: 23.5, prefill: null, note: '128-token prompt graph + 1-token generator graph sharing the KV cache' },
  { what: 'llama.cpp TinyLlama 1.1B Q4_0, 8 Arm cores', decode: 38.8, prefill: null, note: '' },
] as const;

/** Llama 3.2 1B's config (16 layers, hidden 2048, 8 KV heads of 64, vocab 128256, tied): 1.236 B parameters, INT4 in blocks of 32. */
export const LLAMA_1B_INT4: DecoderShape = { name: 'Llama-3.2-1B-shaped, INT4 weights (blocks of 32, float16 scales)', parameters: 1.236e9, bytesPerWeight: 0.5625, layers: 16, kvHeads: 8, headDim: 64, kvBytesPerElement: 2 };

function phase(c: Awaited<ReturnType<typeof compile>>, tokens: number): PhasePrediction {
  const latencyUs = c.plan.estimate.latencyUs;
  const processors = c.target.processors.map((p) => ({
    id: p.id,
    nodes: c.plan.nodes.filter((n) => n.processor === p.id).length,
    predictedUs: c.plan.steps.filter((s) => s.kind === 'compute' && s.lane === p.id).reduce((a, s) => a + s.endUs - s.startUs, 0),
  }));
  return { tokens, latencyUs, tokensPerS: (tokens * 1e6) / latencyUs, processors };
}

const shapes = (sig: DecoderSignature, entries: [string, number[]][]) => Object.fromEntries(entries);

/** Compiles the decode and prefill plans of the decoder at `modelPath` for `target` and predicts both phases. */
export async function predictDecoder(modelPath: string, targetName: string, o: { maxLength?: number; prefillChunk?: number; orderBudgetMs?: number } = {}): Promise<DecoderPrediction> {
  const path = resolve(modelPath);
  const proto = decodeModel(readModelFile(path), modelPath);
  const sig = decoderSignature(proto, modelPath);
  const maxLength = o.maxLength ?? 1024, chunk = o.prefillChunk ?? 128;
  const target = await loadTarget(targetName);
  const kv = (l: number, k: string, len: number): [string, number[]] => [`past_key_values.${l}.${k}`, [1, sig.kvHeads, len, sig.headDim]];
  const perLayer = <T>(f: (l: number, k: string) => T[]) => Array.from({ length: sig.layers }, (_, l) => ['key', 'value'].flatMap((k) => f(l, k))).flat();
  const decodeProto = rewriteForInPlaceKv(clone(ModelProtoSchema, proto), sig, modelPath);
  const common = { externalDataDir: dirname(path), orderBudgetMs: o.orderBudgetMs ?? 500, lower: false };
  // the past inputs the rewrite kept (those a graph reads the shape of)
  const decodeInputs = new Set(decodeProto.graph!.input.map((i) => i.name));
  const decodeShapes = shapes(sig, [
    ['input_ids', [1, 1]], ['attention_mask', [1, maxLength]], [KV_INDEX, [1, sig.kvHeads, 1, 3]],
    ...(sig.hasPositionIds ? [['position_ids', [1, 1]] as [string, number[]]] : []),
    ...perLayer((l, k) => [kv(l, k, maxLength - 1), [kvInput(l, k), [1, sig.kvHeads, maxLength, sig.headDim]] as [string, number[]]]).filter(([name]) => decodeInputs.has(name)),
  ]);
  const decode = await compile(toBinary(ModelProtoSchema, decodeProto), target, { ...common, inputShapes: decodeShapes });
  // prefill priced at a chunk after a past of one chunk (a zero-length past gives zero-size tensors)
  const prefillShapes = shapes(sig, [
    ['input_ids', [1, chunk]], ['attention_mask', [1, 2 * chunk]],
    ...(sig.hasPositionIds ? [['position_ids', [1, chunk]] as [string, number[]]] : []),
    ...perLayer((l, k) => [kv(l, k, chunk)]),
  ]);
  const prefill = await compile(toBinary(ModelProtoSchema, proto), target, { ...common, inputShapes: prefillShapes });
  const weightBytes = modelWeightBytes(proto);
  let parameters = 0;
  for (const t of proto.graph!.initializer) parameters += t.dims.reduce((a, d) => a * Number(d), 1);
  const shape: DecoderShape = { name: modelPath, parameters, bytesPerWeight: weightBytes / parameters, layers: sig.layers, kvHeads: sig.kvHeads, headDim: sig.headDim, kvBytesPerElement: 4 };
  return { target: target.name, maxLength, prefillChunk: chunk, decode: phase(decode, 1), prefill: phase(prefill, chunk), roofline: roofline(target, shape, maxLength, 'float32') };
}
