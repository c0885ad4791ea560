/** Target profiles: the built-in machines, a user's own JSON file, and `host` (this machine as found). */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { probeWebGpu } from '../backends/webgpu.js';
import { TesseraError } from '../errors.js';
import { calibratedHostPath, HOST_CPU_SUPPORT, hostCpuName, readCalibratedHost, WEBGPU_SUPPORT } from './calibrate.js';
import { FIGURE_FIELDS, targetSchema, type Processor, type Target } from './schema.js';

const BUILTIN_DIR = join(dirname(fileURLToPath(import.meta.url)), 'builtin');

export function builtinTargetNames(): string[] {
  return ['host', ...readdirSync(BUILTIN_DIR).filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -5)).sort()];
}

/** Validates target JSON, with messages that name the field. */
export function parseTarget(json: unknown, where: string): Target {
  const r = targetSchema.safeParse(json);
  if (!r.success) {
    const issues = r.error.issues.slice(0, 5).map((i) => `${i.path.join('.') || '(top)'}: ${i.message}`);
    throw new TesseraError('BAD_TARGET', `${where} is not a valid Tessera target: ${issues.join('; ')}`);
  }
  const t = r.data;
  const ids = new Set<string>();
  for (const p of t.processors) {
    if (ids.has(p.id)) throw new TesseraError('BAD_TARGET', `${where}: processor id '${p.id}' appears twice`);
    ids.add(p.id);
    if (Object.keys(p.peakGflops).length === 0) throw new TesseraError('BAD_TARGET', `${where}: processor '${p.id}' gives no peakGflops`);
  }
  if (!t.processors.some((p) => p.kind === 'cpu' && p.support.ops === '*')) {
    throw new TesseraError('BAD_TARGET', `${where}: a target needs a cpu processor that takes every op ("ops": "*"), for what nothing else runs`);
  }
  for (const l of t.links) {
    for (const end of [l.from, l.to]) {
      if (!ids.has(end)) throw new TesseraError('BAD_TARGET', `${where}: link ${l.from} -> ${l.to} names unknown processor '${end}'`);
    }
  }
  return t;
}

/** Uncalibrated defaults: what `tessera calibrate` fitted on the 2-core x86-64 VMs this project runs on. */
const VM = (value: number, what: string) => ({ value, source: `uncalibrated default: ${what} as tessera calibrate fitted it on a 2-core x86-64 VM of this project (2026-11-22); run tessera calibrate for this host's own` });

const cpuHost = (): Processor => ({
  id: 'cpu', kind: 'cpu', name: hostCpuName(), backend: 'ort:cpu',
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
 * WebGPU EP when an adapter exists, with uncalibrated default figures.
 */
export async function hostTarget(): Promise<Target> {
  const calibrated = readCalibratedHost();
  if (calibrated) {
    const t = parseTarget(calibrated, `calibrated host profile ${calibratedHostPath()}`);
    const gpu = await probeWebGpu();
    // a GPU measured once but absent now (no driver) is dropped, with its links
    if (!gpu.available && t.processors.some((p) => p.id === 'gpu')) {
      return { ...t, processors: t.processors.filter((p) => p.id !== 'gpu'), links: t.links.filter((l) => l.from !== 'gpu' && l.to !== 'gpu') };
    }
    return t;
  }
  return defaultHostTarget();
}

async function defaultHostTarget(): Promise<Target> {
  const processors: Processor[] = [cpuHost()];
  const links: Target['links'] = [];
  const gpu = await probeWebGpu();
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

/** A built-in target by name, or undefined when there is no such built-in target. */
async function builtinTarget(name: string): Promise<Target | undefined> {
  if (name === 'host') return hostTarget();
  const builtin = join(BUILTIN_DIR, `${name}.json`);
  if (/^[a-z0-9-]+$/.test(name) && existsSync(builtin)) return parseTarget(JSON.parse(readFileSync(builtin, 'utf8')), `built-in target ${name}`);
  return undefined;
}

/**
 * The target a plan was compiled for, by the name it records: a built-in target only. A plan is
 * untrusted input: the name it holds is never opened as a path.
 */
export async function targetOfPlan(name: string): Promise<Target> {
  const t = await builtinTarget(name);
  if (!t) throw new TesseraError('BAD_TARGET', `the plan was compiled for target '${name}', which is not a built-in target (${builtinTargetNames().join(', ')}); give its target file (--target FILE, or the target option)`);
  return t;
}

/** A built-in target by name, or a path to a user's target JSON file. */
export async function loadTarget(nameOrPath: string): Promise<Target> {
  const builtin = await builtinTarget(nameOrPath);
  if (builtin) return builtin;
  if (!existsSync(nameOrPath)) {
    throw new TesseraError('BAD_TARGET', `unknown target '${nameOrPath}': not a built-in target (${builtinTargetNames().join(', ')}) nor a file`);
  }
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(nameOrPath, 'utf8'));
  } catch (err) {
    throw new TesseraError('BAD_TARGET', `${nameOrPath} is not valid JSON: ${(err as Error).message}`);
  }
  return parseTarget(json, nameOrPath);
}

/**
 * The target as it runs when processors are bound to other backends than their own (processor id →
 * backend id): a processor that has figures measured through that backend (`backends`, written by
 * `tessera calibrate`) takes them, and says which backend it is; any other keeps its own figures.
 */
export function targetThrough(target: Target, backendOf: Readonly<Record<string, string>>): Target {
  const through = (p: Processor): Processor => {
    const want = backendOf[p.id];
    const figures = want && want !== p.backend ? p.backends?.[want] : undefined;
    if (!figures) return p;
    const rest = Object.fromEntries(Object.entries(p).filter(([k]) => !FIGURE_FIELDS.includes(k))) as Omit<Processor, 'peakGflops' | 'bandwidthGBs' | 'launchOverheadUs'>;
    return { ...rest, ...structuredClone(figures), backend: want };
  };
  return target.processors.some((p) => through(p) !== p) ? { ...target, processors: target.processors.map(through) } : target;
}

export type { Target, Processor } from './schema.js';
