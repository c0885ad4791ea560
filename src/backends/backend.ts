/** The interface every engine adapter provides (DESIGN.md: Backend, Executable). */
import type { Graph, Node } from '../ir/graph.js';
import type { TensorMap } from './tensor.js';
import type { Weight } from '../ir/weight.js';

export type Support = { ok: true } | { ok: false; reason: string };

/** A partition lowered to a standalone ONNX model (what the map pass produces), compiled as one unit. */
export interface Subgraph {
  /** Shown in messages. */
  readonly name: string;
  readonly onnx: Uint8Array;
  /** The directory the model's external-data references are relative to (weights left in the model's files, not copied). */
  readonly externalDataDir?: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  /**
   * A partition that runs another's executable (the same `onnx` bytes, one engine session): inputs of
   * `onnx` that are this partition's weights, fed at run time, and the names in `onnx` of this
   * partition's values (`inputs`/`outputs` are the names in `onnx`). The runner feeds and renames.
   */
  readonly fed?: Readonly<Record<string, Weight>>;
  readonly names?: Readonly<Record<string, string>>;
}

export interface Executable {
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  /** Runs once; `into` holds preallocated output tensors the backend writes (views into an arena). */
  run(feeds: TensorMap, into?: TensorMap): Promise<TensorMap>;
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
