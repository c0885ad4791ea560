/**
 * What onnxruntime-web's wasm build takes, as data: the ops, dtypes and patterns its wasm backend does not
 * run that onnxruntime-node's CPU EP does; `wasmSupports` answers from the table alone.
 */
import { ortJsSupports, type DType } from '../ir/dtype.js';
import type { Graph, Node } from '../ir/graph.js';
import type { Support } from './backend.js';
import { ORT_DOMAINS, ORT_UNSUPPORTED } from './ort-capabilities.js';

/**
 * What onnxruntime-web's wasm build does not take that onnxruntime-node's CPU EP does, as data (found
 * by running the ONNX node tests through both: `npx tsx bench/conformance.ts`). Each entry says why.
 * The rule the tests hold it to: every node this table accepts must run and match on wasm.
 */
export interface WasmCapabilities {
  /** Op types (default domain unless 'domain:Op') the wasm build has no kernel for, or gets wrong. */
  ops: Record<string, string>;
  /** Ops that lack a kernel for some dtypes only: op → dtype → why. */
  opDtypes: Record<string, Record<string, string>>;
  /** Value dtypes no node may touch on wasm. */
  dtypes: Record<string, string>;
  /** An op refused when one of its inputs is produced by a given op (a wasm graph optimization that gets the pair wrong). */
  patterns: { op: string; input: number; producedBy: string; why: string }[];
  /** Domains with kernels. */
  domains: string[];
}

export const WASM_CAPABILITIES: WasmCapabilities = {
  // onnxruntime's own missing kernels (the same in its wasm build), and nothing more so far
  ops: { ...ORT_UNSUPPORTED },
  opDtypes: {},
  dtypes: {},
  patterns: [
    {
      // Range(start, Size(Shape(x)), 1) fails to load on wasm with "[ShapeInferenceError] Can't merge
      // shape info … Inferred=12 Declared=2" (its constant folding takes the limit as Size(x), not the
      // rank); the CPU EP of the same version loads it. Seen in 9 test_rms_normalization_*_expanded
      // tests. Refusing every Range whose limit a Size computes also refuses 10 of their siblings that
      // do load (start = Add(axis, rank)): conservative, never wrong.
      op: 'Range', input: 1, producedBy: 'Size',
      why: "onnxruntime-web 1.30's constant folding gets Range(start, Size(Shape(x)), delta) wrong (the session fails to load)",
    },
  ],
  domains: [...ORT_DOMAINS],
};

export function wasmSupports(node: Node, graph: Graph, caps: WasmCapabilities = WASM_CAPABILITIES): Support {
  if (!caps.domains.includes(node.domain) && !graph.meta.functions.some((f) => f.domain === node.domain && f.name === node.op)) {
    return { ok: false, reason: `domain '${node.domain}' has no kernels in onnxruntime-web` };
  }
  const key = node.domain ? `${node.domain}:${node.op}` : node.op;
  const why = caps.ops[key];
  if (why) return { ok: false, reason: `onnxruntime-web (wasm): ${node.op}: ${why}` };
  for (const p of caps.patterns) {
    if (p.op !== key) continue;
    const v = graph.values.get(node.inputs[p.input] ?? '');
    if (v && v.producer >= 0 && graph.nodes[v.producer]?.op === p.producedBy) return { ok: false, reason: `onnxruntime-web (wasm): ${node.op} with input ${p.input} from ${p.producedBy}: ${p.why}` };
  }
  const byDtype = caps.opDtypes[key];
  for (const name of [...node.inputs, ...node.outputs]) {
    const dt = name ? graph.values.get(name)?.dtype : null;
    if (!dt) continue;
    if (!ortJsSupports(dt)) return { ok: false, reason: `value '${name}' is ${dt}, which onnxruntime's JavaScript API cannot pass` };
    if (caps.dtypes[dt]) return { ok: false, reason: `onnxruntime-web (wasm): ${dt}: ${caps.dtypes[dt]}` };
    if (byDtype?.[dt as DType]) return { ok: false, reason: `onnxruntime-web (wasm): ${node.op} on ${dt}: ${byDtype[dt]}` };
  }
  return { ok: true };
}
