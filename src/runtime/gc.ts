/**
 * A full garbage collection between compiling and running. Compiling a plan allocates tens of MB of
 * short-lived objects (ppocr-v4-det at 640×640: 79 MB of heap, 15 MB of it live); V8 collects them only
 * when it next needs room, so they would still be resident while the engine allocates its own working
 * memory, and the process's peak would be their sum. Collected first, the engine reuses the pages.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

let gc: (() => void) | undefined;

/**
 * Collects garbage now (node exposes `gc` only behind a flag: it is set for this call's context).
 * `settle`: twice, for a collection before an engine allocates: V8 frees the bytes of the ArrayBuffers a
 * collection finds dead on a background sweeper, which the next collection waits for; after one, a
 * dropped model file (4.7 MB for ppocr-v4-det) was still resident when the engine allocated in some runs
 * (`tessera run --plan` peaked at 186–189 MB against 182–185 MB). Collections during a run (the streamed
 * runner's) stay single: the sweeper finishes in the background while the run goes on.
 */
export function collectGarbage(settle = false): void {
  if (!gc) {
    setFlagsFromString('--expose-gc');
    gc = runInNewContext('gc') as () => void;
  }
  gc();
  if (settle) gc();
}

/**
 * Keeps V8's young generation at its initial size for the rest of the process (a command that runs one
 * model and exits: `tessera run`). Compiling ppocr-v4-det at 640×640 grows it to two 16 MB semi-spaces,
 * which a collection empties but does not give back: measured, 12 MB more resident at the engine's peak
 * (`tessera run --plan`, /usr/bin/time %M, 199–202 MB against 186–189 MB with it kept small). Scavenges
 * come more often instead; a library never calls this (it is the process's setting, not a session's).
 */
export function keepYoungGenerationSmall(): void {
  setFlagsFromString('--semi-space-growth-factor=1');
}
