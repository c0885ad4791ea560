/**
 * The measured trace as a file (`tessera run --trace trace.json`): what `session.lastTrace` holds, plus
 * what ties it to its plan (the model's sha256, the target, the number of steps). Versioned and
 * validated on load like plans.
 */
import type { z as Z } from 'zod';
import { TesseraError } from '../errors.js';
import type { Plan } from '../plan/schema.js';
import type { Trace } from '../plan/trace.js';
import { zod } from '../zod.js';

// loaded when a trace is written or read: zod with it, the one instance every schema of ours is built with
const z = zod();

export const TRACE_FORMAT = 'tessera.trace';
export const TRACE_VERSION = 1;

export const traceFileSchema = z.object({
  format: z.literal(TRACE_FORMAT),
  version: z.literal(TRACE_VERSION),
  /** The plan this trace ran: its model's sha256, its target and its step count. */
  plan: z.object({ modelSha256: z.string(), target: z.string(), steps: z.number().int().nonnegative() }).strict(),
  source: z.string(),
  totalUs: z.number().nonnegative(),
  arenaBytes: z.record(z.string(), z.number().int().nonnegative()),
  bindings: z.array(z.object({ processor: z.string(), backend: z.string(), emulated: z.boolean(), note: z.string() }).strict()),
  steps: z.array(z.object({
    step: z.number().int().nonnegative(), kind: z.enum(['compute', 'transfer']), lane: z.string(),
    partition: z.number().int().nonnegative().optional(), value: z.string().optional(), bytes: z.number().int().nonnegative().optional(),
    startUs: z.number(), endUs: z.number(),
  }).strict()),
}).strict();

export type TraceFile = Z.infer<typeof traceFileSchema>;

/** The trace file of one run of a plan. */
export function traceFileOf(plan: Plan, trace: Trace, host: string): TraceFile {
  return {
    format: TRACE_FORMAT, version: TRACE_VERSION,
    plan: { modelSha256: plan.model.sha256, target: plan.target.name, steps: plan.steps.length },
    source: `measured on this host (${host}), one run`,
    totalUs: trace.totalUs,
    arenaBytes: { ...trace.arenaBytes },
    bindings: trace.bindings.map((b) => ({ processor: b.processor, backend: b.backend, emulated: b.emulated, note: b.note })),
    steps: trace.steps.map((s) => ({
      step: s.step, kind: s.kind, lane: s.lane,
      ...(s.partition !== undefined ? { partition: s.partition } : {}), ...(s.value !== undefined ? { value: s.value } : {}), ...(s.bytes !== undefined ? { bytes: s.bytes } : {}),
      startUs: s.startUs, endUs: s.endUs,
    })),
  };
}

export function serializeTraceFile(t: TraceFile): string {
  return `${JSON.stringify(t, null, 1)}\n`;
}

/** Parses and validates a trace file, and checks that it belongs to the plan when one is given. */
export function parseTraceFile(text: string, where: string, plan?: Plan): TraceFile {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new TesseraError('BAD_ARGUMENT', `${where} is not JSON: ${(err as Error).message}`);
  }
  const head = json as { format?: unknown } | null;
  if (head?.format !== TRACE_FORMAT) throw new TesseraError('BAD_ARGUMENT', `${where} is not a Tessera trace (format is ${JSON.stringify(head?.format)}, expected "${TRACE_FORMAT}"); write one with 'tessera run --plan plan.json --trace ${where}'`);
  const r = traceFileSchema.safeParse(json);
  if (!r.success) {
    const issues = r.error.issues.slice(0, 5).map((i) => `${i.path.join('.') || '(top)'}: ${i.message}`);
    throw new TesseraError('BAD_ARGUMENT', `${where} is not a valid trace: ${issues.join('; ')}`);
  }
  const t = r.data;
  if (plan) {
    if (t.plan.modelSha256 !== plan.model.sha256 || t.plan.target !== plan.target.name || t.plan.steps !== plan.steps.length) {
      throw new TesseraError('PLAN_MISMATCH', `${where} was measured for another plan (model ${t.plan.modelSha256.slice(0, 12)}…, target '${t.plan.target}', ${t.plan.steps} steps), not this one (model ${plan.model.sha256.slice(0, 12)}…, target '${plan.target.name}', ${plan.steps.length} steps)`);
    }
    for (const s of t.steps) {
      const p = plan.steps[s.step];
      if (!p || p.kind !== s.kind || p.lane !== s.lane) throw new TesseraError('PLAN_MISMATCH', `${where}: step ${s.step} (${s.kind} on ${s.lane}) is not that step of the plan`);
    }
  }
  return t;
}
