/** Comparing outputs against a reference, with onnx's test tolerance rule |a − e| ≤ atol + rtol·|e|. */
import type { Tensor } from './tensor.js';
import { halfToFloat } from '../ir/tensor-data.js';

export interface Comparison {
  ok: boolean;
  maxAbs: number;
  maxRel: number;
  /** Cosine similarity of the flattened tensors (1 for identical; NaN for non-numeric data). */
  cosine: number;
  /** Why it failed, when it did. */
  reason?: string;
}

export const DEFAULT_TOLERANCE = { rtol: 1e-3, atol: 1e-4 };

export function numbersOf(t: Tensor): number[] | string[] {
  if (t.type === 'string') return [...(t.data as string[])];
  if (t.type === 'float16') return Array.from(t.data as Uint16Array, halfToFloat);
  return Array.from(t.data as ArrayLike<number | bigint>, Number);
}

export function compareTensors(actual: Tensor, expected: Tensor, tol = DEFAULT_TOLERANCE): Comparison {
  const dimsA = [...actual.dims].join('x'), dimsE = [...expected.dims].join('x');
  if (dimsA !== dimsE) return { ok: false, maxAbs: Infinity, maxRel: Infinity, cosine: NaN, reason: `shape [${dimsA}] vs expected [${dimsE}]` };
  const a = numbersOf(actual), e = numbersOf(expected);
  if (typeof a[0] === 'string' || typeof e[0] === 'string') {
    const ok = a.length === e.length && a.every((x, i) => x === e[i]);
    return { ok, maxAbs: ok ? 0 : Infinity, maxRel: ok ? 0 : Infinity, cosine: NaN, reason: ok ? undefined : 'strings differ' };
  }
  const an = a as number[], en = e as number[];
  let maxAbs = 0, maxRel = 0, ok = true, dot = 0, na = 0, ne = 0;
  for (let i = 0; i < an.length; i++) {
    const x = an[i], y = en[i];
    if (Number.isNaN(x) && Number.isNaN(y)) continue;
    if (x === y) {
      dot += x * y; na += x * x; ne += y * y;
      continue;
    }
    const diff = Math.abs(x - y);
    if (!(diff <= tol.atol + tol.rtol * Math.abs(y))) ok = false;
    if (Number.isFinite(diff)) {
      maxAbs = Math.max(maxAbs, diff);
      if (y !== 0) maxRel = Math.max(maxRel, diff / Math.abs(y));
    } else maxAbs = Infinity;
    dot += x * y; na += x * x; ne += y * y;
  }
  const cosine = na === 0 && ne === 0 ? 1 : dot / Math.sqrt(na * ne);
  return { ok, maxAbs, maxRel, cosine, reason: ok ? undefined : `max abs error ${maxAbs.toExponential(3)} exceeds atol ${tol.atol} + rtol ${tol.rtol}·|expected|` };
}
