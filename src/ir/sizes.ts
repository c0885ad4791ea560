/** Sizes as the cost model counts them: a symbolic dimension counts as 1, an element type of unknown width as 4 bytes. */
import type { DType } from './dtype.js';
import type { Graph, Shape } from './graph.js';

/** Elements of a shape (0 when unknown; a symbolic dimension counts as 1). */
export function numel(shape: Shape | readonly (number | string)[] | null | undefined): number {
  if (!shape) return 0;
  let n = 1;
  for (const d of shape) n *= typeof d === 'number' ? d : 1;
  return n;
}

const BYTES: Partial<Record<DType, number>> = { float64: 8, int64: 8, uint64: 8, float32: 4, int32: 4, uint32: 4, float16: 2, bfloat16: 2, int16: 2, uint16: 2, int8: 1, uint8: 1, bool: 1 };

/** Bytes of a value (0 when its type or rank is unknown). */
export function valueBytes(graph: Graph, name: string): number {
  const v = graph.values.get(name);
  if (!v?.dtype || !v.shape) return 0;
  return numel(v.shape) * (BYTES[v.dtype] ?? 4);
}
