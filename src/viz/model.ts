/**
 * What the viewer page is given: the plan, optionally a measured trace, and a small "view model" of
 * the model's structure (edges, shapes, bytes, FLOPs, attributes) that the plan does not hold. The view
 * model is built by `tessera viz` from the model file (src/cli/viz.ts); the viewer itself reads only
 * this data.
 */
import type { Plan } from '../plan/schema.js';
import type { TraceFile } from './trace-file.js';

export interface ViewValue {
  dtype: string | null;
  /** Dims; strings for symbolic ones; null when the rank is unknown. */
  shape: (number | string)[] | null;
  bytes: number;
  /** Producing node index; -1 for graph inputs and weights. */
  producer: number;
  role: 'input' | 'initializer' | 'activation';
}

export interface ViewNode {
  inputs: string[];
  outputs: string[];
  /** Attribute values in words (tensors and graphs summarized). */
  attrs: Record<string, string>;
  flops: number;
  /** Bytes read and written (weights included). */
  bytes: number;
  /** Predicted time of this node alone on its processor, from the cost model, and how it was reached. */
  predictedUs?: number;
  basis?: string;
}

export interface ViewModel {
  /** Where this came from, e.g. "model.onnx (sha256 matches the plan), shapes for the plan's inputs". */
  source: string;
  /** Indexed like plan.nodes. Absent: the model was not found, the graph view shows the order only. */
  nodes: ViewNode[];
  /** Non-weight values read or written by the nodes, plus the weights' sizes. */
  values: Record<string, ViewValue>;
  /** The cost model's source (for per-node predictions), or why there are none. */
  costSource: string;
}

export interface VizData {
  plan: Plan;
  trace?: TraceFile;
  view?: ViewModel;
  /** Why the view model is missing, when it is. */
  viewMissing?: string;
  /** Files the page was made from, for the header. */
  files: { plan: string; trace?: string; model?: string };
}
