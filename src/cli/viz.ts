/**
 * `tessera viz plan.json [--trace trace.json] [--model model.onnx] [-o plan.html]`: one self-contained
 * HTML page with the plan's graph, timeline, memory and summary. The plan does not hold the model's
 * edges, shapes, bytes, FLOPs or attributes: they are read here from the model (given, or found from
 * the plan's `model.file`; its sha256 must match) into a small view model inlined beside the plan.
 */
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { writeFilesAtomically } from '../atomic.js';
import { loadModel, planGraph, readPlanFile } from '../compiler/index.js';
import { TesseraError } from '../errors.js';
import { readModelFile } from '../ir/onnx-import.js';
import { sha256, type Plan } from '../plan/schema.js';
import { targetOfPlan, type Target } from '../targets/index.js';
import { buildHtml } from '../viz/html.js';
import type { VizData } from '../viz/model.js';
import { parseTraceFile } from '../viz/trace-file.js';
import { buildViewModel } from '../viz/view-model.js';

export interface VizOptions {
  trace?: string;
  model?: string;
  out?: string;
}

export interface VizResult {
  out: string;
  bytes: number;
  /** Where the model came from, or why the graph view shows the order only. */
  model: string;
}

export function readText(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    throw new TesseraError('FILE_NOT_FOUND', `${what} file not found: ${path}`);
  }
}

/** The model file of a plan: the one given (its sha256 must match), else the plan's model.file as written, relative to the plan, or beside it. */
export function findModel(plan: Plan, planPath: string, given?: string): { path?: string; bytes?: Uint8Array; why: string } {
  if (given) {
    const bytes = readModelFile(given);
    const sum = sha256(bytes);
    if (sum !== plan.model.sha256) throw new TesseraError('PLAN_MISMATCH', `--model ${given} (sha256 ${sum.slice(0, 12)}…) is not the model the plan was compiled from (${plan.model.file}, sha256 ${plan.model.sha256.slice(0, 12)}…)`);
    return { path: given, bytes, why: `${given} (given; sha256 matches the plan)` };
  }
  const candidates = [...new Set([plan.model.file, resolve(dirname(planPath), plan.model.file), join(dirname(planPath), basename(plan.model.file))])];
  for (const c of candidates) {
    if (!existsSync(c)) continue;
    const bytes = readModelFile(c);
    if (sha256(bytes) === plan.model.sha256) return { path: c, bytes, why: `${c} (found from the plan; sha256 matches)` };
  }
  return { why: `the model was not found (tried ${candidates.join(', ')} with the plan's sha256); give it with --model to see edges, shapes, bytes and FLOPs` };
}

export async function vizPlan(planPath: string, options: VizOptions = {}): Promise<VizResult> {
  const plan = readPlanFile(planPath);
  const trace = options.trace ? parseTraceFile(readText(options.trace, 'trace'), options.trace, plan) : undefined;
  const found = findModel(plan, planPath, options.model);
  const data: VizData = { plan, files: { plan: planPath, ...(options.trace ? { trace: options.trace } : {}), ...(found.path ? { model: found.path } : {}) } };
  if (trace) data.trace = trace;
  if (found.bytes) {
    const inputShapes = Object.fromEntries(Object.entries(plan.inputs).map(([k, v]) => [k, v.shape]));
    const graph = await planGraph(await loadModel(found.path!, { inputShapes }), plan);
    if (graph.nodes.length !== plan.nodes.length) throw new TesseraError('PLAN_MISMATCH', `${found.path} has ${graph.nodes.length} nodes, the plan ${plan.nodes.length}`);
    let target: Target | undefined;
    try {
      target = await targetOfPlan(plan.target.name); // a plan's name is never opened as a path
    } catch {
      target = undefined;
    }
    data.view = buildViewModel(plan, graph, target, `${found.why}; shapes for the plan's inputs`);
  } else data.viewMissing = found.why;
  const html = await buildHtml(data);
  const out = options.out ?? planPath.replace(/\.json$/i, '') + '.html';
  writeFilesAtomically([{ path: out, bytes: html }]);
  return { out, bytes: Buffer.byteLength(html), model: found.why };
}
