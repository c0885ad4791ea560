/**
 * The onnxruntime-node adapter: a partition is exported as a standalone ONNX model and run by an
 * InferenceSession on one execution provider (CPU here; WebGPU where an adapter exists).
 */
import { createHash } from 'node:crypto';
import * as ort from 'onnxruntime-node';
import { asTesseraError, TesseraError } from '../errors.js';
import { ortJsSupports } from '../ir/dtype.js';
import type { Graph, Node } from '../ir/graph.js';
import type { Prober, ShapedGraph } from '../ir/infer.js';
import { exportOnnx } from '../ir/onnx-export.js';
import type { ValueInfo } from '../ir/ops/registry.js';
import type { Backend, Executable, Subgraph, Support } from './backend.js';
import { randomTensor, type Tensor, type TensorMap } from './tensor.js';
import { probeWebGpu } from './webgpu.js';

/** Ops onnxruntime 1.30's CPU EP has no kernel for (from the ONNX conformance baseline). */
const CPU_UNSUPPORTED = new Set(['ImageDecoder', 'FlexAttention', 'Adam', 'Adagrad', 'Momentum', 'Gradient']);
const DOMAINS = new Set(['', 'ai.onnx.ml', 'com.microsoft']);

export type OrtProvider = 'cpu' | 'webgpu';

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
    if (!DOMAINS.has(node.domain) && !graph.meta.functions.some((f) => f.domain === node.domain && f.name === node.op)) {
      return { ok: false, reason: `domain '${node.domain}' has no kernels in onnxruntime` };
    }
    if (CPU_UNSUPPORTED.has(node.op)) return { ok: false, reason: `onnxruntime has no kernel for ${node.op}` };
    for (const name of [...node.inputs, ...node.outputs]) {
      const dt = name ? graph.values.get(name)?.dtype : null;
      if (dt && !ortJsSupports(dt)) return { ok: false, reason: `value '${name}' is ${dt}, which onnxruntime's JavaScript API cannot pass` };
    }
    return { ok: true };
  }

  async compile(part: Subgraph): Promise<Executable> {
    const key = createHash('sha256').update(part.onnx).digest('hex');
    let entry = this.cache.get(key);
    if (!entry) {
      entry = { session: createSession(part.onnx, this.provider, part.name), users: 0 };
      this.cache.set(key, entry);
      entry.session.catch(() => this.cache.delete(key));
    }
    entry.users++;
    const session = await entry.session;
    let disposed = false;
    return {
      inputs: part.inputs,
      outputs: part.outputs,
      run: (feeds, into) => runSession(session, feeds, part.outputs, part.name, into),
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

export async function createSession(bytes: Uint8Array, provider: OrtProvider, where: string): Promise<ort.InferenceSession> {
  try {
    return await ort.InferenceSession.create(bytes, { executionProviders: [provider], logSeverityLevel: 4 });
  } catch (err) {
    throw asTesseraError(err, 'BACKEND_FAILED', `onnxruntime (${provider}) could not load ${where}`);
  }
}

export async function runSession(session: ort.InferenceSession, feeds: TensorMap, outputs: readonly string[], where: string, into?: TensorMap): Promise<TensorMap> {
  try {
    const fetches: ort.InferenceSession.FetchesType = into ? Object.fromEntries(outputs.map((o) => [o, into[o] ?? null])) : [...outputs];
    const res = await session.run(feeds, fetches);
    return res as TensorMap;
  } catch (err) {
    throw asTesseraError(err, 'BACKEND_FAILED', `onnxruntime failed running ${where}`);
  }
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
