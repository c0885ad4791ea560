/**
 * `--bind cpu=tfjs` on every corpus and light/ model: the compiler places only what TensorFlow.js takes on
 * the CPU bound to it, and the rest (control flow, for one) on the CPU's own onnxruntime up front — so no
 * partition falls back when the session compiles it — and the outputs match onnxruntime on the model.
 */
import { describe, expect, it } from 'vitest';
import { corpusModels, realisticFeeds, SHAPES } from '../../bench/corpus.js';
import { compareTensors } from '../../src/backends/compare.js';
import { resolveInputShapes } from '../../src/ir/infer.js';
import { importOnnxFile, readModelFile } from '../../src/ir/onnx-import.js';
import { Session } from '../../src/runtime/session.js';
import { runOrt } from '../helpers/models.js';

describe('a CPU bound to TensorFlow.js', () => {
  for (const { name, path } of corpusModels()) {
    it(`${name}: nothing falls back at compile time; outputs match onnxruntime`, async () => {
      const g = importOnnxFile(path);
      const shapes = resolveInputShapes(g, SHAPES[name] ?? {});
      const feeds = realisticFeeds(g, shapes);
      const session = await Session.create(path, { target: 'host', bind: { cpu: 'tfjs' }, inputShapes: shapes, sampleFeeds: feeds });
      try {
        expect(session.fallbacks).toEqual([]);
        const ran = session.plan.partitions.filter((p) => p.nodes.some((n) => !session.plan.nodes[n].folded));
        expect(ran.some((p) => p.backend === 'tfjs')).toBe(true);
        // what tfjs refuses is on the CPU's own onnxruntime, a processor of its own
        for (const p of ran) expect(p.backend === 'tfjs' || (p.processor === 'cpu-fallback' && p.backend === 'ort:cpu'), `partition ${p.id} on ${p.processor} (${p.backend})`).toBe(true);
        const got = await session.run(feeds);
        expect(session.fallbacks).toEqual([]);
        const want = await runOrt(readModelFile(path), feeds);
        for (const o of session.outputNames) {
          const c = compareTensors(got[o], want[o], { rtol: 1e-3, atol: 1e-4 });
          expect(c.cosine, `${o}: max abs ${c.maxAbs}`).toBeGreaterThan(0.9999);
        }
      } finally {
        await session.release();
      }
    });
  }
});
