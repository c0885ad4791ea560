/**
 * The key-transpose rewrite (src/generate/transpose-rewrite.ts: Transpose → Unsqueeze → MatMul reordered so
 * that onnxruntime folds the Transpose into the MatMul) against onnxruntime running the original graph:
 * the same logits and presents over a prompt and then a step reading that past, on the generated tiny
 * decoder (grouped-query attention: the Unsqueeze adds the group axis); and the Generator with it gives
 * the same tokens and logits as with it off.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { clone, toBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema, type ModelProto } from 'onnx-buf';
import * as ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import { PRESETS, writeDecoder } from '../../bench/models/decoder.js';
import { ortForward, ortGreedy, seededPrompt } from '../../bench/models/ort-generate.js';
import { transposeAfterUnsqueeze } from '../../src/generate/transpose-rewrite.js';
import { Generator } from '../../src/index.js';
import { decodeModel, readModelFile } from '../../src/ir/onnx-import.js';

const tmp = mkdtempSync(join(tmpdir(), 'tessera-transpose-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i])), 0);

describe('keys read through a Transpose folded into the attention MatMul', () => {
  it('reorders one chain a layer; a prompt and a step after it give the logits and presents of the original graph', async () => {
    const { modelPath } = writeDecoder(PRESETS.tiny, join(tmp, 'tiny'));
    const model = decodeModel(readModelFile(modelPath), modelPath);
    const moved = clone(ModelProtoSchema, model);
    expect(transposeAfterUnsqueeze(moved)).toBe(PRESETS.tiny.layers);
    expect(transposeAfterUnsqueeze(moved)).toBe(0); // nothing left to reorder
    for (const n of moved.graph!.node.filter((x) => x.opType === 'Transpose' && x.output[0].endsWith('kT5'))) {
      const reader = moved.graph!.node.find((x) => x.input.includes(n.output[0]))!;
      expect(reader.opType).toBe('MatMul');
    }
    const options = { logSeverityLevel: 3, extra: { session: { model_external_initializers_file_folder_path: dirname(modelPath) } } } as ort.InferenceSession.SessionOptions;
    const open = (m: ModelProto) => ort.InferenceSession.create(toBinary(ModelProtoSchema, m), options);
    const [a, b] = [await open(model), await open(moved)];
    const prompt = seededPrompt(30, PRESETS.tiny.vocab, 2);
    const [pa, pb] = [await ortForward(a, prompt), await ortForward(b, prompt)];
    expect(maxDiff(pa.logits, pb.logits)).toBeLessThan(1e-5);
    const [sa, sb] = [await ortForward(a, [7], { past: pa.present }), await ortForward(b, [7], { past: pb.present })];
    expect(maxDiff(sa.logits, sb.logits)).toBeLessThan(1e-5);
    for (const k of Object.keys(sa.present)) expect(maxDiff(sa.present[k].data as Float32Array, sb.present[k].data as Float32Array)).toBeLessThan(1e-5);
    await a.release();
    await b.release();
  });

  it('the Generator with it: 32 greedy steps equal onnxruntime step by step on the original graph', async () => {
    const { modelPath } = writeDecoder(PRESETS.tiny, join(tmp, 'tiny2'));
    const session = await ort.InferenceSession.create(modelPath, { logSeverityLevel: 3 });
    const prompt = seededPrompt(64, PRESETS.tiny.vocab, 4);
    const want = await ortGreedy(session, prompt, 32);
    const g = await Generator.create(modelPath, { maxLength: 100, foldKeyTranspose: true });
    const tokens = [await g.prefill(prompt)];
    let diff = maxDiff(g.lastLogits, Float32Array.from(want.logits[0]));
    while (tokens.length < 32) {
      tokens.push(await g.next());
      diff = Math.max(diff, maxDiff(g.lastLogits, Float32Array.from(want.logits[tokens.length - 1])));
    }
    expect(tokens).toEqual(want.tokens);
    expect(diff).toBeLessThan(1e-4);
    await g.release();
    await session.release();
  });
});
