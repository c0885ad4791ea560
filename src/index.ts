/** Tessera's public API. */
export { Session, type SessionOptions } from './scheduler/session.js';
export { Tensor, type TensorMap } from './backends/tensor.js';
export { TesseraError, type ErrorCode } from './errors.js';
export { loadTarget, builtinTargetNames, hostTarget, parseTarget } from './targets/index.js';
export type { Target, Processor } from './targets/schema.js';
export { parsePlan, serializePlan, type Plan } from './scheduler/plan.js';
export { compilePlan } from './scheduler/compile.js';
export { verifyPlan } from './scheduler/verify.js';
export type { Trace, Binding, BindSpec } from './scheduler/runtime.js';
export type { Backend, Executable } from './backends/backend.js';
export { importOnnx, importOnnxFile } from './ir/onnx-import.js';
export { inferShapes } from './ir/infer.js';
export { GraphBuilder } from './ir/builder.js';
