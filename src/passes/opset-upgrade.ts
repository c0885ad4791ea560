/**
 * Raises a model's default-domain opset (to 21, where DequantizeLinear takes per-channel and block-wise
 * int4/int8/uint16 data), rewriting the ops whose signature changed on the way: attributes that became
 * inputs (Clip 11, Slice 10, Pad 11, TopK 10, Squeeze/Unsqueeze/Split/ReduceSum 13, the other Reduce ops 18),
 * Softmax's axis rule (13), Split's num_outputs (18), Dropout's ratio (12), Scatter (→ ScatterElements).
 * An op whose meaning changed in a way not handled here is an UNSUPPORTED_OP naming it, never a silent
 * change. Pure: a new Graph, weights for the new constant inputs.
 */
import type { GraphProto } from 'onnx-buf';
import { TesseraError } from '../errors.js';
import { opsetOf, type Graph, type Node } from '../ir/graph.js';
import type { ShapedGraph } from '../ir/infer.js';
import { numbersToBytes } from '../ir/tensor-data.js';
import type { Weight } from '../ir/weight.js';
import { attrInt, attrInts, editable, initializers, inlineWeight, intAttr, nameMaker, rebuildGraph, type EditNode } from './quantize-graph.js';

/** The version each op's signature last changed in a way this pass rewrites (an attribute became an input, a rule changed). */
const CHANGED_AT: Record<string, number> = {
  Clip: 11, Slice: 10, Pad: 11, TopK: 10, Squeeze: 13, Unsqueeze: 13, Split: 18, ReduceSum: 13,
  ReduceMean: 18, ReduceMax: 18, ReduceMin: 18, ReduceProd: 18, ReduceL1: 18, ReduceL2: 18, ReduceLogSum: 18, ReduceLogSumExp: 18, ReduceSumSquare: 18,
  Softmax: 13, LogSoftmax: 13, Hardmax: 13, Dropout: 12, Scatter: 11, BatchNormalization: 9,
};
/** Ops whose meaning changed in a way this pass does not rewrite, with the version of the change. */
const UNHANDLED: Record<string, number> = { Upsample: 10, Resize: 11, GridSample: 20, DFT: 20, GroupNormalization: 21 };

function needsRewrite(op: string, from: number, to: number): 'rewrite' | 'unhandled' | null {
  if (UNHANDLED[op] !== undefined && from < UNHANDLED[op] && to >= UNHANDLED[op]) return 'unhandled';
  if (CHANGED_AT[op] !== undefined && from < CHANGED_AT[op] && to >= CHANGED_AT[op]) return 'rewrite';
  return null;
}

function checkSubgraphs(node: Node, from: number, to: number, where: string): void {
  const walk = (g: GraphProto) => {
    for (const n of g.node) {
      if ((n.domain === '' || n.domain === 'ai.onnx') && needsRewrite(n.opType, from, to)) {
        throw new TesseraError('UNSUPPORTED_OP', `${where}: ${n.opType} '${n.name}' inside a subgraph of '${node.name}' changed between opset ${from} and ${to}; upgrading ops inside subgraphs is not supported (export the model at opset ${to})`);
      }
      for (const a of n.attribute) {
        if (a.g) walk(a.g);
        a.graphs.forEach(walk);
      }
    }
  };
  for (const a of Object.values(node.attrs)) {
    if (a.type === 'graph') walk(a.value);
    if (a.type === 'graphs') a.value.forEach(walk);
  }
}

/** The graph at default-domain opset `to` (the graph itself when it is there already). */
export function upgradeOpset(graph: ShapedGraph | Graph, to = 21): Graph {
  const from = opsetOf(graph);
  if (from >= to) return graph;
  if (from < 7) throw new TesseraError('UNSUPPORTED_OP', `${graph.meta.source}: opset ${from} is too old to upgrade (7 or later is needed)`);
  const where = graph.meta.source;
  const weights = initializers(graph);
  const fresh = nameMaker(graph);
  const constant = (base: string, dtype: 'int64' | 'float32', values: number[], dims: number[]) => {
    const w: Weight = inlineWeight(fresh(base), dtype, dims, numbersToBytes(dtype, values));
    weights.set(w.name, w);
    return w.name;
  };
  const ints = (n: Node, base: string, values: number[]) => constant(`${n.name}_${base}`, 'int64', values, [values.length]);
  const list: EditNode[] = [];
  for (const node of graph.nodes) {
    const e = editable(node);
    list.push(e);
    if (node.domain !== '') continue;
    checkSubgraphs(node, from, to, where);
    const how = needsRewrite(node.op, from, to);
    const label = `${where}: ${node.op} '${node.name}'`;
    if (how === 'unhandled') throw new TesseraError('UNSUPPORTED_OP', `${label} changed meaning between opset ${from} and ${to} in a way the opset upgrade does not rewrite; export the model at opset ${to}`);
    if (!how) continue;
    const moveInts = (attr: string, optional: boolean, base = attr) => {
      const v = attrInts(node.attrs, attr);
      delete e.attrs[attr];
      if (v) e.inputs.push(ints(node, base, v));
      else if (!optional) throw new TesseraError('BAD_MODEL', `${label} has no '${attr}' attribute`);
      else e.inputs.push('');
    };
    const trimInputs = () => { while (e.inputs.length && e.inputs[e.inputs.length - 1] === '') e.inputs.pop(); };
    switch (node.op) {
      case 'Clip': {
        const dtype = graph.values.get(node.inputs[0])?.dtype ?? 'float32';
        if (dtype !== 'float32') throw new TesseraError('UNSUPPORTED_OP', `${label}: upgrading a ${dtype} Clip is not supported`);
        const bound = (a: string) => (e.attrs[a]?.type === 'float' ? constant(`${node.name}_${a}`, 'float32', [(e.attrs[a] as { value: number }).value], []) : '');
        e.inputs = [node.inputs[0], bound('min'), bound('max')];
        delete e.attrs.min; delete e.attrs.max;
        trimInputs();
        break;
      }
      case 'Slice': {
        e.inputs = [node.inputs[0]];
        moveInts('starts', false); moveInts('ends', false); moveInts('axes', true);
        trimInputs();
        break;
      }
      case 'Pad': {
        const pads = attrInts(node.attrs, 'pads') ?? attrInts(node.attrs, 'paddings') ?? [];
        const value = e.attrs.value?.type === 'float' ? e.attrs.value.value : 0;
        delete e.attrs.pads; delete e.attrs.paddings; delete e.attrs.value;
        e.inputs = [node.inputs[0], ints(node, 'pads', pads), value !== 0 ? constant(`${node.name}_value`, 'float32', [value], []) : ''];
        trimInputs();
        break;
      }
      case 'TopK': e.inputs = [node.inputs[0], ints(node, 'k', [attrInt(node.attrs, 'k', 1)])]; delete e.attrs.k; break;
      case 'Squeeze': case 'Unsqueeze': case 'ReduceSum': case 'ReduceMean': case 'ReduceMax': case 'ReduceMin': case 'ReduceProd':
      case 'ReduceL1': case 'ReduceL2': case 'ReduceLogSum': case 'ReduceLogSumExp': case 'ReduceSumSquare':
        if (node.inputs.length === 1) { moveInts('axes', node.op !== 'Unsqueeze'); trimInputs(); }
        break;
      case 'Split': {
        if (from < 13 && attrInts(node.attrs, 'split')) { e.inputs = [node.inputs[0]]; moveInts('split', false); }
        if (e.inputs.length < 2 || e.inputs[1] === '') e.attrs.num_outputs = intAttr(node.outputs.length);
        break;
      }
      case 'Softmax': case 'LogSoftmax': case 'Hardmax': {
        const rank = graph.values.get(node.inputs[0])?.shape?.length;
        const axis = attrInt(node.attrs, 'axis', 1);
        const last = axis === -1 || (rank !== undefined && (axis + rank) % rank === rank - 1);
        if (!last) throw new TesseraError('UNSUPPORTED_OP', `${label}: axis ${axis} over a tensor of rank ${rank ?? '?'} normalizes over several axes before opset 13 and one axis after; only the last axis upgrades unchanged`);
        e.attrs.axis = intAttr(-1);
        break;
      }
      case 'Dropout': {
        // inference: the identity; its mask output must be unused
        if (node.outputs.slice(1).some((o) => o && (graph.values.get(o)?.consumers.length || graph.outputs.includes(o)))) {
          throw new TesseraError('UNSUPPORTED_OP', `${label}: its mask output is used; upgrading such a Dropout is not supported`);
        }
        Object.assign(e, { op: 'Identity', inputs: [node.inputs[0]], outputs: [node.outputs[0]], attrs: {} });
        break;
      }
      case 'Scatter': e.op = 'ScatterElements'; break;
      case 'BatchNormalization': {
        if (attrInt(node.attrs, 'spatial', 1) !== 1) throw new TesseraError('UNSUPPORTED_OP', `${label}: spatial=0 has no equivalent after opset 9`);
        delete e.attrs.spatial; delete e.attrs.is_test; delete e.attrs.consumed_inputs;
        e.outputs = e.outputs.slice(0, 1);
        break;
      }
    }
  }
  const opsetImports = graph.meta.opsetImports.map((o) => (o.domain === '' || o.domain === 'ai.onnx' ? { domain: o.domain, version: to } : o));
  return rebuildGraph(graph, list, weights, { opsetImports, irVersion: Math.max(graph.meta.irVersion, 10) });
}
