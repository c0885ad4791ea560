/**
 * A model's signature, read from its bytes without decoding them: its inputs and outputs as a session
 * shows them (names, element types, declared shapes). A session that runs the model as one engine call
 * (nothing to plan: see compiler/bind.ts) needs nothing more, and skips the import (the protobuf decoder,
 * and building the graph and its weights).
 *
 * The checks the import makes that matter without it are made here too: the limits (nodes, subgraph
 * nesting, every tensor's size and every declared size, src/ir/limits.ts), and value names that key
 * feeds and outputs. A model this reading cannot vouch for — external data or a sparse tensor anywhere
 * (the import confines or refuses them: external-data.ts), or anything the import would refuse or read
 * another way (malformed bytes, no graph, an unknown element type, a dangling or twice-produced output)
 * — gives null: it is imported, which reports it as it always does.
 */
import { TesseraError } from '../errors.js';
import { dtypeFromOnnx, type DType } from './dtype.js';
import type { Shape } from './graph.js';
import { checkTensorBytes, nestedTooDeep, tooManyNodes, type Limits } from './limits.js';
import { FIELD, WIRE } from './onnx-wire.js';

export interface SignatureValue {
  readonly dtype: DType | null;
  readonly shape: Shape | null;
  /** An input's shape as the file declares it. */
  readonly declaredShape?: Shape | null;
}

/** What a session needs of a model to check feeds and describe itself; a Graph is one. */
export interface ModelSignature {
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly values: ReadonlyMap<string, SignatureValue>;
  readonly meta: { readonly source: string };
}

/**
 * Value names key plain objects (feeds, outputs, input shapes, as in onnxruntime's API): a name that is a
 * member of every JavaScript object ('__proto__', 'constructor', 'toString', …) cannot be one of them.
 */
export function checkValueName(name: string, where: string): void {
  if (Object.prototype.hasOwnProperty.call(Object.prototype, name)) {
    throw new TesseraError('BAD_MODEL', `${where}: value name '${name}' is refused: it is a member of every JavaScript object, and feeds and outputs are objects keyed by value name; rename the value`);
  }
}

/** Thrown inside the scan when the model must be imported instead (caught: the reading gives null). */
const IMPORT = Symbol('import');

interface Declared {
  dtype: DType | null;
  shape: Shape | null;
}

/** The top-level graph's declarations, as the scan collects them. */
interface Top {
  initializers: Map<string, Declared>;
  inputs: (Declared & { name: string })[];
  valueInfo: (Declared & { name: string })[];
  /** The outputs' declarations: the import takes them over a value_info's of the same name. */
  outputInfo: (Declared & { name: string })[];
  outputs: string[];
  produced: string[];
}

const textDecoder = new TextDecoder();

/**
 * One pass over the wire format, recursive per message, in plain loops (it runs once per session, mostly
 * before the JIT has compiled it). The scan's state: the bytes, the position, the limits and the count.
 */
let buf: Uint8Array = new Uint8Array(0);
let pos = 0;
let nodes = 0;
let limits: Limits;
let where = '';

/** A varint at `pos` (advancing), as a float (an int64 beyond 2^53 approximate); IMPORT past `end`. */
function varint(end: number): number {
  if (pos < end && buf[pos] < 0x80) return buf[pos++];
  let v = 0, mul = 1;
  for (let i = 0; i < 10 && pos < end; i++) {
    const b = buf[pos++];
    v += (b & 0x7f) * mul;
    mul *= 128;
    if (b < 0x80) return v;
  }
  throw IMPORT;
}
const TWO_63 = 2 ** 63, TWO_64 = 2 ** 64;
/** An int64 varint: two's complement beyond 2^63. */
function int64(end: number): number {
  const v = varint(end);
  return v >= TWO_63 ? v - TWO_64 : v;
}
/** The end of the length-delimited value at `pos` (left at its start); IMPORT for another wire type. */
function sub(wire: number, end: number): number {
  if (wire !== WIRE.bytes) throw IMPORT;
  const len = varint(end);
  if (pos + len > end) throw IMPORT;
  return pos + len;
}
function skip(wire: number, end: number): void {
  if (wire === WIRE.varint) varint(end);
  else if (wire === WIRE.bytes) pos = sub(wire, end);
  else if (wire === WIRE.fixed64 || wire === WIRE.fixed32) {
    pos += wire === WIRE.fixed64 ? 8 : 4;
    if (pos > end) throw IMPORT;
  } else throw IMPORT; // groups and unknown wire types: malformed for ONNX
}
function text(end: number): string {
  const s = textDecoder.decode(buf.subarray(pos, end));
  pos = end;
  return s;
}
/** The field's number and wire type at `pos`. */
function tag(end: number): number {
  return varint(end);
}

function model(end: number, graphs: [number, number][]): number {
  let ir = 0;
  while (pos < end) {
    const t = tag(end), field = Math.floor(t / 8), wire = t % 8;
    if (field === FIELD.model.irVersion && wire === WIRE.varint) ir = int64(end);
    else if (field === FIELD.model.graph) {
      const e = sub(wire, end);
      graphs.push([pos, e]);
      pos = e;
    } else if (field === FIELD.model.functions) {
      const e = sub(wire, end);
      while (pos < e) {
        const ft = tag(e);
        if (Math.floor(ft / 8) === FIELD.function.node) node(sub(ft % 8, e), 0, null);
        else skip(ft % 8, e);
      }
    } else skip(wire, end);
  }
  return ir;
}

/** A graph: its nodes and tensors checked; the top level's declarations collected into `top`. */
function graph(end: number, depth: number, top: Top | null): void {
  while (pos < end) {
    const t = tag(end), field = Math.floor(t / 8), wire = t % 8;
    if (field === FIELD.graph.node) node(sub(wire, end), depth, top);
    else if (field === FIELD.graph.initializer) {
      const e = sub(wire, end);
      const name = tensor(e, `${where}: initializer`, top);
      if (top) {
        if (name === '') throw IMPORT;
        top.initializers.set(name, lastTensor);
      }
    } else if (field === FIELD.graph.sparseInitializer) throw IMPORT;
    else if (top && field === FIELD.graph.input) top.inputs.push(valueInfo(sub(wire, end)));
    else if (top && field === FIELD.graph.valueInfo) top.valueInfo.push(valueInfo(sub(wire, end)));
    else if (top && field === FIELD.graph.output) {
      const o = valueInfo(sub(wire, end));
      top.outputs.push(o.name);
      top.outputInfo.push(o);
    } else skip(wire, end);
  }
}

function node(end: number, depth: number, top: Top | null): void {
  if (++nodes > limits.maxNodes) throw tooManyNodes(where, limits);
  while (pos < end) {
    const t = tag(end), field = Math.floor(t / 8), wire = t % 8;
    if (field === FIELD.node.output && top) top.produced.push(text(sub(wire, end)));
    else if (field === FIELD.node.attribute) attribute(sub(wire, end), depth);
    else skip(wire, end);
  }
}

function attribute(end: number, depth: number): void {
  while (pos < end) {
    const t = tag(end), field = Math.floor(t / 8), wire = t % 8;
    if (field === FIELD.attribute.t || field === FIELD.attribute.tensors) tensor(sub(wire, end), `${where}: attribute tensor`, null);
    else if (field === FIELD.attribute.g || field === FIELD.attribute.graphs) {
      if (depth + 1 > limits.maxSubgraphDepth) throw nestedTooDeep(where, limits);
      graph(sub(wire, end), depth + 1, null);
    } else if (field === FIELD.attribute.sparseTensor || field === FIELD.attribute.sparseTensors) throw IMPORT;
    else skip(wire, end);
  }
}

/** The last tensor read (its type and dims), beside the name `tensor` returns. */
let lastTensor: Declared = { dtype: null, shape: null };

/** A tensor: sized against the limits; none with external data (the import confines it). Returns its name. */
function tensor(end: number, what: string, keep: Top | null): string {
  let code = 0, name = '';
  const dims: number[] = [];
  while (pos < end) {
    const t = tag(end), field = Math.floor(t / 8), wire = t % 8;
    if (field === FIELD.tensor.dims) {
      if (wire === WIRE.varint) dims.push(int64(end));
      else {
        const e = sub(wire, end);
        while (pos < e) dims.push(int64(e));
      }
    } else if (field === FIELD.tensor.dataType && wire === WIRE.varint) code = varint(end);
    else if (field === FIELD.tensor.name && keep) name = text(sub(wire, end));
    else if (field === FIELD.tensor.dataLocation) {
      if (wire !== WIRE.varint || varint(end) !== 0) throw IMPORT;
    } else skip(wire, end);
  }
  let dtype: DType;
  try {
    dtype = dtypeFromOnnx(code, what);
  } catch {
    throw IMPORT;
  }
  let count = 1;
  for (const d of dims) {
    if (d < 0) throw IMPORT;
    count *= d;
  }
  // no element takes more than 16 bytes: only a tensor that might be beyond the limit is checked (and named)
  if (count * 16 > limits.maxTensorBytes) checkTensorBytes(dtype, dims, limits, `${what}${name ? ` '${name}'` : ''}`);
  lastTensor = { dtype, shape: dims };
  return name;
}

/** A ValueInfoProto: its name, element type and declared shape (as the import reads them). */
function valueInfo(end: number): Declared & { name: string } {
  let name = '';
  let declared: Declared = { dtype: null, shape: null };
  while (pos < end) {
    const t = tag(end), field = Math.floor(t / 8), wire = t % 8;
    if (field === FIELD.valueInfo.name && wire === WIRE.bytes) name = text(sub(wire, end));
    else if (field === FIELD.valueInfo.type) {
      const e = sub(wire, end);
      declared = { dtype: null, shape: null };
      while (pos < e) {
        const tt = tag(e);
        if (Math.floor(tt / 8) === FIELD.type.tensorType) declared = tensorType(sub(tt % 8, e));
        else skip(tt % 8, e);
      }
    } else skip(wire, end);
  }
  return { name, ...declared };
}

function tensorType(end: number): Declared {
  let code = 0;
  let shape: Shape | null = null;
  while (pos < end) {
    const t = tag(end), field = Math.floor(t / 8), wire = t % 8;
    if (field === FIELD.typeTensor.elemType) {
      if (wire !== WIRE.varint) throw IMPORT;
      code = varint(end);
    } else if (field === FIELD.typeTensor.shape) {
      const e = sub(wire, end);
      shape = [];
      while (pos < e) {
        const st = tag(e);
        if (Math.floor(st / 8) !== FIELD.shape.dim) {
          skip(st % 8, e);
          continue;
        }
        const de = sub(st % 8, e);
        let dim: number | string = `?${shape.length}`;
        while (pos < de) {
          const dt = tag(de), df = Math.floor(dt / 8), dw = dt % 8;
          if (df === FIELD.dim.value) {
            if (dw !== WIRE.varint) throw IMPORT;
            dim = int64(de);
          } else if (df === FIELD.dim.param) {
            const p = text(sub(dw, de));
            dim = p !== '' ? p : `?${shape.length}`;
          } else skip(dw, de);
        }
        shape.push(dim);
      }
    } else skip(wire, end);
  }
  let dtype: DType | null = null;
  try {
    dtype = code ? dtypeFromOnnx(code, 'type') : null;
  } catch {
    throw IMPORT;
  }
  return { dtype, shape };
}

/** The model's signature, or null when it must be imported (see above). Throws what the import would for the limits and value names. */
export function readSignature(bytes: Uint8Array, source: string, given: Limits): ModelSignature | null {
  buf = bytes;
  pos = 0;
  nodes = 0;
  limits = given;
  where = source;
  try {
    const graphs: [number, number][] = [];
    const ir = model(bytes.length, graphs);
    // a message given twice is merged by a decoder: left to it
    if (!(ir > 0 && graphs.length === 1)) return null;
    const top: Top = { initializers: new Map(), inputs: [], valueInfo: [], outputInfo: [], outputs: [], produced: [] };
    pos = graphs[0][0];
    graph(graphs[0][1], 0, top);
    return signatureOf(top);
  } catch (err) {
    if (err === IMPORT) return null;
    throw err;
  } finally {
    buf = new Uint8Array(0);
  }
}

function signatureOf(top: Top): ModelSignature | null {
  const declared = new Map<string, Declared>();
  for (const d of [...top.valueInfo, ...top.outputInfo]) declared.set(d.name, d);
  const values = new Map<string, SignatureValue>();
  for (const [name, t] of top.initializers) {
    checkValueName(name, where);
    values.set(name, t);
  }
  const inputs: string[] = [];
  for (const vi of top.inputs) {
    if (values.has(vi.name)) continue; // an initializer also listed as an input (IR < 4): a weight
    checkValueName(vi.name, where);
    if (vi.shape) checkTensorBytes(vi.dtype, vi.shape, limits, `${where}: input '${vi.name}' (declared)`);
    values.set(vi.name, { dtype: vi.dtype, shape: vi.shape, declaredShape: vi.shape });
    inputs.push(vi.name);
  }
  for (const out of top.produced) {
    if (out === '') continue;
    checkValueName(out, where);
    if (values.has(out)) return null; // produced twice: the import says by what
    const d = declared.get(out) ?? { dtype: null, shape: null };
    if (d.shape) checkTensorBytes(d.dtype, d.shape, limits, `${where}: value '${out}' (declared)`);
    values.set(out, { dtype: d.dtype, shape: d.shape });
  }
  if (!top.outputs.every((o) => values.has(o))) return null; // dangling: the import says so
  return { inputs, outputs: top.outputs, values, meta: { source: where } };
}
