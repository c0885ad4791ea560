/**
 * onnxruntime's session and run options on Tessera's InferenceSession: each honoured or refused with
 * UNSUPPORTED_OPTION naming it, never ignored; fetches as onnxruntime takes them. References are
 * onnxruntime-node's own runs of the model.
 */
import * as ort from 'onnxruntime-node';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InferenceSession, Tensor, TesseraError } from '../../src/index.js';
import { probeWebGpu } from '../../src/backends/webgpu.js';
import { CORPUS } from '../helpers/models.js';

const REC = join(CORPUS, 'models/ppocr-v4-rec.onnx');
const VAD = join(CORPUS, 'models/silero-vad-op18-ifless.onnx');

async function refused(p: Promise<unknown>, pattern: RegExp): Promise<void> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err, String(pattern)).toBeInstanceOf(TesseraError);
  expect((err as TesseraError).code).toBe('UNSUPPORTED_OPTION');
  expect((err as TesseraError).message).toMatch(pattern);
}

describe("onnxruntime's session options", () => {
  it('refuses what it does not honour, by name: thread counts, optimization levels, providers, a misspelt option', async () => {
    await refused(InferenceSession.create(REC, { intraOpNumThreads: 1 }), /intraOpNumThreads: 1 is not honoured/);
    await refused(InferenceSession.create(REC, { interOpNumThreads: 2 }), /interOpNumThreads/);
    await refused(InferenceSession.create(REC, { graphOptimizationLevel: 'basic' }), /graphOptimizationLevel: "basic"/);
    await refused(InferenceSession.create(REC, { executionMode: 'parallel' }), /executionMode/);
    await refused(InferenceSession.create(REC, { enableCpuMemArena: false }), /enableCpuMemArena/);
    await refused(InferenceSession.create(REC, { executionProviders: ['cuda'] }), /execution provider 'cuda'/);
    await refused(InferenceSession.create(REC, { executionProviders: [{ name: 'cpu', useArena: false }] }), /useArena of 'cpu'/);
    await refused(InferenceSession.create(REC, { executionProviders: ['cpu'], target: 'host' }), /either executionProviders/);
    await refused(InferenceSession.create(REC, { enableProfiling: true }), /'enableProfiling' is not one Tessera honours/);
    await refused(InferenceSession.create(REC, { exectionProviders: ['cpu'] } as never), /'exectionProviders'/);
  });

  it("accepts onnxruntime's defaults and the logging options", async () => {
    const s = await InferenceSession.create(REC, { graphOptimizationLevel: 'all', intraOpNumThreads: 0, executionMode: 'sequential', logSeverityLevel: 3, logId: 'app', executionProviders: ['cpu'] });
    expect(s.inputNames).toEqual(['x']);
    await s.release();
  });

  it('freeDimensionOverrides compiles ahead of time for the dims named; a dim left out or unknown is refused', async () => {
    const s = await InferenceSession.create(REC, { freeDimensionOverrides: { 'p2o.DynamicDimension.0': 1, 'p2o.DynamicDimension.1': 160 } });
    expect(s.compiles).toBe(1);
    await s.release();
    await refused(InferenceSession.create(REC, { freeDimensionOverrides: { 'p2o.DynamicDimension.1': 160 } }), /dim 0 \(p2o\.DynamicDimension\.0\) is not overridden/);
    await refused(InferenceSession.create(REC, { freeDimensionOverrides: { 'p2o.DynamicDimension.0': 1, 'p2o.DynamicDimension.1': 160, batch: 2 } }), /'batch' is no symbolic dim/);
  });

  it("executionProviders ['webgpu'] binds the GPU to the WebGPU EP (refused where there is no adapter)", async () => {
    const probe = await probeWebGpu();
    if (!probe.available) {
      const err = await InferenceSession.create(REC, { executionProviders: ['webgpu', 'cpu'] }).catch((e: unknown) => e);
      expect((err as TesseraError).code).toBe('BACKEND_UNAVAILABLE');
      return;
    }
    // bound although the adapter may be a software one (the host target leaves such a GPU idle); placement by cost decides what it gets
    const s = await InferenceSession.create(join(CORPUS, 'models/wakeword-hello-deepa.onnx'), { executionProviders: ['webgpu', 'cpu'] });
    const x = new Tensor('float32', Float32Array.from({ length: 25 * 96 }, (_, i) => Math.sin(i)), [1, 25, 96]);
    const got = await s.run({ 'onnx::Flatten_0': x });
    expect(s.compiles).toBe(1);
    expect(s.plan!.target.processors.find((p) => p.id === 'gpu')?.backend).toBe('ort:webgpu');
    const ref = await (await ort.InferenceSession.create(join(CORPUS, 'models/wakeword-hello-deepa.onnx'))).run({ 'onnx::Flatten_0': x });
    expect(Math.abs((got['39'].data as Float32Array)[0] - (ref['39'].data as Float32Array)[0])).toBeLessThan(1e-3);
    await s.release();
  }, 300_000);
});

describe('run: fetches and run options', () => {
  let s: InferenceSession;
  let ref: ort.InferenceSession;
  const feeds = () => ({ input: new Tensor('float32', Float32Array.from({ length: 576 }, (_, i) => Math.sin(i / 7)), [1, 576]), sr: new Tensor('int64', BigInt64Array.from([16000n]), []), state: new Tensor('float32', new Float32Array(256), [2, 1, 128]) });
  beforeAll(async () => {
    s = await InferenceSession.create(VAD);
    ref = await ort.InferenceSession.create(VAD);
  });
  afterAll(async () => {
    await s.release();
    await ref.release();
  });

  it('a list of output names returns those only; a record writes into the tensors it gives', async () => {
    const want = await ref.run(feeds());
    const only = await s.run(feeds(), ['stateN']);
    expect(Object.keys(only)).toEqual(['stateN']);
    expect(Array.from(only.stateN.data as Float32Array)).toEqual(Array.from(want.stateN.data as Float32Array));
    const into = new Tensor('float32', new Float32Array(1), [1, 1]);
    const out = await s.run(feeds(), { output: into });
    expect(out.output).toBe(into);
    expect((into.data as Float32Array)[0]).toBe((want.output.data as Float32Array)[0]);
    await expect(s.run(feeds(), ['nope'])).rejects.toThrow(/fetch 'nope' is not an output/);
  });

  it("run options: onnxruntime's log labels accepted, the rest refused", async () => {
    expect(Object.keys(await s.run(feeds(), { tag: 'first', logSeverityLevel: 2 })).sort()).toEqual(['output', 'stateN']);
    await refused(s.run(feeds(), { terminate: true }), /run option 'terminate'/);
  });

  it('metadata as onnxruntime gives it', () => {
    expect(s.inputMetadata).toEqual(ref.inputMetadata);
    expect(s.outputMetadata).toEqual(ref.outputMetadata);
  });
});
