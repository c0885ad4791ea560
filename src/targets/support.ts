/**
 * Whether a processor accepts a node, from the processor's op-support table (data, not code paths):
 * op types, element types, ranks, static shapes, control flow, rejected attribute values.
 */
import type { DType } from '../ir/dtype.js';
import type { Graph, Node, Value } from '../ir/graph.js';
import { opTraits } from '../ir/ops/traits.js';
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
