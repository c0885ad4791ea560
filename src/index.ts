/** Tessera's public API. */
export { Session, type SessionOptions } from './scheduler/session.js';
export { Tensor, type TensorMap } from './backends/tensor.js';
export { TesseraError, type ErrorCode } from './errors.js';
export { loadTarget, builtinTargetNames, hostTarget, parseTarget } from './targets/index.js';
export type { Target, Processor } from './targets/schema.js';
export { parsePlan, serializePlan, type Plan } from './scheduler/plan.js';
export { compilePlan } from './scheduler/compile.js';
export { verifyPlan } from './scheduler/verify.js';
export type { Trace, Binding } from './scheduler/runtime.js';
export { importOnnx, importOnnxFile, type ImportOptions } from './ir/onnx-import.js';
export { DEFAULT_LIMITS, type Limits } from './ir/limits.js';
export { inferShapes } from './ir/infer.js';
export { GraphBuilder } from './ir/builder.js';
