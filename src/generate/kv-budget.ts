/**
 * How long the KV cache can be: the memory budget covers the weights, the cache and the working memory
 * of a run; the cache's max length is what is left, divided by the bytes one position takes, capped.
 * A budget smaller than the weights and working memory is refused here; `weightsFit` says so beforehand,
 * and `tessera generate` then decodes with the weights streamed (streamed.ts).
 */
import { freemem } from 'node:os';
import type { ModelProto } from 'onnx-buf';
import { TesseraError } from '../errors.js';
import { byteSize, dtypeFromOnnx } from '../ir/dtype.js';
import type { DecoderSignature } from './signature.js';

export interface KvBudget {
  maxLength: number;
  budgetBytes: number | null;
  /** Cache bytes per position: key and value of every layer; counted twice in the budget, since onnxruntime-node's binding copies the bound cache back after each decode run. */
  bytesPerPosition: number;
  workingBytes: number;
  why: string;
}

/** Bytes of the model's initializers (external data by its recorded length, without reading it). */
export function modelWeightBytes(model: ModelProto): number {
  let total = 0;
  for (const t of model.graph?.initializer ?? []) {
    const length = t.externalData.find((e) => e.key === 'length');
    if (length) total += Number(length.value);
    else if (t.rawData.length) total += t.rawData.length;
    else {
      const n = t.dims.reduce((a, d) => a * Number(d), 1);
      try {
        total += byteSize(dtypeFromOnnx(t.dataType, t.name), n);
      } catch {
        total += n * 4;
      }
    }
  }
  return total;
}

const WORKING_FLOOR = 32e6;

/** Working memory of a run besides weights and cache: the logits of a prefill chunk (out of onnxruntime and copied by its binding) and a floor for activations. */
export function workingBytesFor(sig: DecoderSignature, prefillChunk: number): number {
  return 3 * prefillChunk * (sig.vocab ?? 32000) * 4 + WORKING_FLOOR;
}

/** Whether the weights can be resident within the budget beside the working memory (else they must be streamed: streamed.ts). */
export function weightsFit(sig: DecoderSignature, weightBytes: number, memoryBudget: number, prefillChunk: number): boolean {
  return weightBytes + workingBytesFor(sig, prefillChunk) <= memoryBudget;
}
const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;

export function chooseMaxLength(
  sig: DecoderSignature,
  weightBytes: number,
  o: { maxLength?: number; memoryBudget?: number; maxLengthCap?: number; prefillChunk: number; kvPosition?: { bytes: number; what: string } },
  where: string,
): KvBudget {
  // the cache's bytes a position: float32 by default; the generator gives its own for an int8 cache
  const bytesPerPosition = o.kvPosition?.bytes ?? 2 * sig.layers * sig.kvHeads * sig.headDim * 4;
  const workingBytes = workingBytesFor(sig, o.prefillChunk);
  const cap = o.maxLengthCap ?? 4096;
  if (o.maxLength !== undefined && (!Number.isSafeInteger(o.maxLength) || o.maxLength < 2)) throw new TesseraError('BAD_ARGUMENT', `maxLength ${o.maxLength}: expected an integer >= 2`);
  if (o.memoryBudget !== undefined && !(o.memoryBudget > 0)) throw new TesseraError('BAD_ARGUMENT', `memory budget ${o.memoryBudget}: expected a positive number of bytes`);
  if (!Number.isSafeInteger(cap) || cap < 2) throw new TesseraError('BAD_ARGUMENT', `maxLengthCap ${cap}: expected an integer >= 2`);
  const budgetBytes = o.memoryBudget ?? (o.maxLength === undefined ? Math.floor(freemem() / 2) : null);
  const source = o.memoryBudget !== undefined ? `memory budget ${mb(o.memoryBudget)}` : 'half the free memory';
  if (budgetBytes === null) return { maxLength: o.maxLength!, budgetBytes, bytesPerPosition, workingBytes, why: `max length ${o.maxLength} as given` };
  // weights larger than this room are streamed by StreamedGenerator (streamed.ts), chosen by `weightsFit`; this generator keeps them resident
  const room = budgetBytes - weightBytes - workingBytes;
  const fits = Math.floor(room / (2 * bytesPerPosition));
  const account = `${source}: weights ${mb(weightBytes)} + working memory ${mb(workingBytes)} leave ${mb(Math.max(0, room))} for the KV cache at ${mb(2 * bytesPerPosition)} a position (${o.kvPosition?.what ?? `${sig.layers} layers × key and value × ${sig.kvHeads} heads × ${sig.headDim} × 4 bytes`}, counted twice: the cache and the binding's copy of it)`;
  if (weightBytes + workingBytes > budgetBytes) {
    throw new TesseraError('LIMIT_EXCEEDED', `${where}: ${account}; the weights alone do not fit (\`tessera generate\` streams them from the model's files under such a budget: StreamedGenerator, src/generate/streamed.ts)`);
  }
  if (o.maxLength !== undefined) {
    if (o.maxLength > fits) throw new TesseraError('LIMIT_EXCEEDED', `${where}: a KV cache of max length ${o.maxLength} does not fit the ${account}: at most ${fits} positions`);
    return { maxLength: o.maxLength, budgetBytes, bytesPerPosition, workingBytes, why: `max length ${o.maxLength} as given, within the ${source}` };
  }
  if (fits < 2) throw new TesseraError('LIMIT_EXCEEDED', `${where}: ${account}: room for ${Math.max(0, fits)} positions, at least 2 needed`);
  const maxLength = Math.min(fits, cap);
  return { maxLength, budgetBytes, bytesPerPosition, workingBytes, why: `max length ${maxLength} from the ${account}${fits > cap ? `, capped at ${cap}` : ''}` };
}
