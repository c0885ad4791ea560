/**
 * The binding as the compiler sees it: the target with each processor as bound (figures measured through
 * its bound backend when the profile has them, `backend` the bound one), what each bound backend takes
 * (its capability table, intersected with the processor's own table by the compile context), and which
 * processors of this host the runtime would not bind by default (they get no work).
 *
 * The host processor — the one that takes every op — bound to a backend that does not take every node
 * (`--bind cpu=tfjs`) keeps the nodes that backend refuses on its own backend, as a processor of its own
 * (`cpu-fallback`, same figures, a copy in host memory between them): placement puts them there up front,
 * and nothing falls back at run time for want of a kernel.
 */
import type { Backend } from '../backends/backend.js';
import { boundId, checkBind, idleReason, type BindSpec } from '../backends/binding.js';
import { backendSpec } from '../backends/registry.js';
import type { ContextOptions } from '../passes/context.js';
import { hostProcessor } from '../plan/residency.js';
import { targetThrough } from '../targets/index.js';
import type { Processor, Target } from '../targets/schema.js';
import { storedDtype } from '../targets/storage.js';
import type { SupportResult } from '../targets/support.js';
import type { CompileOptions } from './index.js';

export interface CompileBinding {
  /** The target with its processors as bound (with the host's fallback processor, when there is one). */
  target: Target;
  /** What the compile context needs: each bound backend's support, and the idle processors. */
  context: Pick<ContextOptions, 'backendSupport' | 'idle'>;
  /** The fallback processor's id, and the target without it (for a model whose every node the bound backend takes). */
  fallback?: { id: string; without: Target };
}

const OK: SupportResult = { ok: true };

export async function bindForCompile(target: Target, bind: BindSpec = {}): Promise<CompileBinding> {
  checkBind(target, bind);
  const ids: Record<string, string> = Object.fromEntries(Object.entries(bind).map(([p, v]) => [p, boundId(v)]));
  const objects = new Map(Object.entries(bind).filter((e): e is [string, Backend] => typeof e[1] === 'object'));
  const through = targetThrough(target, ids);
  let processors: Processor[] = through.processors.map((p) => (ids[p.id] ? { ...p, backend: ids[p.id] } : p));
  let links = target.links;
  const supportsOn = (p: Processor) => {
    const object = objects.get(p.id);
    if (object) return (node: Parameters<Backend['supports']>[0], graph: Parameters<Backend['supports']>[1]) => object.supports(node, graph);
    return backendSpec(p.backend)?.capabilities?.supports;
  };
  // the last resort, which takes whatever its table takes: the host processor on its own backend
  const host = target.processors.find((p) => p.id === hostProcessor(target))!;
  const lastResort = new Set<string>();
  /** The processor whose bound backend's refusals a fallback processor takes (and only those). */
  const refusalsOf = new Map<string, Processor>();
  if (!ids[host.id] || ids[host.id] === host.backend) lastResort.add(host.id);
  else if (supportsOn(processors.find((p) => p.id === host.id)!)) {
    const fallback: Processor = { ...host, id: `${host.id}-fallback`, name: `${host.name} through ${host.backend}, for what ${ids[host.id]} does not take` };
    processors = [...processors, fallback];
    links = [...links, {
      from: host.id, to: fallback.id,
      bandwidthGBs: { value: host.bandwidthGBs.value, source: `a copy within host memory, at the bandwidth of the ${host.name} (${host.bandwidthGBs.source})` },
      latencyUs: { value: 0, source: 'a copy within one memory: nothing to set up' },
    }];
    refusalsOf.set(fallback.id, processors.find((p) => p.id === host.id)!);
  }
  const bound: Target = processors === target.processors && links === target.links ? target : { ...target, processors, links };
  const fallbackId = [...refusalsOf.keys()][0];
  const fallback = fallbackId ? { id: fallbackId, without: { ...bound, processors: processors.filter((p) => p.id !== fallbackId), links: links.filter((l) => l.to !== fallbackId) } } : undefined;

  // a processor of this host that the runtime would run emulated (a software GPU) gets no work unless bound
  const idle = new Map<string, string>();
  for (const p of target.processors) {
    const why = ids[p.id] ? undefined : await idleReason(target, p);
    if (why) idle.set(p.id, why);
  }
  const backendSupport = (proc: Processor, node: Parameters<Backend['supports']>[0], graph: Parameters<Backend['supports']>[1]): SupportResult & { quiet?: boolean } => {
    if (lastResort.has(proc.id)) return OK;
    const bound = refusalsOf.get(proc.id);
    if (bound) {
      // the fallback takes only what the bound backend refuses: everything else runs where it was bound
      const r = supportsOn(bound)!(node, graph);
      return r.ok ? { ok: false, reason: `${bound.id} is bound to ${bound.backend}, which runs it`, quiet: true } : OK;
    }
    return supportsOn(proc)?.(node, graph) ?? OK;
  };
  return { target: bound, context: { backendSupport, idle }, ...(fallback ? { fallback } : {}) };
}

/**
 * Whether a compile would have nothing to decide: the target as bound leaves one processor with work, the
 * host's CPU on onnxruntime's CPU EP taking every op in native precision, and no option asks to rewrite
 * the model. Its plan is then always one partition on that processor — one engine call that orders the
 * nodes and manages the memory itself, for any input shape — so a runtime may run the model as that
 * call without compiling (an any-shape InferenceSession does).
 */
export async function nothingToPlan(target: Target, options: Pick<CompileOptions, 'bind' | 'rewrite' | 'split' | 'inplace' | 'plan' | 'memoryBudget'> = {}): Promise<boolean> {
  // a budget is checked against a compiled plan's predicted resident peak
  if (options.plan !== undefined || options.memoryBudget !== undefined || options.rewrite || (options.split ?? 'none') !== 'none' || options.inplace) return false;
  const binding = await bindForCompile(target, options.bind ?? {});
  const working = binding.target.processors.filter((p) => !binding.context.idle?.has(p.id));
  if (working.length !== 1) return false;
  const [p] = working;
  return p.kind === 'cpu' && p.backend === 'ort:cpu' && p.support.ops === '*' && storedDtype(p, 'float32') === 'float32';
}
