/** Quantization ops: (de)quantize keep the shape and change the element type. */
import { dtypeFromOnnx, type DType } from '../dtype.js';
import { numel, registerOp, tensor } from './registry.js';

registerOp('QuantizeLinear', {
  infer(ctx) {
    const x = ctx.shape(0);
    const attr = ctx.int('output_dtype', 0);
    // output_dtype (opset 21) when given, else the zero point's type, else uint8.
    const dtype: DType | null = attr ? dtypeFromOnnx(attr, `QuantizeLinear '${ctx.node.name}'`) : ctx.has(2) ? ctx.input(2).dtype : 'uint8';
    return [tensor(dtype, [...x])];
  },
  flops: (_ctx, outs) => 2 * (numel(outs[0].shape!) ?? 0),
});

registerOp('DequantizeLinear', {
  infer(ctx) {
    const x = ctx.shape(0);
    const attr = ctx.int('output_dtype', 0);
    // The scale's type (float32 before opset 19), unless output_dtype says otherwise.
    const dtype: DType | null = attr ? dtypeFromOnnx(attr, `DequantizeLinear '${ctx.node.name}'`) : ctx.input(1).dtype ?? 'float32';
    return [tensor(dtype, [...x])];
  },
  flops: (_ctx, outs) => 2 * (numel(outs[0].shape!) ?? 0),
});

registerOp('DynamicQuantizeLinear', {
  infer: (ctx) => [tensor('uint8', [...ctx.shape(0)]), tensor('float32', []), tensor('uint8', [])],
  flops: (ctx) => 4 * (numel(ctx.shape(0)) ?? 0),
});
