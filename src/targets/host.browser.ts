/// <reference lib="dom" />
/**
 * host.ts in the browser bundle: "this machine" is the page — the `browser` target, assembled from what
 * the page finds: the CPU through onnxruntime-web's wasm engine (`ort:cpu`, which in the browser bundle is
 * onnxruntime-web: src/browser/onnxruntime-node.ts), plus a `gpu` processor on onnxruntime-web's WebGPU EP
 * when `navigator.gpu` gives an adapter. Its figures are the ones calibration measured in a page on this
 * device (kept in IndexedDB: src/browser/calibration-store.ts) when there are some, uncalibrated defaults
 * otherwise.
 */
import { probeWebGpu, type WebGpuProbe } from '../backends/webgpu.js';
import { ortWebThreads } from '../backends/engine-files.browser.js';
import { storedCalibration } from '../browser/calibration-store.js';
import { HOST_CPU_SUPPORT, WEBGPU_SUPPORT } from './host.js';
import { parseTarget, type Processor, type Target } from './schema.js';

export { HOST_CPU_SUPPORT, WEBGPU_SUPPORT };

export function hostCpuName(): string {
  return `browser CPU (${globalThis.navigator?.hardwareConcurrency ?? 1} logical cores; onnxruntime-web wasm, ${ortWebThreads()} thread${ortWebThreads() > 1 ? 's' : ''})`;
}

/** WebAssembly has no instruction set of the host's to name (onnxruntime's x86-64 blocked layout does not apply). */
export function archOf(): Pick<Processor, 'arch'> {
  return {};
}

export function calibratedHostPath(): string {
  return 'IndexedDB tessera/calibration (this device)';
}

export function readCalibratedHost(): unknown | undefined {
  return undefined; // asynchronous in a page: hostTarget() reads it
}

const guess = (value: number, what: string) => ({ value, source: `uncalibrated browser default: ${what}; calibrate in the page (calibrate() of the browser build) for this device's own` });

function browserCpu(): Processor {
  const threads = ortWebThreads();
  return {
    id: 'cpu', kind: 'cpu', name: hostCpuName(), backend: 'ort:cpu',
    peakGflops: { float32: guess(25 * threads, 'wasm SIMD, about 25 GFLOPS per thread on dense convolutions') },
    bandwidthGBs: guess(10, 'memory bandwidth a wasm32 heap sees'),
    launchOverheadUs: guess(30, 'session.run of a one-node model on onnxruntime-web'),
    nodeOverheadUs: guess(1, 'one more small node'),
    support: HOST_CPU_SUPPORT,
  };
}

/** The browser target with uncalibrated figures: the wasm CPU, and WebGPU on the adapter found (if any). */
export function uncalibratedHost(gpu: WebGpuProbe): Target {
  const processors: Processor[] = [browserCpu()];
  const links: Target['links'] = [];
  if (gpu.available) {
    processors.push({
      id: 'gpu', kind: 'gpu', name: `WebGPU in the browser (${gpu.adapter})`, backend: 'ort:webgpu',
      peakGflops: { float32: guess(gpu.software ? 5 : 1000, gpu.software ? 'a software adapter (SwiftShader)' : 'a hardware adapter') },
      bandwidthGBs: guess(gpu.software ? 5 : 100, 'GPU memory'),
      launchOverheadUs: guess(gpu.software ? 2000 : 200, 'WebGPU submission and readback'),
      support: WEBGPU_SUPPORT,
    });
    links.push({ from: 'cpu', to: 'gpu', bandwidthGBs: guess(2, 'WebGPU buffer upload/readback'), latencyUs: guess(500, 'a WebGPU map/readback round trip') });
  }
  return {
    format: 'tessera.target', version: 1, name: 'browser',
    description: `this page: onnxruntime-web wasm${gpu.available ? ` and WebGPU (${gpu.adapter}${gpu.software ? ', a software adapter' : ''})` : ''}, uncalibrated`,
    processors, links,
  };
}

/** This page as a target: calibrated on this device when a calibration is stored, else uncalibrated defaults. */
export async function hostTarget(): Promise<Target> {
  const gpu = await probeWebGpu();
  const stored = await storedCalibration();
  if (stored) return parseTarget(stored.target, `calibration stored for this device (${stored.date})`);
  return uncalibratedHost(gpu);
}
