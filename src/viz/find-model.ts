/**
 * Where a plan's model is: a plan written to a file records the model's path relative to that file
 * (`model.path`), so `tessera viz` finds it from any working directory; the sha256 recorded beside it
 * must still match. Node-side (not bundled into the page).
 */
import { existsSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { TesseraError } from '../errors.js';
import { readModelFile } from '../ir/onnx-import.js';
import { sha256 } from '../plan/schema.js';
import type { Plan } from '../plan/schema.js';

/** The model's path as a plan written to `planPath` records it: relative to the plan's directory, with '/' separators; absolute when there is no relative path (another drive). */
export function modelPathForPlan(planPath: string, modelPath: string): string {
  const rel = relative(dirname(resolve(planPath)), resolve(modelPath));
  return isAbsolute(rel) ? resolve(modelPath) : rel.split(sep).join('/');
}

/** The plan as written to `planPath`: with the model's path recorded (see modelPathForPlan). */
export function withModelPath(plan: Plan, planPath: string, modelPath: string): Plan {
  return { ...plan, model: { ...plan.model, path: modelPathForPlan(planPath, modelPath) } };
}

export interface FoundModel {
  path?: string;
  bytes?: Uint8Array;
  /** Where the model came from, or every place looked at and why none was it. */
  why: string;
}

/**
 * The model file of a plan: the one given (its sha256 must match, else PLAN_MISMATCH); else the first
 * with the plan's sha256 among: the recorded path (relative to the plan), the plan's directory, the
 * working directory.
 */
export function findModel(plan: Plan, planPath: string, given?: string): FoundModel {
  const want = plan.model.sha256;
  if (given) {
    const bytes = readModelFile(given);
    const sum = sha256(bytes);
    if (sum !== want) throw new TesseraError('PLAN_MISMATCH', `--model ${given} (sha256 ${sum.slice(0, 12)}…) is not the model the plan was compiled from (${plan.model.file}, sha256 ${want.slice(0, 12)}…)`);
    return { path: given, bytes, why: `${given} (given; sha256 matches the plan)` };
  }
  const planDir = dirname(planPath);
  const candidates: { path: string; how: string }[] = [];
  // a plan is untrusted: its recorded path is followed only to a file of the model's own name (never to read just any file)
  if (plan.model.path && basename(plan.model.path) === plan.model.file) candidates.push({ path: resolve(planDir, plan.model.path), how: `the recorded path ${plan.model.path}, relative to the plan` });
  candidates.push({ path: join(planDir, basename(plan.model.file)), how: 'beside the plan' });
  candidates.push({ path: resolve(plan.model.file), how: 'in the working directory' });
  const tried: string[] = [];
  const seen = new Set<string>();
  for (const c of candidates) {
    const abs = resolve(c.path);
    if (seen.has(abs)) continue;
    seen.add(abs);
    if (!existsSync(abs)) {
      tried.push(`${c.path} (${c.how}): no such file`);
      continue;
    }
    const bytes = readModelFile(abs);
    const sum = sha256(bytes);
    if (sum === want) return { path: c.path, bytes, why: `${c.path} (${c.how}; sha256 matches the plan)` };
    tried.push(`${c.path} (${c.how}): sha256 ${sum.slice(0, 12)}…, not the plan's ${want.slice(0, 12)}… (changed since the plan was compiled?)`);
  }
  return { why: `the model was not found — looked at ${tried.join('; ')}; give it with --model to see edges, shapes, bytes, FLOPs and the verifier's findings` };
}
