/** Shared by the CLI tests: temp dirs, running the real `tessera` command, reading tensors with onnx-buf. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { TensorProtoSchema } from 'onnx-buf';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url)).replace(/\/$/, '');
export const CORPUS = resolve(ROOT, '../shared/corpus');
// The CLI's TypeScript source, run through tsx: the suite tests the code as it is, never a stale dist/.
// The built command (bin/tessera.js → dist/) is tested as users get it by tests/package (pack, install, run).
const CLI = ['--import', import.meta.resolve('tsx'), join(ROOT, 'src/cli/main.ts')]; // resolved here: a test may run it in any directory

export function tempDir(prefix: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `tessera-${prefix}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the `tessera` command (its source, through tsx) with ...args, as a user would, with no stdin. */
export function tessera(...args: string[]): CliResult {
  return tesseraIn(ROOT, ...args);
}

/** The same, run in `cwd`. */
export function tesseraIn(cwd: string, ...args: string[]): CliResult {
  const r = spawnSync(process.execPath, [...CLI, ...args], { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 300_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Runs the `tessera` command like `tessera()`, under `/usr/bin/time -f %M`: also its process's peak resident bytes. */
export function tesseraPeakRss(...args: string[]): CliResult & { peakRssBytes: number } {
  const r = spawnSync('/usr/bin/time', ['-f', 'peak-rss-kb %M', process.execPath, ...CLI, ...args], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 300_000 });
  const m = /peak-rss-kb (\d+)\s*$/.exec(r.stderr);
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, peakRssBytes: m ? Number(m[1]) * 1024 : NaN };
}

/** A float32 TensorProto file's dims and values, decoded with onnx-buf directly (not through Tessera). */
export function readFloatTensor(bytes: Uint8Array): { dims: number[]; values: Float32Array } {
  const t = fromBinary(TensorProtoSchema, bytes);
  if (t.dataType !== 1) throw new Error(`expected a float32 TensorProto, got data_type ${t.dataType}`);
  const dims = t.dims.map(Number);
  const values = t.rawData.length ? new Float32Array(new Uint8Array(t.rawData).buffer) : Float32Array.from(t.floatData);
  return { dims, values };
}

/** A float32 TensorProto file, encoded with onnx-buf directly. */
export function floatTensorFile(dims: number[], values: Float32Array): Uint8Array {
  const rawData = new Uint8Array(values.buffer, values.byteOffset, values.byteLength).slice();
  return toBinary(TensorProtoSchema, create(TensorProtoSchema, { dims: dims.map(BigInt), dataType: 1, rawData }));
}
