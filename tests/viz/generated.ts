/**
 * Generated graphs for the viewer at scale (tests/viz and bench/viz): a deep chain with skips — Relu and
 * Sigmoid alternating, every 4th node an Add of the previous value and the one 8 back, every 64th an Add
 * reaching 64 back, every 16th a fan of three ops summed — of exactly n nodes, compiled for
 * snapdragon-8-gen-3 with the capability placement (every op is on the NPU's table: one partition).
 * The cost-based placement is not used: it takes 3.3 GB and 51 s at 30,000 nodes here.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { compile } from '../../src/compiler/index.js';
import { GraphBuilder } from '../../src/ir/builder.js';
import { serializePlan, type Plan } from '../../src/plan/schema.js';
import { withModelPath } from '../../src/viz/find-model.js';

/** The model's bytes: exactly n nodes. */
export function chainModel(n: number): Uint8Array {
  const b = new GraphBuilder(`chain-${n}`);
  const values = [b.input('x', 'float32', [1, 8])];
  let nodes = 0;
  const node = (op: string, inputs: string[]) => b.node(op, inputs, `v${++nodes}`);
  while (nodes < n) {
    const prev = values[values.length - 1];
    const k = nodes + 1;
    let y: string;
    if (k % 16 === 0 && n - nodes >= 5) {
      const fan = [node('Relu', [prev]), node('Sigmoid', [prev]), node('Tanh', [prev])];
      y = node('Add', [node('Add', [fan[0], fan[1]]), fan[2]]);
    } else if (k % 64 === 0 && values.length > 64) y = node('Add', [prev, values[values.length - 64]]);
    else if (k % 4 === 0 && values.length > 8) y = node('Add', [prev, values[values.length - 8]]);
    else y = node(k % 2 ? 'Relu' : 'Sigmoid', [prev]);
    values.push(y);
  }
  b.output(values[values.length - 1], 'float32');
  return b.toBytes();
}

/** Writes chain-{n}.onnx and its plan chain-{n}.json (model path recorded) into dir. */
export async function writeGenerated(n: number, dir: string): Promise<{ model: string; plan: string; compiled: Plan }> {
  const model = join(dir, `chain-${n}.onnx`), planPath = join(dir, `chain-${n}.json`);
  const bytes = chainModel(n);
  writeFileSync(model, bytes);
  const { plan } = await compile(model, 'snapdragon-8-gen-3', { placement: 'capability', lower: false });
  const compiled = withModelPath(plan, planPath, model);
  writeFileSync(planPath, serializePlan(compiled));
  return { model, plan: planPath, compiled };
}
