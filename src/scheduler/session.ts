/**
 * The app developer's entry point, shaped like onnxruntime's InferenceSession:
 *   const session = await Session.create('model.onnx'); const out = await session.run({ x: tensor });
 * In this version the whole model runs as one partition on onnxruntime's CPU EP.
 */
import { TesseraError } from '../errors.js';
import type { Backend, Executable } from '../backends/backend.js';
import { OrtBackend, ortProber } from '../backends/ort.js';
import type { Tensor, TensorMap } from '../backends/tensor.js';
import { formatShape } from '../ir/graph.js';
import { inferShapes, type ShapedGraph } from '../ir/infer.js';
import { importOnnx, importOnnxFile } from '../ir/onnx-import.js';

export interface SessionOptions {
  /** Concrete shapes for inputs with symbolic dims (default: each symbolic dim = 1). */
  inputShapes?: Record<string, number[]>;
  /** Input data for the probe run that measures shapes no rule infers (random data otherwise). */
  probeFeeds?: TensorMap;
}

export class Session {
  private constructor(
    readonly graph: ShapedGraph,
    private readonly backend: Backend,
    private readonly executable: Executable,
  ) {}

  static async create(model: string | Uint8Array, options: SessionOptions = {}): Promise<Session> {
    const graph = typeof model === 'string' ? importOnnxFile(model) : importOnnx(model);
    const shaped = await inferShapes(graph, { inputShapes: options.inputShapes, prober: ortProber, feeds: options.probeFeeds });
    const backend = new OrtBackend('cpu');
    for (const node of shaped.nodes) {
      const s = backend.supports(node, shaped);
      if (!s.ok) throw new TesseraError('UNSUPPORTED_OP', `${shaped.meta.source}: node '${node.name}' (${node.op}) cannot run on ${backend.id}: ${s.reason}`);
    }
    const executable = await backend.compile({ graph: shaped, nodes: shaped.nodes.map((n) => n.index), outputs: shaped.outputs });
    return new Session(shaped, backend, executable);
  }

  get inputNames(): readonly string[] {
    return this.graph.inputs;
  }

  get outputNames(): readonly string[] {
    return this.graph.outputs;
  }

  /** Runs the model; feeds are checked by name, dtype and shape first. */
  async run(feeds: TensorMap): Promise<TensorMap> {
    checkFeeds(this.graph, feeds);
    const inputs: TensorMap = {};
    for (const name of this.executable.inputs) inputs[name] = feeds[name];
    return this.executable.run(inputs);
  }

  async release(): Promise<void> {
    await this.executable.dispose();
  }
}

/** Every input fed, nothing else; dtypes and shapes as the session was compiled for. */
export function checkFeeds(graph: ShapedGraph, feeds: TensorMap): void {
  const where = graph.meta.source;
  for (const name of Object.keys(feeds)) {
    if (!graph.inputs.includes(name)) {
      throw new TesseraError('UNKNOWN_FEED', `${where}: feed '${name}' is not an input of the model; its inputs are ${graph.inputs.map((n) => `'${n}'`).join(', ')}`);
    }
  }
  for (const name of graph.inputs) {
    const v = graph.values.get(name)!;
    const t: Tensor | undefined = feeds[name];
    const want = graph.inputShapes[name];
    if (!t) {
      throw new TesseraError('MISSING_FEED', `${where}: input '${name}' (${v.dtype ?? 'non-tensor'} ${formatShape(want ?? v.shape)}) was not fed`);
    }
    if (v.dtype && t.type !== v.dtype) {
      throw new TesseraError('FEED_DTYPE', `${where}: input '${name}' takes ${v.dtype}, but the feed is ${t.type}`);
    }
    const got = [...t.dims];
    if (want && (got.length !== want.length || got.some((d, i) => d !== want[i]))) {
      throw new TesseraError('FEED_SHAPE', `${where}: input '${name}' was compiled for shape ${formatShape(want)}, but the feed has shape ${formatShape(got)}; create the session with inputShapes: { '${name}': [${got.join(', ')}] }`);
    }
  }
}
