/** The interface every engine adapter provides (DESIGN.md: Backend, Executable). */
import type { Graph, Node } from '../ir/graph.js';
import type { ShapedGraph } from '../ir/infer.js';
import type { TensorMap } from './tensor.js';

export type Support = { ok: true } | { ok: false; reason: string };

/** A set of nodes of a shaped graph to compile as one unit. */
export interface Subgraph {
  readonly graph: ShapedGraph;
  readonly nodes: readonly number[];
  /** Values to expose as outputs (default: the boundary outputs). */
  readonly outputs?: readonly string[];
}

export interface Executable {
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  run(feeds: TensorMap): Promise<TensorMap>;
  dispose(): Promise<void>;
}

export interface Backend {
  /** 'ort:cpu', 'ort:webgpu', 'ort-web:wasm', 'tfjs', … */
  readonly id: string;
  /** Probes once, cheaply; never throws. */
  available(): Promise<boolean>;
  /** Op validation, like QNN's validateOpConfig or onnxruntime's GetCapability. */
  supports(node: Node, graph: Graph): Support;
  compile(part: Subgraph): Promise<Executable>;
}
