/** `tessera targets` and `tessera backends`: what the compiler knows, and what this host really has. */
import { OrtBackend } from '../backends/ort.js';
import { OrtWebBackend } from '../backends/ort-web.js';
import { TfjsBackend } from '../backends/tfjs.js';
import { probeWebGpu } from '../backends/webgpu.js';
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

export async function listBackends(): Promise<BackendListing[]> {
  const cpu = await new OrtBackend('cpu').available();
  const gpu = await probeWebGpu();
  return [
    { id: 'ort:cpu', available: cpu, detail: 'onnxruntime-node CPU execution provider' },
    {
      id: 'ort:webgpu', available: gpu.available,
      detail: gpu.available
        ? `onnxruntime-node WebGPU execution provider on ${gpu.adapter}${gpu.software ? ' — a software adapter: gpu processors bind to it only with --bind gpu=webgpu' : ''}`
        : `unavailable: ${gpu.reason}`,
    },
    { id: 'ort-web:wasm', available: await new OrtWebBackend().available(), detail: "onnxruntime-web's wasm backend, one thread (bind a processor to it with --bind cpu=wasm)" },
    await (async () => {
      const tfjs = new TfjsBackend();
      const ok = await tfjs.available();
      return { id: 'tfjs', available: ok, detail: ok ? `TensorFlow.js on ${tfjs.detail} (pass a TfjsBackend in the Session's bind option)` : 'TensorFlow.js: no engine initialized' };
    })(),
    { id: 'npu', available: false, detail: 'no NPU on this host: npu processors are emulated on ort:cpu with their dtype legalization' },
  ];
}

export function formatBackends(list: BackendListing[]): string {
  return list.map((b) => `${b.available ? 'yes' : 'no '} ${b.id.padEnd(11)} ${b.detail}`).join('\n');
}
