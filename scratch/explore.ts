import { compile } from '../src/compiler/index.js';
import { nasCells, randwire, toOnnx, unet } from '../bench/memory/generate.js';
import { importOnnx } from '../src/ir/onnx-import.js';
const specs = [randwire(8, { seed: 1 }), randwire(16, { seed: 2 }), nasCells(4), unet(3)];
for (const spec of specs) for (const kernel of [1, 3]) {
  const bytes = toOnnx(spec, { kernel });
  const t0 = performance.now();
  const c = await compile(bytes, 'host', { objective: 'memory', lower: false });
  const ms = performance.now() - t0;
  const mem = Object.entries(c.plan.memory).map(([k, m]) => `${k}: arena ${m.arenaBytes} peak ${m.peakBytes} lb ${m.lowerBoundBytes} ${m.algorithm}`);
  console.log(spec.name, kernel, `${ms.toFixed(0)}ms parts ${c.plan.partitions.length} rewrites ${c.plan.model.rewrites}`, mem.join('; '), JSON.stringify(c.plan.orderSearch), c.warnings.join(' | '));
}
