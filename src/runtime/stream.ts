/**
 * A forward pass under a memory budget, with the weights streamed from disk: for models whose weights do
 * not fit the budget (a decoder of 2 GB under 256 MB). The model's nodes, in file order, are cut into
 * groups whose weights fit the budget; each group runs as its own engine session whose weights stay in
 * the model's files (external-data references, passes/map.ts), read by the engine when the session is
 * created and released with it, so at most one group's weights are resident (two with `prefetch`, which
 * creates the next group's session while the current one runs). Values a later group reads are kept
 * between groups, and dropped after their last reader.
 *
 *   const model = await StreamedModel.open('decoder/model.onnx', { budgetBytes: 256e6, inputShapes });
 *   const outputs = await model.run(feeds);   // as many runs as wanted, at the shapes it was opened for
 *   model.groups                              // the groups: nodes, weight bytes
 *
 * The budget covers weights and activations; the process's engine floor (node, onnxruntime, Tessera:
 * the target's memory.floorBytes) comes on top. A budget no group can fit — a single node whose weights
 * are larger — is refused with BUDGET_INFEASIBLE, naming the smallest budget that fits.
 */
import type * as ort from 'onnxruntime-node';
import { createSession, runSession, type OrtMemoryOptions, withExternalDataDir } from '../backends/ort.js';
import type { TensorMap } from '../backends/tensor.js';
import { planStream, type StreamGroup, type StreamOptions } from '../compiler/stream.js';
import { TesseraError } from '../errors.js';
import type { ShapedGraph } from '../ir/infer.js';

export { groupsFor, type StreamGroup, type StreamOptions } from '../compiler/stream.js';

/** Sessions of streamed groups: no arena, no memory pattern, no prepacked weight copies, threads that sleep between runs. */
const STREAMED: OrtMemoryOptions = {
  enableCpuMemArena: false, enableMemPattern: false, graphOptimizationLevel: 'extended',
  extra: { session: { 'intra_op.allow_spinning': '0', disable_prepacking: '1' } },
};

export class StreamedModel {
  private constructor(
    readonly path: string,
    readonly graph: ShapedGraph,
    readonly groups: readonly StreamGroup[],
    private readonly lowered: readonly Uint8Array[],
    private readonly dataDir: string,
    private readonly prefetch: boolean,
  ) {}

  /** Imports and shapes the model (no weight is read), and cuts it into groups that fit the budget (compiler/stream.ts). */
  static async open(path: string, options: StreamOptions): Promise<StreamedModel> {
    const { graph, groups, lowered, dataDir } = await planStream(path, options);
    return new StreamedModel(path, graph, groups, lowered, dataDir, options.prefetch ?? false);
  }

  private session(k: number): Promise<ort.InferenceSession> {
    return createSession(this.lowered[k], 'cpu', `${this.path} streamed group ${k + 1}/${this.groups.length}`, withExternalDataDir(STREAMED, this.dataDir));
  }

  /** One forward pass: each group's session created (its weights read), run and released in turn. */
  async run(feeds: TensorMap): Promise<TensorMap> {
    const values = new Map<string, TensorMap[string]>(Object.entries(feeds));
    // the last group that reads each value: dropped after it
    const lastReader = new Map<string, number>();
    this.groups.forEach((g, k) => g.inputs.forEach((v) => lastReader.set(v, k)));
    const outputs = new Set(this.graph.outputs);
    let next = this.session(0);
    for (let k = 0; k < this.groups.length; k++) {
      const g = this.groups[k];
      const session = await next;
      if (this.prefetch && k + 1 < this.groups.length) next = this.session(k + 1);
      try {
        const input: TensorMap = {};
        for (const v of g.inputs) {
          const t = values.get(v);
          if (!t) throw new TesseraError('MISSING_FEED', `${this.path}: no value '${v}' for streamed group ${k + 1} (a missing feed?)`);
          input[v] = t;
        }
        const out = await runSession(session, input, g.outputs, `${this.path} streamed group ${k + 1}`);
        for (const o of g.outputs) values.set(o, out[o]);
      } finally {
        await session.release();
      }
      if (!this.prefetch && k + 1 < this.groups.length) next = this.session(k + 1);
      for (const v of g.inputs) if (lastReader.get(v) === k && !outputs.has(v)) values.delete(v);
    }
    return Object.fromEntries(this.graph.outputs.map((o) => [o, values.get(o)!]));
  }
}

/** One forward pass of a model under a memory budget, weights streamed from disk (see StreamedModel). */
export async function runStreamed(path: string, feeds: TensorMap, options: Omit<StreamOptions, 'inputShapes'>): Promise<TensorMap> {
  const inputShapes = Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, [...t.dims]]));
  const model = await StreamedModel.open(path, { ...options, inputShapes });
  return model.run(feeds);
}
