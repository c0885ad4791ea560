/**
 * `node:path` in the browser bundle: POSIX paths, which is what a URL's path is. The compiler names
 * files by their base name; external-data.ts checks locations with `posix`/`win32.isAbsolute` (a browser
 * never reads external data through it: see src/browser/fetch-model.ts).
 */
export const sep = '/';

function normalize(parts: string[], absolute: boolean): string {
  const out: string[] = [];
  for (const p of parts) {
    if (p === '' || p === '.') continue;
    if (p === '..') {
      if (out.length && out[out.length - 1] !== '..') out.pop();
      else if (!absolute) out.push('..');
    } else out.push(p);
  }
  return (absolute ? '/' : '') + out.join('/') || (absolute ? '/' : '.');
}

export function isAbsolute(p: string): boolean {
  return p.startsWith('/');
}

export function join(...paths: string[]): string {
  const joined = paths.filter(Boolean).join('/');
  return normalize(joined.split('/'), isAbsolute(joined));
}

export function resolve(...paths: string[]): string {
  let at = '/';
  for (const p of paths) at = isAbsolute(p) ? p : `${at}/${p}`;
  return normalize(at.split('/'), true);
}

export function dirname(p: string): string {
  const t = p.replace(/\/+$/, '');
  if (t === '') return p === '' ? '.' : '/';
  const i = t.lastIndexOf('/');
  return i < 0 ? '.' : t.slice(0, i).replace(/\/+$/, '') || '/';
}

export function basename(p: string, ext?: string): string {
  const b = p.replace(/\/+$/, '').split('/').pop() ?? '';
  return ext && b.endsWith(ext) && b !== ext ? b.slice(0, -ext.length) : b;
}

export function relative(from: string, to: string): string {
  const a = resolve(from).split('/').filter(Boolean), b = resolve(to).split('/').filter(Boolean);
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return [...a.slice(i).map(() => '..'), ...b.slice(i)].join('/');
}

export const posix = { sep, isAbsolute, join, resolve, dirname, basename, relative };
export const win32 = { isAbsolute: (p: string) => /^([a-zA-Z]:)?[\\/]/.test(p) || p.startsWith('\\\\') };
