/**
 * The prefill rewrite (src/generate/prefill-rewrite.ts: the LM head over the last position only) against
 * onnxruntime running the original graph: the rewritten graph's one logits row equals the original's
 * last row, and its presents equal the original's, on the generated tiny decoder (Reshape to logits with
 * a shape from input_ids) and the GPT-2-like one (MatMul head straight to logits); a graph where a tensor
 * between the head and logits is read elsewhere is left alone.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { clone, toBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema, type ModelProto } from 'onnx-buf';
import * as ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import { PRESETS, writeDecoder } from '../../bench/models/decoder.js';
import { ortForward, seededPrompt } from '../../bench/models/ort-generate.js';
import { lastRowLogits } from '../../src/generate/prefill-rewrite.js';
import { decodeModel, readModelFile } from '../../src/ir/onnx-import.js';
import { VARIANT, writeVariant } from './variant-decoder.js';

const tmp = mkdtempSync(join(tmpdir(), 'tessera-prefill-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function sameLastRow(path: string, vocab: number) {
  const model = decodeModel(readModelFile(path), path);
  const cut = clone(ModelProtoSchema, model);
  expect(lastRowLogits(cut, vocab)).toBe(true);
  // external data (the generated decoder's) read from the model's folder, as the Generator opens it
  const options = { logSeverityLevel: 3, extra: { session: { model_external_initializers_file_folder_path: dirname(path) } } } as ort.InferenceSession.SessionOptions;
  const open = (m: ModelProto) => ort.InferenceSession.create(toBinary(ModelProtoSchema, m), options);
  const [a, b] = [await open(model), await open(cut)];
  const prompt = seededPrompt(40, vocab, 5);
  const [ra, rb] = [await ortForward(a, prompt), await ortForward(b, prompt)];
  expect(ra.logits.length).toBe(40 * vocab);
  expect(rb.logits.length).toBe(vocab); // one row
  const last = ra.logits.subarray(39 * vocab);
  let diff = 0;
  for (let j = 0; j < vocab; j++) diff = Math.max(diff, Math.abs(last[j] - rb.logits[j]));
  expect(diff).toBeLessThan(1e-4);
  expect(Math.max(...last.map(Math.abs))).toBeGreaterThan(1e-3);
  for (const [k, t] of Object.entries(ra.present)) {
    const u = rb.present[k].data as Float32Array;
    expect(rb.present[k].dims).toEqual(t.dims);
    expect((t.data as Float32Array).every((x, i) => Math.abs(x - u[i]) < 1e-5)).toBe(true);
  }
  await a.release();
  await b.release();
}

describe('prefill: the LM head over the last position only', () => {
  it('generated decoder (Reshape of the head output to a shape taken from input_ids): the last row, the same presents', async () => {
    const { modelPath } = writeDecoder(PRESETS.tiny, join(tmp, 'tiny'));
    await sameLastRow(modelPath, PRESETS.tiny.vocab);
  });

  it('GPT-2-like decoder (MatMul head straight to logits)', async () => {
    const path = join(tmp, 'variant.onnx');
    writeVariant(VARIANT, path);
    await sameLastRow(path, VARIANT.vocab);
  });

  it('leaves the graph alone when a tensor between the head and logits is read elsewhere, or there is no vocab', () => {
    const { modelPath } = writeDecoder(PRESETS.tiny, join(tmp, 'tiny2'));
    const model = decodeModel(readModelFile(modelPath), modelPath);
    expect(lastRowLogits(clone(ModelProtoSchema, model), null)).toBe(false);
    const g = model.graph!;
    const toLogits = g.node.find((n) => n.output[0] === 'logits')!;
    expect(toLogits.opType).toBe('Reshape');
    // the head's output (the Reshape's input) read by another node, whose output the graph gives too
    g.node.push({ ...toLogits, name: 'extra_reader', output: ['extra'] });
    g.output.push({ ...g.output[0], name: 'extra' });
    const nodes = g.node.length;
    expect(lastRowLogits(model, PRESETS.tiny.vocab)).toBe(false);
    expect(g.node).toHaveLength(nodes);
    expect(g.node.some((n) => n.opType === 'Slice')).toBe(false);
  });
});
