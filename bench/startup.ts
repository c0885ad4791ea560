/**
 * What starting Tessera costs a user, against Node alone and Node with onnxruntime-node loaded: the
 * wall time and peak resident memory of `tessera --help` and of importing the library, each a fresh
 * process, taken in turns (one round runs every command once, so the machine's drifting load falls on
 * all of them alike). Medians of the rounds. Needs a build (`npm run build`).
 *
 *   npx tsx bench/startup.ts [--runs 15] [--build DIR]...
 *
 * --build DIR (repeatable; default dist): a directory holding a build of src/ with cli/main.js and
 * index.js, so two builds can be compared in one run (the README's tsc-against-esbuild figures).
 * Times are wall clock (GNU time's %e, 10 ms resolution, plus its own fork); memory is its %M, the
 * maximum resident set size.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const args = process.argv.slice(2);
const flag = (name: string) => args.flatMap((a, i) => (a === name ? [args[i + 1]] : []));
const runs = Number(flag('--runs')[0] ?? 15);
const builds = flag('--build').length ? flag('--build') : ['dist'];
const TIME = '/usr/bin/time';

for (const b of builds) {
  if (!existsSync(join(resolve(ROOT, b), 'cli/main.js'))) {
    console.error(`bench/startup: no ${b}/cli/main.js (run npm run build)`);
    process.exit(2);
  }
}
if (!existsSync(TIME)) {
  console.error(`bench/startup: needs GNU time at ${TIME} (Debian: apt-get install time)`);
  process.exit(2);
}

const node = process.execPath;
const importOf = (file: string) => `await import(${JSON.stringify(file)})`;
const commands: { label: string; argv: string[] }[] = [
  { label: 'node -e 0', argv: [node, '-e', '0'] },
  { label: "node: import('onnxruntime-node')", argv: [node, '--input-type=module', '-e', "await import('onnxruntime-node')"] },
  ...builds.flatMap((b) => [
    { label: `tessera --help (${b})`, argv: [node, join(resolve(ROOT, b), 'cli/main.js'), '--help'] },
    { label: `node: import('tessera') (${b})`, argv: [node, '--input-type=module', '-e', importOf(join(resolve(ROOT, b), 'index.js'))] },
  ]),
];

const samples = commands.map(() => ({ s: [] as number[], kb: [] as number[] }));
for (let round = 0; round < runs; round++) {
  commands.forEach((c, i) => {
    const r = spawnSync(TIME, ['-f', '%e %M', ...c.argv], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'] });
    const last = r.stderr.trim().split('\n').pop() ?? '';
    const [s, kb] = last.split(' ').map(Number);
    if (r.status !== 0 || !Number.isFinite(s)) throw new Error(`${c.label} failed (${r.status}): ${r.stderr.slice(-500)}`);
    samples[i].s.push(s);
    samples[i].kb.push(kb);
  });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const floor = median(samples[0].s);
console.log(`# npx tsx bench/startup.ts --runs ${runs}${builds.map((b) => ` --build ${b}`).join('')}`);
console.log(`${'command'.padEnd(44)}${'wall s'.padStart(8)}${'× node'.padStart(8)}${'peak RSS'.padStart(11)}`);
commands.forEach((c, i) => {
  const s = median(samples[i].s);
  console.log(`${c.label.padEnd(44)}${s.toFixed(2).padStart(8)}${(s / floor).toFixed(2).padStart(8)}${`${(median(samples[i].kb) / 1024).toFixed(1)} MB`.padStart(11)}`);
});
console.log(`medians of ${runs} rounds, each command once per round in turn; measured on this machine (wall time depends on its load)`);
