/**
 * Binding: which backend present on this host runs each processor of a target. The rule, in one place:
 *  - a processor bound explicitly (`bind`, `--bind gpu=webgpu`) runs on that backend, or it is an error
 *    when this host does not have it;
 *  - otherwise a processor runs on its own backend (the one its partitions are lowered for) when this
 *    host has it and it is not a software stand-in far slower than the CPU (lavapipe, bound only when
 *    asked for); else it is emulated on onnxruntime's CPU EP, with its dtype legalization.
 * The compiler reads it (a processor of this host the runtime would not bind by default gets no work) and
 * the runtime applies it.
 */
import { TesseraError } from '../errors.js';
import type { Binding } from '../plan/trace.js';
import type { Processor, Target } from '../targets/schema.js';
import { storedDtype } from '../targets/storage.js';
import type { Backend } from './backend.js';
import { backendByBindName, backendSpec, probeBackend, registeredBackends, type BackendSpec } from './registry.js';

/** Processor id → a backend by its bind name ('webgpu') or id ('ort:webgpu'), or a Backend object of the caller's. */
export type BindSpec = Readonly<Record<string, string | Backend>>;

/** The backend onnxruntime's CPU EP is: what every emulation runs on. */
export const CPU_BACKEND = 'ort:cpu';

/** The registered backend a bind value names (its bind name or its id); undefined for a Backend object. */
export function bindSpecOf(value: string | Backend): BackendSpec | undefined {
  if (typeof value === 'object') return undefined;
  return backendByBindName(value) ?? backendSpec(value);
}

/** The id of the backend a bind value names. */
export function boundId(value: string | Backend): string {
  return typeof value === 'object' ? value.id : bindSpecOf(value)?.id ?? value;
}

/** `gpu=webgpu,npu=cpu` → { gpu: 'webgpu', npu: 'cpu' }. */
export function parseBind(spec: string | undefined): Record<string, string> {
  const names = registeredBackends().map((b) => b.bindName);
  const out: Record<string, string> = {};
  for (const part of (spec ?? '').split(',').map((s) => s.trim()).filter(Boolean)) {
    const [k, v] = part.split('=');
    if (!k || !v || !names.includes(v)) {
      throw new TesseraError('BAD_ARGUMENT', `--bind '${part}': expected PROCESSOR=BACKEND with BACKEND one of ${names.join(', ')}, e.g. gpu=webgpu`);
    }
    out[k] = v;
  }
  return out;
}

/** Checks that a bind spec names processors of the target and backends that are registered. */
export function checkBind(target: Target, bind: BindSpec): void {
  for (const [id, value] of Object.entries(bind)) {
    if (!target.processors.some((p) => p.id === id)) {
      throw new TesseraError('BAD_ARGUMENT', `--bind ${id}=…: target '${target.name}' has no processor '${id}' (it has ${target.processors.map((p) => p.id).join(', ')})`);
    }
    if (typeof value === 'string' && !bindSpecOf(value)) {
      throw new TesseraError('BAD_ARGUMENT', `--bind ${id}=${value}: no backend '${value}' is registered (${registeredBackends().map((b) => b.bindName).join(', ')})`);
    }
  }
}

/** How a processor runs when bound explicitly. */
export async function explicitBinding(p: Processor, value: string | Backend): Promise<Binding> {
  if (typeof value === 'object') return { processor: p.id, backend: value.id, emulated: false, note: `backend '${value.id}' supplied by the caller` };
  const spec = bindSpecOf(value)!;
  const probe = await probeBackend(spec);
  if (!probe.available) throw new TesseraError('BACKEND_UNAVAILABLE', `--bind ${p.id}=${value}: ${spec.description} is not available on this host: ${probe.detail}`);
  const standIn = spec.kind !== p.kind;
  return {
    processor: p.id, backend: spec.id, emulated: standIn,
    note: `${spec.description} on ${probe.detail}${probe.software ? ' (a software adapter: correct, not fast)' : ''}, bound explicitly${standIn ? `: standing in for the ${p.name}` : ''}`,
  };
}

/** A target assembled from what this machine has: `host` (Node) or `browser` (the page's engines). */
const isThisMachine = (target: Target) => target.name === 'host' || target.name === 'browser';

/** How a processor runs when nothing binds it, and why not as itself when it is emulated. */
async function resolveDefault(target: Target, p: Processor): Promise<{ binding: Binding; why?: string }> {
  const onHost = isThisMachine(target);
  const spec = backendSpec(p.backend);
  const probe = spec && spec.kind === p.kind ? await probeBackend(spec) : undefined;
  if (spec && probe?.available && !probe.software) {
    const note = spec.id === CPU_BACKEND ? (onHost ? 'onnxruntime CPU EP' : `onnxruntime CPU EP on this host standing in for the ${p.name}`) : `${spec.description} on ${probe.detail}`;
    return { binding: { processor: p.id, backend: spec.id, emulated: false, note } };
  }
  const legal = storedDtype(p, 'float32');
  const how = (legal !== 'float32' ? ` with its ${legal} legalization (float32 values stored as ${legal}, arithmetic in float32)` : '')
    + (p.support.quantized ? `${legal !== 'float32' ? ';' : ' with'} QDQ groups on their quantized numerics` : '');
  const why = !spec || !probe ? `no ${p.kind.toUpperCase()} backend on this host`
    : probe.available ? `${spec.description} has only ${probe.detail} here, a software adapter far slower than the CPU; bind it with --bind ${p.id}=${spec.bindName}`
    : probe.detail;
  return { binding: { processor: p.id, backend: CPU_BACKEND, emulated: true, note: `emulated on the onnxruntime CPU EP${how}: ${why}` }, why };
}

/** How a processor runs when nothing binds it: on its own backend when this host has it for real, else emulated on the CPU EP. */
export async function defaultBinding(target: Target, p: Processor): Promise<Binding> {
  return (await resolveDefault(target, p)).binding;
}

/**
 * Why a processor of a target describing this host gets no work in a plan for it: the runtime would run
 * it emulated, not as itself (a software GPU adapter); undefined when it runs as itself, or the target is
 * another machine (whose processors are emulated here by design).
 */
export async function idleReason(target: Target, p: Processor): Promise<string | undefined> {
  if (!isThisMachine(target)) return undefined;
  const { binding, why } = await resolveDefault(target, p);
  return binding.emulated ? `not bound here by default (${why}), so a plan for this host gives it no work` : undefined;
}
