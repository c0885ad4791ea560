/**
 * The dtype policy, in one place: how a value is stored in a processor's memory. On a processor that
 * takes no float32 (an fp16 NPU), float32 values are stored as its legalized type (float16) — or, when a
 * calibration run shows a value beyond float16's range and the processor has int16, as int16 with a
 * per-tensor scale (the A16 activations NPUs take). The cost model prices, the memory planner sizes and
 * records, and the lowering rewrites partitions by these functions; the runtime reads what the plan says.
 */
import { byteSize, type DType } from '../ir/dtype.js';
import type { Graph, Value } from '../ir/graph.js';
import { qdqRole } from '../ir/ops/quantization.js';
import { groupPrecision, qdqGraph } from '../ir/qdq.js';
import type { Processor } from './schema.js';

/** The element type a value is stored in on a processor (float32 legalized to fp16 on an fp16-only NPU). */
export function storedDtype(proc: Processor, dtype: DType): DType {
  const s = proc.support;
  if (dtype === 'float32' && s.legalizeFloat32To && !s.dtypes.includes('float32')) return s.legalizeFloat32To as DType;
  return dtype;
}

/** How a value is stored in a processor's memory: its element type, and the scale of a quantized one. */
export interface Storage {
  dtype: DType;
  /** For int16 storage of a float32 value: real value = stored integer × scale. */
  scale?: number;
}

/** Largest calibrated magnitude a float32 value may have to be stored as float16: half of float16's largest finite value, as headroom for inputs beyond the calibration data. */
export const FLOAT16_SAFE = 32752;
/** int16 storage leaves the same headroom: the calibrated range maps to half the int16 range. */
const INT16_HEADROOM = 2;

/** Calibrated magnitudes of float32 values (from a calibration run), when known. */
export type Ranges = ReadonlyMap<string, number>;

/**
 * The storage of a value on a processor. On a processor that takes no float32, a float32 value is
 * stored as its legalized type (float16); one whose calibrated range does not fit float16 is stored as
 * int16 with a per-tensor scale (the A16 activations NPUs take), when the processor has int16.
 */
export function storageOn(proc: Processor, v: Value, ranges?: Ranges, inGroups?: ReadonlySet<string>): Storage {
  // on a processor with rules for quantized work, a value inside a QDQ group is an exact dequantized value (or
  // one a QuantizeLinear rounds at once): never legalized (elsewhere it is a float value like any other)
  if (proc.support.quantized && inGroups?.has(v.name)) return { dtype: v.dtype! };
  const dtype = storedDtype(proc, v.dtype!);
  if (dtype !== v.dtype && dtype === 'float16') {
    const range = ranges?.get(v.name);
    if (range !== undefined && range > FLOAT16_SAFE && (proc.support.dtypes as string[]).includes('int16')) {
      return { dtype: 'int16', scale: (range * INT16_HEADROOM) / 32767 };
    }
  }
  return { dtype };
}

/** Whether a processor can hold the value at all (a float16-only processor cannot hold a value beyond float16's range). */
export function storable(proc: Processor, v: Value, ranges?: Ranges, inGroups?: ReadonlySet<string>): boolean {
  const range = ranges?.get(v.name);
  if (range === undefined || !v.dtype) return true;
  const s = storageOn(proc, v, ranges, inGroups);
  return !(s.dtype === 'float16' && v.dtype === 'float32' && range > FLOAT16_SAFE);
}

/** Bytes of a value as stored in a processor's memory. */
export function bytesOn(proc: Processor, v: Value, ranges?: Ranges, inGroups?: ReadonlySet<string>): number {
  if (!v.dtype || !v.shape || v.shape.some((d) => typeof d !== 'number')) return 0;
  return byteSize(storageOn(proc, v, ranges, inGroups).dtype, (v.shape as number[]).reduce((a, b) => a * b, 1));
}

/** How a partition on a processor computes: 'float16' where float32 is stored as float16 (an fp16 NPU), 'native' elsewhere. */
export type Precision = 'native' | 'float16';

export function partitionPrecision(proc: Processor): Precision {
  return storedDtype(proc, 'float32') === 'float16' ? 'float16' : 'native';
}

/**
 * The precision a run-time node computes in on a processor, as the plan records it: a quantized op in a full
 * QDQ group whose QuantizeLinear/DequantizeLinear run with it (`together`) on a processor that takes them
 * computes on integers ('a8w8', 'a16w8', 'a8w4', 'a8'), and so do those nodes ('a8', 'a16'); a node with
 * float values computes in the type float32 is stored in there ('float16' on an fp16 NPU, 'float32');
 * undefined for a node with no float or quantized values (shape arithmetic).
 */
export function nodePrecision(proc: Processor, graph: Graph, index: number, together: (member: number) => boolean): string | undefined {
  const node = graph.nodes[index];
  const integer = (t: string | null | undefined) => (t === 'uint16' || t === 'int16' ? 'a16' : 'a8');
  const role = qdqRole(node.op, node.domain);
  if (role) return role === 'quantize' ? integer(graph.values.get(node.outputs[0])?.dtype) : integer(graph.values.get(node.inputs[0])?.dtype);
  const group = qdqGraph(graph).groups.get(index);
  if (group && [...group.dequantize, ...group.quantize].every(together)) return groupPrecision(group);
  const float = [...node.inputs, ...node.outputs].some((n) => n && graph.values.get(n)?.dtype === 'float32');
  return float ? storedDtype(proc, 'float32') : undefined;
}
