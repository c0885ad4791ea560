/**
 * ONNX export: any set of nodes of a Graph becomes a standalone ONNX model. Values it reads but does
 * not produce become graph inputs; weights it reads come along (initializers as initializers, values
 * computed from weights with the nodes that compute them); values it produces that the rest of the
 * graph reads, or that are graph outputs, become graph outputs.
 *
 * Weights go inline (raw_data) unless an ExternalDataWriter is given: then initializers of at least its
 * threshold go to one external-data file beside the model, streamed tensor by tensor (a model past
 * protobuf's 2 GB limit needs this), with a location relative to the model's directory.
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, realpathSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { basename, dirname, join, relative, sep } from 'node:path';
import { clone, create, toBinary } from '@bufbuild/protobuf';
import {
  AttributeProto_AttributeType as AT,
  AttributeProtoSchema,
  GraphProtoSchema,
  ModelProtoSchema,
  NodeProtoSchema,
  OperatorSetIdProtoSchema,
  StringStringEntryProtoSchema,
  TensorProto_DataLocation,
  TensorProtoSchema,
  TensorShapeProtoSchema,
  TypeProtoSchema,
  ValueInfoProtoSchema,
  type AttributeProto,
  type GraphProto,
  type TensorProto,
  type TypeProto,
  type ValueInfoProto,
} from 'onnx-buf';
import { TesseraError } from '../errors.js';
import { byteSize, onnxCode } from './dtype.js';
import { confineExternalData } from './external-data.js';
import { nodeReads, type Attribute, type Graph, type ModelMeta, type Node, type Value } from './graph.js';
import { subgraphSource, weightByteLength, weightBytes, weightFromProto, type Weight } from './weight.js';

export interface ExportOptions {
  /** Values to expose as outputs, in this order (default: the boundary outputs of the node set). */
  outputs?: readonly string[];
  /** Give inputs their full inferred shapes (default true); otherwise only the dtype. */
  inputShapes?: boolean;
  name?: string;
  /** Write initializers of at least `externalData.threshold` bytes there (default: all inline). */
  externalData?: ExternalDataWriter;
  /**
   * The model's directory: weights (of at least REFERENCE_MIN_BYTES) whose bytes are in a file inside it
   * are written as external-data references into that file (its location relative to the directory,
   * offset, length), not copied; the engine reads them itself (onnxruntime: the session's
   * `model_external_initializers_file_folder_path`). Checked by confineExternalData, as on import.
   */
  referenceWeightsIn?: string;
}

/** Weights smaller than this stay inline when referencing (shape constants: engines and folding want them there). */
export const REFERENCE_MIN_BYTES = 1024;

/** A weight held in a file inside `dir` as an external-data reference into it, or null when it is not such a weight. */
function referenceTo(w: Weight, name: string, dir: string): TensorProto | null {
  const s = w.source;
  if (s.kind !== 'file' || s.length < REFERENCE_MIN_BYTES) return null;
  let root: string;
  try {
    root = realpathSync(dir);
  } catch {
    return null;
  }
  const location = relative(root, s.path).split(sep).join('/');
  try {
    confineExternalData(location, s.offset, s.length, root, name); // the one rule, as on import
  } catch {
    return null; // not inside the directory: the bytes are copied in instead
  }
  const entry = (key: string, value: string) => create(StringStringEntryProtoSchema, { key, value });
  return create(TensorProtoSchema, {
    name, dims: w.dims.map((d) => BigInt(d)), dataType: onnxCode(w.dtype), dataLocation: TensorProto_DataLocation.EXTERNAL,
    externalData: [entry('location', location), entry('offset', String(s.offset)), entry('length', String(s.length))],
  });
}

export interface ExportedModel {
  bytes: Uint8Array;
  /** Graph inputs of the exported model, in order. */
  inputs: string[];
  outputs: string[];
  /** The node indices included (the requested ones plus the weight-computing nodes they need). */
  nodes: number[];
}

const enc = new TextEncoder();

/**
 * Writes tensors into one external-data file beside an ONNX model, streaming: each tensor's bytes go
 * to disk as they come, so a model of any size is written in little memory. Nothing appears at the
 * final paths until `commit` writes the model: the data file is renamed into place first, then the
 * model, so a model file never points at missing data; `abort` (or a failed commit) removes what was
 * written.
 *
 *   const data = new ExternalDataWriter('out/model.onnx');            // → out/model.onnx.data
 *   const b = new GraphBuilder('m', { externalData: data });
 *   …
 *   data.commit(b.toBytes());
 */
export class ExternalDataWriter {
  /** The data file's name, relative to the model's directory, as written into the model. */
  readonly location: string;
  /** Tensors smaller than this stay inline (shape constants: engines and folding want them there). */
  readonly threshold: number;
  private readonly align: number;
  private readonly dir: string;
  private readonly tmpData: string;
  private fd: number | null;
  private size = 0;

  constructor(readonly modelPath: string, options: { location?: string; threshold?: number; align?: number } = {}) {
    this.location = options.location ?? `${basename(modelPath)}.data`;
    if (this.location !== basename(this.location) || this.location === '' || this.location === '.' || this.location === '..') {
      throw new TesseraError('BAD_ARGUMENT', `external data location '${this.location}' must be a plain file name (it is written beside ${modelPath}, and read relative to it)`);
    }
    this.threshold = options.threshold ?? 1024;
    this.align = options.align ?? 4096; // page-aligned offsets let engines map the file instead of copying
    this.dir = dirname(modelPath);
    try {
      if (!existsSync(this.dir)) mkdirSync(this.dir, { recursive: true });
      this.tmpData = join(this.dir, `.${this.location}.${process.pid}.tmp`);
      this.fd = openSync(this.tmpData, 'w');
    } catch (err) {
      throw new TesseraError('BAD_ARGUMENT', `cannot write external data beside ${modelPath}: ${(err as Error).message}`);
    }
  }

  /** Appends one tensor's bytes, whole or as chunks (each written as it comes); returns where they are. */
  append(chunks: Uint8Array | Iterable<Uint8Array>): { offset: number; length: number } {
    if (this.fd === null) throw new TesseraError('INTERNAL', `external data for ${this.modelPath} was already committed or aborted`);
    const pad = (this.align - (this.size % this.align)) % this.align;
    if (pad) this.write(new Uint8Array(pad));
    const offset = this.size;
    for (const c of chunks instanceof Uint8Array ? [chunks] : chunks) this.write(c);
    return { offset, length: this.size - offset };
  }

  /** A TensorProto whose data is the next `chunks` appended to the file. */
  tensorProto(name: string, dtype: Weight['dtype'], dims: readonly number[], chunks: Uint8Array | Iterable<Uint8Array>): TensorProto {
    const { offset, length } = this.append(chunks);
    const expected = byteSize(dtype, dims.reduce((a, b) => a * b, 1));
    if (length !== expected) {
      this.abort();
      throw new TesseraError('INTERNAL', `external tensor '${name}': ${length} bytes written, but a ${dtype} tensor of dims [${dims}] holds ${expected}`);
    }
    const entry = (key: string, value: string) => create(StringStringEntryProtoSchema, { key, value });
    return create(TensorProtoSchema, {
      name, dims: dims.map((d) => BigInt(d)), dataType: onnxCode(dtype), dataLocation: TensorProto_DataLocation.EXTERNAL,
      externalData: [entry('location', this.location), entry('offset', String(offset)), entry('length', String(length))],
    });
  }

  /** Writes the model and moves both files into place. */
  commit(modelBytes: Uint8Array): void {
    if (this.fd === null) throw new TesseraError('INTERNAL', `external data for ${this.modelPath} was already committed or aborted`);
    const tmpModel = join(this.dir, `.${basename(this.modelPath)}.${process.pid}.tmp`);
    try {
      fsyncSync(this.fd);
      closeSync(this.fd);
      this.fd = null;
      writeFileSync(tmpModel, modelBytes);
      renameSync(this.tmpData, join(this.dir, this.location));
      renameSync(tmpModel, this.modelPath);
    } catch (err) {
      rmSync(tmpModel, { force: true });
      this.abort();
      throw new TesseraError('BAD_ARGUMENT', `cannot write ${this.modelPath} and its external data: ${(err as Error).message} (nothing was written)`);
    }
  }

  /** Removes the temporary data file (after a failure). */
  abort(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
    rmSync(this.tmpData, { force: true });
  }

  private write(bytes: Uint8Array): void {
    for (let done = 0; done < bytes.length; ) done += writeSync(this.fd!, bytes, done, bytes.length - done);
    this.size += bytes.length;
  }
}

/** A weight as a TensorProto: a reference into the file it is in (when that file is inside `referenceIn`), in the external-data file when one is given and the weight is large enough, or inline. */
export function weightToProto(w: Weight, name = w.name, external?: ExternalDataWriter, referenceIn?: string): TensorProto {
  const ref = referenceIn === undefined ? null : referenceTo(w, name, referenceIn);
  if (ref) return ref;
  if (external && w.source.kind !== 'strings' && weightByteLength(w) >= external.threshold) {
    return external.tensorProto(name, w.dtype, w.dims, weightBytes(w));
  }
  const t = create(TensorProtoSchema, { name, dims: w.dims.map((d) => BigInt(d)), dataType: onnxCode(w.dtype) });
  if (w.source.kind === 'strings') t.stringData = w.source.values.map((s) => enc.encode(s));
  else t.rawData = weightBytes(w) as Uint8Array<ArrayBuffer>;
  return t;
}

function clampToSafe(v: bigint): number {
  return v > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : v < BigInt(Number.MIN_SAFE_INTEGER) ? Number.MIN_SAFE_INTEGER : Number(v);
}

/** Whether a subgraph (or one nested in it) holds a tensor whose data is in an external file. */
function hasExternalData(g: GraphProto): boolean {
  const ext = (t: TensorProto | undefined) => t?.dataLocation === 1;
  return g.initializer.some(ext) || g.node.some((n) => n.attribute.some((a) => ext(a.t) || a.tensors.some(ext) || (a.g && hasExternalData(a.g)) || a.graphs.some(hasExternalData)));
}

/**
 * A copy of a subgraph with every external-data tensor read into raw_data, so the exported model is
 * self-contained (it is handed to engines as bytes, with no directory to resolve a location against).
 */
function inlineExternalData(g: GraphProto, meta: ModelMeta): GraphProto {
  if (!hasExternalData(g)) return g;
  const copy = clone(GraphProtoSchema, g);
  const fix = (t: TensorProto) => {
    if (t.dataLocation !== 1) return;
    const w = weightFromProto(t, subgraphSource(meta), `${meta.source}: subgraph '${g.name}' tensor '${t.name}'`);
    t.rawData = weightBytes(w) as Uint8Array<ArrayBuffer>;
    t.externalData = [];
    t.dataLocation = 0;
  };
  const walk = (sg: GraphProto) => {
    sg.initializer.forEach(fix);
    for (const n of sg.node) {
      for (const a of n.attribute) {
        if (a.t) fix(a.t);
        a.tensors.forEach(fix);
        if (a.g) walk(a.g);
        a.graphs.forEach(walk);
      }
    }
  };
  walk(copy);
  return copy;
}

function attributeToProto(name: string, a: Attribute, meta: ModelMeta, referenceIn?: string): AttributeProto {
  const p = create(AttributeProtoSchema, { name });
  // Clamped values at the edge of the safe range stand for the int64 sentinels, unless the exact value is known.
  const int = (v: number, exact?: bigint) => {
    if (exact !== undefined && clampToSafe(exact) === v) return exact;
    const t = Math.trunc(v);
    return t >= Number.MAX_SAFE_INTEGER ? 9223372036854775807n : t <= Number.MIN_SAFE_INTEGER ? -9223372036854775808n : BigInt(t);
  };
  switch (a.type) {
    case 'float': p.type = AT.FLOAT; p.f = a.value; break;
    case 'int': p.type = AT.INT; p.i = int(a.value, a.exact); break;
    case 'string': p.type = AT.STRING; p.s = enc.encode(a.value); break;
    case 'tensor': p.type = AT.TENSOR; p.t = weightToProto(a.value, a.value.name, undefined, referenceIn); break;
    case 'graph': p.type = AT.GRAPH; p.g = inlineExternalData(a.value, meta); break;
    case 'floats': p.type = AT.FLOATS; p.floats = [...a.value]; break;
    case 'ints': p.type = AT.INTS; p.ints = a.value.map((v, i) => int(v, a.exact?.length === a.value.length ? a.exact[i] : undefined)); break;
    case 'strings': p.type = AT.STRINGS; p.strings = a.value.map((s) => enc.encode(s)); break;
    case 'tensors': p.type = AT.TENSORS; p.tensors = a.value.map((w) => weightToProto(w)); break;
    case 'graphs': p.type = AT.GRAPHS; p.graphs = a.value.map((g) => inlineExternalData(g, meta)); break;
    case 'sparse_tensor': p.type = AT.SPARSE_TENSOR; p.sparseTensor = a.value; break;
    case 'type_proto': p.type = AT.TYPE_PROTO; p.tp = a.value; break;
  }
  return p;
}

function nodeToProto(n: Node, meta: ModelMeta, referenceIn?: string) {
  return create(NodeProtoSchema, {
    name: n.name,
    opType: n.op,
    domain: n.domain,
    input: [...n.inputs],
    output: [...n.outputs],
    // a Constant's value may stay in the model's file too (referenced, as initializers)
    attribute: Object.entries(n.attrs).map(([k, a]) => attributeToProto(k, a, meta, n.op === 'Constant' && n.domain === '' ? referenceIn : undefined)),
  });
}

function typeOf(v: Value, withShape: boolean): TypeProto | undefined {
  if (v.typeProto) return v.typeProto;
  if (!v.dtype) return undefined;
  const tensorType: { elemType: number; shape?: ReturnType<typeof create<typeof TensorShapeProtoSchema>> } = { elemType: onnxCode(v.dtype) };
  // A model's own inputs keep the shape the file declares: onnxruntime checks every If branch against
  // it, and a branch the inputs never take may not type-check with the concrete shape.
  const shape = v.role === 'input' && v.declaredShape !== undefined ? v.declaredShape : v.shape;
  if (withShape && shape) {
    tensorType.shape = create(TensorShapeProtoSchema, {
      dim: shape.map((d) => (typeof d === 'number' ? { value: { case: 'dimValue' as const, value: BigInt(d) } } : { value: { case: 'dimParam' as const, value: d } })),
    });
  }
  return create(TypeProtoSchema, { value: { case: 'tensorType', value: tensorType } });
}

function valueInfo(v: Value, withShape: boolean): ValueInfoProto {
  return create(ValueInfoProtoSchema, { name: v.name, type: typeOf(v, withShape) });
}

/** Adds to `set` the nodes computing the weights that the nodes in `set` read, transitively. */
export function withWeightProducers(graph: Graph, set: Set<number>): Set<number> {
  const out = new Set(set);
  const stack = [...set];
  while (stack.length) {
    const node = graph.nodes[stack.pop()!];
    for (const r of nodeReads(node)) {
      const v = graph.values.get(r)!;
      if (v.isConst && v.producer >= 0 && !out.has(v.producer)) {
        out.add(v.producer);
        stack.push(v.producer);
      }
    }
  }
  return out;
}

/** Exports the given nodes (all nodes when omitted) as a standalone ONNX model. */
export function exportOnnx(graph: Graph, nodeIndices?: Iterable<number>, options: ExportOptions = {}): ExportedModel {
  const requested = new Set(nodeIndices ?? graph.nodes.map((n) => n.index));
  for (const i of requested) {
    if (!Number.isInteger(i) || i < 0 || i >= graph.nodes.length) throw new TesseraError('BAD_ARGUMENT', `export: no node #${i} in the graph`);
  }
  const set = withWeightProducers(graph, requested);
  const indices = [...set].sort((a, b) => a - b);
  const produced = new Set<string>();
  for (const i of indices) for (const o of graph.nodes[i].outputs) if (o !== '') produced.add(o);

  const inputNames: string[] = [];
  const initializers: Weight[] = [];
  const seen = new Set<string>();
  const consider = (name: string) => {
    if (seen.has(name) || produced.has(name)) return;
    seen.add(name);
    const v = graph.values.get(name)!;
    if (v.role === 'initializer') initializers.push(v.initializer!);
    else inputNames.push(name);
  };
  // The whole graph keeps its signature (inputs no node reads included); a part takes what it reads.
  const whole = set.size === graph.nodes.length;
  for (const name of graph.inputs) if (whole || indices.some((i) => nodeReads(graph.nodes[i]).includes(name))) consider(name);
  for (const i of indices) nodeReads(graph.nodes[i]).forEach(consider);

  let outputNames: string[];
  if (options.outputs) {
    outputNames = [...options.outputs];
    for (const o of outputNames) {
      const v = graph.values.get(o);
      if (!v) throw new TesseraError('BAD_ARGUMENT', `export: no value named '${o}'`);
      if (!produced.has(o) && !seen.has(o)) consider(o);
    }
  } else {
    outputNames = [];
    const graphOutputs = new Set(graph.outputs);
    for (const i of indices) {
      for (const o of graph.nodes[i].outputs) {
        if (o === '') continue;
        const v = graph.values.get(o)!;
        if (graphOutputs.has(o) || v.consumers.some((c) => !set.has(c))) {
          if (v.isConst && !graphOutputs.has(o) && !requested.has(i)) continue; // a weight pulled in: not an output
          outputNames.push(o);
        }
      }
    }
    // Whole-graph export: keep the graph's own output order (outputs may also be inputs or weights).
    if (whole) {
      outputNames = [...graph.outputs];
      for (const o of outputNames) consider(o);
    }
  }

  const graphInputs = inputNames.map((n) => valueInfo(graph.values.get(n)!, options.inputShapes ?? true));
  const g = create(GraphProtoSchema, {
    name: options.name ?? graph.name ?? 'tessera',
    node: indices.map((i) => nodeToProto(graph.nodes[i], graph.meta, options.referenceWeightsIn)),
    initializer: initializers.map((w) => weightToProto(w, w.name, options.externalData, options.referenceWeightsIn)),
    input: graphInputs,
    output: outputNames.map((n) => valueInfo(graph.values.get(n)!, false)),
  });
  const model = create(ModelProtoSchema, {
    irVersion: BigInt(graph.meta.irVersion),
    opsetImport: graph.meta.opsetImports.map((o) => create(OperatorSetIdProtoSchema, { domain: o.domain, version: BigInt(o.version) })),
    producerName: 'tessera',
    graph: g,
    functions: [...graph.meta.functions],
  });
  return { bytes: toBinary(ModelProtoSchema, model), inputs: inputNames, outputs: outputNames, nodes: indices };
}
