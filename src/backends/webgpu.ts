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
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import { create, toBinary } from '@bufbuild/protobuf';
import { writeFilesAtomically } from '../atomic.js';
import { GraphProtoSchema, ModelProtoSchema, NodeProtoSchema, OperatorSetIdProtoSchema, TypeProtoSchema, ValueInfoProtoSchema } from 'onnx-buf';

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

/**
 * Probes once per host setup (~0.3 s, two child processes of ~160 MB each, which would otherwise be the
 * largest process of every short run); never throws. The answer is kept in the user's cache
 * (`$XDG_CACHE_HOME/tessera/webgpu-probe.json`) under what it depends on — onnxruntime's and node's
 * versions, the Vulkan environment, the GPU device nodes — and probed again when any of them changes
 * (or with TESSERA_WEBGPU_PROBE=fresh). A timed-out or failed probe is not kept.
 */
export async function probeWebGpu(): Promise<WebGpuProbe> {
  return (cached ??= probeCached().catch((err) => ({ available: false, software: false, adapter: '', reason: `probe failed: ${err}` })));
}

function probeCachePath(): string {
  return join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'tessera', 'webgpu-probe.json');
}

/** What the probe's answer depends on. */
function probeKey(): string {
  const req = createRequire(import.meta.url);
  let ortVersion = 'unknown';
  try {
    ortVersion = (req('onnxruntime-node/package.json') as { version: string }).version;
  } catch {
    // no version to key on: still keyed on the rest
  }
  const devices = (dir: string) => (existsSync(dir) ? readdirSync(dir).sort().join(',') : '');
  const env = ['MESA_VK_DEVICE_SELECT', 'VK_ICD_FILENAMES', 'VK_DRIVER_FILES', 'NODEVICE_SELECT', 'DISPLAY', 'WAYLAND_DISPLAY'].map((k) => `${k}=${process.env[k] ?? ''}`);
  return JSON.stringify([ortVersion, process.version, process.platform, process.arch, devices('/dev/dri'), existsSync('/dev/nvidia0'), existsSync('/dev/dxg'), env]);
}

async function probeCached(): Promise<WebGpuProbe> {
  const path = probeCachePath();
  const key = probeKey();
  if (process.env.TESSERA_WEBGPU_PROBE !== 'fresh') {
    try {
      const kept = JSON.parse(readFileSync(path, 'utf8')) as { key: string; probe: WebGpuProbe };
      if (kept.key === key && typeof kept.probe?.available === 'boolean') return kept.probe;
    } catch {
      // none kept, or unreadable: probe
    }
  }
  const result = await probe();
  if (result.available || !/took over|probe process failed/.test(result.reason ?? '')) {
    try {
      mkdirSync(dirname(path), { recursive: true });
      writeFilesAtomically([{ path, bytes: new TextEncoder().encode(JSON.stringify({ key, probe: result })) }]);
    } catch {
      // a cache that cannot be written: probe again next time
    }
  }
  return result;
}

async function probe(): Promise<WebGpuProbe> {
  const args = [createRequire(import.meta.url).resolve('onnxruntime-node'), Buffer.from(addModel()).toString('base64')];
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

/** z = x + y over float32[4]. */
function addModel(): Uint8Array {
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
