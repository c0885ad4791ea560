/** Progress on long work (a bar on stderr, only when it is a terminal), and the calibration report. */
import { fittedSummary, type Measurement } from '../runtime/calibrate.js';
import type { Target } from '../targets/schema.js';
import { backendSpec } from '../backends/registry.js';

export function progressBar(label: string): (done: number, total: number, what: string) => void {
  const tty = process.stderr.isTTY;
  return (done, total, what) => {
    const width = 24;
    const filled = Math.round((width * done) / Math.max(total, 1));
    const line = `${label} [${'#'.repeat(filled)}${' '.repeat(width - filled)}] ${done}/${total} ${what}`;
    if (tty) process.stderr.write(`\r${line.padEnd(100).slice(0, 100)}${done === total ? '\n' : ''}`);
    else if (done === 0 || done === total) process.stderr.write(`${line}\n`);
  };
}

export function formatCalibration(target: Target, measurements: Measurement[], out: string): string {
  const lines = [`${target.description}: profile written to ${out} (use it with --target host, or --target ${out})`];
  for (const m of measurements) {
    const spread = m.spread === undefined ? '' : `  rounds spread ${(100 * m.spread).toFixed(0).padStart(3)}%`;
    lines.push(`  ${m.provider.padEnd(7)} ${m.bench.padEnd(34)} ${(m.medianUs / 1000).toFixed(3).padStart(9)} ms  ${m.gflops.toFixed(1).padStart(8)} GFLOP/s ${m.gbs.toFixed(1).padStart(7)} GB/s${spread}`);
  }
  for (const p of target.processors) {
    lines.push(`  fitted ${p.id}: ${fittedSummary(p)}`);
    if (p.streamBandwidthGBs) lines.push(`  measured ${p.id} streaming read: ${p.streamBandwidthGBs.value} GB/s (${p.streamBandwidthGBs.source})`);
    for (const [backend, figures] of Object.entries(p.backends ?? {})) {
      const bind = backendSpec(backend)?.bindName;
      lines.push(`  fitted ${p.id} bound to ${backend}${bind ? ` (--bind ${p.id}=${bind})` : ''}: ${fittedSummary(figures)}`);
    }
  }
  const storage = target.memory?.storageReadGBs;
  if (storage) lines.push(`  measured storage read (cold, weights streamed from disk): ${storage.value} GB/s (${storage.source})`);
  for (const l of target.links) lines.push(`  fitted link ${l.from}<->${l.to}: ${l.bandwidthGBs.value} GB/s, ${l.latencyUs.value} µs`);
  lines.push("  (all measured: per round the lower quartile of repeated runs after warm-up, every benchmark once a round, round-robin; each figure the median over rounds, its spread — (largest − smallest) / median — beside it, and the profile's sources give what each round alone fits; on a shared machine: expect noise)");
  return lines.join('\n');
}
