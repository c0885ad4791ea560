/** `tessera run`, printed: how each processor was bound, the inputs, and each output against the references. */
import type { Comparison } from '../backends/compare.js';
import { formatShape } from '../ir/graph.js';
import type { RunReport } from '../runtime/run-model.js';
import { formatBytes } from '../format.js';
import { formatFixedDims, formatResident } from './compile.js';

function fmtCmp(label: string, c: Comparison): string {
  return `${label}: max abs ${c.maxAbs.toExponential(2)}, max rel ${c.maxRel.toExponential(2)}, cosine ${Number.isNaN(c.cosine) ? '-' : c.cosine.toFixed(6)} ${c.ok ? 'ok' : 'FAIL'}`;
}

export function formatRun(r: RunReport): string {
  const lines = [`${r.model}: ran a plan for target '${r.target}' (${r.partitions} partition${r.partitions === 1 ? '' : 's'}; measured ${r.runMs.toFixed(1)} ms, one run)`];
  for (const b of r.bindings) lines.push(`  ${b.processor} → ${b.backend}${b.emulated ? ' (emulated)' : ''}: ${b.note}`);
  for (const f of r.fallbacks) lines.push(`  FALLBACK: partition #${f.partition} (${f.processor}) failed on ${f.from} at ${f.when} time and ran on ${f.to}: ${f.reason}`);
  for (const i of r.inputs) lines.push(`  input  ${i.name} ${i.dtype} ${formatShape(i.shape)} (${i.source})`);
  const dims = formatFixedDims(r.fixedDims);
  if (dims) lines.push(`  ${dims}`);
  for (const o of r.outputs) {
    lines.push(`  output ${o.name} ${o.dtype} ${formatShape(o.shape)}`);
    if (o.vsOnnxruntime) lines.push(`    ${fmtCmp('vs onnxruntime (original model)', o.vsOnnxruntime)}`);
    if (o.vsExpected) lines.push(`    ${fmtCmp('vs expected output file', o.vsExpected)}`);
  }
  if (r.memory) {
    const m = r.memory;
    lines.push(`  memory: measured peak resident ${formatBytes(m.measuredPeakBytes)} (this process, getrusage)${m.predicted ? ` vs predicted ${formatBytes(m.predicted.peakBytes)} (${m.measuredPeakBytes >= m.predicted.peakBytes ? '+' : ''}${((100 * (m.measuredPeakBytes - m.predicted.peakBytes)) / m.predicted.peakBytes).toFixed(0)}%)` : ''}`);
    if (m.predicted) lines.push(`    ${formatResident(m.predicted)}`);
  }
  if (r.outputs.some((o) => o.vsOnnxruntime || o.vsExpected)) lines.push(r.ok ? `check: all outputs pass (${r.criterion})` : `check: FAILED (${r.criterion})`);
  return lines.join('\n');
}
