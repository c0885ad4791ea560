/**
 * Shape and dtype inference with constant folding. With concrete input shapes, every activation gets
 * a concrete shape and byte size. An op without a rule (or a rule that cannot decide) falls back to a
 * probe run on ONNX Runtime that exposes the unknown values as outputs; those values are marked
 * shapeSource 'probe'.
 */
import { create } from '@bufbuild/protobuf';
import { TypeProtoSchema, type TypeProto } from 'onnx-buf';
import { TesseraError } from '../errors.js';
import { byteSize, dtypeFromOnnx, onnxCode } from './dtype.js';
import { cloneGraph, type Node, isConcrete, opsetOf, topoOrder, type Dim, type Graph, type Shape, type Value } from './graph.js';
import { graphFromProto } from './onnx-import.js';
import './ops/all.js';
import { CannotInfer, MAX_KNOWN, opRule, type Container, type Known, type OpContext, type ValueInfo } from './ops/registry.js';
import { bytesToNumbers } from './tensor-data.js';
import { checkTensorBytes } from './limits.js';
import { subgraphSource, weightBytes, weightElementCount } from './weight.js';

export interface NodeCost {
  flops: number;
  /** Bytes read and written: inputs (weights included) plus outputs. */
  bytes: number;
  /** For a control-flow node: the nodes its costlier branch runs (flops and bytes are that branch's). */
  innerNodes?: number;
  /** For a control-flow node: its subgraphs that can run with these inputs, shaped (costs node by node). */
  branches?: ShapedGraph[];
}

/** A graph whose values have been inferred, with per-node costs. */
export interface ShapedGraph extends Graph {
  readonly costs: readonly NodeCost[];
  /** Folded contents of small constant values (shape arithmetic), by value name. */
  readonly known: ReadonlyMap<string, Known>;
  /** The concrete input shapes inference used. */
  readonly inputShapes: Readonly<Record<string, number[]>>;
}

/** Runs the model on a backend with extra outputs exposed, returning their dtypes, shapes and small int contents. */
export type Prober = (graph: Graph, values: string[], inputShapes: Record<string, number[]>, feeds?: ProbeFeeds) => Promise<Map<string, ValueInfo>>;

/** Input data for a probe run (onnxruntime Tensors, opaque here); random data when absent. */
export type ProbeFeeds = Readonly<Record<string, unknown>>;

export interface InferOptions {
  /** Concrete shapes for graph inputs; symbolic dims not given default to 1. */
  inputShapes?: Record<string, number[]>;
  /** How to measure what no rule infers; without it such values stay unknown and inference fails. */
  prober?: Prober;
  /** Real input data for the probe run (some models branch on an input's value). */
  feeds?: ProbeFeeds;
}

export { parseInputShapes } from './input-shapes.js';

/** A symbolic dim of a graph input, as a compile fixed it: to a size given (by the user or a plan), or to 1 by default. */
export interface FixedDim {
  input: string;
  axis: number;
  /** The dim's name in the file ('' for an unnamed one). */
  dim: string;
  value: number;
  given: boolean;
}

/** Every symbolic dim of the graph's inputs and the size `shapes` gives it; `given` for the inputs whose shape was given. */
export function fixedDims(graph: Graph, shapes: Readonly<Record<string, readonly number[] | undefined>>, given: Readonly<Record<string, unknown>> = {}): FixedDim[] {
  const out: FixedDim[] = [];
  for (const input of graph.inputs) {
    const v = graph.values.get(input)!;
    const declared = v.declaredShape ?? v.shape;
    const shape = shapes[input];
    if (!declared || !shape) continue;
    declared.forEach((d, axis) => {
      if (typeof d !== 'number') out.push({ input, axis, dim: /^\?\d+$/.test(d) ? '' : d, value: shape[axis], given: input in given });
    });
  }
  return out;
}

/** "x[0] (batch) = 1 by default, x[3] = 640" — what a compile did with symbolic dims, for a message. */
export function describeFixedDims(dims: readonly FixedDim[]): string {
  return dims.map((d) => `${d.input}[${d.axis}]${d.dim ? ` (${d.dim})` : ''} = ${d.value}${d.given ? '' : ' by default'}`).join(', ');
}

/** The concrete shape of each graph input: given ones checked against the file, symbolic dims = 1. */
export function resolveInputShapes(graph: Graph, given: Record<string, number[]> = {}): Record<string, number[]> {
  for (const name of Object.keys(given)) {
    if (!graph.inputs.includes(name)) {
      throw new TesseraError('BAD_INPUT_SHAPE', `input shape given for '${name}', but the model's inputs are ${graph.inputs.map((n) => `'${n}'`).join(', ')}`);
    }
  }
  const out: Record<string, number[]> = {};
  for (const name of graph.inputs) {
    const v = graph.values.get(name)!;
    const g = given[name];
    if (g) {
      if (v.shape && v.shape.length !== g.length) {
        throw new TesseraError('BAD_INPUT_SHAPE', `input '${name}' has rank ${v.shape.length} ([${v.shape.join(',')}]) but the shape given is [${g.join(',')}]`);
      }
      v.shape?.forEach((d, i) => {
        if (typeof d === 'number' && d !== g[i]) {
          throw new TesseraError('BAD_INPUT_SHAPE', `input '${name}' has fixed dimension ${i} = ${d}, but the shape given is [${g.join(',')}]`);
        }
      });
      out[name] = [...g];
    } else if (v.shape) {
      out[name] = v.shape.map((d) => (typeof d === 'number' ? d : 1));
    } else if (!v.typeProto) {
      throw new TesseraError('BAD_INPUT_SHAPE', `input '${name}' declares no shape: give one with --input-shape ${name}=...`);
    }
    if (out[name]) checkTensorBytes(v.dtype, out[name], graph.meta.limits, `${graph.meta.source}: input '${name}'`);
  }
  return out;
}

function knownFromWeight(info: ValueInfo): Known | undefined {
  if (info.known) return info.known;
  const w = info.weight;
  if (!w || w.source.kind === 'strings' || weightElementCount(w) > MAX_KNOWN) return undefined;
  try {
    info.known = { dtype: w.dtype, dims: [...w.dims], data: bytesToNumbers(w.dtype, weightBytes(w), weightElementCount(w)) };
  } catch {
    return undefined;
  }
  return info.known;
}

/** The values of a graph computed only from weights, which its subgraphs read as constants too. */
function outerConstants(graph: Graph): Set<string> {
  const out = new Set<string>();
  for (const v of graph.values.values()) if (v.isConst) out.add(v.name);
  return out;
}

/** The costlier branch of each control-flow node, and all its feasible ones, filled while its subgraphs are inferred. */
const branchCosts = new Map<Node, NodeCost & { branches: ShapedGraph[] }>();

function makeContext(graph: Graph, nodeIndex: number, infos: Map<string, ValueInfo>): OpContext {
  const node = graph.nodes[nodeIndex];
  const inputs = node.inputs.map((n) => (n === '' ? null : infos.get(n) ?? { dtype: null, shape: null }));
  const ctx: OpContext = {
    node,
    graph,
    opset: opsetOf(graph, node.domain),
    inputs,
    has: (i) => i < inputs.length && inputs[i] !== null,
    input(i) {
      const v = inputs[i];
      if (!v) throw new CannotInfer(`${node.op} '${node.name}': input ${i} is missing`);
      return v;
    },
    shape(i) {
      const v = ctx.input(i);
      if (!v.shape) throw new CannotInfer(`${node.op} '${node.name}': shape of input ${i} is unknown`);
      return v.shape;
    },
    known(i) {
      const v = inputs[i];
      return v ? knownFromWeight(v) : undefined;
    },
    attr: (name) => node.attrs[name],
    int: ((name: string, def?: number) => {
      const a = node.attrs[name];
      return a?.type === 'int' ? a.value : def;
    }) as OpContext['int'],
    ints(name) {
      const a = node.attrs[name];
      return a?.type === 'ints' ? [...a.value] : undefined;
    },
    float(name, def) {
      const a = node.attrs[name];
      return a?.type === 'float' ? a.value : def;
    },
    str(name, def) {
      const a = node.attrs[name];
      return a?.type === 'string' ? a.value : def;
    },
    subgraph(name) {
      const a = node.attrs[name];
      if (a?.type !== 'graph') throw new CannotInfer(`${node.op} '${node.name}': no subgraph '${name}'`);
      const sub = graphFromProto(a.value, graph.meta, subgraphSource(graph.meta), `${graph.meta.source}: ${node.name}.${name}`, new Set(infos.keys()), outerConstants(graph));
      const subInfos = new Map<string, ValueInfo>();
      for (const v of sub.values.values()) {
        if (v.role === 'input' && !sub.inputs.includes(v.name)) subInfos.set(v.name, infos.get(v.name) ?? { dtype: null, shape: null });
      }
      const subCosts: NodeCost[] = sub.nodes.map(() => ({ flops: 0, bytes: 0 }));
      const pending = inferPass(sub, subInfos, {}, subCosts);
      const bad = pending.find((p) => p.infeasible);
      if (bad) throw new TesseraError('SHAPE_INFERENCE', `${node.op} '${node.name}': subgraph '${name}': ${bad.why}`);
      if (pending.length) throw new CannotInfer(`${node.op} '${node.name}': subgraph '${name}': ${pending[0].why}`);
      const shaped = shapedGraph(sub, subInfos, subCosts, new Set(), {});
      const total: NodeCost = { flops: 0, bytes: 0, innerNodes: 0 };
      shaped.costs.forEach((c) => {
        total.flops += c.flops;
        total.bytes += c.bytes;
        total.innerNodes! += 1 + (c.innerNodes ?? 0);
      });
      const prev = branchCosts.get(node);
      const branches = [...(prev?.branches ?? []), shaped];
      branchCosts.set(node, { ...(!prev || total.flops > prev.flops ? total : prev), branches });
      return sub.outputs.map((o) => subInfos.get(o) ?? { dtype: null, shape: null });
    },
  };
  return ctx;
}

interface Pending {
  node: number;
  why: string;
  /** The rule proved the node cannot run with these shapes (not merely that it could not decide). */
  infeasible?: boolean;
}

/** One pass in topological order; fills `infos`; returns the nodes no rule could infer. */
function inferPass(graph: Graph, infos: Map<string, ValueInfo>, inputShapes: Record<string, number[]>, costs?: NodeCost[], probed?: ReadonlySet<string>): Pending[] {
  for (const v of graph.values.values()) {
    if (infos.has(v.name)) continue;
    if (v.role === 'initializer') infos.set(v.name, { dtype: v.dtype, shape: v.shape, weight: v.initializer });
    else if (v.role === 'input' && graph.inputs.includes(v.name)) {
      const container = v.typeProto && containerOf(v.typeProto);
      infos.set(v.name, container ? { dtype: null, shape: null, container } : { dtype: v.dtype, shape: inputShapes[v.name] ?? v.shape });
    }
  }
  const order = topoOrder(graph);
  if (!order) throw new TesseraError('GRAPH_CYCLE', `${graph.meta.source}: the graph has a cycle`);
  const pending: Pending[] = [];
  for (const i of order) {
    const node = graph.nodes[i];
    if (node.outputs.every((o) => o === '' || isKnown(infos.get(o)))) {
      // Known already: inferred by a previous pass (its work counted then), or probed: one FLOP per
      // output element, as for ops without a cost rule.
      if (costs && node.outputs.some((o) => probed?.has(o))) costs[i] = { flops: defaultFlops(node.outputs.filter((o) => o !== '').map((o) => infos.get(o)!)), bytes: 0 };
      continue;
    }
    const rule = opRule(node.domain, node.op);
    if (!rule) {
      pending.push({ node: i, why: `no shape rule for ${node.domain ? node.domain + '::' : ''}${node.op}` });
      continue;
    }
    try {
      const ctx = makeContext(graph, i, infos);
      const outs = rule.infer(ctx);
      node.outputs.forEach((o, k) => {
        if (o !== '' && outs[k]) infos.set(o, checkedInfo(graph, o, outs[k], 'inferred'));
      });
      if (process.env.TESSERA_DEBUG_INFER) {
        console.error(`infer ${node.op} ${node.name}: ${node.inputs.map((n) => JSON.stringify(infos.get(n)?.shape)).join(' ')} -> ${outs.map((o) => JSON.stringify(o.shape) + (o.known ? '=' + JSON.stringify(o.known.data.slice(0, 8)) : '')).join(' ')}`);
      }
      if (costs) costs[i] = { flops: rule.flops ? rule.flops(ctx, outs) : defaultFlops(outs), bytes: 0 };
      const branch = branchCosts.get(node);
      if (costs && branch) costs[i] = { ...branch }; // a control-flow node costs what its costlier branch runs
      branchCosts.delete(node);
    } catch (err) {
      if (err instanceof TesseraError && err.code === 'LIMIT_EXCEEDED') throw err;
      if (err instanceof CannotInfer) pending.push({ node: i, why: err.message });
      else if (err instanceof TesseraError) pending.push({ node: i, why: err.message, infeasible: err.code === 'SHAPE_INFERENCE' });
      else pending.push({ node: i, why: `rule failed: ${(err as Error).message}` });
    }
  }
  return pending;
}

/** A value's inferred (or measured) type, refused beyond the model's tensor size limit. */
function checkedInfo(graph: Graph, name: string, info: ValueInfo, how: string): ValueInfo {
  if (info.shape) checkTensorBytes(info.dtype, info.shape, graph.meta.limits, `${graph.meta.source}: value '${name}' (${how})`);
  return info;
}

/** A tensor with a known shape, or a sequence/optional (which has no shape of its own). */
function isKnown(info: ValueInfo | undefined): boolean {
  return !!info && (info.shape !== null || info.container !== undefined);
}

/** The container a sequence or optional type describes (elements unknown). */
function containerOf(t: TypeProto): Container | undefined {
  const elemDtype = (e: TypeProto | undefined) => (e?.value.case === 'tensorType' && e.value.value.elemType ? dtypeFromOnnx(e.value.value.elemType, 'type') : null);
  if (t.value.case === 'sequenceType') return { kind: 'sequence', dtype: elemDtype(t.value.value.elemType), elements: null };
  if (t.value.case === 'optionalType') return { kind: 'optional', dtype: elemDtype(t.value.value.elemType), elements: null };
  return undefined;
}

/** The ONNX type of a container of tensors (undefined when its element type is not known). */
function containerType(c: Container): TypeProto | undefined {
  let elem: TypeProto | undefined;
  if (c.dtype) elem = create(TypeProtoSchema, { value: { case: 'tensorType', value: { elemType: onnxCode(c.dtype) } } });
  else if (c.kind === 'optional' && c.elements?.[0]?.container) elem = containerType(c.elements[0].container);
  if (!elem) return undefined;
  return create(TypeProtoSchema, { value: { case: c.kind === 'sequence' ? 'sequenceType' : 'optionalType', value: { elemType: elem } } });
}

function defaultFlops(outs: readonly ValueInfo[]): number {
  let n = 0;
  for (const o of outs) if (o.shape && isConcrete(o.shape)) n += o.shape.reduce((a, b) => a * b, 1);
  return n;
}

function valueBytes(v: ValueInfo | undefined): number {
  if (!v?.dtype || !v.shape || !isConcrete(v.shape)) return 0;
  return byteSize(v.dtype, v.shape.reduce((a, b) => a * b, 1));
}

/** Infers dtypes and shapes of every value of the top-level graph. Does not mutate `graph`. */
export async function inferShapes(graph: Graph, options: InferOptions = {}): Promise<ShapedGraph> {
  const inputShapes = resolveInputShapes(graph, options.inputShapes);
  const infos = new Map<string, ValueInfo>();
  const costs: NodeCost[] = graph.nodes.map(() => ({ flops: 0, bytes: 0 }));
  let pending = inferPass(graph, infos, inputShapes, costs);
  // A rule that proves a node cannot run with these input shapes: say so, rather than letting a probe
  // run fail inside the engine with its own message.
  const infeasible = pending.find((p) => p.infeasible);
  if (infeasible) {
    throw new TesseraError('SHAPE_INFERENCE', `${graph.meta.source}: with input shapes ${JSON.stringify(inputShapes)}, node '${graph.nodes[infeasible.node].name}' (#${infeasible.node}) cannot run: ${infeasible.why}`);
  }
  const probed = new Set<string>();
  if (pending.length && options.prober) {
    const unknown: string[] = [];
    for (const v of graph.values.values()) {
      // Only tensors can be fetched from a probe run: sequences and optionals are not asked for.
      if (v.producer >= 0 && !isKnown(infos.get(v.name)) && !v.typeProto) unknown.push(v.name);
    }
    const measured = await options.prober(graph, unknown, inputShapes, options.feeds);
    for (const [name, info] of measured) {
      infos.set(name, checkedInfo(graph, name, info, 'measured by the probe run'));
      probed.add(name);
    }
    pending = inferPass(graph, infos, inputShapes, costs, probed);
  }
  const stillUnknown = pending.filter((p) => graph.nodes[p.node].outputs.some((o) => o !== '' && !isKnown(infos.get(o)) && !graph.values.get(o)!.typeProto));
  if (stillUnknown.length) {
    const p = stillUnknown[0];
    throw new TesseraError('SHAPE_INFERENCE', `${graph.meta.source}: cannot infer the output shapes of node '${graph.nodes[p.node].name}' (#${p.node}): ${p.why}${options.prober ? '' : ' (no probe run was allowed)'}`);
  }
  return shapedGraph(graph, infos, costs, probed, inputShapes);
}

/** The shaped copy of a graph (or subgraph) from what inference found, with each node's bytes. */
function shapedGraph(graph: Graph, infos: Map<string, ValueInfo>, costs: NodeCost[], probed: ReadonlySet<string>, inputShapes: Record<string, number[]>): ShapedGraph {
  const out = cloneGraph(graph);
  const known = new Map<string, Known>();
  for (const v of out.values.values() as Iterable<Value>) {
    const info = infos.get(v.name);
    if (!info) continue;
    if (v.role === 'activation' && info.container) {
      v.dtype = null;
      v.shape = null;
      v.typeProto = v.typeProto ?? containerType(info.container);
      v.shapeSource = 'static';
    } else if (v.role === 'activation') {
      v.dtype = info.dtype ?? v.dtype;
      v.shape = info.shape ? [...info.shape] : v.shape;
      v.shapeSource = probed.has(v.name) ? 'probe' : 'static';
    } else if (v.role === 'input' && inputShapes[v.name]) {
      v.shape = [...inputShapes[v.name]];
    } else if (v.role === 'input' && !graph.inputs.includes(v.name) && !info.container) {
      // a subgraph's value from the enclosing scope
      v.dtype = info.dtype ?? v.dtype;
      v.shape = info.shape ? [...info.shape] : v.shape;
    }
    if (info.known) known.set(v.name, info.known);
  }
  for (const node of graph.nodes) {
    let bytes = 0;
    for (const n of node.inputs) if (n !== '') bytes += valueBytes(infos.get(n));
    for (const n of node.outputs) if (n !== '') bytes += valueBytes(infos.get(n));
    costs[node.index].bytes = (costs[node.index].innerNodes ? costs[node.index].bytes : 0) + bytes;
  }
  return { ...out, costs, known, inputShapes };
}

/** Concrete byte size of a value of a shaped graph (0 for non-tensors). */
export function valueByteSize(v: Value): number {
  if (!v.dtype || !isConcrete(v.shape)) return 0;
  return byteSize(v.dtype, v.shape.reduce((a, b) => a * b, 1));
}

export type { Dim, Shape };
