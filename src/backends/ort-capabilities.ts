/**
 * What onnxruntime-node takes, as data: its CPU and WebGPU execution providers run every op of the
 * domains they have kernels for, except those listed here; and how its CPU EP runs convolutions on
 * x86-64 (the blocked NCHWc layout), which its cost hooks (ort-cost.ts) read.
 */
import { ortJsSupports } from '../ir/dtype.js';
import type { Graph, Node } from '../ir/graph.js';
import type { Support } from './backend.js';

/** Ops onnxruntime 1.30's CPU EP has no kernel for (from the ONNX conformance baseline). */
export const ORT_UNSUPPORTED: Readonly<Record<string, string>> = {
  ImageDecoder: 'no kernel in onnxruntime',
  FlexAttention: 'no kernel in onnxruntime',
  Adam: 'training op, no kernel in onnxruntime',
  Adagrad: 'training op, no kernel in onnxruntime',
  Momentum: 'training op, no kernel in onnxruntime',
  Gradient: 'training op, no kernel in onnxruntime',
};

/** Domains with kernels. */
export const ORT_DOMAINS: readonly string[] = ['', 'ai.onnx.ml', 'com.microsoft'];

/** onnxruntime's answer for a node: a domain it has kernels for (or a function of the model), a kernel, and dtypes its JavaScript API passes. */
export function ortSupports(node: Node, graph: Graph): Support {
  if (!ORT_DOMAINS.includes(node.domain) && !graph.meta.functions.some((f) => f.domain === node.domain && f.name === node.op)) {
    return { ok: false, reason: `domain '${node.domain}' has no kernels in onnxruntime` };
  }
  if (ORT_UNSUPPORTED[node.op]) return { ok: false, reason: `onnxruntime has no kernel for ${node.op}` };
  for (const name of [...node.inputs, ...node.outputs]) {
    const dt = name ? graph.values.get(name)?.dtype : null;
    if (dt && !ortJsSupports(dt)) return { ok: false, reason: `value '${name}' is ${dt}, which onnxruntime's JavaScript API cannot pass` };
  }
  return { ok: true };
}

/**
 * onnxruntime's CPU EP on x86-64 runs convolutions, and these pools after them, in its blocked channel
 * layout (NCHWc); channels come in blocks of 8 (AVX2) or 16 (AVX-512), 8 being what both take; its SGEMM
 * (MLAS) computes output positions in panels of 16 columns.
 */
export const ORT_X86_NCHWC = {
  pools: ['MaxPool', 'AveragePool', 'GlobalAveragePool', 'GlobalMaxPool'] as readonly string[],
  block: 8,
  sgemmColumns: 16,
} as const;
