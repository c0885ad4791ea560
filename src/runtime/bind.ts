/**
 * Binding the processors of a target to backends on this host (the rule is backends/binding.ts), and
 * creating each backend once: what the runner compiles partitions with.
 */
import type { Backend } from '../backends/backend.js';
import { checkBind, CPU_BACKEND, defaultBinding, explicitBinding, type BindSpec } from '../backends/binding.js';
import { backendSpec } from '../backends/registry.js';
import type { Binding } from '../plan/trace.js';
import type { Target } from '../targets/schema.js';

export interface Bound extends Binding {
  impl: Backend;
}

/** Creates registered backends by id, each once. */
export function backendFactory(): (id: string) => Promise<Backend> {
  const made = new Map<string, Promise<Backend>>();
  return (id) => {
    let b = made.get(id);
    if (!b) made.set(id, (b = backendSpec(id)!.create()));
    return b;
  };
}

export async function bindProcessors(target: Target, bind: BindSpec = {}, create = backendFactory()): Promise<Bound[]> {
  checkBind(target, bind);
  const out: Bound[] = [];
  for (const p of target.processors) {
    const want = bind[p.id];
    const b = want === undefined ? await defaultBinding(target, p) : await explicitBinding(p, want);
    out.push({ ...b, impl: typeof want === 'object' ? want : await create(b.backend) });
  }
  return out;
}

export { CPU_BACKEND };
