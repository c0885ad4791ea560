/**
 * zod, loaded on first use: what validates target, plan and trace files. Loaded with every module it
 * would cost a process a third of `import('tessera')` and ~8 MB resident whether it parses a file or not;
 * required here (zod's CommonJS build, synchronous) when a schema is first built. Every schema of ours is
 * built with this one instance. The browser build takes zod.browser.ts (a static import) instead.
 */
import { createRequire } from 'node:module';
import type { z as Z } from 'zod';

let z: typeof Z | undefined;

export function zod(): typeof Z {
  return (z ??= (createRequire(import.meta.url)('zod') as { z: typeof Z }).z);
}
