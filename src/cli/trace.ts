/**
 * `tessera trace plan.json [--trace trace.json] -o out.json`: the plan (and the measured trace, when
 * given) as Chrome Trace Event Format, which Perfetto (ui.perfetto.dev) and chrome://tracing open.
 */
import { writeFilesAtomically } from '../atomic.js';
import { readPlanFile } from '../compiler/index.js';
import { toTraceEvents } from '../viz/trace-events.js';
import { parseTraceFile } from '../viz/trace-file.js';
import { readText } from './viz.js';

export interface TraceExportResult {
  out: string;
  events: number;
  steps: number;
  times: string;
}

export function exportTrace(planPath: string, options: { trace?: string; out?: string } = {}): TraceExportResult {
  const plan = readPlanFile(planPath);
  const trace = options.trace ? parseTraceFile(readText(options.trace, 'trace'), options.trace, plan) : undefined;
  const file = toTraceEvents(plan, trace);
  const out = options.out ?? planPath.replace(/\.json$/i, '') + '.trace-events.json';
  writeFilesAtomically([{ path: out, bytes: `${JSON.stringify(file)}\n` }]);
  return { out, events: file.traceEvents.length, steps: plan.steps.length, times: trace ? 'measured (predicted in args)' : 'predicted by the cost model' };
}
