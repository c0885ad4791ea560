/**
 * The contracts between compiler, runtime and viewer: the Plan (schema, serialization, the sha256 that
 * ties it to its model), its verifier, the rule its buffers obey, where values live, and the Trace. This
 * module imports no pass.
 */
export { parsePlan, PLAN_FORMAT, PLAN_VERSION, REWRITES, serializePlan, sha256, validatePlan, type Plan, type PlanStep, type Rewrite } from './schema.js';
export { verifyPlan, type VerifyOptions } from './verify.js';
export { align, ALIGNMENT, lifetimes, verifyNoOverlap, type Buffer, type Lifetime } from './lifetimes.js';
export { hostProcessor, residency, type Residency } from './residency.js';
export type { PartitionSpec, Partitioning, PlacedNode } from './partitioning.js';
export type { Binding, Fallback, Trace, TraceStep } from './trace.js';
