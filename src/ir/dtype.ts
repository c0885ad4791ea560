/** Element types, named as onnxruntime's JavaScript API names them, with their ONNX codes. */
import { TesseraError } from '../errors.js';

const TABLE = [
  // [name, onnx code, bits per element, supported by onnxruntime's JS Tensor]
  ['float32', 1, 32, true],
  ['uint8', 2, 8, true],
  ['int8', 3, 8, true],
  ['uint16', 4, 16, true],
  ['int16', 5, 16, true],
  ['int32', 6, 32, true],
  ['int64', 7, 64, true],
  ['string', 8, 0, true],
  ['bool', 9, 8, true],
  ['float16', 10, 16, true],
  ['float64', 11, 64, true],
  ['uint32', 12, 32, true],
  ['uint64', 13, 64, true],
  ['complex64', 14, 64, false],
  ['complex128', 15, 128, false],
  ['bfloat16', 16, 16, false],
  ['float8e4m3fn', 17, 8, false],
  ['float8e4m3fnuz', 18, 8, false],
  ['float8e5m2', 19, 8, false],
  ['float8e5m2fnuz', 20, 8, false],
  ['uint4', 21, 4, false],
  ['int4', 22, 4, false],
  ['float4e2m1', 23, 4, false],
  ['float8e8m0', 24, 8, false],
  ['uint2', 25, 2, false],
  ['int2', 26, 2, false],
] as const;

export type DType = (typeof TABLE)[number][0];

const byName = new Map<string, (typeof TABLE)[number]>(TABLE.map((row) => [row[0], row]));
const byCode = new Map<number, (typeof TABLE)[number]>(TABLE.map((row) => [row[1], row]));

export function dtypeFromOnnx(code: number, where: string): DType {
  const row = byCode.get(code);
  if (!row) throw new TesseraError('BAD_MODEL', `${where}: unknown ONNX element type ${code}`);
  return row[0];
}

export function onnxCode(dtype: DType): number {
  return byName.get(dtype)![1];
}

export function isDType(name: string): name is DType {
  return byName.has(name);
}

/** Bits per element (strings count as 0: their size is not known from the shape). */
export function dtypeBits(dtype: DType): number {
  return byName.get(dtype)![2];
}

/** Whether onnxruntime's JavaScript API can pass tensors of this type in or out. */
export function ortJsSupports(dtype: DType): boolean {
  return byName.get(dtype)![3];
}

/** Bytes of a dense tensor with `count` elements (sub-byte types packed, rounded up). */
export function byteSize(dtype: DType, count: number): number {
  return Math.ceil((count * dtypeBits(dtype)) / 8);
}

export const FLOAT_TYPES: readonly DType[] = ['float32', 'float16', 'float64', 'bfloat16'];
export const INT_TYPES: readonly DType[] = ['int8', 'int16', 'int32', 'int64', 'uint8', 'uint16', 'uint32', 'uint64'];
