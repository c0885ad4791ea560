/** Choosing the next token from a logits row: greedy (argmax, lowest id on a tie) or seeded sampling. */
import { rng } from '../backends/tensor.js';
import { TesseraError } from '../errors.js';

export interface SamplingOptions {
  /** 0 or absent: greedy. Otherwise logits are divided by it before the softmax. */
  temperature?: number;
  /** Sample among the k most likely tokens only (default: all). */
  topK?: number;
  /** Seed of the sampler's random stream (default 1): the same seed gives the same tokens. */
  seed?: number;
}

export function argmax(row: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i] > row[best]) best = i;
  return best;
}

export type Sampler = (row: Float32Array) => number;

export function makeSampler(o: SamplingOptions = {}): Sampler {
  const t = o.temperature ?? 0;
  if (!Number.isFinite(t) || t < 0) throw new TesseraError('BAD_ARGUMENT', `temperature ${t}: expected a number >= 0`);
  if (o.topK !== undefined && (!Number.isSafeInteger(o.topK) || o.topK < 1)) throw new TesseraError('BAD_ARGUMENT', `topK ${o.topK}: expected a positive integer`);
  if (t === 0) return argmax;
  const uniform = rng(o.seed ?? 1);
  return (row) => {
    const ids = Array.from(row.keys());
    if (o.topK !== undefined && o.topK < row.length) {
      ids.sort((a, b) => row[b] - row[a] || a - b);
      ids.length = o.topK;
    }
    const max = Math.max(...ids.map((i) => row[i]));
    const w = ids.map((i) => Math.exp((row[i] - max) / t));
    let u = uniform() * w.reduce((a, b) => a + b, 0);
    for (let j = 0; j < ids.length; j++) if ((u -= w[j]) < 0) return ids[j];
    return ids[ids.length - 1];
  };
}

/** `n` seeded token ids below `vocab` (a reproducible prompt, from the library's one seeded stream). */
export function seededPrompt(n: number, vocab: number, seed = 1): number[] {
  const next = rng(seed);
  return Array.from({ length: n }, () => Math.floor(next() * vocab));
}
