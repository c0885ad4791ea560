/// <reference lib="dom" />
/**
 * Tessera in the browser: `import { InferenceSession, Tensor } from 'tessera/browser'`. One ES module
 * (dist/browser/tessera.js, bundled by scripts/build.mjs) holding the same compiler driver and runner as
 * under Node, with the browser's engines behind the registered backends:
 *  - `ort:cpu` — onnxruntime-web's wasm (CPU) execution provider, on worker threads when the page is
 *    cross-origin isolated (src/browser/onnxruntime-node.ts: the onnxruntime-node adapter on onnxruntime-web);
 *  - `ort:webgpu` — onnxruntime-web's WebGPU execution provider, when `navigator.gpu` gives an adapter;
 *  - `ort-web:wasm` — the same wasm engine through its own adapter, and `tfjs` — TensorFlow.js on its
 *    wasm backend (plain JavaScript where wasm fails), each bindable (`bind: { cpu: 'tfjs' }`).
 * The target is `browser`: what this page finds, with the figures `calibrate()` measured on this device
 * (kept in IndexedDB) when there are some.
 *
 *   const session = await InferenceSession.create('/models/model.onnx');
 *   const out = await session.run({ x: new Tensor('float32', data, [1, 3, 224, 224]) });
 *   iframe.src = URL.createObjectURL(new Blob([await session.viewerHtml()], { type: 'text/html' }));
 */
import { probeBackend, registeredBackends } from '../backends/registry.js';
import type { TensorMap } from '../backends/tensor.js';
import type { ShapedGraph } from '../ir/infer.js';
import type { Plan } from '../plan/schema.js';
import type { Binding, Fallback, Trace } from '../plan/trace.js';
import { calibrateHost, type Measurement } from '../runtime/calibrate.js';
import { Session, type SessionOptions } from '../runtime/session.js';
import { hostTarget } from '../targets/index.js';
import { parseTarget, type Target } from '../targets/schema.js';
import { checkPlan } from '../viz/check.js';
import { buildHtml } from '../viz/html.js';
import type { VizData } from '../viz/model.js';
import { traceFileOf } from '../viz/trace-file.js';
import { buildViewModel } from '../viz/view-model.js';
import { TesseraError } from '../errors.js';
import { clearCalibration, storeCalibration, storedCalibration, type StoredCalibration } from './calibration-store.js';
import { readModel, type FetchOptions, type ModelSource } from './fetch-model.js';

export { Tensor, type TensorMap } from '../backends/tensor.js';
export { TesseraError, type ErrorCode } from '../errors.js';
export type { Plan, Target, Binding, Fallback, Trace };
export { setWasmPaths, ortWebThreads } from '../backends/engine-files.browser.js';
export { checkModelFits, readModel, WASM32_HEAP_BYTES, type ModelSource, type FetchOptions } from './fetch-model.js';
export { storedCalibration, clearCalibration, type StoredCalibration };

export interface BrowserSessionOptions extends Omit<SessionOptions, 'target' | 'externalDataDir'>, FetchOptions {
  /** The `browser` target (default: this page as found, calibrated when a calibration is stored), or a Target. */
  target?: 'browser' | Target;
}

/** This page as a target: the engines it has, figures from this device's stored calibration or defaults. */
export function browserTarget(): Promise<Target> {
  return hostTarget();
}

/** onnxruntime's InferenceSession, shaped the same (create, run, inputNames, outputNames, release), running a Tessera plan in the page. */
export class InferenceSession {
  private constructor(
    private readonly session: Session,
    /** Where the model came from (its URL or file name) and how it was read. */
    readonly source: { name: string; how: string; bytes: number },
  ) {}

  static async create(model: ModelSource, options: BrowserSessionOptions = {}): Promise<InferenceSession> {
    const { target, onProgress, crossOrigin, rangeBytes, heapBytes, ...rest } = options;
    const read = await readModel(model, { onProgress, crossOrigin, rangeBytes, heapBytes });
    const t = typeof target === 'object' ? target : await browserTarget();
    const session = await Session.create(read.bytes, { ...rest, target: t }).catch((err: unknown) => {
      if (err instanceof TesseraError && err.code === 'EXTERNAL_DATA') {
        throw new TesseraError('EXTERNAL_DATA', `${read.name}: its weights are in external data files, which the browser build does not fetch yet; save the model with its weights inside it (${err.message})`, { cause: err });
      }
      throw err;
    });
    return new InferenceSession(session, { name: read.name, how: read.how, bytes: read.bytes.byteLength });
  }

  get inputNames(): readonly string[] {
    return this.session.inputNames;
  }

  get outputNames(): readonly string[] {
    return this.session.outputNames;
  }

  get graph(): ShapedGraph {
    return this.session.graph;
  }

  get plan(): Plan {
    return this.session.plan;
  }

  get target(): Target {
    return this.session.target;
  }

  get warnings(): readonly string[] {
    return this.session.warnings;
  }

  /** How each processor is bound in this page: the engine that really runs it, or what it is emulated on and why. */
  get bindings(): readonly Binding[] {
    return this.session.bindings;
  }

  get fallbacks(): readonly Fallback[] {
    return this.session.fallbacks;
  }

  /** The last run's measured timeline. */
  get lastTrace(): Trace | undefined {
    return this.session.lastTrace;
  }

  run(feeds: TensorMap): Promise<TensorMap> {
    return this.session.run(feeds);
  }

  release(): Promise<void> {
    return this.session.release();
  }

  /** The plan viewer (one self-contained HTML page) with the last run's measured timeline beside the prediction. */
  viewerHtml(): Promise<string> {
    const plan = { ...this.plan, model: { ...this.plan.model, file: this.source.name.split('/').pop() ?? this.source.name } }; // a model given as bytes is '<bytes>' to the compiler
    const trace = this.lastTrace;
    const data: VizData = {
      plan,
      files: { plan: `plan compiled in this page for ${this.source.name}`, ...(trace ? { trace: 'the last run in this page' } : {}), model: this.source.name },
      view: buildViewModel(plan, this.graph, this.target, `${this.source.name}, as loaded in this page`),
      check: checkPlan(plan, this.graph, this.target, ''),
      ...(trace ? { trace: traceFileOf(plan, trace, 'this browser page') } : {}),
    };
    return buildHtml(data);
  }
}

/** What the built-in backends are in the browser bundle (their registered descriptions speak of Node). */
const IN_PAGE: Record<string, string> = {
  'ort:cpu': "onnxruntime-web's wasm (CPU) execution provider, through the onnxruntime adapter",
  'ort:webgpu': "onnxruntime-web's WebGPU execution provider",
  'ort-web:wasm': "onnxruntime-web's wasm execution provider, through its own adapter",
  tfjs: 'TensorFlow.js',
};

/** One registered backend as this page found it. */
export interface BackendReport {
  id: string;
  bindName: string;
  /** What it is in this page. */
  description: string;
  available: boolean;
  software: boolean;
  detail: string;
}

/** Every registered backend, probed in this page: which engines are real here. */
export async function backendsInPage(): Promise<BackendReport[]> {
  return Promise.all(registeredBackends().map(async (b) => {
    const p = await probeBackend(b);
    return { id: b.id, bindName: b.bindName, description: IN_PAGE[b.id] ?? b.description, available: p.available, software: Boolean(p.software), detail: p.detail };
  }));
}

export interface CalibrateOptions {
  /** Time spent timing each benchmark, ms (default 200). */
  minMs?: number;
  /** Stop waiting for quiet moments after this many ms (default 60 000). */
  budgetMs?: number;
  /** Measure the WebGPU EP when there is an adapter (default true), and TensorFlow.js (default true). */
  gpu?: boolean;
  tfjs?: boolean;
  progress?: (done: number, total: number, what: string) => void;
}

/**
 * Calibrates this device in the page: the micro-benchmarks of `tessera calibrate` (src/runtime/calibrate.ts)
 * on onnxruntime-web's wasm EP, its WebGPU EP (when there is an adapter) and TensorFlow.js, fitted the same
 * way, and kept in IndexedDB for this device; sessions created after it place by these figures. `skipped`:
 * the GPU benchmarks its WebGPU EP could not run (fitted without them).
 */
export async function calibrate(options: CalibrateOptions = {}): Promise<StoredCalibration & { measurements: Measurement[]; skipped: string[] }> {
  const { target, measurements, skipped } = await calibrateHost({
    // ort:cpu is onnxruntime-web's wasm EP here: measuring ort-web:wasm as well would time the same engine twice
    wasm: false, gpu: options.gpu, tfjs: options.tfjs, minMs: options.minMs ?? 200, budgetMs: options.budgetMs ?? 60_000, progress: options.progress,
  });
  const browser = parseTarget({ ...target, name: 'browser', description: target.description.replace(/^this machine/, 'this page') }, 'the calibration just measured');
  const stored = await storeCalibration(browser, measurements);
  return { ...stored, measurements, skipped };
}
