/**
 * Shared by tests/security: what a hostile input may not do, checked from outside. A file outside the
 * model's directory is never read (its access time, set back to 2001, stays there: the kernel's relatime
 * updates it on any read, which `atimeWorks` proves on a control file), no file is written anywhere in
 * the sandbox, and none of the secret's text reaches what the command prints.
 */
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { expect } from 'vitest';
import { markUnread, SECRET, wasRead, type Sandbox } from '../../bench/hostile-models.js';
import { TesseraError } from '../../src/index.js';

/** Every file and directory under `dir` with its size and modification time. */
export function listing(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      const st = statSync(p, { throwIfNoEntry: false });
      out.push(`${relative(dir, p)} ${e.isDirectory() ? 'dir' : `${st?.size ?? 'dangling'} ${st?.mtimeMs ?? ''}`}`);
      if (e.isDirectory()) walk(p);
    }
  };
  walk(dir);
  return out.sort();
}

/** Whether the kernel records reads in access times here (a control file, read once). */
export function atimeWorks(sb: Sandbox): boolean {
  const control = join(sb.root, 'control.txt');
  writeFileSync(control, 'control');
  markUnread(control);
  readFileSync(control);
  return wasRead(control);
}

/** Pieces of the secret that must appear in nothing a command prints or writes. */
const PIECES = ['root:x:0', 'tessera-secret', 'never reach'];

export function expectNoSecret(text: string): void {
  for (const p of PIECES) expect(text).not.toContain(p);
  // the secret's first 16 bytes read as w's 4 float32s: their printed values must not appear either
  const floats = new Float32Array(new TextEncoder().encode(SECRET).buffer.slice(0, 16));
  for (const f of floats) expect(text).not.toContain(String(f).slice(0, 8));
}

/**
 * Runs `act` against the sandbox and checks what a refused hostile input may not do: the secret was not
 * read, nothing under the sandbox changed (no output written), and nothing printed holds the secret.
 */
export async function expectContained<T>(sb: Sandbox, act: () => T | Promise<T>, printed: (r: T) => string = (r) => String(r)): Promise<T> {
  markUnread(sb.secret);
  const before = listing(sb.root);
  const r = await act();
  expect(wasRead(sb.secret), 'the secret outside the model directory was read').toBe(false);
  expect(listing(sb.root), 'a file was written or changed').toEqual(before);
  expectNoSecret(printed(r));
  return r;
}

/** The error a promise rejects with (or the function throws), as a TesseraError. */
export async function caught(f: () => unknown): Promise<TesseraError> {
  try {
    await f();
  } catch (err) {
    expect(err, String(err)).toBeInstanceOf(TesseraError);
    return err as TesseraError;
  }
  throw new Error('expected a TesseraError, but it succeeded');
}
