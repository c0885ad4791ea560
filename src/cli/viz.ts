/**
 * `tessera viz plan.json [--trace trace.json] [--model model.onnx] [-o plan.html]`: one self-contained
 * HTML page with the plan's graph, timeline, memory and summary. The plan does not hold the model's
 * edges, shapes, bytes, FLOPs or attributes: they are read here from the model (given, or found from
 * the path the plan records: src/viz/find-model.ts; its sha256 must match) into a small view model
 * inlined beside the plan, with the plan verifier's finding (src/viz/check.ts).
 */
import { applyRewrites } from '../passes/rewrite.js';
import { readFileSync } from 'node:fs';
import { ortProber } from '../backends/ort.js';
import { TesseraError } from '../errors.js';
import { inferShapes, valueByteSize, type ShapedGraph } from '../ir/infer.js';
import { importOnnx } from '../ir/onnx-import.js';
import { parsePlan, type Plan } from '../scheduler/plan.js';
import { costSource, predictNode } from '../targets/cost.js';
import { loadTarget, type Target } from '../targets/index.js';
import { findModel } from '../viz/find-model.js';
import { buildHtml } from '../viz/html.js';
import type { PlanCheck, ViewModel, ViewNode, ViewValue, VizData } from '../viz/model.js';
import { attrsText, viewSubgraphs } from '../viz/view-model.js';
import { checkPlan } from '../viz/check.js';
import { parseTraceFile } from '../viz/trace-file.js';
import { writeFilesAtomically } from './atomic.js';

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

/** The model-derived data the viewer needs, for the plan's input shapes. */
export function buildViewModel(plan: Plan, graph: ShapedGraph, target: Target | undefined, source: string): ViewModel {
  const procs = new Map(target?.processors.map((p) => [p.id, p]) ?? []);
  const values: Record<string, ViewValue> = {};
  const sub = viewSubgraphs(graph);
  const nodes: ViewNode[] = graph.nodes.map((n, i) => {
    for (const name of [...n.inputs, ...n.outputs, ...n.implicitInputs]) {
      if (!name || values[name]) continue;
      const v = graph.values.get(name);
      if (!v) continue;
      values[name] = { dtype: v.dtype, shape: v.shape ? [...v.shape] : null, bytes: valueByteSize(v), producer: v.producer, role: v.role };
    }
    const p = plan.nodes[i];
    const proc = p && !p.folded ? procs.get(p.processor) : undefined;
    const pred = proc ? predictNode(proc, graph, i) : undefined;
    return {
      inputs: [...n.inputs], outputs: [...n.outputs], attrs: attrsText(n.attrs), flops: graph.costs[i].flops, bytes: graph.costs[i].bytes,
      ...(pred ? { predictedUs: pred.us, basis: pred.basis } : {}),
      ...(sub.of.has(i) ? { implicit: [...n.implicitInputs], subgraphs: sub.of.get(i)! } : {}),
    };
  });
  return { source, nodes, values, costSource: target ? costSource(target) : `no per-node predictions: target '${plan.target.name}' is not a built-in target here`, subgraphs: sub.subgraphs };
}

export async function vizPlan(planPath: string, options: VizOptions = {}): Promise<VizResult> {
  const plan = parsePlan(readText(planPath, 'plan'), planPath);
  const trace = options.trace ? parseTraceFile(readText(options.trace, 'trace'), options.trace, plan) : undefined;
  const found = findModel(plan, planPath, options.model);
  const data: VizData = { plan, files: { plan: planPath, ...(options.trace ? { trace: options.trace } : {}), ...(found.path ? { model: found.path } : {}) }, check: checkPlan(plan, undefined, undefined, 'the verifier needs the model, which was not found') };
  if (trace) data.trace = trace;
  if (found.bytes) {
    const inputShapes = Object.fromEntries(Object.entries(plan.inputs).map(([k, v]) => [k, v.shape]));
    const graph = await applyRewrites(await inferShapes(importOnnx(found.bytes, { path: found.path! }), { inputShapes, prober: ortProber }), plan.model.rewrites, ortProber, plan.model.tiles);
    if (graph.nodes.length !== plan.nodes.length) throw new TesseraError('PLAN_MISMATCH', `${found.path} has ${graph.nodes.length} nodes, the plan ${plan.nodes.length}`);
    let target: Target | undefined;
    try {
      target = await loadTarget(plan.target.name);
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
