/**
 * A backend's capability table, as data (in the spirit of tfjs-core's kernel registry): per op of the
 * default domain, the opsets whose definition its kernel follows, the dtypes of its inputs and outputs,
 * its attribute limits, ranks and constant inputs. `tableSupports` answers from the table alone, with the
 * reason when it says no. A backend registers its table (registry.ts); the compiler intersects it with a
 * processor's op table, so a node goes only where the bound backend takes it.
 */
import type { DType } from '../ir/dtype.js';
import { opsetOf, type Attribute, type Graph, type Node } from '../ir/graph.js';
import { bytesToNumbers } from '../ir/tensor-data.js';
import { weightBytes, weightElementCount } from '../ir/weight.js';
import type { Support } from './backend.js';

/** Limits on one attribute: any value, a set of values, or a set every element of a list must be in. */
export type AttrLimit =
  | { any: true; default?: number | string }
  | { oneOf: readonly (number | string)[]; default?: number | string }
  | { each: readonly number[] };

export interface OpCapability {
  /** Default-domain opset versions whose definition the kernel follows (inclusive). */
  opsets: readonly [number, number];
  /** dtypes every input and output may have, unless `inputs` / `outputs` say otherwise for a position. */
  dtypes: readonly DType[];
  inputs?: Readonly<Record<number, readonly DType[]>>;
  outputs?: Readonly<Record<number, readonly DType[]>>;
  /** Outputs it produces; a node asking for more (MaxPool's Indices, Dropout's mask) is refused. */
  maxOutputs?: number;
  /** Ranks of input 0 it takes. */
  ranks?: readonly number[];
  /** The attributes it understands, with the values it takes; a node with any other attribute is refused. */
  attrs?: Readonly<Record<string, AttrLimit>>;
  /** Attribute combinations: when every `when` attribute has that value (defaults included), `require` must hold. */
  combos?: readonly { when: Readonly<Record<string, number | string>>; require: Readonly<Record<string, readonly (number | string)[]>>; why: string }[];
  /** Inputs that must be absent, or constants with these values (Dropout's training_mode). */
  constInputs?: Readonly<Record<number, { values: readonly number[]; why: string }>>;
}

/** Op type → what the backend's kernel for it takes. */
export type CapabilityTable = Readonly<Record<string, OpCapability>>;

function attrValue(a: Attribute): number | string | number[] | undefined {
  if (a.type === 'int' || a.type === 'float' || a.type === 'string') return a.value;
  if (a.type === 'ints' || a.type === 'floats') return a.value;
  return undefined;
}

/** A constant input's numbers (an initializer, or a value inference folded), if known. */
function constNumbers(graph: Graph, name: string): number[] | undefined {
  const known = (graph as Graph & { known?: ReadonlyMap<string, { data: number[] }> }).known?.get(name);
  if (known) return known.data;
  const v = graph.values.get(name);
  const w = v?.role === 'initializer' ? v.initializer : undefined;
  if (!w || w.source.kind === 'strings') return undefined;
  return bytesToNumbers(w.dtype, weightBytes(w), weightElementCount(w));
}

export function tableSupports(backend: string, table: CapabilityTable, node: Node, graph: Graph): Support {
  const no = (why: string): Support => ({ ok: false, reason: `${backend}: ${node.op}: ${why}` });
  if (node.domain !== '' && node.domain !== 'ai.onnx') return { ok: false, reason: `${backend}: domain '${node.domain}' has no ${backend} mapping` };
  const cap = table[node.op];
  if (!cap) return no(`no ${backend} mapping`);
  const opset = opsetOf(graph, '');
  if (opset < cap.opsets[0] || opset > cap.opsets[1]) return no(`mapped for opsets ${cap.opsets[0]}–${cap.opsets[1]}, the model imports ${opset}`);
  for (const [name, a] of Object.entries(node.attrs)) {
    const limit = cap.attrs?.[name];
    if (!limit) return no(`attribute '${name}' is not mapped`);
    const value = attrValue(a);
    if ('oneOf' in limit && !limit.oneOf.includes(value as number | string)) return no(`${name}=${JSON.stringify(value)} (takes ${limit.oneOf.join(', ')})`);
    if ('each' in limit && !(Array.isArray(value) && value.every((x) => limit.each.includes(x)))) return no(`${name}=${JSON.stringify(value)} (takes only ${limit.each.join(', ')})`);
  }
  for (const c of cap.combos ?? []) {
    const val = (k: string) => {
      const a = node.attrs[k];
      if (a) return attrValue(a);
      const l = cap.attrs?.[k];
      return l && 'default' in l ? l.default : undefined;
    };
    if (!Object.entries(c.when).every(([k, v]) => val(k) === v)) continue;
    for (const [k, allowed] of Object.entries(c.require)) if (!allowed.includes(val(k) as number | string)) return no(`${k}=${JSON.stringify(val(k))}: ${c.why}`);
  }
  const outputs = node.outputs.filter((o) => o !== '').length;
  if (cap.maxOutputs !== undefined && outputs > cap.maxOutputs) return no(`only ${cap.maxOutputs} output(s) are produced (the node asks for ${outputs})`);
  const check = (name: string, allowed: readonly DType[]): Support | null => {
    const v = graph.values.get(name);
    if (!v?.dtype) return no(`value '${name}' is not a tensor of a known type`);
    if (!allowed.includes(v.dtype)) return no(`value '${name}' is ${v.dtype} (takes ${allowed.join(', ')})`);
    return null;
  };
  for (const [i, name] of node.inputs.entries()) {
    if (name === '') continue;
    const bad = check(name, cap.inputs?.[i] ?? cap.dtypes);
    if (bad) return bad;
    const ci = cap.constInputs?.[i];
    if (ci) {
      const nums = constNumbers(graph, name);
      if (!nums || !nums.every((x) => ci.values.includes(x))) return no(ci.why);
    }
  }
  for (const [i, name] of node.outputs.entries()) {
    if (name === '') continue;
    const bad = check(name, cap.outputs?.[i] ?? cap.dtypes);
    if (bad) return bad;
  }
  if (cap.ranks) {
    const shape = graph.values.get(node.inputs[0])?.shape;
    if (!shape) return no('input rank not known');
    if (!cap.ranks.includes(shape.length)) return no(`input rank ${shape.length} (takes ${cap.ranks.join(', ')})`);
  }
  return { ok: true };
}

/** A backend's capabilities from its table: what `registerBackend` takes as `capabilities`. */
export function capabilityTable(backend: string, table: CapabilityTable): { supports(node: Node, graph: Graph): Support } {
  return { supports: (node, graph) => tableSupports(backend, table, node, graph) };
}
