/**
 * The layout DESIGN.md describes, checked on the code: imports run downhill, with no cycle; the viewer
 * reads plans and traces only; the plan's contracts import no pass; targets and passes load no engine.
 * The graph is the static imports that load a module (`import type` and dynamic `import()`, which load it
 * only when a command needs it, are left out), read with the TypeScript parser.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..');
const SRC = join(ROOT, 'src');
const ENGINES = ['onnxruntime-node', 'onnxruntime-web', '@tensorflow/'];

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}

/** The modules a source text loads when it is loaded: relative ones as src-relative paths, packages by name. */
function loads(text: string, from: string): string[] {
  const source = ts.createSourceFile(from, text, ts.ScriptTarget.Latest, false);
  const out: string[] = [];
  for (const st of source.statements) {
    let spec: ts.Expression | undefined;
    if (ts.isImportDeclaration(st)) {
      const c = st.importClause;
      const typeOnly = c?.isTypeOnly || (!!c && !c.name && !!c.namedBindings && ts.isNamedImports(c.namedBindings) && c.namedBindings.elements.length > 0 && c.namedBindings.elements.every((e) => e.isTypeOnly));
      if (!typeOnly) spec = st.moduleSpecifier;
    } else if (ts.isExportDeclaration(st) && st.moduleSpecifier && !st.isTypeOnly) {
      const only = st.exportClause && ts.isNamedExports(st.exportClause) && st.exportClause.elements.length > 0 && st.exportClause.elements.every((e) => e.isTypeOnly);
      if (!only) spec = st.moduleSpecifier;
    }
    if (!spec || !ts.isStringLiteral(spec)) continue;
    const m = spec.text;
    out.push(m.startsWith('.') ? relative(SRC, resolve(dirname(from), m)).replace(/\.js$/, '.ts').split('\\').join('/') : m);
  }
  return out;
}

const graph = new Map(files(SRC).map((f) => [relative(SRC, f).split('\\').join('/'), loads(readFileSync(f, 'utf8'), f)]));
const layer = (m: string) => m.split('/')[0];

/** Every module a module loads, directly or through others. */
function closure(start: string): Set<string> {
  const seen = new Set<string>();
  const stack = [start];
  while (stack.length) {
    const m = stack.pop()!;
    for (const d of graph.get(m) ?? []) if (!seen.has(d)) { seen.add(d); stack.push(d); }
  }
  return seen;
}

/** Imports from modules under `from` into the layers named. */
function crossings(from: string, into: readonly string[]): string[] {
  return [...graph].filter(([m]) => m.startsWith(`${from}/`)).flatMap(([m, ds]) => ds.filter((d) => into.includes(layer(d))).map((d) => `${m} → ${d}`));
}

describe('the layout', () => {
  it('reads the import graph (the check can fail: the runtime loads the backends, the CLI has commands)', () => {
    expect(graph.get('runtime/runner.ts')).toContain('runtime/bind.ts');
    expect(closure('compiler/index.ts')).toContain('passes/place.ts');
    expect(loads("import type { A } from './a.js'; import { type B } from './b.js'; import { c } from './c.js'; export type { D } from './d.js';", join(SRC, 'x/y.ts'))).toEqual(['x/c.ts']);
  });

  it('has no import cycle', () => {
    const state = new Map<string, number>();
    const cycles: string[] = [];
    const visit = (m: string, path: string[]): void => {
      state.set(m, 1);
      for (const d of graph.get(m) ?? []) {
        if (!graph.has(d)) continue;
        if (state.get(d) === 1) cycles.push([...path.slice(path.indexOf(d)), d].join(' → '));
        else if (!state.has(d)) visit(d, [...path, d]);
      }
      state.set(m, 2);
    };
    for (const m of graph.keys()) if (!state.has(m)) visit(m, [m]);
    expect(cycles).toEqual([]);
  });

  it('runs downhill: ir imports none of ours above it; plan no pass, compiler, runtime or CLI; passes no compiler, runtime or CLI; compiler no runtime or CLI', () => {
    expect(crossings('ir', ['targets', 'backends', 'plan', 'passes', 'compiler', 'runtime', 'cli', 'viz'])).toEqual([]);
    expect(crossings('plan', ['passes', 'compiler', 'runtime', 'cli', 'viz'])).toEqual([]);
    expect(crossings('targets', ['plan', 'passes', 'compiler', 'runtime', 'cli', 'viz'])).toEqual([]);
    expect(crossings('passes', ['compiler', 'runtime', 'cli', 'viz'])).toEqual([]);
    expect(crossings('compiler', ['runtime', 'cli', 'viz'])).toEqual([]);
    expect(crossings('runtime', ['passes', 'cli'])).toEqual([]);
  });

  it('the viewer imports nothing from the runtime, the passes or the compiler', () => {
    expect(crossings('viz', ['runtime', 'passes', 'compiler', 'cli'])).toEqual([]);
  });

  it('targets, the plan and the passes load no engine; the runtime does (through the backends it creates)', () => {
    const engines = (m: string) => [...closure(m)].filter((d) => ENGINES.some((e) => d.startsWith(e)));
    for (const m of [...graph.keys()].filter((k) => ['targets', 'plan', 'passes'].includes(layer(k)))) expect(engines(m), m).toEqual([]);
    expect(engines('targets/index.ts')).toEqual([]);
    expect(engines('runtime/calibrate.ts').length).toBeGreaterThan(0);
  });
});
