/**
 * The plan verifier, run for the viewer page: its finding is shown at the top of the page, and an
 * invalid plan is still drawn, marked invalid, with the buffers the finding names highlighted.
 * Node-side (the verifier needs the model's graph and the target; the page gets the result).
 */
import { TesseraError } from '../errors.js';
import type { ShapedGraph } from '../ir/infer.js';
import type { Plan } from '../plan/schema.js';
import { verifyPlan } from '../plan/verify.js';
import type { Target } from '../targets/schema.js';
import type { PlanCheck } from './model.js';

/**
 * Runs verifyPlan when the graph and the target are at hand. The verifier stops at its first finding;
 * the buffers highlighted are those of the memory the finding names whose values it quotes.
 */
export function checkPlan(plan: Plan, graph: ShapedGraph | undefined, target: Target | undefined, why: string): PlanCheck {
  if (!graph || !target) return { status: 'unchecked', message: `not verified: ${why}`, buffers: [] };
  try {
    verifyPlan(plan, graph, target);
    return { status: 'valid', message: `the plan verifier found nothing wrong (order, partitions, transfers, every buffer's size, lifetime and overlap checked against ${target.name})`, buffers: [] };
  } catch (err) {
    if (!(err instanceof TesseraError)) throw err;
    return { status: 'invalid', message: `${err.code}: ${err.message}`, buffers: namedBuffers(plan, err.message) };
  }
}

/** The buffers a verifier message names: values it quotes, in the memory it names (all memories when it names none). */
function namedBuffers(plan: Plan, message: string): PlanCheck['buffers'] {
  const mem = /memory '([^']+)'/.exec(message)?.[1];
  const quoted = new Set([...message.matchAll(/'([^']+)'/g)].map((m) => m[1]));
  const out: PlanCheck['buffers'] = [];
  for (const [id, m] of Object.entries(plan.memory)) {
    if (mem !== undefined && id !== mem) continue;
    m.buffers.forEach((b, index) => {
      if (quoted.has(b.value)) out.push({ memory: id, index, value: b.value });
    });
  }
  return out;
}
