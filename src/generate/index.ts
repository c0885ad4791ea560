/** Generation over decoders with the Optimum past/present signature: a KV cache Tessera owns, written in place. */
export { Generator, type GeneratorOptions, type GenerationStats, type GenerationEvent, type StopReason } from './generator.js';
export { decoderSignature, type DecoderSignature } from './signature.js';
export { rewriteForInPlaceKv, KV_INDEX } from './kv-rewrite.js';
export { chooseMaxLength, modelWeightBytes, type KvBudget } from './kv-budget.js';
export { argmax, makeSampler, seededPrompt, type SamplingOptions } from './sampling.js';
export { StreamedGenerator, needsStreaming, type StreamedGeneratorOptions, type StreamedStats } from './streamed.js';
