/**
 * The onnxruntime-node adapter: a partition is exported as a standalone ONNX model and run by an
 * InferenceSession on one execution provider (CPU here; WebGPU where an adapter exists).
 *
 * Memory. Each InferenceSession keeps its own CPU memory arena (grown to the largest run's
 * intermediates and kept until release) and memory pattern. That is right for a partition with
 * intermediates of its own, run again and again; it is waste for a chunk of a split partition, whose
 * every value crosses its boundary (Tessera's planned arena holds those): N such sessions would keep N
 * arenas. So a CPU subgraph that computes no intermediate value of its own runs lean (`prepareSession`):
 * no arena, no memory pattern, no layout rewriting, intra-op threads that do not spin; and renamed by
 * position, so such chunks that differ only in names share one session. onnxruntime-node also returns a
 * fresh copy of every output, also of those it wrote into the preallocated tensors given to `run`;
 * those copies are released at once (`runSession`).
 */
import { createHash } from 'node:crypto';
import { fromBinary, toBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema, type ModelProto } from 'onnx-buf';
import * as ort from 'onnxruntime-node';
import { TesseraError } from '../errors.js';
import type { Graph, Node } from '../ir/graph.js';
import type { Prober, ShapedGraph } from '../ir/infer.js';
import { exportOnnx } from '../ir/onnx-export.js';
import type { ValueInfo } from '../ir/ops/registry.js';
import type { Backend, Executable, Subgraph, Support } from './backend.js';
import { ortSupports } from './ort-capabilities.js';
import { createSession, ortFailure, runAll, runSession, withExternalDataDir, type OrtMemoryOptions, type OrtProvider } from './ort-session.js';
import { randomTensor, type Tensor, type TensorMap } from './tensor.js';
import { probeWebGpu } from './webgpu.js';

// the engine calls themselves: a module of their own, which loads no protobuf (a session that runs a model as it is needs nothing else)
export { createSession, runSession, withExternalDataDir, type OrtMemoryOptions, type OrtProvider } from './ort-session.js';

export class OrtBackend implements Backend {
  readonly id: string;
  private readonly cache = new Map<string, { session: Promise<ort.InferenceSession>; users: number }>();

  constructor(readonly provider: OrtProvider = 'cpu') {
    this.id = `ort:${provider}`;
  }

  async available(): Promise<boolean> {
    try {
      if (this.provider === 'webgpu') return (await probeWebGpu()).available; // listSupportedBackends lists it without an adapter
      return ort.listSupportedBackends().some((b) => b.name === this.provider);
    } catch {
      return false;
    }
  }

  supports(node: Node, graph: Graph): Support {
    return ortSupports(node, graph);
  }

  async compile(part: Subgraph): Promise<Executable> {
    const prepared = prepareSession(part.onnx, this.provider);
    const dir = part.externalDataDir;
    const key = createHash('sha256').update(prepared.bytes).update(dir === undefined ? '' : `\0${dir}`).digest('hex');
    let entry = this.cache.get(key);
    if (!entry) {
      // weights referenced in the model's files: onnxruntime reads them from there (relative to the model's directory, by its own confinement rule too)
      const options = dir === undefined ? prepared.options : withExternalDataDir(prepared.options, dir);
      entry = { session: createSession(prepared.bytes, this.provider, part.name, options), users: 0 };
      this.cache.set(key, entry);
      entry.session.catch(() => this.cache.delete(key));
    }
    entry.users++;
    const session = await entry.session;
    let disposed = false;
    const names = prepared.names;
    const failed = ortFailure(part.name);
    const run = names
      ? async (feeds: TensorMap, into?: TensorMap) => {
          const res = await runSession(session, renamed(feeds, names), part.outputs.map((o) => names.get(o)!), part.name, into && renamed(into, names));
          const out: TensorMap = {};
          for (const o of part.outputs) out[o] = res[names.get(o)!];
          return out;
        }
      : (feeds: TensorMap, into?: TensorMap) => (into ? runSession(session, feeds, part.outputs, part.name, into) : runAll(session, feeds, failed));
    return {
      inputs: part.inputs,
      outputs: part.outputs,
      run,
      dispose: async () => {
        if (disposed) return;
        disposed = true;
        if (--entry!.users === 0) {
          this.cache.delete(key);
          await session.release();
        }
      },
    };
  }
}

function renamed(map: TensorMap, names: ReadonlyMap<string, string>): TensorMap {
  const out: TensorMap = {};
  for (const [k, t] of Object.entries(map)) out[names.get(k) ?? k] = t;
  return out;
}

/** What a partition's session is created from: the model bytes, memory options, and the renaming of its edge values (when renamed). */
interface PreparedSession {
  bytes: Uint8Array;
  options: OrtMemoryOptions;
  /** Partition value name → name in `bytes` (inputs and outputs); absent when the model is used as given. */
  names?: Map<string, string>;
}

/**
 * A subgraph with no intermediate of its own (a chunk of a split partition) on the CPU: the `lean`
 * options, and the model renamed by position (graph, nodes, values, weights), so chunks that differ
 * only in names (every Relu of one shape, every Sum of the same inputs' shapes) share one session (a
 * session holds about 0.3 MB once it has run, measured). Anything else runs as given with
 * onnxruntime's defaults.
 */
export function prepareSession(onnx: Uint8Array, provider: OrtProvider): PreparedSession {
  if (provider !== 'cpu') return { bytes: onnx, options: {} };
  const model = fromBinary(ModelProtoSchema, onnx);
  const graph = model.graph;
  if (!graph || intermediates(graph) > 0) return { bytes: onnx, options: {} };
  const options = lean();
  const renamable = graph.sparseInitializer.length === 0 && graph.quantizationAnnotation.length === 0 && graph.valueInfo.length === 0
    && graph.node.every((n) => n.attribute.every((a) => !a.g && a.graphs.length === 0));
  if (!renamable) return { bytes: onnx, options };
  const names = new Map<string, string>();
  const name = (x: string, prefix: string) => {
    if (!x) return x;
    let y = names.get(x);
    if (y === undefined) names.set(x, (y = `${prefix}${names.size}`));
    return y;
  };
  graph.name = 'chunk';
  graph.docString = '';
  for (const v of graph.input) v.name = name(v.name, 'i');
  for (const w of graph.initializer) w.name = name(w.name, 'w');
  graph.node.forEach((n, k) => {
    n.name = `n${k}`;
    n.docString = '';
    n.input = n.input.map((x) => name(x, 'i'));
    n.output = n.output.map((x) => name(x, 'v'));
  });
  for (const v of graph.output) v.name = name(v.name, 'v');
  return { bytes: toBinary(ModelProtoSchema, model), options, names };
}

/**
 * A chunk's session: no arena and no memory pattern (what it allocates is kernel scratch, freed when a
 * run ends), no layout rewriting ('extended' keeps fusions; NCHWc would add reorder buffers), and intra-op
 * threads that sleep instead of spinning when a run ends (with a pool per session, the spinning threads
 * of the chunks just run took the cores from the next one: 3.3 s instead of 0.26 s for 98 chunks).
 */
const lean = (): OrtMemoryOptions => ({ enableCpuMemArena: false, enableMemPattern: false, graphOptimizationLevel: 'extended', extra: { session: { 'intra_op.allow_spinning': '0' } } });

type GraphProto = NonNullable<ModelProto['graph']>;

function intermediates(graph: GraphProto): number {
  const outputs = new Set(graph.output.map((o) => o.name));
  const read = new Set<string>();
  for (const n of graph.node) for (const i of n.input) if (i) read.add(i);
  let count = 0;
  for (const n of graph.node) for (const o of n.output) if (o && read.has(o) && !outputs.has(o)) count++;
  return count;
}

/** How many values a model's nodes produce that other nodes of it consume and that are not its outputs. */
export function intermediatesOf(onnx: Uint8Array): number {
  const graph = fromBinary(ModelProtoSchema, onnx).graph;
  return graph ? intermediates(graph) : 0;
}

/** The memory options of a partition's session (see `prepareSession`). */
export function sessionOptionsFor(onnx: Uint8Array, provider: OrtProvider): OrtMemoryOptions {
  return prepareSession(onnx, provider).options;
}


/** Shape and type only: contents measured on random data must never be folded into a plan. */
function tensorInfo(t: Tensor): ValueInfo {
  return { dtype: t.type as ValueInfo['dtype'], shape: [...t.dims] };
}

/**
 * The probe run: the whole model on onnxruntime's CPU EP with the unknown values exposed as extra
 * outputs, fed deterministic random inputs of the given shapes.
 */
export const ortProber: Prober = async (graph, values, inputShapes, given) => {
  const wanted = values.filter((v) => !graph.outputs.includes(v));
  const exported = exportOnnx(graph, undefined, { outputs: [...graph.outputs, ...wanted] });
  const session = await createSession(exported.bytes, 'cpu', `${graph.meta.source} (probe run for shapes)`);
  try {
    const feeds: TensorMap = {};
    graph.inputs.forEach((name, i) => {
      const v = graph.values.get(name)!;
      if (!v.dtype) throw new TesseraError('SHAPE_INFERENCE', `probe run: input '${name}' is not a tensor`);
      feeds[name] = (given?.[name] as Tensor | undefined) ?? randomTensor(v.dtype, inputShapes[name], 1000 + i);
    });
    const res = await runSession(session, feeds, [...new Set([...graph.outputs, ...values])], `${graph.meta.source} (probe run for shapes)`);
    const out = new Map<string, ValueInfo>();
    for (const name of values) if (res[name]) out.set(name, tensorInfo(res[name]));
    return out;
  } finally {
    await session.release();
  }
};

/**
 * Calibration for dtype legalization: runs the whole model once on onnxruntime's CPU EP with every
 * float32 activation exposed, and returns each one's largest magnitude.
 */
export async function measureRanges(graph: ShapedGraph, feeds: TensorMap): Promise<Map<string, number>> {
  const values = [...graph.values.values()].filter((v) => v.role === 'activation' && v.dtype === 'float32' && !v.isConst && !graph.known.has(v.name)).map((v) => v.name);
  const out = new Map<string, number>();
  if (values.length === 0) return out;
  const exported = exportOnnx(graph, undefined, { outputs: [...new Set([...graph.outputs, ...values])] });
  const session = await createSession(exported.bytes, 'cpu', `${graph.meta.source} (calibration run)`);
  try {
    const res = await runSession(session, feeds, exported.outputs, `${graph.meta.source} (calibration run)`);
    for (const name of values) {
      let m = 0;
      for (const x of res[name].data as Float32Array) if (Math.abs(x) > m) m = Math.abs(x);
      out.set(name, m);
    }
  } finally {
    await session.release();
  }
  return out;
}
