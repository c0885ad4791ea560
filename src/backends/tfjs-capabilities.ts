/**
 * What the TensorFlow.js backend takes, as data (op → opsets, dtypes, attribute limits): the kernels in
 * tfjs-kernels.ts implement exactly these ops, and `tfjsSupports` answers from the table alone, without
 * loading tfjs.
 */
import type { DType } from '../ir/dtype.js';
import type { Graph, Node } from '../ir/graph.js';
import type { Support } from './backend.js';
import { tableSupports, type AttrLimit, type OpCapability } from './capability.js';

export type { AttrLimit, OpCapability };

const F: readonly DType[] = ['float32'];
const I: readonly DType[] = ['int32', 'int64'];
const FI: readonly DType[] = ['float32', 'int32', 'int64'];
const FIB: readonly DType[] = ['float32', 'int32', 'int64', 'bool'];
const B: readonly DType[] = ['bool'];
const ANY = { any: true } as const;
const LATEST = 26; // the newest opset in the ONNX 1.20 node tests

const unaryF = (from = 6): OpCapability => ({ opsets: [from, LATEST], dtypes: F });
const binary = (dtypes: readonly DType[], from = 7): OpCapability => ({ opsets: [from, LATEST], dtypes });
const compare = (dtypes: readonly DType[]): OpCapability => ({ opsets: [7, LATEST], dtypes, outputs: { 0: B } });
const reduce = (dtypes: readonly DType[]): OpCapability => ({ opsets: [1, LATEST], dtypes, inputs: { 1: I }, attrs: { axes: ANY, keepdims: ANY, noop_with_empty_axes: ANY } });
const AUTO_PAD = { oneOf: ['NOTSET', 'SAME_UPPER', 'SAME_LOWER', 'VALID'] } as const;

/**
 * What the tfjs kernels take, as data (op → opsets, dtypes, attribute limits); `supports()` answers
 * from it and nothing else. The rule the tests hold it to: every ONNX node conformance test this
 * table accepts (and onnxruntime's CPU EP passes) passes on tfjs, within rtol 1e-3 / atol 1e-4.
 * Entries were narrowed by running them (`npx tsx bench/conformance.ts --backend tfjs`).
 */
export const TFJS_CAPABILITIES: Readonly<Record<string, OpCapability>> = {
  // elementwise, unary (float32)
  Relu: unaryF(),
  LeakyRelu: { ...unaryF(), attrs: { alpha: ANY } },
  Sigmoid: unaryF(),
  Tanh: unaryF(),
  Exp: unaryF(),
  Log: unaryF(),
  Sqrt: unaryF(),
  Reciprocal: unaryF(),
  Floor: unaryF(),
  Ceil: unaryF(),
  Round: unaryF(11),
  Sin: unaryF(7),
  Cos: unaryF(7),
  Tan: unaryF(7),
  Asin: unaryF(7),
  Acos: unaryF(7),
  Atan: unaryF(7),
  Sinh: unaryF(9),
  Cosh: unaryF(9),
  Asinh: unaryF(9),
  Acosh: unaryF(9),
  Atanh: unaryF(9),
  Erf: unaryF(9),
  Softplus: unaryF(1),
  Softsign: unaryF(1),
  Elu: { ...unaryF(), attrs: { alpha: ANY } },
  Selu: { ...unaryF(), attrs: { alpha: ANY, gamma: ANY } },
  Celu: { ...unaryF(12), attrs: { alpha: ANY } },
  HardSigmoid: { ...unaryF(), attrs: { alpha: ANY, beta: ANY } },
  HardSwish: unaryF(14),
  ThresholdedRelu: { ...unaryF(10), attrs: { alpha: ANY } },
  Mish: unaryF(18),
  Gelu: { ...unaryF(20), attrs: { approximate: { oneOf: ['none', 'tanh'] } } },
  Abs: { opsets: [6, LATEST], dtypes: FI },
  Neg: { opsets: [6, LATEST], dtypes: FI },
  Sign: { opsets: [9, LATEST], dtypes: FI },
  Not: { opsets: [1, LATEST], dtypes: B },
  IsNaN: { opsets: [9, LATEST], dtypes: F, outputs: { 0: B } },
  IsInf: { opsets: [10, LATEST], dtypes: F, outputs: { 0: B }, attrs: { detect_negative: { oneOf: [1] }, detect_positive: { oneOf: [1] } } },
  Clip: { opsets: [6, LATEST], dtypes: FI, attrs: { min: ANY, max: ANY } },
  Identity: { opsets: [1, LATEST], dtypes: FIB },
  Dropout: {
    opsets: [7, LATEST], dtypes: F, outputs: { 1: ['float32', 'bool'] }, inputs: { 1: F, 2: B }, attrs: { ratio: ANY, seed: ANY },
    constInputs: { 2: { values: [0], why: 'training_mode must be absent or false (inference only)' } },
  },
  // elementwise, binary and variadic
  Add: binary(FI),
  Sub: binary(FI),
  Mul: binary(FI),
  Div: binary(FI), // integer division truncates toward zero (tfjs's floors: corrected)
  Pow: { opsets: [7, LATEST], dtypes: F },
  Max: binary(FI, 8),
  Min: binary(FI, 8),
  Sum: binary(FI, 8),
  Mean: binary(F, 8),
  PRelu: binary(F),
  Equal: compare(FIB),
  Greater: compare(FI),
  Less: compare(FI),
  GreaterOrEqual: compare(FI),
  LessOrEqual: compare(FI),
  And: binary(B),
  Or: binary(B),
  Xor: binary(B),
  Mod: { opsets: [10, LATEST], dtypes: I, attrs: { fmod: { oneOf: [0] } } },
  Where: { opsets: [9, LATEST], dtypes: FIB, inputs: { 0: B } },
  // convolution, pooling, normalization
  Conv: { opsets: [1, LATEST], dtypes: F, ranks: [3, 4], attrs: { auto_pad: AUTO_PAD, dilations: ANY, group: ANY, kernel_shape: ANY, pads: ANY, strides: ANY } },
  ConvTranspose: {
    opsets: [1, LATEST], dtypes: F, ranks: [3, 4],
    attrs: { auto_pad: AUTO_PAD, dilations: { each: [1] }, group: ANY, kernel_shape: ANY, output_padding: ANY, output_shape: ANY, pads: ANY, strides: ANY },
  },
  MaxPool: {
    opsets: [1, LATEST], dtypes: F, ranks: [3, 4], maxOutputs: 1,
    attrs: { auto_pad: AUTO_PAD, ceil_mode: ANY, dilations: { each: [1] }, kernel_shape: ANY, pads: ANY, storage_order: ANY, strides: ANY },
  },
  AveragePool: {
    opsets: [1, LATEST], dtypes: F, ranks: [3, 4],
    attrs: { auto_pad: AUTO_PAD, ceil_mode: ANY, count_include_pad: ANY, dilations: { each: [1] }, kernel_shape: ANY, pads: ANY, strides: ANY },
  },
  GlobalAveragePool: { opsets: [1, LATEST], dtypes: F },
  GlobalMaxPool: { opsets: [1, LATEST], dtypes: F },
  BatchNormalization: { opsets: [7, LATEST], dtypes: F, maxOutputs: 1, attrs: { epsilon: ANY, momentum: ANY, spatial: { oneOf: [1] }, training_mode: { oneOf: [0] } } },
  InstanceNormalization: { opsets: [6, LATEST], dtypes: F, attrs: { epsilon: ANY } },
  LayerNormalization: { opsets: [17, LATEST], dtypes: F, attrs: { axis: ANY, epsilon: ANY, stash_type: { oneOf: [1] } } },
  RMSNormalization: { opsets: [23, LATEST], dtypes: F, attrs: { axis: ANY, epsilon: ANY, stash_type: { oneOf: [1] } } },
  LpNormalization: { opsets: [1, LATEST], dtypes: F, attrs: { axis: ANY, p: { oneOf: [1, 2] } } },
  LRN: { opsets: [1, LATEST], dtypes: F, ranks: [4], attrs: { alpha: ANY, beta: ANY, bias: ANY, size: ANY } },
  // matrix products
  MatMul: { opsets: [1, LATEST], dtypes: F },
  Gemm: { opsets: [7, LATEST], dtypes: F, attrs: { alpha: ANY, beta: ANY, transA: ANY, transB: ANY } },
  // shape and data movement
  Reshape: { opsets: [5, LATEST], dtypes: FIB, inputs: { 1: I }, attrs: { allowzero: ANY } },
  Flatten: { opsets: [1, LATEST], dtypes: FIB, attrs: { axis: ANY } },
  Squeeze: { opsets: [1, LATEST], dtypes: FIB, inputs: { 1: I }, attrs: { axes: ANY } },
  Unsqueeze: { opsets: [1, LATEST], dtypes: FIB, inputs: { 1: I }, attrs: { axes: ANY } },
  Transpose: { opsets: [1, LATEST], dtypes: FIB, attrs: { perm: ANY } },
  Concat: { opsets: [4, LATEST], dtypes: FIB, attrs: { axis: ANY } },
  Split: { opsets: [2, LATEST], dtypes: FIB, inputs: { 1: I }, attrs: { axis: ANY, split: ANY, num_outputs: ANY } },
  Slice: { opsets: [1, LATEST], dtypes: FIB, inputs: { 1: I, 2: I, 3: I, 4: I }, attrs: { axes: ANY, ends: ANY, starts: ANY } },
  Gather: { opsets: [1, LATEST], dtypes: FIB, inputs: { 1: I }, attrs: { axis: ANY } },
  Expand: { opsets: [8, LATEST], dtypes: FIB, inputs: { 1: I } },
  Tile: { opsets: [6, LATEST], dtypes: FIB, inputs: { 1: I } },
  Pad: { opsets: [2, LATEST], dtypes: FI, inputs: { 1: I, 3: I }, attrs: { mode: { oneOf: ['constant', 'reflect'], default: 'constant' }, pads: ANY, value: ANY } },
  DepthToSpace: { opsets: [1, LATEST], dtypes: FIB, ranks: [4], attrs: { blocksize: ANY, mode: { oneOf: ['DCR'] } } },
  Resize: {
    opsets: [11, LATEST], dtypes: F, inputs: { 3: I },
    attrs: {
      mode: { oneOf: ['nearest', 'linear'], default: 'nearest' },
      coordinate_transformation_mode: { oneOf: ['half_pixel', 'half_pixel_symmetric', 'pytorch_half_pixel', 'align_corners', 'asymmetric'], default: 'half_pixel' },
      nearest_mode: { oneOf: ['round_prefer_floor', 'round_prefer_ceil', 'floor', 'ceil'], default: 'round_prefer_floor' },
      cubic_coeff_a: ANY, exclude_outside: { oneOf: [0] }, extrapolation_value: ANY, antialias: { oneOf: [0] }, axes: ANY,
      keep_aspect_ratio_policy: { oneOf: ['stretch'] },
    },
  },
  Upsample: { opsets: [7, 9], dtypes: F, attrs: { mode: { oneOf: ['nearest', 'linear'] }, scales: ANY } },
  // reductions, softmax, arg
  ReduceMean: reduce(F),
  ReduceSum: reduce(FI),
  ReduceMax: reduce(FI),
  ReduceMin: reduce(FI),
  ReduceProd: reduce(FI),
  ReduceL1: reduce(F),
  ReduceL2: reduce(F),
  ReduceSumSquare: reduce(F),
  ReduceLogSum: reduce(F),
  ReduceLogSumExp: reduce(F),
  Softmax: { opsets: [1, LATEST], dtypes: F, attrs: { axis: ANY } },
  LogSoftmax: { opsets: [1, LATEST], dtypes: F, attrs: { axis: ANY } },
  ArgMax: { opsets: [1, LATEST], dtypes: FI, outputs: { 0: ['int64'] }, attrs: { axis: ANY, keepdims: ANY, select_last_index: ANY } },
  ArgMin: { opsets: [1, LATEST], dtypes: FI, outputs: { 0: ['int64'] }, attrs: { axis: ANY, keepdims: ANY, select_last_index: ANY } },
  CumSum: { opsets: [11, LATEST], dtypes: FI, inputs: { 1: I }, attrs: { exclusive: ANY, reverse: ANY } },
  // constants and shapes
  Constant: { opsets: [1, LATEST], dtypes: FIB, attrs: { value: ANY, value_float: ANY, value_floats: ANY, value_int: ANY, value_ints: ANY } },
  ConstantOfShape: { opsets: [9, LATEST], dtypes: FIB, inputs: { 0: I }, attrs: { value: ANY } },
  Shape: { opsets: [1, LATEST], dtypes: FIB, outputs: { 0: ['int64'] }, attrs: { start: ANY, end: ANY } },
  Size: { opsets: [1, LATEST], dtypes: FIB, outputs: { 0: ['int64'] } },
  Cast: { opsets: [6, LATEST], dtypes: FIB, attrs: { to: { oneOf: [1, 6, 7, 9] }, saturate: ANY } },
  CastLike: { opsets: [15, LATEST], dtypes: FIB, attrs: { saturate: ANY } },
  Trilu: { opsets: [14, LATEST], dtypes: FIB, inputs: { 1: I }, attrs: { upper: ANY } },
  Shrink: { opsets: [9, LATEST], dtypes: F, attrs: { bias: ANY, lambd: ANY } },
  Range: { opsets: [11, LATEST], dtypes: FI },
};

/** Whether the tfjs kernels take a node, from the table alone (another table for tests of the table itself). */
export function tfjsSupports(node: Node, graph: Graph, table: Readonly<Record<string, OpCapability>> = TFJS_CAPABILITIES): Support {
  return tableSupports('tfjs', table, node, graph);
}
