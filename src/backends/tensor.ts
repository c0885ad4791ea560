/**
 * Tensors are onnxruntime's own `Tensor` class (shared by onnxruntime-node and -web), so code written
 * against onnxruntime's InferenceSession switches to Tessera by changing one import.
 */
import { Tensor } from 'onnxruntime-node';
import { TesseraError } from '../errors.js';
import { byteSize, type DType } from '../ir/dtype.js';
import type { Graph } from '../ir/graph.js';
import { typedArrayFor } from '../ir/tensor-data.js';
import { weightBytes, type Weight } from '../ir/weight.js';

export { Tensor };
export type TensorMap = Record<string, Tensor>;

/** Our dtype name for an onnxruntime tensor type (they agree except for a few spellings). */
export function dtypeOfTensor(t: Tensor): DType {
  return t.type as DType;
}

/** A tensor over dense little-endian bytes (copied). */
export function tensorFromBytes(dtype: DType, dims: readonly number[], bytes: Uint8Array): Tensor {
  if (dtype === 'bool') return new Tensor('bool', new Uint8Array(bytes), dims);
  return new Tensor(dtype as 'float32', typedArrayFor(dtype, bytes) as Float32Array, dims);
}

/** The dense little-endian bytes of a tensor (a view; copy before keeping). */
export function tensorBytes(t: Tensor): Uint8Array {
  const d = t.data;
  if (typeof d[0] === 'string' || t.type === 'string') {
    throw new TesseraError('FEED_DTYPE', 'string tensors have no dense bytes');
  }
  const a = d as Exclude<Tensor['data'], string[]>;
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** Deterministic pseudo-random numbers (mulberry32), so a run without data is reproducible. */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A deterministic random tensor: floats uniform in [-1, 1), integers in [0, 3), booleans 0/1. */
export function randomTensor(dtype: DType, dims: readonly number[], seed: number): Tensor {
  const n = dims.reduce((a, b) => a * b, 1);
  const next = rng(seed);
  switch (dtype) {
    case 'float32': return new Tensor('float32', Float32Array.from({ length: n }, () => next() * 2 - 1), dims);
    case 'float64': return new Tensor('float64', Float64Array.from({ length: n }, () => next() * 2 - 1), dims);
    case 'int64': return new Tensor('int64', BigInt64Array.from({ length: n }, () => BigInt(Math.floor(next() * 3))), dims);
    case 'uint64': return new Tensor('uint64', BigUint64Array.from({ length: n }, () => BigInt(Math.floor(next() * 3))), dims);
    case 'string': return new Tensor('string', Array.from({ length: n }, () => String(Math.floor(next() * 3))), dims);
    case 'bool': return new Tensor('bool', Uint8Array.from({ length: n }, () => (next() < 0.5 ? 0 : 1)), dims);
    case 'float16': {
      // random halves in [-1, 1): encode via float32 → half bits
      const bits = new Uint16Array(n);
      const f = new Float32Array(1), u = new Uint32Array(f.buffer);
      for (let i = 0; i < n; i++) {
        f[0] = next() * 2 - 1;
        const x = u[0];
        const e = ((x >> 23) & 0xff) - 112;
        bits[i] = ((x >> 16) & 0x8000) | (e <= 0 ? 0 : (e << 10) | ((x >> 13) & 0x3ff));
      }
      return new Tensor('float16', bits, dims);
    }
    default: {
      const bytes = new Uint8Array(byteSize(dtype, n));
      const width = bytes.length / Math.max(n, 1);
      for (let i = 0; i < n; i++) bytes[Math.floor(i * width)] = Math.floor(next() * 3);
      return tensorFromBytes(dtype, dims, bytes);
    }
  }
}

/** A tensor holding a weight's (or a test-data file's) contents. */
export function tensorFromWeight(w: Weight): Tensor {
  if (w.source.kind === 'strings') return new Tensor('string', [...w.source.values], [...w.dims]);
  return tensorFromBytes(w.dtype, w.dims, weightBytes(w));
}

/** A tensor as a weight (inline bytes), to write it as a TensorProto file. */
export function weightFromTensor(t: Tensor, name: string): Weight {
  const dims = [...t.dims];
  if (t.type === 'string') return { name, dtype: 'string', dims, source: { kind: 'strings', values: [...(t.data as string[])] } };
  return { name, dtype: t.type as DType, dims, source: { kind: 'inline', bytes: tensorBytes(t).slice() } };
}

/** Seeded random feeds for every graph input at the given concrete shapes (input i uses seed `seed + i`). */
export function randomFeeds(graph: Graph, shapes: Readonly<Record<string, number[]>>, seed = 1): TensorMap {
  const feeds: TensorMap = {};
  graph.inputs.forEach((name, i) => {
    const v = graph.values.get(name)!;
    if (!v.dtype) throw new TesseraError('BAD_INPUT_SHAPE', `input '${name}' is not a tensor; give input data`);
    feeds[name] = randomTensor(v.dtype, shapes[name], seed + i);
  });
  return feeds;
}
