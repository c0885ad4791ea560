/**
 * The one rule for a tensor's external data (a model file is untrusted input): its location must be a
 * relative path that stays inside the model's directory, also after following symbolic links, and names
 * a regular file that holds the whole range (offset, length). Everything that reads weights from disk
 * goes through `confineExternalData`: import (initializers and tensor attributes, in subgraphs too),
 * inference and export of subgraphs, and so inspect, compile, run, Session, the viewer and calibration.
 * Weight streaming, quantization and the browser build must call it too (in a browser: resolve against
 * the model's URL, same origin only). onnxruntime applies the same rule ("Absolute path not allowed",
 * "External data path escapes model directory").
 */
import { realpathSync, statSync } from 'node:fs';
import { isAbsolute, posix, relative, resolve, sep, win32 } from 'node:path';
import { TesseraError } from '../errors.js';

export interface ExternalRange {
  /** The file's real path (symbolic links resolved), inside the model's directory. */
  readonly path: string;
  readonly offset: number;
  readonly length: number;
}

/** Whether `path` is `dir` or inside it (both absolute and normalized). */
function inside(dir: string, path: string): boolean {
  const rel = relative(dir, path);
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel));
}

/**
 * Checks an external-data reference and returns where to read it; refuses it (EXTERNAL_DATA, naming
 * `where` — the tensor — and the location) before anything is read. `dataDir` is the model's directory,
 * or null when the model came as bytes and the caller named no directory: then nothing is read.
 */
export function confineExternalData(location: string, offset: number, length: number, dataDir: string | null, where: string): ExternalRange {
  const refuse = (why: string): never => {
    throw new TesseraError('EXTERNAL_DATA', `${where}: external data '${location}' refused: ${why}. External data must be a relative path to a regular file inside the model's directory${dataDir ? ` (${dataDir})` : ''}`);
  };
  if (dataDir === null) refuse('the model was given as bytes, so it has no directory to read external data from; pass externalDataDir (Session.create, importOnnx) to name the directory its data files are in');
  if (location === '' || location.includes('\0')) refuse('the location is empty or holds a NUL character');
  if (posix.isAbsolute(location) || win32.isAbsolute(location)) refuse('absolute paths are not allowed');
  let dir: string;
  try {
    dir = realpathSync(resolve(dataDir!));
  } catch (err) {
    return refuse(`the model's directory cannot be resolved (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  const named = resolve(dir, location);
  if (!inside(dir, named)) refuse("the path escapes the model's directory");
  let real: string;
  try {
    real = realpathSync(named);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return refuse(code === 'ENOENT' ? `no such file in the model's directory (${named})` : `the path cannot be resolved (${code ?? (err as Error).message})`);
  }
  if (!inside(dir, real)) refuse("the path leads outside the model's directory through a symbolic link");
  const st = statSync(real, { throwIfNoEntry: false });
  if (!st?.isFile()) refuse('it is not a regular file');
  if (offset + length > st!.size) refuse(`the tensor's ${length} bytes at offset ${offset} run past the end of the file (${st!.size} bytes)`);
  return { path: real, offset, length };
}
