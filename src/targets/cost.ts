/**
 * The first cost model: roofline time of a node on a processor (the larger of compute time at the
 * processor's peak rate for the element type and memory time at its bandwidth), plus a launch
 * overhead per partition, and link time (latency + bytes / bandwidth) per transfer.
 * Every figure it returns is a prediction from the target's profile, never a measurement.
 */
import type { DType } from '../ir/dtype.js';
import type { Link, Processor, Target } from './schema.js';

/** The element type a processor computes a float32 node in (after legalization). */
export function computeDtype(proc: Processor, dtype: DType | null): DType | null {
  if (dtype === 'float32' && proc.support.legalizeFloat32To && !proc.support.dtypes.includes('float32')) {
    return proc.support.legalizeFloat32To as DType;
  }
  return dtype;
}

function peak(proc: Processor, dtype: DType | null): number {
  const p = proc.peakGflops;
  const f = (dtype && p[dtype]) || p.float32 || p.float16 || Object.values(p)[0];
  return f.value;
}

/** Predicted µs of a node with `flops` and `bytes` (at float32 sizes) whose main type is `dtype`. */
export function nodeTimeUs(proc: Processor, flops: number, bytes: number, dtype: DType | null): number {
  const cd = computeDtype(proc, dtype);
  const scaledBytes = cd === 'float16' && dtype === 'float32' ? bytes / 2 : bytes;
  const computeUs = flops / (peak(proc, cd) * 1e3);
  const memoryUs = scaledBytes / (proc.bandwidthGBs.value * 1e3);
  return Math.max(computeUs, memoryUs);
}

export function launchUs(proc: Processor): number {
  return proc.launchOverheadUs.value;
}

export function findLink(target: Target, from: string, to: string): Link | undefined {
  return target.links.find((l) => (l.from === from && l.to === to) || (l.from === to && l.to === from));
}

/** Predicted µs to move `bytes` between two processors' memories (through the CPU when there is no direct link). */
export function transferUs(target: Target, from: string, to: string, bytes: number): number {
  if (from === to) return 0;
  const link = findLink(target, from, to);
  if (link) return link.latencyUs.value + bytes / (link.bandwidthGBs.value * 1e3);
  const cpu = target.processors.find((p) => p.kind === 'cpu')!.id;
  return transferUs(target, from, cpu, bytes) + transferUs(target, cpu, to, bytes);
}

export function costSource(target: Target): string {
  return `cost model: ${target.name}`;
}
