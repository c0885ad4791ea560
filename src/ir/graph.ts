/**
 * The Tessera IR: a Graph of Nodes (ops) and Values (tensors), with weights held as lazy
 * references to bytes in the model file. Node identity is stable: `node.index` is the node's
 * position in the ONNX `graph.node` list.
 */
import type { FunctionProto, GraphProto, SparseTensorProto, TypeProto } from 'onnx-buf';
import type { DType } from './dtype.js';
import type { Limits } from './limits.js';
import type { Weight } from './weight.js';

/** A dimension: a concrete size, or a symbolic name when it is not known. */
export type Dim = number | string;
export type Shape = Dim[];

export type Attribute =
  | { type: 'float'; value: number }
  /** `value` is clamped to the safe-integer range (INT64_MAX/MIN sentinels become ±MAX_SAFE_INTEGER);
   *  `exact` holds the file's int64 when it was outside that range, so export writes it back unchanged. */
  | { type: 'int'; value: number; exact?: bigint }
  | { type: 'string'; value: string }
  | { type: 'tensor'; value: Weight }
  | { type: 'graph'; value: GraphProto }
  | { type: 'floats'; value: number[] }
  | { type: 'ints'; value: number[]; exact?: bigint[] }
  | { type: 'strings'; value: string[] }
  | { type: 'tensors'; value: Weight[] }
  | { type: 'graphs'; value: GraphProto[] }
  | { type: 'sparse_tensor'; value: SparseTensorProto }
  | { type: 'type_proto'; value: TypeProto };

export interface Node {
  /** Position in the ONNX graph.node list. */
  readonly index: number;
  /** Unique within the graph (made unique at import when the file's are empty or repeated). */
  readonly name: string;
  readonly op: string;
  /** '' for the default ONNX domain. */
  readonly domain: string;
  /** Value names; '' marks an omitted optional input. */
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly attrs: Readonly<Record<string, Attribute>>;
  /** Outer-scope values a control-flow node's subgraphs read (empty for other nodes). */
  readonly implicitInputs: readonly string[];
}

export type ValueRole = 'input' | 'initializer' | 'activation';
export type ShapeSource = 'declared' | 'static' | 'probe';

export interface Value {
  readonly name: string;
  readonly role: ValueRole;
  /** null when the value is not a tensor (sequence, map, optional) or its type is not known yet. */
  dtype: DType | null;
  /** null when the rank is not known. */
  shape: Shape | null;
  /** Index of the producing node; -1 for graph inputs and initializers. */
  readonly producer: number;
  /** Indices of the top-level nodes that read this value (directly or from a subgraph). */
  readonly consumers: number[];
  /** The initializer's bytes, for role 'initializer'. */
  readonly initializer?: Weight;
  /** True when the value is computed only from weights: a weight, known without running the model. */
  isConst: boolean;
  /** Where the shape came from: declared in the file, inferred statically, or measured by a probe run. */
  shapeSource?: ShapeSource;
  /** For graph inputs: the shape as the file declares it (inference replaces `shape` with concrete dims). */
  readonly declaredShape?: Shape | null;
  /** For non-tensor values: the type as the file declares it. */
  typeProto?: TypeProto;
}

export interface OpsetImport {
  readonly domain: string;
  readonly version: number;
}

export interface ModelMeta {
  readonly irVersion: number;
  readonly opsetImports: readonly OpsetImport[];
  readonly producerName: string;
  readonly producerVersion: string;
  readonly functions: readonly FunctionProto[];
  /** Where the model came from: a file path, or '<bytes>'. */
  readonly source: string;
  /** The only directory external data (of subgraphs, read after import) may come from; null: none may. */
  readonly dataDir: string | null;
  /** The resource limits the model was imported under (inference keeps to them too). */
  readonly limits: Limits;
}

export interface Graph {
  readonly name: string;
  readonly nodes: readonly Node[];
  readonly values: ReadonlyMap<string, Value>;
  /** Non-initializer graph inputs, in file order (the order of ONNX test data `input_i.pb`). */
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly meta: ModelMeta;
}

/** The opset version of a domain ('' and 'ai.onnx' are the same domain); 0 when not imported. */
export function opsetOf(graph: Graph, domain = ''): number {
  const d = domain === 'ai.onnx' ? '' : domain;
  for (const o of graph.meta.opsetImports) {
    if ((o.domain === 'ai.onnx' ? '' : o.domain) === d) return o.version;
  }
  return 0;
}

export function valueOf(graph: Graph, name: string): Value {
  const v = graph.values.get(name);
  if (!v) throw new Error(`internal: no value named '${name}'`);
  return v;
}

/** All value names a node reads: explicit inputs (omitted ones dropped) and implicit subgraph inputs. */
export function nodeReads(node: Node): string[] {
  const out: string[] = [];
  for (const n of node.inputs) if (n !== '') out.push(n);
  for (const n of node.implicitInputs) if (!out.includes(n)) out.push(n);
  return out;
}

/** Elements in a fully concrete shape; null when any dim is symbolic. */
export function elementCount(shape: Shape): number | null {
  let n = 1;
  for (const d of shape) {
    if (typeof d !== 'number') return null;
    n *= d;
  }
  return n;
}

export function isConcrete(shape: Shape | null): shape is number[] {
  return shape !== null && shape.every((d) => typeof d === 'number');
}

export function formatShape(shape: Shape | null): string {
  return shape === null ? '?' : `[${shape.join(',')}]`;
}

/** Returns a copy of the graph whose values are fresh objects (nodes are shared: they are not mutated). */
export function cloneGraph(graph: Graph): Graph {
  const values = new Map<string, Value>();
  for (const [k, v] of graph.values) values.set(k, { ...v, shape: v.shape && [...v.shape], consumers: [...v.consumers] });
  return { ...graph, values };
}

/** Node indices that produce the values a node reads (its predecessors). */
export function predecessors(graph: Graph, node: Node): number[] {
  const preds = new Set<number>();
  for (const n of nodeReads(node)) {
    const p = graph.values.get(n)?.producer ?? -1;
    if (p >= 0) preds.add(p);
  }
  return [...preds];
}

/** Node indices that read any value a node produces (its successors). */
export function successors(graph: Graph, node: Node): number[] {
  const succ = new Set<number>();
  for (const o of node.outputs) if (o !== '') for (const c of graph.values.get(o)?.consumers ?? []) succ.add(c);
  return [...succ];
}

/**
 * A deterministic topological order of all nodes: Kahn's algorithm taking, among ready nodes,
 * the one earliest in the file. Returns null on a cycle.
 */
export function topoOrder(graph: Graph): number[] | null {
  return earliestFirstOrder(graph.nodes.map((node) => successors(graph, node)));
}

/** Kahn's algorithm over nodes 0…n−1 given each one's successors (distinct), taking the smallest ready index first; null on a cycle. */
export function earliestFirstOrder(succs: readonly (readonly number[])[]): number[] | null {
  const n = succs.length;
  const indeg = new Array<number>(n).fill(0);
  for (const s of succs) for (const c of s) indeg[c]++;
  // A binary heap of ready node indices (smallest first).
  const heap: number[] = [];
  const push = (x: number) => {
    heap.push(x);
    for (let i = heap.length - 1; i > 0; ) {
      const p = (i - 1) >> 1;
      if (heap[p] <= heap[i]) break;
      [heap[p], heap[i]] = [heap[i], heap[p]];
      i = p;
    }
  };
  const pop = (): number => {
    const top = heap[0];
    const last = heap.pop()!;
    if (heap.length) {
      heap[0] = last;
      for (let i = 0; ; ) {
        const l = 2 * i + 1, r = l + 1;
        let m = i;
        if (l < heap.length && heap[l] < heap[m]) m = l;
        if (r < heap.length && heap[r] < heap[m]) m = r;
        if (m === i) break;
        [heap[m], heap[i]] = [heap[i], heap[m]];
        i = m;
      }
    }
    return top;
  };
  for (let i = 0; i < n; i++) if (indeg[i] === 0) push(i);
  const order: number[] = [];
  while (heap.length) {
    const i = pop();
    order.push(i);
    for (const c of succs[i]) if (--indeg[c] === 0) push(c);
  }
  return order.length === n ? order : null;
}

function countSubgraphNodes(g: GraphProto): number {
  let n = 0;
  for (const node of g.node) {
    n++;
    for (const a of node.attribute) {
      if (a.g) n += countSubgraphNodes(a.g);
      for (const sg of a.graphs) n += countSubgraphNodes(sg);
    }
  }
  return n;
}

/** Bytes of the weights the model reads at run time: constant values consumed by non-constant nodes. */
/** Nodes inside the graph's subgraphs (If/Loop/Scan bodies), at every depth. */
export function subgraphNodeCount(graph: Graph): number {
  let n = 0;
  for (const node of graph.nodes) {
    for (const a of Object.values(node.attrs)) {
      if (a.type === 'graph') n += countSubgraphNodes(a.value);
      if (a.type === 'graphs') for (const g of a.value) n += countSubgraphNodes(g);
    }
  }
  return n;
}
