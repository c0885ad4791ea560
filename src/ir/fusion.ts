/**
 * Fusion: what backends fold into the convolution or matrix product that feeds a node alone — a
 * BatchNormalization and a per-channel Add or Mul of a constant given as its second input (into the
 * weights and bias, as onnxruntime's ConvAddFusion/ConvMulFusion do), an Add of a tensor of the output's
 * shape (the residual sum onnxruntime's NCHWc convolution and NPU compilers take), and then one
 * activation. The roles come from the op traits (`fusible`, `fusionRoot`); which residual sums an engine
 * takes is the engine's (a backend's cost hooks say).
 */
import type { Node, Shape } from './graph.js';
import type { ShapedGraph } from './infer.js';
import { opTraits } from './ops/traits.js';

/** The producer of a node's input when this node is its only consumer. */
function soleProducer(graph: ShapedGraph, name: string | undefined): Node | null {
  const v = name ? graph.values.get(name) : undefined;
  if (!v || v.producer < 0 || v.consumers.length !== 1) return null;
  return graph.nodes[v.producer];
}

function sameShape(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/**
 * The convolution or matrix product a node is folded into, or null. `residualInto`, when given, says
 * which products take a residual sum (onnxruntime's x86-64 CPU EP: only a convolution in its blocked
 * layout); without it every product does.
 */
export function fusedRoot(graph: ShapedGraph, node: Node, residualInto?: (root: Node) => boolean, depth = 0): Node | null {
  if (depth > 3) return null;
  const into = (p: Node | null): Node | null => (!p ? null : opTraits(p.op).fusionRoot ? p : fusedRoot(graph, p, residualInto, depth + 1));
  const fusible = opTraits(node.op).fusible;
  if (fusible === 'activation' || fusible === 'batchnorm') {
    const p = soleProducer(graph, node.inputs[0]);
    // an activation after an activation is not fused (onnxruntime fuses one)
    return p && opTraits(p.op).fusible !== 'activation' ? into(p) : null;
  }
  if ((fusible === 'sum' || fusible === 'scale') && node.inputs.length === 2) {
    const out = graph.values.get(node.outputs[0])?.shape;
    for (const [k, name] of node.inputs.entries()) {
      const p = soleProducer(graph, name);
      const pt = p && opTraits(p.op);
      if (!p || !pt || pt.fusible === 'activation' || (!pt.fusionRoot && !pt.fusible)) continue;
      const other = graph.values.get(node.inputs[1 - k]);
      if (!other) continue;
      const mine = graph.values.get(name)?.shape;
      const constant = other.role === 'initializer' || graph.known.has(other.name);
      if (constant && k !== 0) continue; // the constant must be the second input
      // a constant folds into the weights when it is one value per output channel (or one value)
      const perChannel = constant && !!other.shape && other.shape.reduce<number>((a, d) => a * (typeof d === 'number' ? d : 0), 1) <= (typeof mine?.[1] === 'number' ? mine[1] : 1);
      // a residual sum: another activation of exactly the output's shape (Add and Sum only)
      const sum = fusible === 'sum' && !constant && !!out && !!mine && !!other.shape && sameShape(out, mine) && sameShape(out, other.shape);
      if (!perChannel && !sum) continue;
      if (pt.fusible === 'sum' && !perChannel) continue; // one residual sum per product
      const f = into(p);
      if (f && sum && residualInto && !residualInto(f)) continue;
      if (f) return f;
    }
  }
  return null;
}
