/**
 * The op registry: for each ONNX op, how its outputs' dtypes and shapes follow from its inputs
 * (folding small constants such as shape arithmetic on the way) and how many FLOPs it performs.
 * Capability as data, one entry per op, as in tfjs-core's kernel registry.
 */
import { TesseraError } from '../../errors.js';
import type { DType } from '../dtype.js';
import type { Attribute, Dim, Graph, Node, Shape } from '../graph.js';
import type { Weight } from '../weight.js';

/** The values of a small constant tensor (int64 as numbers). */
export interface Known {
  readonly dtype: DType;
  readonly dims: readonly number[];
  readonly data: readonly number[];
}

/** What inference knows of a value. */
export interface ValueInfo {
  dtype: DType | null;
  shape: Shape | null;
  /** Folded contents, when the value is a small constant. */
  known?: Known;
  /** The weight that holds the value's bytes (initializers, Constant nodes). */
  weight?: Weight;
  /** For a sequence or optional value (dtype and shape are then null): its element type and, when known, its elements. */
  container?: Container;
}

export interface Container {
  readonly kind: 'sequence' | 'optional';
  /** Element type of the tensors it holds. */
  readonly dtype: DType | null;
  /** The elements, when their number is known (an optional: [] for none, [x] for one). */
  readonly elements: readonly ValueInfo[] | null;
}

export interface OpContext {
  readonly node: Node;
  readonly graph: Graph;
  /** Opset version of the node's domain. */
  readonly opset: number;
  /** One per node input; null for an omitted optional input. */
  readonly inputs: readonly (ValueInfo | null)[];
  /** The input's info; throws when it is omitted. */
  input(i: number): ValueInfo;
  has(i: number): boolean;
  /** The input's shape; throws when its rank is unknown. */
  shape(i: number): Shape;
  /** The input's folded contents, decoding a small weight on demand; undefined when unknown. */
  known(i: number): Known | undefined;
  attr(name: string): Attribute | undefined;
  int(name: string, def: number): number;
  int(name: string): number | undefined;
  ints(name: string): number[] | undefined;
  float(name: string, def: number): number;
  str(name: string, def: string): string;
  /** Infers the outputs of a subgraph attribute with the current outer scope. */
  subgraph(name: string): ValueInfo[];
}

export interface OpRule {
  infer(ctx: OpContext): ValueInfo[];
  /** FLOPs of one execution (default: one per output element). */
  flops?(ctx: OpContext, outputs: readonly ValueInfo[]): number;
}

const rules = new Map<string, OpRule>();

export function registerOp(op: string | string[], rule: OpRule): void {
  for (const o of Array.isArray(op) ? op : [op]) rules.set(o, rule);
}

export function opRule(domain: string, op: string): OpRule | undefined {
  return domain === '' || domain === 'ai.onnx' ? rules.get(op) : rules.get(`${domain}::${op}`);
}

export function registeredOps(): string[] {
  return [...rules.keys()].sort();
}

/** Thrown by a rule when it cannot infer this node (the caller then probes). */
export class CannotInfer extends Error {}

export function fail(ctx: OpContext, why: string): never {
  throw new CannotInfer(`${ctx.node.op} '${ctx.node.name}': ${why}`);
}

// ---- shape helpers -------------------------------------------------------------------------

export function numel(shape: Shape): number | null {
  let n = 1;
  for (const d of shape) {
    if (typeof d !== 'number') return null;
    n *= d;
  }
  return n;
}

/** Numpy-style broadcasting of several shapes. */
export function broadcast(ctx: OpContext, shapes: Shape[]): Shape {
  const rank = Math.max(...shapes.map((s) => s.length));
  const out: Dim[] = [];
  for (let i = 0; i < rank; i++) {
    let d: Dim = 1;
    for (const s of shapes) {
      const x = s[s.length - rank + i];
      if (x === undefined || x === 1) continue;
      if (d === 1) d = x;
      else if (d !== x) {
        if (typeof d === 'number' && typeof x === 'number') {
          throw new TesseraError('SHAPE_INFERENCE', `${ctx.node.op} '${ctx.node.name}': shapes [${shapes.map((z) => z.join('x')).join('], [')}] do not broadcast`);
        }
        d = typeof d === 'number' ? x : d; // symbolic against symbolic or number: keep a name
      }
    }
    out.push(d);
  }
  return out;
}

export function normAxis(ctx: OpContext, axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) {
    throw new TesseraError('SHAPE_INFERENCE', `${ctx.node.op} '${ctx.node.name}': axis ${axis} is out of range for rank ${rank}`);
  }
  return a;
}

export function same(info: ValueInfo): ValueInfo {
  return { dtype: info.dtype, shape: info.shape && [...info.shape] };
}

export function tensor(dtype: DType | null, shape: Shape | null, known?: Known): ValueInfo {
  return known ? { dtype, shape, known } : { dtype, shape };
}

/** Folded values are kept only while small: shape arithmetic, not weights. */
export const MAX_KNOWN = 4096;

export function knownOf(dtype: DType, dims: number[], data: number[]): Known | undefined {
  return data.length <= MAX_KNOWN ? { dtype, dims, data } : undefined;
}

/** Flat index strides of a shape. */
export function strides(dims: readonly number[]): number[] {
  const s = new Array<number>(dims.length);
  let acc = 1;
  for (let i = dims.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= dims[i];
  }
  return s;
}
