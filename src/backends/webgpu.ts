/**
 * Is onnxruntime-node's WebGPU execution provider usable here, and on what adapter?
 *
 * `ort.listSupportedBackends()` lists 'webgpu' whenever the binary was built with it, adapter or
 * not; only creating a session tells. Session creation runs synchronously on the calling thread, so
 * the probe runs in a child process with a timeout: one Add node with CPU fallback disabled (creation
 * fails unless the WebGPU EP takes the node), and the result is checked.
 *
 * onnxruntime-node does not expose the adapter, so a second child lists the Vulkan devices through
 * Mesa's device-select layer (MESA_VK_DEVICE_SELECT=list prints them and exits). Dawn prefers a
 * discrete GPU, then an integrated one, then a CPU device; the adapter is software (lavapipe, called
 * "llvmpipe" there, or SwiftShader) when the best device is of Vulkan type CPU. Without Mesa's layer
 * the name is unknown and a host with no GPU device node (/dev/dri/renderD*, /dev/nvidia0, /dev/dxg)
 * counts as software.
 *
 * The result is kept between processes (the two children take 0.3–1 s, the largest part of a session's
 * start on the host target): in the user's cache directory, keyed by what decides it — node and
 * onnxruntime-node, the Vulkan drivers and device nodes present (names and modification times) and the
 * environment variables that pick them — and for a day at most (the last few setups, each by its key). TESSERA_PROBE_CACHE=off probes every
 * time; TESSERA_PROBE_CACHE=<file> keeps it there.
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { writeFilesAtomically } from '../atomic.js';

export interface WebGpuProbe {
  available: boolean;
  /** The adapter is a CPU implementation of Vulkan (lavapipe/llvmpipe, SwiftShader). */
  software: boolean;
  /** Vulkan device name, e.g. 'llvmpipe (LLVM 15.0.6, 256 bits)'; '' when unavailable. */
  adapter: string;
  /** Why it is unavailable. */
  reason?: string;
}

/** Generous: a first session on a cold Mesa shader cache takes ~0.3 s here; a broken driver can hang. */
const TIMEOUT_MS = 30_000;

// Runs in the child: node -e CHILD <onnxruntime-node path> <model base64>. Prints one JSON line.
const CHILD = `
const ort = require(process.argv[1]);
(async () => {
  if (!ort.listSupportedBackends().some((b) => b.name === 'webgpu')) throw new Error('this onnxruntime-node build has no WebGPU execution provider');
  const session = await ort.InferenceSession.create(Buffer.from(process.argv[2], 'base64'), {
    executionProviders: ['webgpu'], logSeverityLevel: 3, extra: { session: { disable_cpu_ep_fallback: '1' } } });
  const x = new ort.Tensor('float32', Float32Array.from([1, 2, 3, 4]), [4]);
  const z = Array.from((await session.run({ x, y: x })).z.data);
  return z.join() === '2,4,6,8' ? { ok: true } : { ok: false, error: 'WebGPU computed ' + z + ' for 2,4,6,8' };
})().then((r) => console.log(JSON.stringify(r)), (e) => console.log(JSON.stringify({ ok: false, error: String((e && e.message) || e) })));
`;

/** Vulkan device types in the order Dawn picks them (onnxruntime asks for high performance). */
const DAWN_PREFERENCE = ['discrete GPU', 'integrated GPU', 'CPU'];

let cached: Promise<WebGpuProbe> | undefined;

/** Probes once per process (~0.3 s, two child processes) unless a probe of this setup is kept (see above); never throws. */
export async function probeWebGpu(): Promise<WebGpuProbe> {
  return (cached ??= keptProbe() ?? probe().then(keepProbe, (err) => ({ available: false, software: false, adapter: '', reason: `probe failed: ${err}` })));
}

const DAY_MS = 24 * 3600 * 1000;

function probeCachePath(): string | null {
  const env = process.env.TESSERA_PROBE_CACHE;
  if (env === 'off') return null;
  return env || join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'tessera', 'webgpu-probe.json');
}

/** What decides the probe's answer: node, onnxruntime-node, the Vulkan drivers and GPU device nodes, and the variables that choose among them. */
function probeKey(): string {
  const entries = (dir: string) => {
    try {
      return readdirSync(dir).sort().map((f) => `${f}@${statSync(join(dir, f)).mtimeMs}`);
    } catch {
      return [];
    }
  };
  const ort = createRequire(import.meta.url).resolve('onnxruntime-node');
  const dirs = ['/dev/dri', '/usr/share/vulkan/icd.d', '/etc/vulkan/icd.d', '/usr/share/vulkan/implicit_layer.d'];
  const vars = ['VK_ICD_FILENAMES', 'VK_DRIVER_FILES', 'VK_ADD_DRIVER_FILES', 'MESA_VK_DEVICE_SELECT', 'NODEVICE_SELECT', 'LD_LIBRARY_PATH'];
  return JSON.stringify({ node: process.version, platform: process.platform, arch: process.arch, ort: `${ort}@${existsSync(ort) ? statSync(ort).mtimeMs : 0}`, devices: ['/dev/nvidia0', '/dev/dxg'].filter((f) => existsSync(f)), drivers: Object.fromEntries(dirs.map((d) => [d, entries(d)])), env: Object.fromEntries(vars.map((v) => [v, process.env[v] ?? null])) });
}

/** How many setups the file keeps (several installs of onnxruntime-node on one machine each have their own). */
const KEPT_SETUPS = 8;

type KeptProbe = { key?: unknown; at?: unknown; probe?: Partial<WebGpuProbe> };

function keptProbes(path: string): KeptProbe[] {
  try {
    const kept = JSON.parse(readFileSync(path, 'utf8')) as { setups?: unknown };
    return Array.isArray(kept.setups) ? (kept.setups as KeptProbe[]) : [];
  } catch {
    return [];
  }
}

/** The probe kept for this setup, when there is one of less than a day. */
function keptProbe(): Promise<WebGpuProbe> | undefined {
  const path = probeCachePath();
  if (!path || !existsSync(path)) return undefined;
  try {
    const key = probeKey();
    const kept = keptProbes(path).find((k) => k.key === key);
    const p = kept?.probe;
    if (!kept || typeof kept.at !== 'number' || !(Date.now() - kept.at < DAY_MS && kept.at <= Date.now())) return undefined;
    if (!p || typeof p.available !== 'boolean' || typeof p.software !== 'boolean' || typeof p.adapter !== 'string' || (p.reason !== undefined && typeof p.reason !== 'string')) return undefined;
    return Promise.resolve({ available: p.available, software: p.software, adapter: p.adapter, ...(p.reason !== undefined ? { reason: p.reason } : {}) });
  } catch {
    return undefined;
  }
}

function keepProbe(p: WebGpuProbe): WebGpuProbe {
  const path = probeCachePath();
  try {
    if (path) {
      const key = probeKey();
      const others = (existsSync(path) ? keptProbes(path) : []).filter((k) => k.key !== key).slice(-(KEPT_SETUPS - 1));
      writeFilesAtomically([{ path, bytes: JSON.stringify({ setups: [...others, { key, at: Date.now(), probe: p }] }) }]);
    }
  } catch {
    // a cache directory that cannot be written: the next process probes again
  }
  return p;
}

async function probe(): Promise<WebGpuProbe> {
  const args = [createRequire(import.meta.url).resolve('onnxruntime-node'), Buffer.from(await addModel()).toString('base64')];
  const listEnv: NodeJS.ProcessEnv = { ...process.env, MESA_VK_DEVICE_SELECT: 'list' };
  delete listEnv.NODEVICE_SELECT;
  const [run, list] = await Promise.all([child(args, process.env), child(args, listEnv)]);

  if (run.timedOut) return unavailable(`creating a WebGPU session took over ${TIMEOUT_MS / 1000} s`);
  const result = lastJson(run.stdout);
  if (!result) return unavailable(`probe process failed (${run.exit}): ${run.stderr.trim().split('\n').slice(-3).join(' ')}`);
  if (!result.ok) {
    // onnxruntime says only "No supported adapters"; Dawn's warnings on stderr say why.
    const warnings = run.stderr.split('\n').filter((l) => l.startsWith('Warning: ') && !l.includes('artificially reduced')).map((l) => l.slice(9).trim());
    const hint = process.platform === 'linux' ? ' (on Debian bookworm, scripts/setup-gpu.sh installs a software Vulkan driver)' : '';
    return unavailable([result.error.replace(/^[\s\S]* was false\. /, '').trim(), ...warnings].join('; ') + hint);
  }

  const rank = (type: string) => {
    const i = DAWN_PREFERENCE.findIndex((t) => type.startsWith(t));
    return i < 0 ? DAWN_PREFERENCE.length : i;
  };
  const devices = [...list.stderr.matchAll(/^\s*GPU \d+: [0-9a-f]+:[0-9a-f]+ "(.*)" (.*)$/gm)].map((m) => ({ name: m[1], type: m[2] }));
  const best = devices.sort((a, b) => rank(a.type) - rank(b.type))[0];
  if (best) return { available: true, software: best.type.startsWith('CPU'), adapter: best.name };
  const gpuNode = existsSync('/dev/nvidia0') || existsSync('/dev/dxg') || (existsSync('/dev/dri') && readdirSync('/dev/dri').some((f) => f.startsWith('renderD')));
  return { available: true, software: !gpuNode, adapter: 'unknown Vulkan device (no Mesa device-select layer to name it)' };
}

function unavailable(reason: string): WebGpuProbe {
  return { available: false, software: false, adapter: '', reason };
}

function child(args: string[], env: NodeJS.ProcessEnv): Promise<{ stdout: string; stderr: string; timedOut: boolean; exit: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['-e', CHILD, ...args], { env, timeout: TIMEOUT_MS, killSignal: 'SIGKILL', maxBuffer: 4 << 20 }, (err, stdout, stderr) => {
      const e = err as (Error & { killed?: boolean; code?: unknown; signal?: unknown }) | null;
      resolve({ stdout, stderr, timedOut: !!e?.killed, exit: e ? `exit ${e.code ?? e.signal ?? e.message}` : 'exit 0' });
    });
  });
}

function lastJson(stdout: string): { ok: true } | { ok: false; error: string } | undefined {
  try {
    return JSON.parse(stdout.trim().split('\n').pop() ?? '');
  } catch {
    return undefined;
  }
}

/** z = x + y over float32[4] (the protobuf modules loaded only when a probe runs: a kept probe needs none). */
async function addModel(): Promise<Uint8Array> {
  const [{ create, toBinary }, { GraphProtoSchema, ModelProtoSchema, NodeProtoSchema, OperatorSetIdProtoSchema, TypeProtoSchema, ValueInfoProtoSchema }] = await Promise.all([import('@bufbuild/protobuf'), import('onnx-buf')]);
  const vi = (name: string) =>
    create(ValueInfoProtoSchema, {
      name,
      type: create(TypeProtoSchema, { value: { case: 'tensorType', value: { elemType: 1, shape: { dim: [{ value: { case: 'dimValue', value: 4n } }] } } } }),
    });
  const graph = create(GraphProtoSchema, {
    name: 'webgpu-probe',
    node: [create(NodeProtoSchema, { name: 'add', opType: 'Add', input: ['x', 'y'], output: ['z'] })],
    input: [vi('x'), vi('y')],
    output: [vi('z')],
  });
  return toBinary(ModelProtoSchema, create(ModelProtoSchema, { irVersion: 8n, opsetImport: [create(OperatorSetIdProtoSchema, { version: 17n })], graph }));
}
