/** `tessera quantize`: argument checks, the atomic write, and the printed summary. */
import { TesseraError } from '../errors.js';
import type { QuantizeOptions, QuantizeReport, Scheme } from '../quantize/index.js';
import { writeFilesAtomically } from '../atomic.js';

export interface QuantizeCliOptions {
  scheme: string;
  calibration?: string;
  out: string;
  method?: string;
  percentile?: string;
  activations?: string;
  blockSize?: string;
  keepFloat?: string[];
  targetError?: string;
  targetSize?: string;
  report?: string;
}

const mb = (b: number) => `${(b / 1e6).toFixed(2)} MB`;

import { parseBytes } from '../format.js';

export { parseBytes };

function positive(s: string | undefined, flag: string): number | undefined {
  if (s === undefined) return undefined;
  const v = Number(s);
  if (!Number.isFinite(v) || v <= 0) throw new TesseraError('BAD_ARGUMENT', `${flag} '${s}': expected a positive number`);
  return v;
}

export function toOptions(o: QuantizeCliOptions): QuantizeOptions {
  if (o.targetError !== undefined && o.targetSize !== undefined) throw new TesseraError('BAD_ARGUMENT', '--target-error and --target-size: give one of them, not both');
  return {
    scheme: o.scheme as Scheme,
    calibration: o.calibration,
    method: o.method as QuantizeOptions['method'],
    percentile: positive(o.percentile, '--percentile'),
    activationType: o.activations as QuantizeOptions['activationType'],
    blockSize: positive(o.blockSize, '--block-size'),
    exclude: o.keepFloat?.flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean),
    targetError: positive(o.targetError, '--target-error'),
    targetBytes: o.targetSize === undefined ? undefined : parseBytes(o.targetSize, '--target-size'),
  };
}

export async function quantizeCommand(model: string, o: QuantizeCliOptions): Promise<QuantizeReport> {
  const { quantizeModel } = await import('../quantize/index.js');
  const { bytes, report } = await quantizeModel(model, toOptions(o));
  const files: { path: string; bytes: Uint8Array | string }[] = [{ path: o.out, bytes }];
  if (o.report) files.push({ path: o.report, bytes: `${JSON.stringify(report, null, 1)}\n` });
  writeFilesAtomically(files);
  return report;
}

export function formatQuantize(r: QuantizeReport, out: string): string {
  const w = r.weightBytes;
  const lines = [
    `${r.model} → ${out}: ${r.scheme}${r.method ? ` (${r.method} calibration)` : ''}${r.samples ? `, ${r.samples} calibration sample(s)` : ''}`,
    `  weights: ${mb(w.float)} → ${mb(w.quantized)} (${(w.float / w.quantized).toFixed(2)}× smaller)` + (w.matmulFloat ? `; MatMul/Gemm weights ${mb(w.matmulFloat)} → ${mb(w.matmulQuantized)} (${(w.matmulFloat / w.matmulQuantized).toFixed(2)}×)` : ''),
  ];
  const bits = new Map<string, number>();
  for (const l of r.layers) bits.set(`${l.bits === 32 ? 'float32' : `int${l.bits}`}${l.blockSize ? ` (blocks of ${l.blockSize})` : ''}`, (bits.get(`${l.bits === 32 ? 'float32' : `int${l.bits}`}${l.blockSize ? ` (blocks of ${l.blockSize})` : ''}`) ?? 0) + 1);
  lines.push(`  weight layers: ${[...bits].map(([k, n]) => `${n} ${k}`).join(', ') || 'none'}`);
  if (r.foldedBatchNorms.length) lines.push(`  BatchNormalization folded into the Conv before it: ${r.foldedBatchNorms.length}`);
  if (r.scheme === 'int8') {
    lines.push(`  quantized (QDQ) nodes: ${r.quantizedNodes}; kept float: ${r.floatNodes.length}`);
    const why = new Map<string, number>();
    for (const f of r.floatNodes) why.set(`${f.op}: ${f.reason.startsWith('no calibrated range') ? 'no calibrated range' : f.reason}`, (why.get(`${f.op}: ${f.reason.startsWith('no calibrated range') ? 'no calibrated range' : f.reason}`) ?? 0) + 1);
    for (const [k, n] of why) lines.push(`    ${k} (×${n})`);
  }
  if (r.widened) {
    const x = r.widened;
    lines.push(`  error target: with every activation at 8 bits the output error is ${x.errorAll8.toExponential(2)}; ${x.activations.length} of ${x.of} activations raised to uint16 → ${x.error.toExponential(2)} (${x.evaluations} measured candidates)`);
  }
  if (r.mixed) {
    const m = r.mixed;
    lines.push(`  mixed: target ${m.target.bytes !== undefined ? `weights ≤ ${mb(m.target.bytes)}` : `error ≤ ${m.target.error}`}; layers ${mb(m.layerBytes)}; error predicted ${m.predictedError.toExponential(2)}, measured ${m.measuredError.toExponential(2)} (relative squared, calibration samples)`);
    lines.push(`    ${'layer'.padEnd(36)} ${'op'.padEnd(8)} bits  ${'error'.padStart(9)}  ${'bytes'.padStart(9)}`);
    for (const x of m.rows) lines.push(`    ${x.node.padEnd(36)} ${x.op.padEnd(8)} ${String(x.bits).padStart(4)}  ${x.error.toExponential(2).padStart(9)}  ${String(x.bytes).padStart(9)}`);
  }
  if (r.check) lines.push(`  check (onnxruntime CPU, ${Math.min(4, r.samples)} calibration sample(s)): output error ${r.check.relError.toExponential(2)} (relative squared), smallest cosine ${r.check.minCosine.toFixed(4)}`);
  return lines.join('\n');
}
