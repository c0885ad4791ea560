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
import { checkModelStructure, checkTensorBytes, type Limits } from './limits.js';
import { FIELD, WIRE, WireReader, type WireField } from './onnx-wire.js';

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

type Range = readonly [number, number];
interface Declared {
  dtype: DType | null;
  shape: Shape | null;
}

/** The model's signature, or null when it must be imported (see above). Throws what the import would for the limits and value names. */
export function readSignature(bytes: Uint8Array, where: string, limits: Limits): ModelSignature | null {
  checkModelStructure(bytes, limits, where);
  const r = new WireReader(bytes);
  const must = (ok: boolean) => {
    if (!ok) throw IMPORT;
  };
  /** The fields of the message at `at`, each a length-delimited one where `entered` names it. */
  const each = (at: Range, visit: (f: WireField) => void, entered: readonly number[] = []) =>
    must(r.fields(at[0], at[1], (f) => {
      if (entered.includes(f.field)) must(f.wire === WIRE.bytes);
      visit(f);
    }));

  /** Every tensor in a message tree: sized against the limits, none with external data, no sparse one. */
  const tensor = (at: Range, what: string): Declared & { name: string } => {
    let dtype: DType | null = null, name = '';
    const dims: number[] = [];
    let code = 0;
    each(at, (f) => {
      if (f.field === FIELD.tensor.dims) {
        if (f.wire === WIRE.varint) dims.push(f.value);
        else {
          const packed = f.wire === WIRE.bytes ? r.packed(f.start, f.end) : null;
          must(packed !== null);
          dims.push(...packed!);
        }
      } else if (f.field === FIELD.tensor.dataType && f.wire === WIRE.varint) code = f.value;
      else if (f.field === FIELD.tensor.name && f.wire === WIRE.bytes) name = r.text(f.start, f.end);
      else if (f.field === FIELD.tensor.dataLocation) must(f.wire === WIRE.varint && f.value === 0); // external data: the import confines it
    });
    must(dims.every((d) => d >= 0));
    try {
      dtype = dtypeFromOnnx(code, what);
    } catch {
      throw IMPORT;
    }
    checkTensorBytes(dtype, dims, limits, `${what} '${name}'`);
    return { dtype, shape: dims, name };
  };
  const graphTensors = (at: Range, what: string) => each(at, (f) => {
    if (f.field === FIELD.graph.node) nodeTensors([f.start, f.end], what);
    else if (f.field === FIELD.graph.initializer) tensor([f.start, f.end], `${what}: initializer`);
    else if (f.field === FIELD.graph.sparseInitializer) throw IMPORT;
  }, [FIELD.graph.node, FIELD.graph.initializer]);
  const nodeTensors = (at: Range, what: string) => each(at, (f) => {
    if (f.field === FIELD.node.attribute) attributeTensors([f.start, f.end], what);
  }, [FIELD.node.attribute]);
  const attributeTensors = (at: Range, what: string) => each(at, (f) => {
    const v: Range = [f.start, f.end];
    if (f.field === FIELD.attribute.t || f.field === FIELD.attribute.tensors) tensor(v, `${what}: attribute tensor`);
    else if (f.field === FIELD.attribute.g || f.field === FIELD.attribute.graphs) graphTensors(v, `${what} (subgraph)`);
    else if (f.field === FIELD.attribute.sparseTensor || f.field === FIELD.attribute.sparseTensors) throw IMPORT;
  }, [FIELD.attribute.t, FIELD.attribute.tensors, FIELD.attribute.g, FIELD.attribute.graphs]);

  /** A ValueInfoProto: its name, element type and declared shape (as the import reads them). */
  const valueInfo = (at: Range): Declared & { name: string } => {
    let name = '';
    let declared: Declared = { dtype: null, shape: null };
    each(at, (f) => {
      if (f.field === FIELD.valueInfo.name && f.wire === WIRE.bytes) name = r.text(f.start, f.end);
      else if (f.field === FIELD.valueInfo.type) {
        must(f.wire === WIRE.bytes);
        declared = { dtype: null, shape: null };
        each([f.start, f.end], (t) => {
          if (t.field === FIELD.type.tensorType) declared = tensorType([t.start, t.end]);
        }, [FIELD.type.tensorType]);
      }
    });
    return { name, ...declared };
  };
  const tensorType = (at: Range): Declared => {
    let code = 0;
    let shape: Shape | null = null;
    each(at, (f) => {
      if (f.field === FIELD.typeTensor.elemType) {
        must(f.wire === WIRE.varint);
        code = f.value;
      } else if (f.field === FIELD.typeTensor.shape) {
        shape = [];
        each([f.start, f.end], (d) => {
          if (d.field !== FIELD.shape.dim) return;
          let dim: number | string = `?${shape!.length}`;
          each([d.start, d.end], (x) => {
            if (x.field === FIELD.dim.value) {
              must(x.wire === WIRE.varint);
              dim = x.value;
            } else if (x.field === FIELD.dim.param) {
              must(x.wire === WIRE.bytes);
              const p = r.text(x.start, x.end);
              dim = p !== '' ? p : `?${shape!.length}`;
            }
          });
          shape!.push(dim);
        }, [FIELD.shape.dim]);
      }
    }, [FIELD.typeTensor.shape]);
    let dtype: DType | null = null;
    try {
      dtype = code ? dtypeFromOnnx(code, 'type') : null;
    } catch {
      throw IMPORT;
    }
    return { dtype, shape };
  };

  try {
    let ir = 0;
    const graphs: Range[] = [];
    each([0, bytes.length], (f) => {
      if (f.field === FIELD.model.irVersion && f.wire === WIRE.varint) ir = f.value;
      else if (f.field === FIELD.model.graph) graphs.push([f.start, f.end]);
      else if (f.field === FIELD.model.functions) each([f.start, f.end], (n) => {
        if (n.field === FIELD.function.node) nodeTensors([n.start, n.end], `${where}: function`);
      }, [FIELD.function.node]);
    }, [FIELD.model.graph, FIELD.model.functions]);
    // a message given twice is merged by a decoder: left to it
    must(ir > 0 && graphs.length === 1);
    const [graph] = graphs;
    graphTensors(graph, where);

    const initializers = new Map<string, Declared>();
    const inputInfos: (Declared & { name: string })[] = [];
    const declared = new Map<string, Declared>();
    const outputInfos: string[] = [];
    const produced: string[] = [];
    const declaredLater: (Declared & { name: string })[] = [];
    each(graph, (f) => {
      const v: Range = [f.start, f.end];
      if (f.field === FIELD.graph.initializer) {
        const t = tensor(v, `${where}: initializer`);
        must(t.name !== '');
        initializers.set(t.name, t);
      } else if (f.field === FIELD.graph.input) inputInfos.push(valueInfo(v));
      else if (f.field === FIELD.graph.valueInfo) declaredLater.push(valueInfo(v));
      else if (f.field === FIELD.graph.output) {
        const o = valueInfo(v);
        outputInfos.push(o.name);
        declaredLater.push(o);
      } else if (f.field === FIELD.graph.node) each(v, (n) => {
        if (n.field === FIELD.node.output) {
          must(n.wire === WIRE.bytes);
          produced.push(r.text(n.start, n.end));
        }
      });
    }, [FIELD.graph.initializer, FIELD.graph.input, FIELD.graph.valueInfo, FIELD.graph.output, FIELD.graph.node]);
    // the import takes an output's declaration over a value_info's
    for (const d of declaredLater) declared.set(d.name, d);

    const values = new Map<string, SignatureValue>();
    for (const [name, t] of initializers) {
      checkValueName(name, where);
      values.set(name, t);
    }
    const inputs: string[] = [];
    for (const vi of inputInfos) {
      if (values.has(vi.name)) continue; // an initializer also listed as an input (IR < 4): a weight
      checkValueName(vi.name, where);
      if (vi.shape) checkTensorBytes(vi.dtype, vi.shape, limits, `${where}: input '${vi.name}' (declared)`);
      values.set(vi.name, { dtype: vi.dtype, shape: vi.shape, declaredShape: vi.shape });
      inputs.push(vi.name);
    }
    for (const out of produced) {
      if (out === '') continue;
      checkValueName(out, where);
      must(!values.has(out)); // produced twice: the import says by what
      const d = declared.get(out) ?? { dtype: null, shape: null };
      if (d.shape) checkTensorBytes(d.dtype, d.shape, limits, `${where}: value '${out}' (declared)`);
      values.set(out, { dtype: d.dtype, shape: d.shape });
    }
    must(outputInfos.every((o) => values.has(o))); // dangling: the import says so
    return { inputs, outputs: outputInfos, values, meta: { source: where } };
  } catch (err) {
    if (err === IMPORT) return null;
    throw err;
  }
}
