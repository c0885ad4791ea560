/** A command's peak resident set and wall time, measured by /usr/bin/time (the benches' one way to measure RSS). */
import { spawnSync } from 'node:child_process';

export interface Measured {
  /** Peak resident set of the largest process the command waited for (GNU time's %M). */
  peakRssBytes: number;
  wallS: number;
  stdout: string;
  stderr: string;
  status: number | null;
}

/** `env`: variables added to this process's environment for the command. */
export function measure(cmd: string, args: readonly string[], cwd?: string, env?: Record<string, string>): Measured {
  const r = spawnSync('/usr/bin/time', ['-f', 'bench-peak-kb %M wall %e', cmd, ...args], { cwd, encoding: 'utf8', maxBuffer: 64 << 20, env: env && { ...process.env, ...env } });
  const m = /bench-peak-kb (\d+) wall ([\d.]+)\s*$/.exec(r.stderr);
  return { peakRssBytes: m ? Number(m[1]) * 1024 : NaN, wallS: m ? Number(m[2]) : NaN, stdout: r.stdout, stderr: r.stderr, status: r.status };
}
