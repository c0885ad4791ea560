/**
 * The example app as a user meets it: a corpus model picked from the list runs and the plan viewer
 * beside it shows the measured timeline of that run next to the prediction; a model dropped in as a
 * File runs the same (read in slices); a model too large for the browser, or of another origin, is
 * refused before anything is downloaded, saying why.
 */
import { readFileSync } from 'node:fs';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema, StringStringEntryProtoSchema, TensorProto_DataLocation } from 'onnx-buf';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromiumMissing, openExample, type ExamplePage } from './page.js';
import { MODELS_DIR } from '../../examples/browser/server.js';

declare const window: { example: { tessera: { InferenceSession: { create(m: unknown, o: unknown): Promise<unknown> } } } };

describe.skipIf(chromiumMissing)(`the browser example${chromiumMissing ? ` (skipped: ${chromiumMissing})` : ''}`, () => {
  let p: ExamplePage;
  beforeAll(async () => {
    p = await openExample();
  });
  afterAll(async () => {
    await p?.close();
  });

  it('runs a model picked from the list and shows the viewer with the measured timeline beside the prediction', async () => {
    await p.page.selectOption('#model', '/models/silero-vad-v4-legacy.onnx');
    await p.page.waitForFunction(() => /^ran /.test(document.getElementById('status')!.textContent!), null, { timeout: 60_000 });
    const bindings = await p.page.locator('#bindings tr').count();
    expect(bindings).toBeGreaterThan(0);
    expect(await p.page.locator('#timing').textContent()).toMatch(/predicted.*measured/s);
    const viewer = p.page.frameLocator('#viewer');
    await expect.poll(() => viewer.locator('header .meta').textContent(), { timeout: 30_000 }).toMatch(/predicted .* · measured /);
    await viewer.locator('nav button[data-view="timeline"]').click();
    const measuredBars = await viewer.locator('.bar.measured').count();
    const steps = await viewer.locator('.bar:not(.measured)').count();
    expect(measuredBars).toBeGreaterThan(0);
    expect(measuredBars).toBe(steps);
    expect(await viewer.locator('.card').first().textContent()).toMatch(/Measured \(outlined/);
  });

  it('runs a model given as a File (read in slices)', async () => {
    await p.page.setInputFiles('#file', { name: 'wakeword-hello-deepa.onnx', mimeType: 'application/octet-stream', buffer: readFileSync(`${MODELS_DIR}/wakeword-hello-deepa.onnx`) });
    await p.page.waitForFunction(() => /^ran /.test(document.getElementById('status')!.textContent!), null, { timeout: 60_000 });
    expect(await p.page.locator('#status').textContent()).toMatch(/ran wakeword-hello-deepa\.onnx \(file slices\)/);
  });

  it('refuses a model larger than the wasm32 heap before downloading it', async () => {
    const before = p.served.log.length;
    const err = await p.page.evaluate(async () => {
      try {
        await window.example.tessera.InferenceSession.create('/models/ppocr-v4-rec.onnx', { heapBytes: 1 << 20 });
        return undefined;
      } catch (e) {
        return { code: (e as { code?: string }).code, message: (e as Error).message };
      }
    });
    expect(err?.code).toBe('LIMIT_EXCEEDED');
    expect(err?.message).toMatch(/ppocr-v4-rec\.onnx is [\d.]+ MB: it cannot run in a browser, whose WebAssembly engines .* 32-bit heap of at most 1\.00 MB/);
    // one ranged request learned the size; nothing more was fetched
    const after = p.served.log.slice(before).filter((l) => l.path.startsWith('/models/'));
    expect(after).toHaveLength(1);
    expect(after[0].status).toBe(206);
  });

  it('refuses a model URL of another origin unless allowed', async () => {
    const err = await p.page.evaluate(async () => {
      try {
        await window.example.tessera.InferenceSession.create('http://localhost:9/model.onnx', {});
        return undefined;
      } catch (e) {
        return { code: (e as { code?: string }).code, message: (e as Error).message };
      }
    });
    expect(err).toMatchObject({ code: 'BAD_ARGUMENT' });
    expect(err!.message).toMatch(/must be of this page's origin/);
  });

  it('refuses a model whose weights are in external data files, saying the browser build does not fetch them', async () => {
    const model = fromBinary(ModelProtoSchema, readFileSync(`${MODELS_DIR}/wakeword-hello-deepa.onnx`));
    const w = model.graph!.initializer[0];
    w.rawData = new Uint8Array();
    w.dataLocation = TensorProto_DataLocation.EXTERNAL;
    w.externalData = [create(StringStringEntryProtoSchema, { key: 'location', value: 'weights.bin' })];
    const b64 = Buffer.from(toBinary(ModelProtoSchema, model)).toString('base64');
    const err = await p.page.evaluate(async (b) => {
      try {
        await window.example.tessera.InferenceSession.create(Uint8Array.from(atob(b), (c) => c.charCodeAt(0)).buffer, {});
        return undefined;
      } catch (e) {
        return { code: (e as { code?: string }).code, message: (e as Error).message };
      }
    }, b64);
    expect(err?.code).toBe('EXTERNAL_DATA');
    expect(err?.message).toMatch(/external data files, which the browser build does not fetch yet/);
  });

  it('logged no console error', () => {
    expect(p.errors).toEqual([]);
  });
});
