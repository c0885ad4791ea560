/// <reference lib="dom" />
/**
 * A model's bytes in a page: from a URL (fetched in ranges), an ArrayBuffer or typed array, or a File
 * (or any Blob, read in slices). The size is checked against the browser's limits before anything is
 * allocated for it, with an error that says which limit and by how much:
 *  - wasm32: onnxruntime-web's engine copies a model into its WebAssembly heap, which holds at most
 *    4 GiB (32-bit addresses) for the weights, the activations and the engine itself;
 *  - one ArrayBuffer: the page must hold the model's bytes in one buffer (protobuf is decoded from it),
 *    and the browser's largest ArrayBuffer is tried before the download starts.
 * A URL is fetched in ranges (`Range: bytes=a-b`, RANGE_BYTES each) into the one buffer when the server
 * says it takes ranges and how long the file is; in one response otherwise. A model's URL must be of the
 * page's own origin unless the caller allows others (`crossOrigin: true`).
 */
import { TesseraError } from '../errors.js';
import { formatBytes } from '../format.js';

/** The WebAssembly heap of a wasm32 engine: 4 GiB of 32-bit addresses. */
export const WASM32_HEAP_BYTES = 2 ** 32;

/** One range request: 16 MiB. */
export const RANGE_BYTES = 16 << 20;

export type ModelSource = string | URL | ArrayBuffer | ArrayBufferView | Blob;

export interface FetchOptions {
  /** Called as bytes arrive: loaded and total bytes. */
  onProgress?: (loaded: number, total: number) => void;
  /** Allow a model URL of another origin (default: the page's origin only). */
  crossOrigin?: boolean;
  /** Bytes of one range request (default RANGE_BYTES). */
  rangeBytes?: number;
  /** The heap the engine has (default WASM32_HEAP_BYTES); a model larger than this cannot run. */
  heapBytes?: number;
}

export interface ModelBytes {
  bytes: Uint8Array;
  /** Where it came from: the URL, the file's name, or '<bytes>'. */
  name: string;
  /** How it was read: 'ranges (n requests)', 'one response', 'in memory', 'file slices'. */
  how: string;
}

/** Refuses a model too large for the page before anything is allocated for it. */
export function checkModelFits(size: number, name: string, heapBytes = WASM32_HEAP_BYTES): void {
  if (size >= heapBytes) {
    throw new TesseraError('LIMIT_EXCEEDED', `${name} is ${formatBytes(size)}: it cannot run in a browser, whose WebAssembly engines (onnxruntime-web's wasm, tfjs' wasm) have a 32-bit heap of at most ${formatBytes(heapBytes)} for the weights, the activations and the engine together; use a smaller or quantized model (tessera quantize), or run it under Node`);
  }
}

/** One ArrayBuffer of `size` bytes, or a clear error naming the browser's limit. */
function allocate(size: number, name: string): Uint8Array {
  try {
    return new Uint8Array(size);
  } catch (err) {
    throw new TesseraError('LIMIT_EXCEEDED', `${name} is ${formatBytes(size)}: this browser could not allocate one ArrayBuffer that large (${(err as Error).message}); the page must hold the model's bytes in one buffer`);
  }
}

/** The bytes of a model given as a URL, a buffer or a File. */
export async function readModel(source: ModelSource, options: FetchOptions = {}): Promise<ModelBytes> {
  if (source instanceof ArrayBuffer) return inMemory(new Uint8Array(source), options);
  if (ArrayBuffer.isView(source)) return inMemory(new Uint8Array(source.buffer, source.byteOffset, source.byteLength), options);
  if (typeof Blob !== 'undefined' && source instanceof Blob) return readBlob(source, options);
  if (typeof source === 'string' || source instanceof URL) return fetchModel(new URL(String(source), globalThis.location?.href), options);
  throw new TesseraError('BAD_ARGUMENT', 'a model is a URL, an ArrayBuffer (or typed array) or a File');
}

function inMemory(bytes: Uint8Array, options: FetchOptions): ModelBytes {
  checkModelFits(bytes.byteLength, 'the model', options.heapBytes);
  return { bytes, name: '<bytes>', how: 'in memory' };
}

async function readBlob(blob: Blob, options: FetchOptions): Promise<ModelBytes> {
  const name = (blob as File).name || '<blob>';
  checkModelFits(blob.size, name, options.heapBytes);
  const out = allocate(blob.size, name);
  const step = options.rangeBytes ?? RANGE_BYTES;
  for (let at = 0; at < blob.size; at += step) {
    out.set(new Uint8Array(await blob.slice(at, Math.min(blob.size, at + step)).arrayBuffer()), at);
    options.onProgress?.(Math.min(blob.size, at + step), blob.size);
  }
  return { bytes: out, name, how: 'file slices' };
}

async function get(url: URL, init: RequestInit, name: string): Promise<Response> {
  let res: Response;
  try {
    res = await fetch(url, init);
  } catch (err) {
    throw new TesseraError('FILE_UNREADABLE', `${name}: fetch failed (${(err as Error).message})`);
  }
  if (!res.ok) throw new TesseraError(res.status === 404 ? 'FILE_NOT_FOUND' : 'FILE_UNREADABLE', `${name}: HTTP ${res.status} ${res.statusText}`);
  return res;
}

async function fetchModel(url: URL, options: FetchOptions): Promise<ModelBytes> {
  const name = url.href;
  const page = globalThis.location?.origin;
  if (!options.crossOrigin && page && page !== 'null' && url.origin !== page) {
    throw new TesseraError('BAD_ARGUMENT', `${name}: a model URL must be of this page's origin (${page}); pass crossOrigin: true to load it from ${url.origin}`);
  }
  // the first range says whether the server takes ranges and how long the file is
  const step = options.rangeBytes ?? RANGE_BYTES;
  const first = await get(url, { headers: { Range: `bytes=0-${step - 1}` } }, name);
  const total = first.status === 206 ? Number(/\/(\d+)$/.exec(first.headers.get('Content-Range') ?? '')?.[1]) : Number(first.headers.get('Content-Length') ?? NaN);
  if (first.status !== 206 || !Number.isFinite(total)) {
    // no ranges: one response, its length checked before it is read when the server gives it
    if (Number.isFinite(total)) checkModelFits(total, name, options.heapBytes);
    const bytes = new Uint8Array(await first.arrayBuffer());
    checkModelFits(bytes.byteLength, name, options.heapBytes);
    options.onProgress?.(bytes.byteLength, bytes.byteLength);
    return { bytes, name, how: 'one response' };
  }
  checkModelFits(total, name, options.heapBytes);
  const out = allocate(total, name);
  out.set(new Uint8Array(await first.arrayBuffer()), 0);
  let requests = 1;
  options.onProgress?.(Math.min(step, total), total);
  for (let at = step; at < total; at += step) {
    const end = Math.min(total, at + step) - 1;
    const res = await get(url, { headers: { Range: `bytes=${at}-${end}` } }, name);
    const part = new Uint8Array(await res.arrayBuffer());
    if (res.status !== 206 || part.byteLength !== end - at + 1) {
      throw new TesseraError('FILE_UNREADABLE', `${name}: asked for bytes ${at}-${end}, the server answered HTTP ${res.status} with ${part.byteLength} bytes (the file changed while it was read?)`);
    }
    out.set(part, at);
    requests++;
    options.onProgress?.(end + 1, total);
  }
  return { bytes: out, name, how: `ranges (${requests} request${requests > 1 ? 's' : ''} of up to ${formatBytes(step)})` };
}
