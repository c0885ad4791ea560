import { readFileSync } from 'node:fs';

/**
 * This process's peak resident bytes. On Linux the memory's own high-water mark (VmHWM in
 * /proc/self/status): `process.resourceUsage().maxRSS` keeps, across exec, the peak of the process it was
 * forked from — a child a 4 GB parent starts reports at least ~4 GB whatever it uses. Elsewhere maxRSS.
 */
export function peakRssBytes(): number {
  try {
    const m = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (m) return Number(m[1]) * 1024;
  } catch {
    // not Linux
  }
  return process.resourceUsage().maxRSS * 1024;
}
