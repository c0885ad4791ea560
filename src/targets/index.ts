/** Target profiles: the built-in machines, a user's own JSON file, and `host` (this machine as found: host.ts). */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TesseraError } from '../errors.js';
import { hostTarget } from './host.js';
import { FIGURE_FIELDS, parseTarget, type Processor, type Target } from './schema.js';

export { hostTarget, parseTarget };

const BUILTIN_DIR = join(dirname(fileURLToPath(import.meta.url)), 'builtin');

export function builtinTargetNames(): string[] {
  return ['host', ...readdirSync(BUILTIN_DIR).filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -5)).sort()];
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
