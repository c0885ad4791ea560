/**
 * zod, loaded on first use: what validates target, plan and trace files. Imported with the modules
 * that define schemas, it cost every process about a third of `import('tessera')` and 11 MB resident
 * (measured: peak RSS of `node -e "require('zod')"` 51.7 MB against 40.2 MB for bare node) whether it
 * parsed a file or not. It is required here (zod's CommonJS build: synchronous, so parseTarget and
 * parsePlan stay synchronous) when a schema is first built; every schema of ours is built with this one
 * instance. The browser build takes zod.browser.ts (a static import) instead.
 */
import { createRequire } from 'node:module';
import type { z as Z } from 'zod';

let z: typeof Z | undefined;

export function zod(): typeof Z {
  return (z ??= (createRequire(import.meta.url)('zod') as { z: typeof Z }).z);
}
