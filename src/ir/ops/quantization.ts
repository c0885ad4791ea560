/**
 * Op knowledge quantization needs (its one home, beside the other traits): which inputs of a QDQ op carry
 * data (onnxruntime's QDQ registry), which ops only move data (their output keeps the input's scale), where
 * a weight's output channels and reduction axis lie, which ops are quantized already, and how each op whose
 * signature changed between opsets is rewritten to a newer opset.
 */
import { TesseraError } from '../../errors.js';
import type { Attribute } from '../graph.js';

/** The float inputs of each op quantized in QDQ form that carry data (the rest — shapes, axes, Clip bounds, sizes — stay as they are). */
const QDQ_DATA_INPUTS: Readonly<Record<string, readonly number[] | 'all'>> = {
  Conv: [0], ConvTranspose: [0], Gemm: [0], MatMul: [0, 1], Add: [0, 1], Mul: [0, 1], Relu: [0], Clip: [0], LeakyRelu: [0],
  Sigmoid: [0], Tanh: [0], MaxPool: [0], AveragePool: [0], GlobalAveragePool: [0], Concat: 'all', Softmax: [0],
  Reshape: [0], Transpose: [0], Squeeze: [0], Unsqueeze: [0], Flatten: [0], Resize: [0], Slice: [0], Split: [0], Pad: [0],
  Gather: [0], Where: [1, 2],
};
/** Ops that only move or select data: their output takes their input's scale and zero point. */
const MOVES_DATA = new Set(['Reshape', 'Transpose', 'Squeeze', 'Unsqueeze', 'Flatten', 'Slice', 'Split', 'Gather', 'MaxPool', 'Resize', 'Pad']);

/** The data inputs of an op quantized in QDQ form (input indices; 'all'), undefined when the op stays float. */
export function qdqDataInputs(op: string): readonly number[] | 'all' | undefined {
  return QDQ_DATA_INPUTS[op];
}
export const QDQ_OPS: readonly string[] = Object.keys(QDQ_DATA_INPUTS);
export function qdqSharesInputScale(op: string): boolean {
  return MOVES_DATA.has(op);
}

/** The axes of a weight (input 1) of Conv/ConvTranspose/Gemm/MatMul of rank `rank`: output channels (-1: one scale only) and the reduction axis; null for other ops. */
export function weightAxes(op: string, attrs: Readonly<Record<string, Attribute>>, rank: number): { channelAxis: number; blockAxis: number } | null {
  const int = (name: string, d: number) => (attrs[name]?.type === 'int' ? (attrs[name] as { value: number }).value : d);
  switch (op) {
    case 'Conv': return { channelAxis: 0, blockAxis: 1 };
    case 'ConvTranspose': return { channelAxis: int('group', 1) === 1 ? 1 : -1, blockAxis: 0 };
    case 'Gemm': return int('transB', 0) ? { channelAxis: 0, blockAxis: 1 } : { channelAxis: 1, blockAxis: 0 };
    case 'MatMul': return { channelAxis: rank - 1, blockAxis: rank - 2 };
    default: return null;
  }
}

/** Whether input 2 of the op is a bias added per output channel (quantized int32 at input-scale × weight-scale). */
export function hasChannelBias(op: string): boolean {
  return weightAxes(op, {}, 2) !== null && op !== 'MatMul';
}

/** The role of an op in a QDQ graph: it quantizes (float → integer) or dequantizes (integer → float); undefined for any other op. */
export function qdqRole(op: string, domain = ''): 'quantize' | 'dequantize' | undefined {
  if (domain !== '' && domain !== 'ai.onnx') return undefined;
  return op === 'QuantizeLinear' ? 'quantize' : op === 'DequantizeLinear' ? 'dequantize' : undefined;
}

const QUANTIZED_OPS = /^(QuantizeLinear|DequantizeLinear|DynamicQuantizeLinear|MatMulNBits|MatMulInteger|ConvInteger|QLinear\w+|QGemm|DynamicQuantize\w+)$/;
export function isQuantizedOp(op: string): boolean {
  return QUANTIZED_OPS.test(op);
}

/** A node being rewritten by the opset upgrade, with what a rule needs to know and make. */
export interface UpgradeContext {
  node: { name: string; inputs: readonly string[]; outputs: readonly string[]; attrs: Readonly<Record<string, Attribute>> };
  edit: { op: string; inputs: string[]; outputs: string[]; attrs: Record<string, Attribute> };
  from: number;
  label: string;
  inputDtype: string | null;
  inputRank: number | undefined;
  /** Whether output i is read by a node or is a graph output. */
  outputUsed(i: number): boolean;
  /** A new int64 [n] (or float32 scalar) constant; returns its name. */
  ints(base: string, values: number[]): string;
  float(base: string, value: number): string;
}

const attrIntsOf = (a: Attribute | undefined) => (a?.type === 'ints' ? a.value : undefined);
const intOf = (a: Attribute | undefined, d: number) => (a?.type === 'int' ? a.value : d);
const trim = (e: UpgradeContext['edit']) => { while (e.inputs.length && e.inputs[e.inputs.length - 1] === '') e.inputs.pop(); };
/** An ints attribute becomes the next input ('' when absent and optional). */
function moveInts(c: UpgradeContext, attr: string, optional: boolean): void {
  const v = attrIntsOf(c.node.attrs[attr]);
  delete c.edit.attrs[attr];
  if (v) c.edit.inputs.push(c.ints(attr, v));
  else if (!optional) throw new TesseraError('BAD_MODEL', `${c.label} has no '${attr}' attribute`);
  else c.edit.inputs.push('');
}
const axesToInput = (c: UpgradeContext, optional: boolean) => { if (c.node.inputs.length === 1) { moveInts(c, 'axes', optional); trim(c.edit); } };
const reduce = { at: 18, rewrite: (c: UpgradeContext) => axesToInput(c, true) };

/**
 * Ops whose signature or meaning changed at opset `at`: `rewrite` makes the newer form; without it the
 * change is not handled (an upgrade across it is refused).
 */
export const UPGRADE_RULES: Readonly<Record<string, { at: number; rewrite?: (c: UpgradeContext) => void }>> = {
  Clip: { at: 11, rewrite(c) {
    if (c.inputDtype && c.inputDtype !== 'float32') throw new TesseraError('UNSUPPORTED_OP', `${c.label}: upgrading a ${c.inputDtype} Clip is not supported`);
    const bound = (a: string) => (c.node.attrs[a]?.type === 'float' ? c.float(a, (c.node.attrs[a] as { value: number }).value) : '');
    c.edit.inputs = [c.node.inputs[0], bound('min'), bound('max')];
    delete c.edit.attrs.min; delete c.edit.attrs.max;
    trim(c.edit);
  } },
  Slice: { at: 10, rewrite(c) { c.edit.inputs = [c.node.inputs[0]]; moveInts(c, 'starts', false); moveInts(c, 'ends', false); moveInts(c, 'axes', true); trim(c.edit); } },
  Pad: { at: 11, rewrite(c) {
    const pads = attrIntsOf(c.node.attrs.pads) ?? attrIntsOf(c.node.attrs.paddings) ?? [];
    const value = c.node.attrs.value?.type === 'float' ? c.node.attrs.value.value : 0;
    delete c.edit.attrs.pads; delete c.edit.attrs.paddings; delete c.edit.attrs.value;
    c.edit.inputs = [c.node.inputs[0], c.ints('pads', pads), value !== 0 ? c.float('value', value) : ''];
    trim(c.edit);
  } },
  TopK: { at: 10, rewrite(c) { c.edit.inputs = [c.node.inputs[0], c.ints('k', [intOf(c.node.attrs.k, 1)])]; delete c.edit.attrs.k; } },
  Squeeze: { at: 13, rewrite: (c) => axesToInput(c, true) },
  Unsqueeze: { at: 13, rewrite: (c) => axesToInput(c, false) },
  ReduceSum: { at: 13, rewrite: (c) => axesToInput(c, true) },
  ReduceMean: reduce, ReduceMax: reduce, ReduceMin: reduce, ReduceProd: reduce, ReduceL1: reduce, ReduceL2: reduce,
  ReduceLogSum: reduce, ReduceLogSumExp: reduce, ReduceSumSquare: reduce,
  Split: { at: 18, rewrite(c) {
    if (c.from < 13 && attrIntsOf(c.node.attrs.split)) { c.edit.inputs = [c.node.inputs[0]]; moveInts(c, 'split', false); }
    if (c.edit.inputs.length < 2 || c.edit.inputs[1] === '') c.edit.attrs.num_outputs = { type: 'int', value: c.node.outputs.length };
  } },
  Softmax: { at: 13, rewrite: lastAxisOnly }, LogSoftmax: { at: 13, rewrite: lastAxisOnly }, Hardmax: { at: 13, rewrite: lastAxisOnly },
  Dropout: { at: 12, rewrite(c) {
    // inference: the identity; its mask output must be unused
    if (c.node.outputs.slice(1).some((o, i) => o && c.outputUsed(i + 1))) throw new TesseraError('UNSUPPORTED_OP', `${c.label}: its mask output is used; upgrading such a Dropout is not supported`);
    Object.assign(c.edit, { op: 'Identity', inputs: [c.node.inputs[0]], outputs: [c.node.outputs[0]], attrs: {} });
  } },
  Scatter: { at: 11, rewrite(c) { c.edit.op = 'ScatterElements'; } },
  BatchNormalization: { at: 9, rewrite(c) {
    if (intOf(c.node.attrs.spatial, 1) !== 1) throw new TesseraError('UNSUPPORTED_OP', `${c.label}: spatial=0 has no equivalent after opset 9`);
    delete c.edit.attrs.spatial; delete c.edit.attrs.is_test; delete c.edit.attrs.consumed_inputs;
    c.edit.outputs = c.edit.outputs.slice(0, 1);
  } },
  Upsample: { at: 10 }, Resize: { at: 11 }, GridSample: { at: 20 }, DFT: { at: 20 }, GroupNormalization: { at: 21 },
};

function lastAxisOnly(c: UpgradeContext): void {
  const axis = intOf(c.node.attrs.axis, 1), rank = c.inputRank;
  const last = axis === -1 || (rank !== undefined && (axis + rank) % rank === rank - 1);
  if (!last) throw new TesseraError('UNSUPPORTED_OP', `${c.label}: axis ${axis} over a tensor of rank ${rank ?? '?'} normalizes over several axes before opset 13 and one axis after; only the last axis upgrades unchanged`);
  c.edit.attrs.axis = { type: 'int', value: -1 };
}
