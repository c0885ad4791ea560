/**
 * The browser build's stand-ins for Node built-ins (src/browser/node), held to Node's own modules:
 * SHA-256 (plans record the model's hash; the viewer's script is allowed by its hash) and POSIX paths.
 */
import { createHash } from 'node:crypto';
import { posix } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createHash as pageHash } from '../../src/browser/node/crypto.js';
import * as pagePath from '../../src/browser/node/path.js';

describe('browser stand-ins for Node built-ins', () => {
  it('sha256 equals node:crypto on every length around the block boundaries, and on 1 MB', () => {
    let seed = 7;
    const bytes = (n: number) => Uint8Array.from({ length: n }, () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 24));
    for (const n of [0, 1, 3, 55, 56, 57, 63, 64, 65, 119, 120, 127, 128, 129, 1000, 1 << 20]) {
      const b = bytes(n);
      expect(pageHash('sha256').update(b).digest('hex'), `${n} bytes`).toBe(createHash('sha256').update(b).digest('hex'));
    }
    const text = 'päge — </script> ✓';
    expect(pageHash('sha256').update(text).digest('base64')).toBe(createHash('sha256').update(text).digest('base64'));
    const view = bytes(300).subarray(17, 250);
    expect(pageHash('sha256').update(view).digest('hex')).toBe(createHash('sha256').update(view).digest('hex'));
  });

  it('paths as node:path posix gives them', () => {
    for (const p of ['/a/b/c.onnx', 'a/b/', 'c.onnx', '/', 'a//b/../c', '../x/y']) {
      expect(pagePath.basename(p), p).toBe(posix.basename(p));
      expect(pagePath.dirname(p), p).toBe(posix.dirname(p));
      expect(pagePath.isAbsolute(p), p).toBe(posix.isAbsolute(p));
    }
    for (const parts of [['/a', 'b', '../c'], ['a', '', 'b'], ['/a/', '/b'], ['a', '..', '..', 'b']]) expect(pagePath.join(...parts), parts.join(',')).toBe(posix.join(...parts));
    for (const parts of [['/a', 'b', '../c'], ['/a', '/b', 'c'], ['/x/y', '../../..', 'z']]) expect(pagePath.resolve(...parts), parts.join(',')).toBe(posix.resolve(...parts));
    for (const [a, b] of [['/a/b', '/a/b/c/d'], ['/a/b', '/a/x'], ['/a', '/a']]) expect(pagePath.relative(a, b), `${a} → ${b}`).toBe(posix.relative(a, b));
  });
});
