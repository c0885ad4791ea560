/** Writing output files so that a failure leaves no partial file behind. */
import { mkdirSync, renameSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { asTesseraError } from './errors.js';

/**
 * Writes every file to a temporary name first and renames them into place only when all are written.
 * On failure it removes the temporary files, the files already renamed into place and the directories
 * it created, so nothing of the attempt is left.
 */
export function writeFilesAtomically(files: { path: string; bytes: Uint8Array | string }[]): void {
  const temps: { tmp: string; path: string }[] = [];
  const placed: string[] = [];
  const createdDirs: string[] = [];
  try {
    for (const f of files) {
      const dir = dirname(f.path);
      if (!existsSync(dir)) {
        // mkdirSync returns the topmost directory it created: remove from there on failure.
        const first = mkdirSync(dir, { recursive: true });
        if (first) createdDirs.push(first);
      }
      const tmp = join(dir, `.${Date.now()}-${process.pid}-${temps.length}.tmp`);
      temps.push({ tmp, path: f.path });
      writeFileSync(tmp, f.bytes);
    }
    for (const t of temps) {
      renameSync(t.tmp, t.path);
      placed.push(t.path);
    }
  } catch (err) {
    for (const t of temps) rmSync(t.tmp, { force: true });
    for (const p of placed) rmSync(p, { force: true });
    for (const d of createdDirs.reverse()) rmSync(d, { recursive: true, force: true });
    throw asTesseraError(err, 'BAD_ARGUMENT', `cannot write ${files.map((f) => f.path).join(', ')} (nothing was written)`);
  }
}
