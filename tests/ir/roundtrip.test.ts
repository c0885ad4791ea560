/**
 * Import → export on every corpus model, against onnxruntime running the original file: the whole
 * graph, and the graph cut into parts that are run one after another and stitched together.
 */
import { describe, expect, it } from 'vitest';
import { compareTensors } from '../../src/backends/compare.js';
import { tensorFromWeight, type TensorMap } from '../../src/backends/tensor.js';
import { nodeReads, topoOrder, type Graph } from '../../src/ir/graph.js';
import { inferShapes } from '../../src/ir/infer.js';
import { exportOnnx } from '../../src/ir/onnx-export.js';
import { decodeModel, importOnnx, importOnnxFile, outerReads } from '../../src/ir/onnx-import.js';
import { readTensorFile } from '../../src/ir/tensor-file.js';
import { ortProber } from '../../src/backends/ort.js';
import { corpusModels, feedsFor, runOrt, shapesOf, type CorpusModel } from './corpus.js';

const TOL = { rtol: 1e-3, atol: 1e-4 };

function expectSameOutputs(got: TensorMap, want: TensorMap, names: readonly string[], what: string): void {
  for (const name of names) {
    expect(got[name], `${what}: output '${name}' missing`).toBeDefined();
    expect(got[name].type, `${what}: dtype of '${name}'`).toBe(want[name].type);
    const c = compareTensors(got[name], want[name], TOL);
    expect(c.ok, `${what}: output '${name}': ${c.reason}`).toBe(true);
  }
}

/** Nodes that compute something from the inputs (not weights), in topological order. */
function computeOrder(graph: Graph): number[] {
  const order = topoOrder(graph)!;
  return order.filter((i) => graph.nodes[i].outputs.some((o) => o !== '' && !graph.values.get(o)!.isConst));
}

/** Cuts a list into `k` contiguous runs of nearly equal length. */
function chunks<T>(xs: T[], k: number): T[][] {
  const out: T[][] = [];
  for (let j = 0; j < k; j++) out.push(xs.slice(Math.round((j * xs.length) / k), Math.round(((j + 1) * xs.length) / k)));
  return out.filter((c) => c.length > 0);
}

/** The weights an exported model carries (initializers and Constant nodes) that none of its nodes reads. */
function unusedWeights(bytes: Uint8Array): string[] {
  const m = decodeModel(bytes, 'part');
  const g = m.graph!;
  const read = new Set<string>();
  for (const n of g.node) {
    n.input.forEach((x) => read.add(x));
    for (const a of n.attribute) {
      if (a.g) outerReads(a.g).forEach((x) => read.add(x));
      for (const sg of a.graphs) outerReads(sg).forEach((x) => read.add(x));
    }
  }
  g.output.forEach((o) => read.add(o.name));
  const weights = [...g.initializer.map((t) => t.name), ...g.node.filter((n) => n.opType === 'Constant').map((n) => n.output[0])];
  return weights.filter((w) => !read.has(w));
}

const models = corpusModels();

describe.each(models)('import → export: $name', (model: CorpusModel) => {
  it('whole-graph export gives the outputs of the original under onnxruntime; export is a fixed point', async () => {
    const graph = importOnnxFile(model.path);
    const feeds = feedsFor(graph, model, model.realistic);
    const want = await runOrt(model.path, feeds);
    const exported = exportOnnx(graph);
    expect(exported.inputs).toEqual(graph.inputs);
    expect(exported.outputs).toEqual(graph.outputs);
    expect(exported.nodes).toHaveLength(graph.nodes.length);
    const got = await runOrt(exported.bytes, feeds);
    expectSameOutputs(got, want, graph.outputs, 'whole export');

    // Light models: also against ONNX's reference evaluator (an expected-output file).
    if (model.expectedOutput) {
      const c = compareTensors(got[graph.outputs[0]], tensorFromWeight(readTensorFile(model.expectedOutput)), TOL);
      expect(c.ok, `vs ${model.expectedOutput}: ${c.reason}`).toBe(true);
    }

    // Importing what we exported and exporting again changes nothing.
    const again = exportOnnx(importOnnx(exported.bytes));
    expect(Buffer.from(again.bytes).equals(Buffer.from(exported.bytes)), 'export(import(export(g))) differs from export(g)').toBe(true);
  });

  it('exported in contiguous parts and run in sequence, gives the original outputs; each part carries only its weights', async () => {
    const graph = importOnnxFile(model.path);
    const feeds = feedsFor(graph, model, model.realistic);
    const want = await runOrt(model.path, feeds);
    const shaped = await inferShapes(graph, { inputShapes: shapesOf(feeds), prober: ortProber, feeds });

    const order = computeOrder(shaped);
    // At least three parts (two for a two-node graph), more for big graphs.
    const k = Math.min(order.length, order.length > 200 ? 6 : 3);
    expect(k).toBeGreaterThanOrEqual(Math.min(3, order.length));
    const groups = chunks(order, k);
    expect(groups.flat().sort((a, b) => a - b)).toEqual([...order].sort((a, b) => a - b));

    const whole = exportOnnx(shaped);
    const available: TensorMap = { ...feeds };
    let partBytes = 0;
    let smallest = Infinity;
    for (const [j, group] of groups.entries()) {
      const part = exportOnnx(shaped, group);
      const what = `part ${j + 1}/${groups.length}`;
      // Its nodes: the group plus only the weight-computing nodes it needs.
      const extra = part.nodes.filter((i) => !group.includes(i));
      for (const i of extra) {
        expect(shaped.nodes[i].outputs.every((o) => o === '' || shaped.values.get(o)!.isConst), `${what}: pulled in non-weight node ${shaped.nodes[i].name}`).toBe(true);
      }
      expect(group.every((i) => part.nodes.includes(i))).toBe(true);
      // Its inputs come only from the graph inputs or earlier parts.
      for (const name of part.inputs) expect(available[name], `${what}: input '${name}' is not produced by an earlier part`).toBeDefined();
      // Every value it produces that a later node or the graph reads is an output.
      const inPart = new Set(part.nodes);
      for (const i of group) {
        for (const o of shaped.nodes[i].outputs) {
          if (o === '') continue;
          const v = shaped.values.get(o)!;
          if (shaped.outputs.includes(o) || v.consumers.some((c) => !inPart.has(c))) expect(part.outputs, what).toContain(o);
        }
      }
      const unused = unusedWeights(part.bytes);
      expect(unused, `${what}: weights no node of the part reads`).toEqual([]);
      partBytes += part.bytes.length;
      smallest = Math.min(smallest, part.bytes.length);

      const partFeeds: TensorMap = {};
      for (const name of part.inputs) partFeeds[name] = available[name];
      const res = await runOrt(part.bytes, partFeeds, part.outputs);
      for (const o of part.outputs) available[o] = res[o];
    }
    expectSameOutputs(available, want, graph.outputs, 'stitched parts');

    // Weights are not duplicated wholesale into every part.
    expect(partBytes).toBeLessThan(whole.bytes.length * 1.1 + 65536);
    if (whole.bytes.length > 1 << 20 && groups.length >= 3) expect(smallest).toBeLessThan(whole.bytes.length * 0.5);
  });
});

describe('export of a node set: what it takes and gives', () => {
  it('reads weights from the enclosing graph for If branches (silero v4: initializers used only inside subgraphs)', async () => {
    const model = models.find((m) => m.name === 'silero-vad-v4-legacy')!;
    const graph = importOnnxFile(model.path);
    const ifNode = graph.nodes.find((n) => n.op === 'If')!;
    const shaped = await inferShapes(graph, { inputShapes: model.realistic });
    const part = exportOnnx(shaped, [ifNode.index]);
    const m = decodeModel(part.bytes, 'part');
    const inits = new Set(m.graph!.initializer.map((t) => t.name));
    for (const name of ifNode.implicitInputs) {
      const v = graph.values.get(name)!;
      if (v.role === 'initializer') expect(inits.has(name), name).toBe(true);
      else expect(part.inputs).toContain(name);
    }
    expect(part.inputs).toContain(ifNode.inputs[0]);
    // Only the initializers the If reads: none of the graph's other weights.
    const readByIf = new Set(nodeReads(ifNode));
    for (const t of inits) expect(readByIf.has(t), t).toBe(true);
  });
});
