/**
 * Tessera's public API for running models: what `import … from 'tessera'` gets. Importing it loads only
 * what an InferenceSession with nothing to plan needs (onnxruntime-node, the model's signature read from
 * its bytes, the host target); the compiler, the protobuf decoder and zod are loaded when a session
 * first compiles (tests/runtime/lazy-loading.test.ts). Session, Generator, StreamedGenerator and
 * StreamedModel are created asynchronously, so their modules are imported then.
 * The compiler's synchronous API (importer, GraphBuilder, shape inference, compile, plan files) is
 * `tessera/compiler` (src/compiler/api.ts).
 */
import type * as Generate from './generate/index.js';
import type * as Stream from './runtime/stream.js';

export { Session, type SessionOptions } from './runtime/session.js';
export { InferenceSession, ORT_SESSION_OPTIONS, type InferenceSessionOptions, type ValueMetadata } from './runtime/inference-session.js';
export { WeightArena } from './runtime/weight-arena.js';
export type { StreamGroup, StreamOptions, StreamStats } from './runtime/stream.js';
export { Tensor, type TensorMap } from './backends/tensor.js';
export { BudgetInfeasible, TesseraError, type ErrorCode } from './errors.js';
export { loadTarget, builtinTargetNames, hostTarget, parseTarget } from './targets/index.js';
export type { Target, Processor } from './targets/schema.js';
export type { Plan } from './plan/schema.js';
export type { Trace, Binding, Fallback } from './plan/trace.js';
export type { BindSpec } from './backends/binding.js';
export type { Compilation, CompileOptions } from './compiler/index.js';
export { registerBackend, type BackendSpec } from './backends/registry.js';
export type { Backend, Executable, Subgraph } from './backends/backend.js';
export type { CapabilityTable, OpCapability } from './backends/capability.js';
export { DEFAULT_LIMITS, type Limits } from './ir/limits.js';
export type { GeneratorOptions, GenerationStats, SamplingOptions, StreamedGeneratorOptions } from './generate/index.js';

/** A model run in groups of layers whose weights are streamed from the file (src/runtime/stream.ts; loaded by open). */
export type StreamedModel = Stream.StreamedModel;
export const StreamedModel: Pick<typeof Stream.StreamedModel, 'open'> = {
  open: async (...a) => (await import('./runtime/stream.js')).StreamedModel.open(...a),
};

/** Runs a model streamed once (src/runtime/stream.ts; loaded on the call). */
export async function runStreamed(...a: Parameters<typeof Stream.runStreamed>): ReturnType<typeof Stream.runStreamed> {
  return (await import('./runtime/stream.js')).runStreamed(...a);
}

/** Token generation with a KV cache (src/generate/generator.ts; loaded by create). */
export type Generator = Generate.Generator;
export const Generator: Pick<typeof Generate.Generator, 'create'> = {
  create: async (...a) => (await import('./generate/generator.js')).Generator.create(...a),
};

/** Token generation streaming the weights of a model larger than memory (src/generate/streamed.ts; loaded by create). */
export type StreamedGenerator = Generate.StreamedGenerator;
export const StreamedGenerator: Pick<typeof Generate.StreamedGenerator, 'create'> = {
  create: async (...a) => (await import('./generate/streamed.js')).StreamedGenerator.create(...a),
};
