/** `tessera inspect`, printed. */
import type { InspectReport } from '../compiler/inspect.js';
import { formatShape } from '../ir/graph.js';
import { formatBytes } from '../format.js';

export function formatInspect(r: InspectReport): string {
  const lines: string[] = [];
  lines.push(`${r.model}`);
  lines.push(`  nodes: ${r.nodes} top level, ${r.nodesInSubgraphs} inside subgraphs`);
  lines.push(`  weights: ${formatBytes(r.weightBytes)}   activations: ${formatBytes(r.activationBytes)} (sum over all values, for the input shapes below)`);
  lines.push(`  inputs: ${r.inputs.map((i) => `${i.name} ${i.dtype} ${formatShape(i.shape)}`).join(', ')}`);
  lines.push(`  outputs: ${r.outputs.join(', ')}`);
  lines.push(`  ops: ${Object.entries(r.ops).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  const probed = r.values.filter((v) => v.shapeSource === 'probe').length;
  lines.push(`  values (${r.values.length}; ${probed} measured by a probe run on onnxruntime, the rest inferred statically):`);
  const w = Math.min(60, Math.max(...r.values.map((v) => v.name.length), 4));
  for (const v of r.values) {
    lines.push(`    ${v.name.padEnd(w)}  ${String(v.dtype).padEnd(8)} ${formatShape(v.shape).padEnd(20)} ${formatBytes(v.bytes).padStart(10)}${v.shapeSource === 'probe' ? '  (probe)' : ''}`);
  }
  return lines.join('\n');
}
