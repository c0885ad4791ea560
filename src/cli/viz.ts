/**
 * `tessera viz plan.json [--trace trace.json] [--model model.onnx] [-o plan.html]`: one self-contained
 * HTML page with the plan's graph, timeline, memory and summary. The plan does not hold the model's
 * edges, shapes, bytes, FLOPs or attributes: they are read here from the model (given, or found from
 * the path the plan records: src/viz/find-model.ts; its sha256 must match) into a small view model
 * inlined beside the plan, with the plan verifier's finding (src/viz/check.ts).
 */
import { readFileSync } from 'node:fs';
import { writeFilesAtomically } from '../atomic.js';
import { loadModel, planGraph, readPlanFile } from '../compiler/index.js';
import { TesseraError } from '../errors.js';
import { targetOfPlan, type Target } from '../targets/index.js';
import { checkPlan } from '../viz/check.js';
import { findModel } from '../viz/find-model.js';
import { buildHtml } from '../viz/html.js';
import type { PlanCheck, VizData } from '../viz/model.js';
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
  /** The plan verifier's finding, shown at the top of the page. */
  check: PlanCheck;
}

export function readText(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    throw new TesseraError('FILE_NOT_FOUND', `${what} file not found: ${path}`);
  }
}

export async function vizPlan(planPath: string, options: VizOptions = {}): Promise<VizResult> {
  const plan = readPlanFile(planPath);
  const trace = options.trace ? parseTraceFile(readText(options.trace, 'trace'), options.trace, plan) : undefined;
  const found = findModel(plan, planPath, options.model);
  const data: VizData = { plan, files: { plan: planPath, ...(options.trace ? { trace: options.trace } : {}), ...(found.path ? { model: found.path } : {}) }, check: checkPlan(plan, undefined, undefined, 'the verifier needs the model, which was not found') };
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
    data.check = checkPlan(plan, graph, target, `target '${plan.target.name}' is not a built-in target here`);
  } else data.viewMissing = found.why;
  const html = await buildHtml(data);
  const out = options.out ?? planPath.replace(/\.json$/i, '') + '.html';
  writeFilesAtomically([{ path: out, bytes: html }]);
  return { out, bytes: Buffer.byteLength(html), model: found.why, check: data.check };
}
