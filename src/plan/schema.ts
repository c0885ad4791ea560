/**
 * The Plan: the contract between compiler and runtime. Plain JSON, versioned, deterministic (same model,
 * target and options give the same bytes) and validated on load.
 */
import { createHash } from 'node:crypto';
import type { z as Z } from 'zod';
import { TesseraError } from '../errors.js';
import { targetSchemas } from '../targets/schema.js';
import { zod } from '../zod.js';

/** The memory rewrites a plan may record (passes/rewrite.ts applies them; whoever runs the plan applies the same). */
export const REWRITES = ['sum-chain', 'concat-conv', 'spatial-tile'] as const;
export type Rewrite = (typeof REWRITES)[number];

export const PLAN_FORMAT = 'tessera.plan';

/** The hex sha256 of a model's bytes: how a plan names the model it was compiled for. */
export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}
export const PLAN_VERSION = 1;

/** The plan schema (zod), built on first use: a process that reads or writes no plan loads no zod (src/zod.ts). */
function build(z: typeof Z) {
  const { plainName } = targetSchemas();
  /** A time on the predicted timeline, in µs (zod numbers are finite: no NaN, no Infinity from 1e999). */
  const us = z.number().nonnegative();

  const stepSchema = z.discriminatedUnion('kind', [
    z.object({ kind: z.literal('compute'), partition: z.number().int().nonnegative(), lane: z.string(), startUs: us, endUs: us, after: z.array(z.number().int().nonnegative()) }).strict(),
    z.object({ kind: z.literal('transfer'), value: z.string(), from: z.string(), to: z.string(), bytes: z.number().int().nonnegative(), lane: z.string(), startUs: us, endUs: us, after: z.array(z.number().int().nonnegative()) }).strict(),
  ]);

  const bufferSchema = z.object({
    value: z.string(), bytes: z.number().int().nonnegative(), dtype: z.string(), scale: z.number().positive().optional(), offset: z.number().int().nonnegative(),
    start: z.number().int().nonnegative(), end: z.number().int().nonnegative(),
    /** Written in place over that value's buffer (same offset) by the node at `start`. */
    inplaceOf: z.string().optional(),
  }).strict();

  const planSchema = z.object({
    format: z.literal(PLAN_FORMAT),
    version: z.literal(PLAN_VERSION),
    /**
     * The model file (its base name); `path`: where it was, relative to the plan file's directory when the
     * plan was written to a file (absolute when no relative path exists), for `tessera viz` to find it;
     * `rewrites`: the memory rewrites (passes/rewrite.ts) applied to it before compiling,
     * which whoever runs the plan applies too; `tiles`: the spatial tiling chosen (node sets of the graph
     * before tiling, and their tile counts), applied as recorded instead of searched again.
     */
    model: z.object({
      /** `file` and the target's `name` are names, never paths (a plan is untrusted input; the viewer finds the model by this name). */
      file: plainName, path: z.string().optional(), sha256: z.string().regex(/^[0-9a-f]{64}$/), nodes: z.number().int().nonnegative(), rewrites: z.array(z.enum(REWRITES)).optional(),
      tiles: z.array(z.object({ nodes: z.array(z.number().int().nonnegative()), count: z.number().int().min(2) }).strict()).optional(),
    }).strict(),
    target: z.object({
      name: plainName,
      processors: z.array(z.object({ id: z.string(), kind: z.enum(['cpu', 'gpu', 'npu']), name: z.string(), backend: z.string() }).strict()).min(1),
    }).strict(),
    inputs: z.record(z.string(), z.object({ dtype: z.string(), shape: z.array(z.number().int().nonnegative()) }).strict()),
    outputs: z.array(z.string()),
    nodes: z.array(z.object({
      index: z.number().int().nonnegative(), name: z.string(), op: z.string(), processor: z.string(), partition: z.number().int().nonnegative(),
      folded: z.boolean().optional(),
      /**
       * What a run-time node computes in (targets/storage.ts nodePrecision): 'float32', 'float16', or a QDQ
       * group's integers as Qualcomm writes them — activation and weight bits, 'a8w8', 'a16w8', 'a8w4', 'a8'.
       */
      precision: z.string().optional(),
      /** Faster processors that could not take the node, and why. */
      rejected: z.array(z.object({ processor: z.string(), reason: z.string() }).strict()).optional(),
    }).strict()),
    partitions: z.array(z.object({
      id: z.number().int().nonnegative(), processor: z.string(), backend: z.string(), precision: z.enum(['native', 'float16']),
      nodes: z.array(z.number().int().nonnegative()), inputs: z.array(z.string()), outputs: z.array(z.string()),
      /** An earlier partition of the same structure whose executable this one runs, its own weights fed as inputs (compiler/repeats.ts sharedExecutables). */
      executable: z.number().int().nonnegative().optional(),
    }).strict()),
    order: z.array(z.number().int().nonnegative()),
    steps: z.array(stepSchema),
    memory: z.record(z.string(), z.object({
      arenaBytes: z.number().int().nonnegative(), peakBytes: z.number().int().nonnegative(), lowerBoundBytes: z.number().int().nonnegative(),
      weightBytes: z.number().int().nonnegative(),
      /** Offset algorithm that gave the smallest arena; on-chip memory and the buffer bytes beyond it (spilled). */
      algorithm: z.string().optional(), onChipBytes: z.number().int().nonnegative().optional(), spillBytes: z.number().int().nonnegative().optional(),
      buffers: z.array(bufferSchema),
    }).strict()),
    /** The memory-aware order of the run-time nodes (all memories together, at node granularity): its peak, a lower bound, and whether the search proved it optimal. */
    orderSearch: z.object({
      peakBytes: z.number().int().nonnegative(), lowerBoundBytes: z.number().int().nonnegative(), exact: z.boolean(),
      segments: z.number().int().nonnegative(), exactSegments: z.number().int().nonnegative(), budgetMs: z.number().nonnegative(),
      fileOrderPeakBytes: z.number().int().nonnegative(), splitFrom: z.number().int().nonnegative(),
      /** Which order the plan uses: the search's, or the partitioner's walk when that gave smaller arenas. */
      kept: z.enum(['search', 'walk']).optional(),
    }).strict().optional(),
    estimate: z.object({ latencyUs: z.number().nonnegative(), transferBytes: z.number().int().nonnegative(), source: z.string() }).strict(),
    /** The objective the plan was compiled for, and the process's predicted peak resident bytes by category (passes/resident.ts). */
    resident: z.object({
      objective: z.enum(['latency', 'memory']),
      floorBytes: z.number().int().nonnegative(), sessionBytes: z.number().int().nonnegative(), weightBytes: z.number().int().nonnegative(),
      arenaBytes: z.number().int().nonnegative(), workspaceBytes: z.number().int().nonnegative(), peakBytes: z.number().int().nonnegative(), source: z.string(),
    }).strict().optional(),
  }).strict();
  return planSchema;
}

let built: ReturnType<typeof build> | undefined;

export function planSchema(): ReturnType<typeof build> {
  return (built ??= build(zod()));
}

export type Plan = Z.infer<ReturnType<typeof build>>;
export type PlanStep = Plan['steps'][number];

/** Parses and validates plan JSON text; a clear error before anything runs. */
export function parsePlan(text: string, where: string): Plan {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new TesseraError('BAD_PLAN', `${where} is not JSON: ${(err as Error).message}`);
  }
  return validatePlan(json, where);
}

/** Checks that a value is a plan of this version (format, fields, types); returns it in canonical form. */
export function validatePlan(json: unknown, where: string): Plan {
  const head = json as { format?: unknown; version?: unknown } | null;
  if (head?.format !== PLAN_FORMAT) throw new TesseraError('BAD_PLAN', `${where} is not a Tessera plan (format is ${JSON.stringify(head?.format)}, expected "${PLAN_FORMAT}")`);
  if (typeof head.version === 'number' && head.version > PLAN_VERSION) {
    throw new TesseraError('BAD_PLAN', `${where} is a version ${head.version} plan, newer than this Tessera reads (version ${PLAN_VERSION}); recompile it with this version`);
  }
  const r = planSchema().safeParse(json);
  if (!r.success) {
    const issues = r.error.issues.slice(0, 5).map((i) => `${i.path.join('.') || '(top)'}: ${i.message}`);
    throw new TesseraError('BAD_PLAN', `${where} is not a valid plan: ${issues.join('; ')}`);
  }
  return r.data;
}

/** The plan as deterministic JSON text (keys in the schema's order, whoever built the object). */
export function serializePlan(plan: Plan): string {
  return `${JSON.stringify(validatePlan(plan, 'plan'), null, 1)}\n`;
}
