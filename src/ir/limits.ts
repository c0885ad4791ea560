/**
 * Resource limits for loading a model: how large one tensor may be, how many nodes a model may hold and
 * how deeply its subgraphs may nest. A model beyond them is refused with LIMIT_EXCEEDED, naming the
 * limit, before anything allocates for it (an engine's allocation failure, or the process running out
 * of memory, is never how a hostile model is found out). The node count and the nesting depth are
 * checked on the protobuf bytes before they are decoded; tensor sizes where shapes are declared
 * (import) and where they are inferred (inference, before any probe run).
 */
import { TesseraError } from '../errors.js';
import { byteSize, type DType } from './dtype.js';
import { FIELD } from './onnx-wire.js';

export interface Limits {
  /** The largest tensor, declared or inferred, in bytes. */
  readonly maxTensorBytes: number;
  /** Nodes in the model, counting those inside subgraphs and functions. */
  readonly maxNodes: number;
  /** How deeply subgraphs may nest (the body of a Loop inside an If's branch is at depth 2). */
  readonly maxSubgraphDepth: number;
}

/**
 * 4 GiB per tensor: the largest typed array Node 20 holds (buffer.constants.MAX_LENGTH), so no weight,
 * feed or output beyond it could be handed to or from an engine anyway. A million nodes: ten times a large
 * language model's graph. Subgraphs 16 deep: real models nest two or three.
 */
/** The deepest nesting a caller may allow: decoding and walking a subgraph recurses a few frames per level. */
const MAX_SUBGRAPH_DEPTH = 256;

export const DEFAULT_LIMITS: Limits = { maxTensorBytes: 2 ** 32, maxNodes: 1_000_000, maxSubgraphDepth: 16 };

/** The limits in force: the defaults, with the ones given replacing them (each a positive integer). */
export function resolveLimits(given?: Partial<Limits>): Limits {
  const out = { ...DEFAULT_LIMITS };
  for (const [k, v] of Object.entries(given ?? {}) as [keyof Limits, unknown][]) {
    if (!(k in DEFAULT_LIMITS)) throw new TesseraError('BAD_ARGUMENT', `limits.${k}: no such limit (there are ${Object.keys(DEFAULT_LIMITS).join(', ')})`);
    if (v === undefined) continue;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) throw new TesseraError('BAD_ARGUMENT', `limits.${k} = ${String(v)}: expected a positive integer`);
    if (k === 'maxSubgraphDepth' && v > MAX_SUBGRAPH_DEPTH) throw new TesseraError('BAD_ARGUMENT', `limits.maxSubgraphDepth = ${v}: at most ${MAX_SUBGRAPH_DEPTH} (the decoder and the graph walks recurse once per level)`);
    out[k] = v;
  }
  return out;
}

const howToRaise = (name: keyof Limits) => `for a model you trust, raise it with the '${name}' entry of the 'limits' option (Session.create, importOnnx)`;

function formatBytes(n: number): string {
  return n >= 2 ** 30 ? `${(n / 2 ** 30).toFixed(1)} GiB` : n >= 2 ** 20 ? `${(n / 2 ** 20).toFixed(1)} MiB` : `${n} bytes`;
}

/**
 * Refuses a tensor of these dims beyond `limits.maxTensorBytes` (symbolic dims are not counted). Dims
 * multiply as floating point, so a product beyond 2^53 is still far beyond the limit, never wrapped.
 */
export function checkTensorBytes(dtype: DType | null, dims: readonly (number | string)[], limits: Limits, what: string): void {
  let count = 1;
  for (const d of dims) if (typeof d === 'number') count *= Math.max(d, 0);
  const bytes = byteSize(dtype && dtype !== 'string' ? dtype : 'uint8', count);
  if (bytes > limits.maxTensorBytes) {
    throw new TesseraError('LIMIT_EXCEEDED', `${what}: a ${dtype ?? 'tensor'} of shape [${dims.join(',')}] would take ${formatBytes(bytes)}, beyond the limit of ${formatBytes(limits.maxTensorBytes)} per tensor (maxTensorBytes); ${howToRaise('maxTensorBytes')}`);
  }
}

/** Where nodes and subgraphs sit in the protobuf (onnx.proto's field numbers: onnx-wire.ts). */
const F = {
  modelGraph: FIELD.model.graph, modelFunctions: FIELD.model.functions,
  graphNode: FIELD.graph.node, functionNode: FIELD.function.node,
  nodeAttribute: FIELD.node.attribute, attrGraph: FIELD.attribute.g, attrGraphs: FIELD.attribute.graphs,
};
/** The refusals of the structure's limits (also made by model-signature.ts, which reads the structure too). */
export const tooManyNodes = (where: string, limits: Limits) => new TesseraError('LIMIT_EXCEEDED', `${where}: the model holds more than ${limits.maxNodes} nodes (maxNodes, counting nodes inside subgraphs and functions); ${howToRaise('maxNodes')}`);
export const nestedTooDeep = (where: string, limits: Limits) => new TesseraError('LIMIT_EXCEEDED', `${where}: subgraphs (If/Loop/Scan bodies) nest more than ${limits.maxSubgraphDepth} deep (maxSubgraphDepth); ${howToRaise('maxSubgraphDepth')}`);

type Kind = 'model' | 'graph' | 'function' | 'node' | 'attribute';
/** The length-delimited fields a scan enters, per message kind, and what they hold. */
const CHILDREN: Record<Kind, ReadonlyMap<number, Kind>> = {
  model: new Map([[F.modelGraph, 'graph'], [F.modelFunctions, 'function']]),
  graph: new Map([[F.graphNode, 'node']]),
  function: new Map([[F.functionNode, 'node']]),
  node: new Map([[F.nodeAttribute, 'attribute']]),
  attribute: new Map([[F.attrGraph, 'graph'], [F.attrGraphs, 'graph']]),
};

/**
 * Counts nodes and subgraph depth on the encoded ModelProto, without decoding it (a file of millions of
 * empty nodes, or of graphs nested thousands deep, would exhaust memory or the stack in the decoder).
 * Reads only the wire format's tags and lengths; stops quietly at anything malformed, which the decoder
 * then reports.
 */
export function checkModelStructure(bytes: Uint8Array, limits: Limits, where: string): void {
  let nodes = 0;
  let p = 0;
  const varint = (end: number): number => {
    let v = 0, mul = 1;
    for (let i = 0; i < 10 && p < end; i++) {
      const b = bytes[p++];
      v += (b & 0x7f) * mul;
      mul *= 128;
      if (b < 0x80) return v;
    }
    return -1;
  };
  /** Scans the message at p..end; false at anything malformed. */
  const scan = (end: number, kind: Kind, depth: number): boolean => {
    while (p < end) {
      const tag = varint(end);
      if (tag < 0) return false;
      const field = Math.floor(tag / 8), wire = tag % 8;
      if (wire === 0) { if (varint(end) < 0) return false; }
      else if (wire === 1) p += 8;
      else if (wire === 5) p += 4;
      else if (wire === 2) {
        const len = varint(end);
        if (len < 0 || p + len > end) return false;
        const child = CHILDREN[kind].get(field);
        if (child === 'node' && ++nodes > limits.maxNodes) {
          throw tooManyNodes(where, limits);
        }
        const sub = child === 'graph' && kind === 'attribute' ? depth + 1 : depth;
        if (sub > limits.maxSubgraphDepth) {
          throw nestedTooDeep(where, limits);
        }
        if (child && len > 0) {
          if (!scan(p + len, child, sub)) return false;
        } else p += len;
      } else return false; // groups (3, 4) and unknown wire types: malformed for ONNX
    }
    return p === end;
  };
  scan(bytes.length, 'model', 0);
}

/**
 * The protobuf decoder's own nesting limit, set above what `maxSubgraphDepth` allows: each level of
 * subgraph is three messages deep (Graph → Node → Attribute → Graph), with room for nested TypeProtos.
 */
export function decoderRecursionLimit(limits: Limits): number {
  return Math.max(100, 3 * limits.maxSubgraphDepth + 40);
}
