/**
 * Whether a processor accepts a node, from the processor's op-support table (data, not code paths):
 * op types, element types, ranks, static shapes, control flow, rejected attribute values.
 */
import type { DType } from '../ir/dtype.js';
import type { Graph, Node, Value } from '../ir/graph.js';
import { qdqRole } from '../ir/ops/quantization.js';
import { opTraits } from '../ir/ops/traits.js';
import { qdqGraph } from '../ir/qdq.js';
import type { Processor } from './schema.js';

export type SupportResult = { ok: true } | { ok: false; reason: string };

/** A value fixed at compile time: a weight, or folded from shapes (the plan is compiled for concrete shapes). */
export type IsStatic = (name: string) => boolean;

/** Inputs that are parameters (shapes, axes, pads, scales…): they must be compile-time constants on a static-shape processor. */
function isParam(node: Node, i: number): boolean {
  return opTraits(node.op).paramInputs?.includes(i) ?? false;
}

export function dtypeAccepted(proc: Processor, dtype: DType): boolean {
  const s = proc.support;
  return (s.dtypes as string[]).includes(dtype) || (dtype === 'float32' && s.legalizeFloat32To !== undefined);
}

export function checkSupport(proc: Processor, node: Node, graph: Graph, isStatic: IsStatic): SupportResult {
  const s = proc.support;
  const no = (reason: string): SupportResult => ({ ok: false, reason });
  if (s.ops !== '*' && (node.domain !== '' || !s.ops.includes(node.op))) {
    return no(`${node.domain ? node.domain + '::' : ''}${node.op} is not in the ${proc.name} op table`);
  }
  if (opTraits(node.op).controlFlow && !s.controlFlow) return no(`control flow (${node.op}) does not run on the ${proc.name}`);
  if (!s.dynamicShapes) {
    if (opTraits(node.op).dataDependentShape) return no(`${node.op} has a data-dependent output shape; the ${proc.name} needs static shapes`);
    for (const [i, name] of node.inputs.entries()) {
      if (name !== '' && isParam(node, i) && !isStatic(name)) {
        return no(`input '${name}' of ${node.op} sets a shape at run time; the ${proc.name} needs static shapes`);
      }
    }
  }
  const check = (v: Value | undefined): SupportResult | null => {
    if (!v) return null;
    if (!v.dtype) return s.ops === '*' && s.dynamicShapes ? null : no(`value '${v.name}' is not a tensor (a sequence, map or optional)`);
    if (!dtypeAccepted(proc, v.dtype)) return no(`value '${v.name}' is ${v.dtype}; the ${proc.name} computes in ${s.dtypes.join('/')}`);
    if (s.maxRank !== undefined && v.shape && v.shape.length > s.maxRank) {
      return no(`value '${v.name}' has rank ${v.shape.length}; the ${proc.name} takes at most rank ${s.maxRank}`);
    }
    if (!s.dynamicShapes && (!v.shape || v.shape.some((d) => typeof d !== 'number'))) return no(`value '${v.name}' has no static shape`);
    return null;
  };
  for (const [i, name] of node.inputs.entries()) {
    if (name === '' || isStatic(name)) continue; // weights and parameters are converted at compile time
    const r = check(graph.values.get(name));
    if (r) return r;
  }
  for (const name of node.outputs) {
    if (name === '') continue;
    const r = check(graph.values.get(name));
    if (r) return r;
  }
  const q = quantizedSupport(proc, node, graph);
  if (!q.ok) return q;
  for (const rule of s.rejectAttributes) {
    if (rule.op !== node.op) continue;
    const a = node.attrs[rule.attr];
    if (!a) continue;
    const vals: (string | number)[] = a.type === 'ints' || a.type === 'floats' || a.type === 'strings' ? a.value : a.type === 'int' || a.type === 'float' || a.type === 'string' ? [a.value] : [];
    const hit = rule.values ? vals.some((v) => rule.values!.includes(v)) : rule.above !== undefined ? vals.some((v) => typeof v === 'number' && v > rule.above!) : true;
    if (hit) return no(`${node.op} with ${rule.attr}=${vals.join(',')}: ${rule.reason}`);
  }
  return { ok: true };
}

/**
 * A processor's rules for quantized work (its `support.quantized`): a QuantizeLinear makes an activation
 * type it takes; a DequantizeLinear reads one, or a constant weight of a type it takes (an int32 bias), not
 * quantized in blocks unless it takes those; a quantized op runs only in a full QDQ group whose every
 * QuantizeLinear/DequantizeLinear it takes. Float ops are left to the processor's other rules.
 */
function quantizedSupport(proc: Processor, node: Node, graph: Graph): SupportResult {
  const rules = proc.support.quantized;
  if (!rules) return { ok: true };
  const no = (reason: string): SupportResult => ({ ok: false, reason });
  const role = qdqRole(node.op, node.domain);
  const dtypeOf = (name: string) => graph.values.get(name)?.dtype;
  if (role === 'quantize') {
    const t = dtypeOf(node.outputs[0]);
    return t && (rules.activations as string[]).includes(t) ? { ok: true } : no(`QuantizeLinear to ${t ?? 'an unknown type'}: the ${proc.name} takes ${rules.activations.join('/')} activations`);
  }
  if (role === 'dequantize') {
    const x = graph.values.get(node.inputs[0]);
    const t = x?.dtype;
    if (!x?.isConst) return t && (rules.activations as string[]).includes(t) ? { ok: true } : no(`DequantizeLinear of ${t ?? 'an unknown type'}: the ${proc.name} takes ${rules.activations.join('/')} activations`);
    const block = node.attrs.block_size?.type === 'int' ? node.attrs.block_size.value : 0;
    if (block > 0 && !rules.blockedWeights) return no(`its ${t} weight is quantized in blocks of ${block} (DequantizeLinear block_size): the ${proc.name} takes per-channel weights only`);
    // a constant: a weight, an int32 bias, or another constant operand quantized as an activation
    return t && (t === 'int32' || (rules.weights as string[]).includes(t) || (rules.activations as string[]).includes(t)) ? { ok: true } : no(`a ${t ?? 'constant of unknown type'} constant: the ${proc.name} takes ${rules.weights.join('/')} weights and ${rules.activations.join('/')} activations`);
  }
  const qdq = qdqGraph(graph);
  const partial = qdq.partial.get(node.index);
  const group = qdq.groups.get(node.index);
  // a weight the processor cannot take says so first: that is why the op is not here
  const members = group ? [...group.dequantize, ...group.quantize] : node.inputs.map((x) => graph.values.get(x)?.producer ?? -1).filter((p) => p >= 0 && qdqRole(graph.nodes[p].op, graph.nodes[p].domain) === 'dequantize');
  for (const m of members) {
    const r = quantizedSupport(proc, graph.nodes[m], graph);
    if (!r.ok) return no(`its ${graph.nodes[m].op} '${graph.nodes[m].name}' cannot run here: ${r.reason}`);
  }
  if (partial) return no(`${node.op} is partly quantized (${partial}); the ${proc.name} runs quantized ops only in full QDQ groups`);
  return { ok: true };
}
