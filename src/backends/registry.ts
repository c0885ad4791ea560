/**
 * Backends registered as data (as tfjs-core's kernel registry): every engine a processor can be bound to,
 * registered once with
 *  - `id` ('ort:cpu') and `bindName` (`--bind cpu=…`);
 *  - `capabilities`: what it takes, answered from its capability table (absent: every node a processor's
 *    own table takes); the compiler intersects a processor's op table with its bound backend's, so
 *    placement never gives a node to a backend that cannot run it;
 *  - `costHooks`: where the engine runs nodes differently from the cost model's plain roofline, per
 *    processor (onnxruntime's x86-64 blocked layout and its group-by-group convolutions);
 *  - `probe`: whether this host has it, and what it is (never throws; the engine may be loaded);
 *  - `create`: the engine itself, imported only then.
 * The compiler reads capabilities and cost hooks only; the runtime probes and creates. Adding a backend
 * is one `registerBackend` call.
 */
import { TesseraError } from '../errors.js';
import type { Graph, Node } from '../ir/graph.js';
import type { ShapedGraph } from '../ir/infer.js';
import type { OpClass } from '../ir/ops/traits.js';
import type { Backend, Support } from './backend.js';
import { ortSupports } from './ort-capabilities.js';
import { ORT_COST, ORT_X86_COST } from './ort-cost.js';
import { tfjsSupports } from './tfjs-capabilities.js';
import { probeWebGpu } from './webgpu.js';
import { wasmSupports } from './wasm-capabilities.js';

/** What a probe found. */
export interface Probe {
  available: boolean;
  /** What it is here, or why it is missing. */
  detail: string;
  /** Present but a software stand-in far slower than the CPU (lavapipe): bound only when asked for. */
  software?: boolean;
}

/** How an engine runs nodes where it differs from the plain roofline of the cost model (targets/cost.ts). */
export interface EngineCost {
  /** The class a node is computed as, and a factor on its FLOPs, when the engine computes it unlike its op's class. */
  work?(graph: ShapedGraph, node: Node): { cls: OpClass; flopsFactor: number } | undefined;
  /** Whether a residual sum folds into this convolution or matrix product (absent: every one takes it). */
  residualInto?(graph: ShapedGraph, root: Node): boolean;
  /** Bytes of tensors the engine converts to or from a layout of its own around this node (each copied once each way). */
  layoutBytes?(graph: ShapedGraph, node: Node): number;
  /** Groups of a grouped convolution computed one at a time (each costs the processor's `convGroupUs`). */
  groupCalls?(graph: ShapedGraph, node: Node): number;
}

/** What cost hooks see of a processor. */
export interface EngineProcessor {
  readonly kind: string;
  readonly arch?: string;
}

export interface Capabilities {
  supports(node: Node, graph: Graph): Support;
}

export interface BackendSpec {
  readonly id: string;
  readonly bindName: string;
  /** What it is, in one line (`tessera backends`). */
  readonly description: string;
  /** The kind of processor it runs natively (bound to another kind, it stands in for it). */
  readonly kind: 'cpu' | 'gpu' | 'npu';
  probe(): Promise<Probe>;
  create(): Promise<Backend>;
  readonly capabilities?: Capabilities;
  readonly costHooks?: (proc: EngineProcessor) => EngineCost | undefined;
}

const specs = new Map<string, BackendSpec>();
const probes = new Map<string, Promise<Probe>>();

/** Registers a backend; its id and bind name must be new. */
export function registerBackend(spec: BackendSpec): void {
  for (const s of specs.values()) {
    if (s.id === spec.id || s.bindName === spec.bindName) {
      throw new TesseraError('BAD_ARGUMENT', `a backend with id '${s.id}' (--bind …=${s.bindName}) is registered already; '${spec.id}' (${spec.bindName}) needs an id and a bind name of its own`);
    }
  }
  specs.set(spec.id, spec);
}

export function backendSpec(id: string): BackendSpec | undefined {
  return specs.get(id);
}

/** The backend `--bind PROCESSOR=name` names. */
export function backendByBindName(name: string): BackendSpec | undefined {
  for (const s of specs.values()) if (s.bindName === name) return s;
  return undefined;
}

export function registeredBackends(): BackendSpec[] {
  return [...specs.values()];
}

/** A backend's probe, once per process. */
export function probeBackend(spec: BackendSpec): Promise<Probe> {
  let p = probes.get(spec.id);
  if (!p) {
    p = spec.probe().catch((err: unknown) => ({ available: false, detail: `probe failed: ${err instanceof Error ? err.message : String(err)}` }));
    probes.set(spec.id, p);
  }
  return p;
}

/** The cost hooks of the engine a processor runs on (its `backend`), or undefined for the plain roofline. */
export function engineCost(proc: EngineProcessor & { readonly backend: string }): EngineCost | undefined {
  return specs.get(proc.backend)?.costHooks?.(proc);
}

// ---- the built-in backends ------------------------------------------------------------------------

/** onnxruntime's CPU kernels: blocked convolutions on an x86-64 CPU, group-by-group ones everywhere. */
const ortCpuCost = (p: EngineProcessor) => (p.kind === 'cpu' && p.arch === 'x86-64' ? ORT_X86_COST : ORT_COST);

registerBackend({
  id: 'ort:cpu', bindName: 'cpu', kind: 'cpu', description: 'onnxruntime-node CPU execution provider',
  async probe() {
    const ort = await import('onnxruntime-node');
    const available = ort.listSupportedBackends().some((b) => b.name === 'cpu');
    return { available, detail: available ? 'this host' : 'this onnxruntime-node build has no CPU execution provider' };
  },
  create: async () => new (await import('./ort.js')).OrtBackend('cpu'),
  capabilities: { supports: ortSupports },
  costHooks: ortCpuCost,
});

registerBackend({
  id: 'ort:webgpu', bindName: 'webgpu', kind: 'gpu', description: 'onnxruntime-node WebGPU execution provider',
  async probe() {
    const gpu = await probeWebGpu();
    return gpu.available ? { available: true, software: gpu.software, detail: gpu.adapter } : { available: false, detail: `no WebGPU adapter (${gpu.reason})` };
  },
  create: async () => new (await import('./ort.js')).OrtBackend('webgpu'),
  capabilities: { supports: ortSupports },
});

registerBackend({
  id: 'ort-web:wasm', bindName: 'wasm', kind: 'cpu', description: "onnxruntime-web's wasm backend",
  async probe() {
    const { OrtWebBackend } = await import('./ort-web.js');
    const available = await new OrtWebBackend().available();
    return { available, detail: available ? 'WebAssembly, one thread' : 'onnxruntime-web did not initialize' };
  },
  create: async () => new (await import('./ort-web.js')).OrtWebBackend(),
  capabilities: { supports: (node, graph) => wasmSupports(node, graph) },
  costHooks: () => ORT_COST,
});

registerBackend({
  id: 'tfjs', bindName: 'tfjs', kind: 'cpu', description: 'TensorFlow.js',
  async probe() {
    const { TfjsBackend } = await import('./tfjs.js');
    const tfjs = new TfjsBackend();
    const available = await tfjs.available();
    return { available, detail: available ? tfjs.detail : 'no TensorFlow.js engine could be initialized' };
  },
  create: async () => new (await import('./tfjs.js')).TfjsBackend(),
  capabilities: { supports: (node, graph) => tfjsSupports(node, graph) },
});
