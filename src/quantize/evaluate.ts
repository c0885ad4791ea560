/** Running a model over samples on onnxruntime's CPU EP, and how far its outputs are from a reference. */
import { createSession, runSession } from '../backends/ort.js';
import type { TensorMap } from '../backends/tensor.js';
import type { Sample } from './data.js';

/** Every sample's outputs (one session for all of them). */
export async function runSamples(model: Uint8Array, samples: readonly Sample[], where: string): Promise<TensorMap[]> {
  const session = await createSession(model, 'cpu', where);
  try {
    const out: TensorMap[] = [];
    for (const s of samples) out.push(await runSession(session, s.feeds, session.outputNames, where));
    return out;
  } finally {
    await session.release();
  }
}

export interface OutputError {
  /** Σ‖got − ref‖² / Σ‖ref‖² over every float output of every sample. */
  relError: number;
  /** The smallest cosine similarity of an output of a sample with its reference. */
  minCosine: number;
}

export function outputError(ref: readonly TensorMap[], got: readonly TensorMap[]): OutputError {
  let num = 0, den = 0, minCosine = 1;
  ref.forEach((r, i) => {
    for (const [name, t] of Object.entries(r)) {
      if (t.type !== 'float32') continue;
      const a = got[i][name].data as Float32Array, b = t.data as Float32Array;
      let dot = 0, na = 0, nb = 0, e = 0;
      for (let k = 0; k < b.length; k++) { const d = a[k] - b[k]; e += d * d; dot += a[k] * b[k]; na += a[k] * a[k]; nb += b[k] * b[k]; }
      num += e; den += nb;
      minCosine = Math.min(minCosine, na === 0 && nb === 0 ? 1 : dot / Math.sqrt(na * nb));
    }
  });
  return { relError: den === 0 ? (num === 0 ? 0 : Infinity) : num / den, minCosine };
}
