/**
 * A generated MLP with large float32 weights in one external-data file (`model.onnx` + `model.onnx.data`):
 * `layers` MatMul + bias + ReLU layers of width `hidden` (the last without ReLU), seeded weights of std
 * 1/√hidden written tensor by tensor. The default (4 layers of 2900) holds 134.6 MB of weights: what
 * shows whether a runtime holds weights more than once (bench/memory-budget.ts).
 *   npx tsx bench/models/mlp.ts [--out DIR] [--layers 4] [--hidden 2900] [--batch 1]
 */
import { statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { GraphBuilder } from '../../src/ir/builder.js';
import { ExternalDataWriter } from '../../src/ir/onnx-export.js';

export interface MlpConfig {
  layers: number;
  hidden: number;
  /** Rows of the input (a symbolic dim 'batch' in the model; this is only a default for callers). */
  batch: number;
  seed: number;
}

export const MLP_DEFAULT: MlpConfig = { layers: 4, hidden: 2900, batch: 1, seed: 1 };

/** Seeded uniform values of a given std, in chunks of at most 1 M floats (a big tensor is never whole in memory). */
function* seededChunks(count: number, std: number, seed: number): Generator<Uint8Array> {
  let s = (seed * 2654435761) >>> 0 || 1;
  const a = std * Math.sqrt(3);
  for (let done = 0; done < count; ) {
    const n = Math.min(1 << 20, count - done);
    const f = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      s ^= s << 13;
      s ^= s >>> 17;
      s ^= s << 5;
      f[i] = ((s >>> 0) / 4294967296 * 2 - 1) * a;
    }
    done += n;
    yield new Uint8Array(f.buffer);
  }
}

/** Writes `dir/model.onnx` and `dir/model.onnx.data`; returns the model's path and its weight bytes. */
export function writeMlp(dir: string, c: MlpConfig = MLP_DEFAULT): { modelPath: string; weightBytes: number } {
  const modelPath = join(dir, 'model.onnx');
  const data = new ExternalDataWriter(modelPath);
  try {
    const b = new GraphBuilder(`mlp-${c.layers}x${c.hidden}`, { opset: 17, externalData: data });
    let x = b.input('x', 'float32', ['batch', c.hidden]);
    for (let l = 0; l < c.layers; l++) {
      const w = b.streamedInitializer(`layer${l}.weight`, 'float32', [c.hidden, c.hidden], seededChunks(c.hidden * c.hidden, 1 / Math.sqrt(c.hidden), c.seed * 1000 + 2 * l));
      const bias = b.streamedInitializer(`layer${l}.bias`, 'float32', [c.hidden], seededChunks(c.hidden, 0.1, c.seed * 1000 + 2 * l + 1));
      const mm = b.node('MatMul', [x, w], `layer${l}.mm`);
      const y = b.node('Add', [mm, bias], `layer${l}.out`);
      x = l < c.layers - 1 ? b.node('Relu', [y], `layer${l}.relu`) : y;
    }
    b.output(x, 'float32');
    data.commit(b.toBytes());
  } catch (err) {
    data.abort();
    throw err;
  }
  return { modelPath, weightBytes: statSync(join(dir, 'model.onnx.data')).size };
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const args = process.argv.slice(2);
  const opt = (k: string) => (args.includes(k) ? args[args.indexOf(k) + 1] : undefined);
  const c: MlpConfig = { ...MLP_DEFAULT, layers: Number(opt('--layers') ?? MLP_DEFAULT.layers), hidden: Number(opt('--hidden') ?? MLP_DEFAULT.hidden), batch: Number(opt('--batch') ?? 1) };
  const dir = resolve(opt('--out') ?? join(fileURLToPath(new URL('../..', import.meta.url)), '.tessera-cache/models/mlp'));
  const r = writeMlp(dir, c);
  console.log(`${r.modelPath}: ${(r.weightBytes / 1e6).toFixed(1)} MB of float32 weights in model.onnx.data`);
}
