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
  /** A control-flow node: the values of enclosing graphs its subgraphs read, and its subgraphs (indices into ViewModel.subgraphs). */
  implicit?: string[];
  subgraphs?: number[];
}

/** A value of a subgraph; 'outer' when it is read from an enclosing graph (look it up there). */
export interface ViewSubValue {
  dtype: string | null;
  shape: (number | string)[] | null;
  bytes: number;
  /** Producing node's index in this subgraph; -1 otherwise. */
  producer: number;
  role: 'input' | 'initializer' | 'activation' | 'outer';
}

export interface ViewSubNode {
  name: string;
  op: string;
  inputs: string[];
  outputs: string[];
  attrs: Record<string, string>;
  /** From inference, when the subgraph was inferred. */
  flops?: number;
  bytes?: number;
  implicit?: string[];
  subgraphs?: number[];
}

/** A branch or body of a control-flow node (If, Loop, Scan), drawn when the node is expanded. */
export interface ViewSubgraph {
  /** The node running it: a plan node (`parent` -1, `node` its index) or node `node` of subgraph `parent`. */
  parent: number;
  node: number;
  /** The attribute holding it: then_branch, else_branch, body. */
  attr: string;
  /**
   * 'kept': inference kept it (it can run with the plan's input shapes); 'pruned': it never runs with
   * them (the condition is known, or its shapes provably fail); 'not inferred': shapes as declared.
   */
  status: 'kept' | 'pruned' | 'not inferred';
  why: string;
  /** Formal inputs (a Loop's iteration number and carried values, a Scan's slices; none for If) and outputs. */
  inputs: string[];
  outputs: string[];
  /** Values of enclosing graphs its nodes read. */
  outer: string[];
  nodes: ViewSubNode[];
  values: Record<string, ViewSubValue>;
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
  /** Branches and bodies of the control-flow nodes, nested ones included. */
  subgraphs: ViewSubgraph[];
}

/** The plan verifier's finding, run by `tessera viz` (src/viz/check.ts). */
export interface PlanCheck {
  status: 'valid' | 'invalid' | 'unchecked';
  message: string;
  /** Buffers the finding names (index into plan.memory[memory].buffers). */
  buffers: { memory: string; index: number; value: string }[];
}

export interface VizData {
  plan: Plan;
  trace?: TraceFile;
  view?: ViewModel;
  /** Why the view model is missing, when it is. */
  viewMissing?: string;
  check: PlanCheck;
  /** Files the page was made from, for the header. */
  files: { plan: string; trace?: string; model?: string };
}
