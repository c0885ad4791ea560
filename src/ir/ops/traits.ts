/**
 * Op traits: what the passes and the cost model need to know about an op beyond its shapes and FLOPs —
 * the one home of that knowledge (the inference rules beside this file are the other half of the op
 * registry). A pass asks `opTraits(op)`; no pass keeps its own set of op names.
 *
 * Traits are looked up by op type name (as every pass did before there was a table): a custom-domain op
 * that shares a name with an ONNX op is taken as that op; the passes check the domain where it matters.
 */

/**
 * The cost model's class of an op (one efficiency figure each in a target profile; see targets/cost.ts):
 * conv (dwconv when depthwise), matmul, elementwise, reduce (windows reduced element by element with a
 * fractional power), copy (copies, pools and reductions: streaming), view (dispatch only), control.
 */
export type OpClass = 'conv' | 'dwconv' | 'matmul' | 'elementwise' | 'reduce' | 'copy' | 'view' | 'control';

/** How an op's output rows depend on its inputs' rows along H of NCHW (for spatial tiling). */
export type RowLocal =
  /** each output row from the same input rows (elementwise, per-channel normalization) */
  | 'pointwise'
  /** a channel concatenation: each output row from the same rows of every input */
  | 'concat'
  /** a k×k window with stride and padding (convolution, max and average pooling) */
  | 'window'
  /** a transposed convolution: upsamples the rows */
  | 'upsample';

/** What an op folds into the convolution or matrix product before it (as onnxruntime's optimizer and NPU compilers fuse). */
export type Fusible =
  /** one activation after the product */
  | 'activation'
  /** a BatchNormalization: into the weights and bias */
  | 'batchnorm'
  /** an Add or Sum: a per-channel constant (into the bias), or a residual sum of the output's shape */
  | 'sum'
  /** a Mul: a per-channel constant scale (into the weights) */
  | 'scale';

export interface OpTraits {
  /** The cost model's class (default 'elementwise'). Conv and ConvTranspose are 'conv' (depthwise ones 'dwconv', by their groups). */
  readonly class: Exclude<OpClass, 'dwconv'>;
  /** A copy: it moves what it writes, not all it could read (the cost model counts the bytes it writes). */
  readonly movesOutput?: true;
  /** Its single output may be written over an input read for the last time: the first input, or any input of the output's size. */
  readonly inplace?: 'first' | 'any';
  /** Inputs that are parameters (shapes, axes, pads, scales…): constants on a static-shape processor, and not compute types. */
  readonly paramInputs?: readonly number[];
  /** Runs subgraphs (If, Loop, Scan). */
  readonly controlFlow?: true;
  /** Its output shape depends on the data. */
  readonly dataDependentShape?: true;
  /** Its result is not a function of its inputs: never folded into weights. */
  readonly nondeterministic?: true;
  /** Local along the rows of an image (spatial tiling can run it on bands of rows). */
  readonly rowLocal?: RowLocal;
  /** Folds into the convolution or matrix product before it. */
  readonly fusible?: Fusible;
  /** What activations, batch norms, per-channel constants and residual sums fuse into (onnxruntime: Conv, Gemm, MatMul). */
  readonly fusionRoot?: true;
  /** Linear in its input (a convolution or matrix product): a BatchNormalization after it folds into its weights. */
  readonly linear?: true;
  /** Reads only its input's shape, never its data. */
  readonly readsShapeOnly?: true;
}

const ELEMENTWISE: OpTraits = { class: 'elementwise' };

type Entry = Omit<OpTraits, 'class'> & { class?: OpTraits['class'] };

/** The table: op type → traits (an op not listed is elementwise with no other trait). */
const TABLE: Record<string, Entry> = {
  // control flow: priced through its branches, never folded, whole on a processor that takes subgraphs
  If: { class: 'control', controlFlow: true },
  Loop: { class: 'control', controlFlow: true },
  Scan: { class: 'control', controlFlow: true },

  // views and no-ops: no data moves
  Reshape: { class: 'view', paramInputs: [1] },
  Flatten: { class: 'view' },
  Squeeze: { class: 'view', paramInputs: [1] },
  Unsqueeze: { class: 'view', paramInputs: [1] },
  Identity: { class: 'view' },
  Dropout: { class: 'view', nondeterministic: true },
  Constant: { class: 'view' },

  // convolutions and matrix products
  Conv: { class: 'conv', rowLocal: 'window', fusionRoot: true, linear: true },
  ConvTranspose: { class: 'conv', rowLocal: 'upsample', linear: true },
  MatMul: { class: 'matmul', fusionRoot: true, linear: true },
  Gemm: { class: 'matmul', fusionRoot: true, linear: true },
  LSTM: { class: 'matmul' },
  GRU: { class: 'matmul' },
  RNN: { class: 'matmul' },
  Attention: { class: 'matmul' },
  Einsum: { class: 'matmul' },
  MatMulInteger: { class: 'matmul' },
  QLinearMatMul: { class: 'matmul' },

  // windows reduced element by element with a fractional power
  LRN: { class: 'reduce' },
  LpPool: { class: 'reduce' },
  LpNormalization: { class: 'reduce' },

  // pools and reductions: stream their input once
  ReduceMean: { class: 'copy', paramInputs: [1] },
  ReduceSum: { class: 'copy', paramInputs: [1] },
  ReduceMax: { class: 'copy', paramInputs: [1] },
  ReduceMin: { class: 'copy', paramInputs: [1] },
  ReduceProd: { class: 'copy', paramInputs: [1] },
  ReduceL1: { class: 'copy' },
  ReduceL2: { class: 'copy' },
  ReduceLogSum: { class: 'copy' },
  ReduceLogSumExp: { class: 'copy' },
  ReduceSumSquare: { class: 'copy' },
  GlobalAveragePool: { class: 'copy' },
  GlobalMaxPool: { class: 'copy' },
  MaxPool: { class: 'copy', rowLocal: 'window' },
  AveragePool: { class: 'copy', rowLocal: 'window' },
  ArgMax: { class: 'copy' },
  ArgMin: { class: 'copy' },
  TopK: { class: 'copy', paramInputs: [1] },

  // copies: move what they write
  Transpose: { class: 'copy', movesOutput: true },
  Concat: { class: 'copy', movesOutput: true, rowLocal: 'concat' },
  Split: { class: 'copy', movesOutput: true, paramInputs: [1] },
  Slice: { class: 'copy', movesOutput: true, paramInputs: [1, 2, 3, 4] },
  Gather: { class: 'copy', movesOutput: true, paramInputs: [1] },
  GatherElements: { class: 'copy', movesOutput: true, paramInputs: [1] },
  Pad: { class: 'copy', movesOutput: true, paramInputs: [1, 2, 3] },
  Resize: { class: 'copy', movesOutput: true, paramInputs: [1, 2, 3] },
  Upsample: { class: 'copy', movesOutput: true, paramInputs: [1] },
  Tile: { class: 'copy', movesOutput: true, paramInputs: [1] },
  Expand: { class: 'copy', movesOutput: true, paramInputs: [1] },
  DepthToSpace: { class: 'copy', movesOutput: true },
  SpaceToDepth: { class: 'copy', movesOutput: true },
  Cast: { class: 'copy', movesOutput: true },

  // elementwise: activations that fuse into the product before them, and may overwrite their input
  Relu: { inplace: 'first', rowLocal: 'pointwise', fusible: 'activation' },
  LeakyRelu: { inplace: 'first', rowLocal: 'pointwise', fusible: 'activation' },
  Sigmoid: { inplace: 'first', rowLocal: 'pointwise', fusible: 'activation' },
  Tanh: { inplace: 'first', rowLocal: 'pointwise', fusible: 'activation' },
  Clip: { inplace: 'first', rowLocal: 'pointwise', fusible: 'activation', paramInputs: [1, 2] },
  HardSigmoid: { inplace: 'first', rowLocal: 'pointwise', fusible: 'activation' },
  // elementwise of one input that may overwrite it
  Elu: { inplace: 'first', rowLocal: 'pointwise' },
  Selu: { inplace: 'first', rowLocal: 'pointwise' },
  HardSwish: { inplace: 'first', rowLocal: 'pointwise' },
  Softplus: { inplace: 'first', rowLocal: 'pointwise' },
  Neg: { inplace: 'first', rowLocal: 'pointwise' },
  Abs: { inplace: 'first', rowLocal: 'pointwise' },
  Exp: { inplace: 'first', rowLocal: 'pointwise' },
  Sqrt: { inplace: 'first', rowLocal: 'pointwise' },
  Reciprocal: { inplace: 'first', rowLocal: 'pointwise' },
  Erf: { inplace: 'first', rowLocal: 'pointwise' },
  Gelu: { inplace: 'first', rowLocal: 'pointwise' },
  Mish: { inplace: 'first', rowLocal: 'pointwise' },
  // elementwise of several inputs: the output may overwrite any input of its size
  Add: { inplace: 'any', rowLocal: 'pointwise', fusible: 'sum' },
  Sum: { inplace: 'any', rowLocal: 'pointwise', fusible: 'sum' },
  Mul: { inplace: 'any', rowLocal: 'pointwise', fusible: 'scale' },
  Sub: { inplace: 'any', rowLocal: 'pointwise' },
  Div: { inplace: 'any', rowLocal: 'pointwise' },
  Max: { inplace: 'any', rowLocal: 'pointwise' },
  Min: { inplace: 'any', rowLocal: 'pointwise' },
  // per-channel
  BatchNormalization: { rowLocal: 'pointwise', fusible: 'batchnorm' },
  PRelu: { rowLocal: 'pointwise' },

  // shape and data ops with parameter inputs
  ConstantOfShape: { paramInputs: [0] },
  Shape: { readsShapeOnly: true },
  Size: { readsShapeOnly: true },
  Range: { paramInputs: [0, 1, 2] },
  CumSum: { paramInputs: [1] },
  OneHot: { paramInputs: [1] },
  ScatterND: { paramInputs: [1] },
  ScatterElements: { paramInputs: [1] },
  Trilu: { paramInputs: [1] },

  // output shapes that depend on the data
  NonZero: { dataDependentShape: true },
  Unique: { dataDependentShape: true },
  NonMaxSuppression: { dataDependentShape: true },
  Compress: { dataDependentShape: true },
  StringSplit: { dataDependentShape: true },

  // random: not functions of their inputs
  RandomNormal: { nondeterministic: true },
  RandomNormalLike: { nondeterministic: true },
  RandomUniform: { nondeterministic: true },
  RandomUniformLike: { nondeterministic: true },
  Multinomial: { nondeterministic: true },
  Bernoulli: { nondeterministic: true },
};

const TRAITS = new Map<string, OpTraits>(Object.entries(TABLE).map(([op, t]) => [op, { ...t, class: t.class ?? 'elementwise' }]));

/** The traits of an op type. */
export function opTraits(op: string): OpTraits {
  return TRAITS.get(op) ?? ELEMENTWISE;
}

/** Every op type the table names (the test that no pass keeps its own op list reads them). */
export function opsWithTraits(): string[] {
  return [...TRAITS.keys()].sort();
}

/** The inputs (by name, in order of preference) a node's single output may overwrite. */
export function inplaceCandidates(op: string, inputs: readonly string[]): string[] {
  const how = opTraits(op).inplace;
  if (how === 'first') return inputs[0] ? [inputs[0]] : [];
  if (how === 'any') return [...new Set(inputs.filter((x) => x !== ''))];
  return [];
}
