/** Tessera's public API. */
export { Session, type SessionOptions } from './runtime/session.js';
export { StreamedModel, runStreamed, type StreamGroup, type StreamOptions } from './runtime/stream.js';
export { Tensor, type TensorMap } from './backends/tensor.js';
export { TesseraError, type ErrorCode } from './errors.js';
export { loadTarget, builtinTargetNames, hostTarget, parseTarget } from './targets/index.js';
export type { Target, Processor } from './targets/schema.js';
export { parsePlan, serializePlan, type Plan } from './plan/schema.js';
export { verifyPlan } from './plan/verify.js';
export type { Trace, Binding, Fallback } from './plan/trace.js';
export type { BindSpec } from './backends/binding.js';
export { compile, compilePlan, loadModel, type Compilation, type CompileOptions } from './compiler/index.js';
export { registerBackend, type BackendSpec } from './backends/registry.js';
export type { Backend, Executable, Subgraph } from './backends/backend.js';
export type { CapabilityTable, OpCapability } from './backends/capability.js';
export { importOnnx, importOnnxFile, type ImportOptions } from './ir/onnx-import.js';
export { DEFAULT_LIMITS, type Limits } from './ir/limits.js';
export { inferShapes } from './ir/infer.js';
export { GraphBuilder } from './ir/builder.js';
