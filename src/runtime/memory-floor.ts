import { spawnSync } from 'node:child_process';

/**
 * The runtime process's floor (passes/resident.ts): the peak resident bytes of a child process that loads
 * Tessera's runtime and runs a one-node model through a Session, the median of three; undefined when the
 * child cannot run.
 */
export function measureMemoryFloor(): number | undefined {
  const session = new URL('./session.js', import.meta.url).href;
  const script = `const { Session } = await import(${JSON.stringify(session)});
const { GraphBuilder } = await import(${JSON.stringify(new URL('../ir/builder.js', import.meta.url).href)});
const b = new GraphBuilder('floor');
b.input('x', 'float32', [1, 4]);
b.node('Relu', ['x'], 'y');
b.output('y', 'float32');
const s = await Session.create(b.toBytes());
const { Tensor } = await import('onnxruntime-node');
await s.run({ x: new Tensor('float32', new Float32Array(4), [1, 4]) });
await s.release();
const { peakRssBytes } = await import(${JSON.stringify(new URL('./peak-rss.js', import.meta.url).href)});
console.log(JSON.stringify({ maxRssBytes: peakRssBytes() }));`;
  const runs: number[] = [];
  for (let i = 0; i < 3; i++) {
    const r = spawnSync(process.execPath, [...process.execArgv, '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 120_000 });
    try {
      runs.push(JSON.parse(r.stdout.trim().split('\n').pop() ?? '').maxRssBytes);
    } catch {
      return undefined;
    }
  }
  return runs.sort((a, b) => a - b)[1];
}
