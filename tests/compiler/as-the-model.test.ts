/**
 * A one-partition plan of the whole model on onnxruntime's CPU EP lowers to the model's own bytes, whether
 * the model was named by a relative, an absolute or a symlinked path (its weights record the real path).
 */
import { mkdtempSync, readFileSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compile } from '../../src/compiler/index.js';

const relative = '../shared/corpus/models/wakeword-hello-deepa.onnx';

describe('a plan that runs as the model', () => {
  const linked = join(mkdtempSync(join(tmpdir(), 'tessera-link-')), 'model.onnx');
  symlinkSync(resolve(relative), linked);
  for (const [how, path] of [['relative', relative], ['absolute', resolve(relative)], ['symlinked', linked]] as const) {
    it(`lowers to the file's own bytes when the model is named by ${how === 'absolute' ? 'an' : 'a'} ${how} path`, async () => {
      const c = await compile(path, 'host');
      expect(c.plan.partitions).toHaveLength(1);
      expect(c.partitions).toHaveLength(1);
      expect(Buffer.from(c.partitions![0].onnx).equals(readFileSync(path))).toBe(true);
    });
  }
});
