/// <reference lib="dom" />
/**
 * webgpu.ts in the browser bundle: is there a WebGPU adapter in this page, and what is it? Asked of
 * `navigator.gpu` (onnxruntime-web's WebGPU EP asks the same); software when the adapter says it is a
 * fallback adapter or names a CPU implementation (SwiftShader, lavapipe/llvmpipe).
 */
import type { WebGpuProbe } from './webgpu.js';

export type { WebGpuProbe };

interface GpuAdapterInfo { vendor?: string; architecture?: string; device?: string; description?: string; isFallbackAdapter?: boolean }
interface GpuAdapter { info?: GpuAdapterInfo; isFallbackAdapter?: boolean; requestAdapterInfo?(): Promise<GpuAdapterInfo> }
interface Gpu { requestAdapter(options?: { powerPreference?: string }): Promise<GpuAdapter | null> }

let cached: Promise<WebGpuProbe> | undefined;

/** Probes once per page; never throws. */
export function probeWebGpu(): Promise<WebGpuProbe> {
  return (cached ??= probe().catch((err) => ({ available: false, software: false, adapter: '', reason: `probe failed: ${err}` })));
}

async function probe(): Promise<WebGpuProbe> {
  const gpu = (globalThis.navigator as { gpu?: Gpu } | undefined)?.gpu;
  if (!gpu) return { available: false, software: false, adapter: '', reason: 'navigator.gpu is undefined (WebGPU is not enabled in this browser)' };
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) return { available: false, software: false, adapter: '', reason: 'navigator.gpu.requestAdapter() gave no adapter' };
  const info = adapter.info ?? (await adapter.requestAdapterInfo?.()) ?? {};
  const name = [info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(' ') || 'unnamed adapter';
  const software = Boolean(info.isFallbackAdapter ?? adapter.isFallbackAdapter) || /swiftshader|llvmpipe|lavapipe|software/i.test(name);
  return { available: true, software, adapter: name };
}
