import { spawnSync } from 'node:child_process';
const cmds = [['-e', '0'], ['--input-type=module', '-e', "await import('commander')"], ['--input-type=module', '-e', "await import('./dist/ir/infer.js')"], ['dist/cli/main.js', '--help'], ['--input-type=module', '-e', "await import('onnxruntime-node')"], ['--input-type=module', '-e', "await import('./dist/index.js')"]];
const res = cmds.map(() => []);
for (let r = 0; r < 8; r++) cmds.forEach((c, i) => { const t = performance.now(); spawnSync(process.execPath, c, { stdio: 'ignore' }); res[i].push(performance.now() - t); });
cmds.forEach((c, i) => { const s = res[i].sort((a, b) => a - b); console.log(`${s[0].toFixed(0)} ${s[4].toFixed(0)}  ${c.join(' ')}`); });
