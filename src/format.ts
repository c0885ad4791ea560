/** Human formatting: sizes in MB/KB, times in ms (the code keeps bytes and microseconds); sizes given by humans parsed. */
import { TesseraError } from './errors.js';

export function formatBytes(n: number): string {
  if (n >= 1024 * 1024) return `${(n / (1024 * 1024)).toFixed(2)} MB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${n} B`;
}

export function formatUs(us: number): string {
  return us >= 1000 ? `${(us / 1000).toFixed(2)} ms` : `${us.toFixed(0)} µs`;
}

/** '2.5MB', '800KB', '1200000' → bytes. */
export function parseBytes(s: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(B|KB|MB|GB)?$/i.exec(s.trim());
  if (!m) throw new TesseraError('BAD_ARGUMENT', `${flag} '${s}': expected a size such as 2.5MB, 800KB or 1200000`);
  return Math.round(Number(m[1]) * { B: 1, KB: 1e3, MB: 1e6, GB: 1e9 }[(m[2] ?? 'B').toUpperCase() as 'B']);
}
