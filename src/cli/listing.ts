/** `tessera targets` and `tessera backends`: what the compiler knows, and what this host really has. */
import { probeBackend, registeredBackends } from '../backends/registry.js';
import { builtinTargetNames, loadTarget } from '../targets/index.js';

export interface TargetListing {
  name: string;
  description: string;
  processors: { id: string; kind: string; name: string; backend: string }[];
}

export async function listTargets(): Promise<TargetListing[]> {
  const out: TargetListing[] = [];
  for (const name of builtinTargetNames()) {
    const t = await loadTarget(name);
    out.push({ name, description: t.description, processors: t.processors.map((p) => ({ id: p.id, kind: p.kind, name: p.name, backend: p.backend })) });
  }
  return out;
}

export function formatTargets(list: TargetListing[]): string {
  return list
    .map((t) => [`${t.name}: ${t.description}`, ...t.processors.map((p) => `  ${p.id.padEnd(4)} ${p.kind.padEnd(4)} ${p.name} (lowered for ${p.backend})`)].join('\n'))
    .join('\n');
}

export interface BackendListing {
  id: string;
  available: boolean;
  detail: string;
}

/** Every registered backend, probed here. */
export async function listBackends(): Promise<BackendListing[]> {
  const out: BackendListing[] = [];
  for (const spec of registeredBackends()) {
    const probe = await probeBackend(spec);
    const how = probe.software ? ` — a software adapter: ${spec.kind} processors bind to it only with --bind ${spec.kind}=${spec.bindName}` : ` (--bind PROCESSOR=${spec.bindName})`;
    out.push({ id: spec.id, available: probe.available, detail: probe.available ? `${spec.description} on ${probe.detail}${how}` : `unavailable: ${probe.detail}` });
  }
  out.push({ id: 'npu', available: false, detail: 'no NPU on this host: npu processors are emulated on ort:cpu with their dtype legalization' });
  return out;
}

export function formatBackends(list: BackendListing[]): string {
  return list.map((b) => `${b.available ? 'yes' : 'no '} ${b.id.padEnd(12)} ${b.detail}`).join('\n');
}
