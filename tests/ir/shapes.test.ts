/**
 * Shape inference on every corpus model, checked against what onnxruntime really produces: the whole
 * graph is exported with every activation (and every value inference folded) exposed as an output and
 * run on onnxruntime, and the graph outputs of the original file are run by onnxruntime directly.
 */
import { describe, expect, it } from 'vitest';
import { ortProber } from '../../src/backends/ort.js';
import { inspectModel } from '../../src/compiler/inspect.js';
import { isConcrete, type Value } from '../../src/ir/graph.js';
import { inferShapes, type ShapedGraph } from '../../src/ir/infer.js';
import { importOnnxFile } from '../../src/ir/onnx-import.js';
import type { TensorMap } from '../../src/backends/tensor.js';
import { corpusModels, feedsFor, foldedActivations, foldingErrors, runExposing, runOrt, shapesOf, type CorpusModel } from './corpus.js';

const MAX_PROBED = 0.02;

function activations(g: ShapedGraph): Value[] {
  return [...g.values.values()].filter((v) => v.role === 'activation' && !v.isConst);
}


interface Inferred { name: string; dtype: string | null; shape: (number | string)[] | null; shapeSource?: string }

/**
 * Every value concrete and as onnxruntime produces it (one run of the original graph with all of them,
 * and the values inference folded, exposed as outputs); folded contents as onnxruntime computes them.
 */
async function expectMatchesOnnxruntime(model: CorpusModel, feeds: TensorMap, values: Inferred[], outputs: readonly string[], shaped?: ShapedGraph): Promise<void> {
  expect(values.length).toBeGreaterThan(0);
  const notConcrete = values.filter((v) => !isConcrete(v.shape as (number | string)[] | null)).map((v) => `${v.name} ${JSON.stringify(v.shape)}`);
  expect(notConcrete, 'activations without a concrete shape').toEqual([]);

  const folded = shaped ? foldedActivations(shaped) : [];
  const ref = await runExposing(importOnnxFile(model.path), [...values.map((v) => v.name), ...folded], feeds);
  const wrong: string[] = [];
  for (const v of values) {
    const r = ref[v.name];
    const ours = `${v.dtype}[${v.shape?.join(',')}]`;
    const theirs = r ? `${r.type}[${r.dims.join(',')}]` : 'not produced';
    if (ours !== theirs) wrong.push(`${v.name}: inferred ${ours}, onnxruntime ${theirs}`);
  }
  expect(wrong, 'inferred dtype/shape differs from onnxruntime').toEqual([]);
  if (shaped) expect(foldingErrors(shaped, ref, folded), 'folded values vs onnxruntime').toEqual([]);

  const probed = values.filter((v) => v.shapeSource === 'probe');
  expect(probed.length / values.length, `probed: ${probed.map((v) => v.name).join(', ')}`).toBeLessThanOrEqual(MAX_PROBED);

  // The graph outputs, against the original file run by onnxruntime itself (no export of ours involved).
  const orig = await runOrt(model.path, feeds);
  const byName = new Map(values.map((v) => [v.name, v]));
  for (const o of outputs) {
    const v = byName.get(o);
    if (!v) continue; // an output that is a graph input or a weight
    expect(`${o}: ${v.dtype}[${v.shape?.join(',')}]`).toBe(`${o}: ${orig[o].type}[${orig[o].dims.join(',')}]`);
  }
}

describe.each(corpusModels())('shape inference: $name', (model) => {
  it(`realistic inputs ${JSON.stringify(model.realistic)}: every activation concrete and as onnxruntime produces it`, async () => {
    const g = importOnnxFile(model.path);
    const feeds = feedsFor(g, model, model.realistic);
    const shaped = await inferShapes(g, { inputShapes: shapesOf(feeds), prober: ortProber, feeds });
    for (const name of g.inputs) expect(shaped.values.get(name)!.shape).toEqual([...feeds[name].dims]);
    await expectMatchesOnnxruntime(model, feeds, activations(shaped), g.outputs, shaped);
  });

  for (const alt of model.alternatives ?? []) {
    it(`other realistic inputs ${JSON.stringify(alt.shapes)}${alt.sampleRate ? ` at ${alt.sampleRate} Hz` : ''}`, async () => {
      const g = importOnnxFile(model.path);
      const feeds = feedsFor(g, model, alt.shapes, alt.sampleRate);
      const shaped = await inferShapes(g, { inputShapes: shapesOf(feeds), prober: ortProber, feeds });
      await expectMatchesOnnxruntime(model, feeds, activations(shaped), g.outputs, shaped);
    });
  }

  for (const bad of model.rejects ?? []) {
    it(`inputs ${JSON.stringify(bad.shapes)} are refused by inference, as by onnxruntime (${bad.why})`, async () => {
      const g = importOnnxFile(model.path);
      const feeds = feedsFor(g, model, bad.shapes);
      await expect(runOrt(model.path, feeds)).rejects.toThrow();
      await expect(inferShapes(g, { prober: ortProber, feeds, inputShapes: bad.shapes })).rejects.toMatchObject({ name: 'TesseraError', code: 'SHAPE_INFERENCE' });
    });
  }

  if (model.defaultShapesRejected) {
    it(`default shapes (symbolic dims = 1): rejected by onnxruntime too (${model.defaultShapesRejected})`, async () => {
      const g = importOnnxFile(model.path);
      const feeds = feedsFor(g, model, {});
      await expect(runOrt(model.path, feeds)).rejects.toThrow();
      // Inference must fail with our error, not a crash from deep inside.
      await expect(inferShapes(g, { prober: ortProber, feeds })).rejects.toMatchObject({ name: 'TesseraError', code: 'SHAPE_INFERENCE' });
    });
  } else {
    it('default shapes (symbolic dims = 1), as `tessera inspect --json` reports them', async () => {
      const report = await inspectModel(model.path);
      const g = importOnnxFile(model.path);
      const feeds = feedsFor(g, model, Object.fromEntries(report.inputs.map((i) => [i.name, i.shape])));
      for (const i of report.inputs) {
        const declared = g.values.get(i.name)!.shape!;
        expect(i.shape).toEqual(declared.map((d) => (typeof d === 'number' ? d : 1)));
      }
      await expectMatchesOnnxruntime(model, feeds, report.values, report.outputs);
    });
  }
});
