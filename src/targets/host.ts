/**
 * This machine as a target: the profile `tessera calibrate` wrote, when there is one; otherwise the
 * onnxruntime CPU EP, plus the WebGPU EP when an adapter exists, with uncalibrated default figures.
 * Probing the GPU runs a child process; no engine is loaded here.
 */
import { existsSync, readFileSync } from 'node:fs';
import { cpus, homedir } from 'node:os';
import { join } from 'node:path';
import { probeWebGpu, type WebGpuProbe } from '../backends/webgpu.js';
import { parseTarget, type Processor, type Support, type Target } from './schema.js';

/** The host CPU as a profile names it: its model and architecture. */
export function hostCpuName(): string {
  const model = cpus()[0]?.model?.replace(/\s+/g, ' ').trim();
  return `host CPU${model ? `: ${model}` : ''} (${process.arch}, onnxruntime CPU EP)`;
}

/** Where `tessera calibrate` writes the host's profile by default, and where `host` looks for it. */
export function calibratedHostPath(): string {
  if (process.env.TESSERA_HOST_PROFILE) return process.env.TESSERA_HOST_PROFILE;
  return join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'tessera', 'host.json');
}

export function readCalibratedHost(): unknown | undefined {
  const path = calibratedHostPath();
  if (!existsSync(path)) return undefined;
  return JSON.parse(readFileSync(path, 'utf8'));
}

/** The host CPU's instruction set, as profiles name it (onnxruntime's cost hooks read it), when it is one they name. */
export function archOf(): Pick<Processor, 'arch'> {
  return process.arch === 'x64' ? { arch: 'x86-64' } : process.arch === 'arm64' ? { arch: 'arm64' } : {};
}

/** What the host's backends take: onnxruntime's CPU EP every op and type; its WebGPU EP no control flow and fewer types. */
export const HOST_CPU_SUPPORT: Support = { ops: '*', dtypes: ['float32', 'float16', 'float64', 'int8', 'uint8', 'int16', 'uint16', 'int32', 'uint32', 'int64', 'uint64', 'bool', 'string'], controlFlow: true, dynamicShapes: true, rejectAttributes: [] };
export const WEBGPU_SUPPORT: Support = { ops: '*', dtypes: ['float32', 'float16', 'int32', 'int64', 'bool', 'uint8'], controlFlow: false, dynamicShapes: true, rejectAttributes: [] };

/** Uncalibrated defaults: what `tessera calibrate` fitted on the 2-core x86-64 VMs this project runs on. */
const VM = (value: number, what: string) => ({ value, source: `uncalibrated default: ${what} as tessera calibrate fitted it on a 2-core x86-64 VM of this project (2026-11-22); run tessera calibrate for this host's own` });

const cpuHost = (): Processor => ({
  id: 'cpu', kind: 'cpu', name: hostCpuName(), backend: 'ort:cpu', ...archOf(),
  peakGflops: { float32: VM(310, 'the median rate of dense convolutions') },
  bandwidthGBs: VM(40, 'the bandwidth beyond the cache'),
  cacheBytes: VM(4 << 20, 'two 2 MB level-2 caches'),
  cacheBandwidthGBs: VM(95, 'the bandwidth within the cache'),
  launchOverheadUs: VM(7.5, 'session.run of a one-node model'),
  nodeOverheadUs: VM(0.28, 'one more small node in a chain'),
  efficiency: {
    conv: VM(1, 'conv efficiency'), dwconv: VM(0.5, 'depthwise conv efficiency'), matmul: VM(0.92, 'matmul efficiency'),
    elementwise: VM(0.064, 'elementwise arithmetic efficiency'), reduce: VM(0.0021, 'LRN efficiency'), copy: VM(0.38, 'copy, pool and reduction efficiency'),
  },
  support: HOST_CPU_SUPPORT,
});

/**
 * This machine: the profile `tessera calibrate` wrote, when there is one; otherwise the CPU EP, plus the
 * WebGPU EP when an adapter exists, with uncalibrated default figures. `gpu: false` leaves the GPU out
 * without probing for it (the probe is a child process: ~0.3 s).
 */
export async function hostTarget(options: { gpu?: boolean } = {}): Promise<Target> {
  const noGpu: WebGpuProbe = { available: false, software: false, adapter: '', reason: 'left out (gpu: false)' };
  const calibrated = readCalibratedHost();
  if (calibrated) {
    const parsed = parseTarget(calibrated, `calibrated host profile ${calibratedHostPath()}`);
    // a profile written before processors said their instruction set is this host's
    const t = { ...parsed, processors: parsed.processors.map((p) => (p.kind === 'cpu' && !p.arch ? { ...p, ...archOf() } : p)) };
    const gpu = options.gpu === false ? noGpu : await probeWebGpu();
    // a GPU measured once but absent now (no driver) is dropped, with its links
    if (!gpu.available && t.processors.some((p) => p.id === 'gpu')) {
      return { ...t, processors: t.processors.filter((p) => p.id !== 'gpu'), links: t.links.filter((l) => l.from !== 'gpu' && l.to !== 'gpu') };
    }
    return t;
  }
  return uncalibratedHost(options.gpu === false ? noGpu : await probeWebGpu());
}

/** The host profile with uncalibrated default figures: the CPU EP, and the WebGPU EP on the adapter the probe found (if any). */
export function uncalibratedHost(gpu: WebGpuProbe): Target {
  const processors: Processor[] = [cpuHost()];
  const links: Target['links'] = [];
  if (gpu.available) {
    processors.push({
      id: 'gpu', kind: 'gpu', name: `WebGPU (${gpu.adapter})`, backend: 'ort:webgpu',
      peakGflops: { float32: { value: gpu.software ? 7 : 1000, source: gpu.software ? 'uncalibrated default: a 512x512 MatMul on the WebGPU EP over Mesa lavapipe (software Vulkan)' : 'uncalibrated default for a hardware WebGPU adapter' } },
      bandwidthGBs: { value: gpu.software ? 5 : 100, source: 'uncalibrated default' },
      launchOverheadUs: { value: gpu.software ? 2000 : 100, source: 'uncalibrated default: WebGPU submission and readback' },
      support: WEBGPU_SUPPORT,
    });
    links.push({ from: 'cpu', to: 'gpu', bandwidthGBs: { value: 2, source: 'uncalibrated default: WebGPU buffer upload/readback' }, latencyUs: { value: 500, source: 'uncalibrated default: a WebGPU map/readback round trip' } });
  }
  return {
    format: 'tessera.target', version: 1, name: 'host',
    description: `this machine: onnxruntime CPU EP${gpu.available ? ` and WebGPU EP (${gpu.adapter}${gpu.software ? ', a software adapter' : ''})` : ''}`,
    processors, links,
  };
}

