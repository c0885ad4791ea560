/**
 * The browser build holds no Node built-in module: nothing in its import graph resolves to one (each is
 * replaced by src/browser/node/*, onnxruntime-node by onnxruntime-web), it imports nothing from outside
 * itself, and its text names no Node built-in in an import. What remains of `node:` in the text is
 * onnxruntime-web's own Node branch (a guarded require), which a page never takes.
 */
import { builtinModules } from 'node:module';
import { beforeAll, describe, expect, it } from 'vitest';
import { bundleBrowser } from '../../scripts/browser-bundle.mjs';

describe('the browser bundle', () => {
  let text = '';
  let inputs: Record<string, { imports: { path: string; external?: boolean }[] }> = {};
  let imports: { path: string; external?: boolean }[] = [];
  beforeAll(async () => {
    const r = await bundleBrowser({ minify: false });
    text = r.text!;
    inputs = r.metafile.inputs;
    imports = Object.values(r.metafile.outputs)[0].imports;
  });

  it('imports nothing from outside itself', () => {
    expect(imports).toEqual([]);
  });

  it('has no Node built-in in its import graph', () => {
    const builtin = new Set([...builtinModules, ...builtinModules.map((m) => `node:${m}`)]);
    const found = Object.entries(inputs).flatMap(([file, i]) => i.imports.filter((x) => builtin.has(x.path)).map((x) => `${file} → ${x.path}`));
    expect(found).toEqual([]);
    // the stand-ins are what the library's Node imports became
    expect(Object.keys(inputs).some((f) => f.endsWith('src/browser/node/fs.ts'))).toBe(true);
    expect(Object.keys(inputs).some((f) => /onnxruntime-node\/|onnxruntime-node$/.test(f))).toBe(false);
  });

  it('names no Node built-in in an import statement or a dynamic import of the library', () => {
    const names = builtinModules.filter((m) => !m.startsWith('_')).map((m) => m.replace(/[/]/g, '\\/'));
    const statement = new RegExp(`(^|\\n)\\s*import[^\\n]*from\\s*["'](node:)?(${names.join('|')})["']`);
    expect(text).not.toMatch(statement);
    expect(text).not.toMatch(new RegExp(`import\\(\\s*["'](node:)?(${names.join('|')})["']\\s*\\)`));
  });

  it('takes the browser variants of the modules that have one', () => {
    for (const f of ['src/backends/webgpu.browser.ts', 'src/targets/host.browser.ts', 'src/backends/engine-files.browser.ts', 'src/viz/scripts.browser.ts']) {
      expect(Object.keys(inputs).some((i) => i.endsWith(f)), f).toBe(true);
    }
    for (const f of ['src/backends/webgpu.ts', 'src/backends/engine-files.ts', 'src/viz/scripts.ts']) {
      expect(Object.keys(inputs).some((i) => i.endsWith(f)), f).toBe(false);
    }
  });
});
