/**
 * Running a model as `tessera run` does: on given test data (or deterministic random inputs), through a
 * Session; optionally checking the outputs against onnxruntime running the original file and against
 * expected output files, and writing the outputs and the measured trace (atomically). The command prints
 * what this returns; the conformance tests call it. The compiler, the plan runner, the streamed runner and
 * the trace writer are loaded by the runs that use them: a run with nothing to plan holds none of them.
 */
import { peakRssBytes } from './peak-rss.js';
import { join } from 'node:path';
import { compareTensors, DEFAULT_TOLERANCE, type Comparison } from '../backends/compare.js';
import { createSession, runSession } from '../backends/ort.js';
import { randomFeeds, tensorFromWeight, weightFromTensor, type TensorMap } from '../backends/tensor.js';
import { TesseraError } from '../errors.js';
import { formatShape } from '../ir/graph.js';
import { fixedDims, resolveInputShapes, type FixedDim } from '../ir/infer.js';
import { importOnnx, readModelFile } from '../ir/onnx-import.js';
import { listTensorFiles, readTensorFile, tensorFileBytes } from '../ir/tensor-file.js';
import { writeFilesAtomically } from '../atomic.js';
import { nothingToPlan } from '../compiler/bind.js';
import type { Compilation, LoadedModel } from '../compiler/index.js';
import type { BindSpec } from '../backends/binding.js';
import type { Graph } from '../ir/graph.js';
import { loadTarget, type Target } from '../targets/index.js';
import { bindProcessors } from './bind.js';
import { collectGarbage } from './gc.js';
import type { Plan } from '../plan/schema.js';
import type { Session } from './session.js';
import { formatBytes } from '../format.js';
import { readFeeds } from './test-data.js';

export interface RunOptions {
  data?: string;
  inputShapes?: Record<string, number[]>;
  out?: string;
  check?: boolean;
  tolerance?: { rtol: number; atol: number };
  /** A built-in target name or a target JSON file (default: 'host'). */
  target?: string;
  /** A plan file to run (compiled by `tessera compile`) instead of compiling one. */
  plan?: string;
  /** Processor → backend overrides, e.g. { gpu: 'webgpu' }. */
  bind?: Record<string, string>;
  /** Write the measured trace of the run there (`tessera viz --trace`, `tessera trace --trace`). */
  trace?: string;
  /** 'latency' (default) or 'memory': what the compiled plan minimises (see PlanOptions.objective). */
  objective?: 'latency' | 'memory';
  /** Report the process's measured peak resident bytes beside the plan's prediction (before any --check run). */
  memory?: boolean;
  /** Run with the weights streamed from disk under this many bytes (stream.ts; the engine floor comes on top). */
  memoryBudget?: number;
}

export interface OutputReport {
  name: string;
  dtype: string;
  shape: number[];
  /** Against onnxruntime running the original file, and against the expected output file. */
  vsOnnxruntime?: Comparison;
  vsExpected?: Comparison;
}

export interface RunReport {
  model: string;
  inputs: { name: string; dtype: string; shape: number[]; source: string }[];
  /** Each symbolic input dim and the size it ran with (given by --input-shape, the test data or the plan; else 1 by default). */
  fixedDims: FixedDim[];
  outputs: OutputReport[];
  /** False when a check was asked for and an output is outside tolerance. */
  ok: boolean;
  /** Measured wall time of one session.run, in ms. */
  runMs: number;
  /** The target the plan was compiled for, its partition count, and what runs each processor here. */
  target: string;
  partitions: number;
  /** How outputs are judged against the references. */
  criterion: string;
  bindings: { processor: string; backend: string; emulated: boolean; note: string }[];
  /** Partitions whose backend failed and that ran on the CPU instead. */
  fallbacks: { partition: number; processor: string; from: string; to: string; when: string; reason: string }[];
  /** With `memory`: the process's peak resident bytes after the run (getrusage), and the plan's prediction. */
  memory?: { measuredPeakBytes: number; predicted?: Plan['resident'] };
}

export async function runModel(path: string, options: RunOptions = {}): Promise<RunReport> {
  // read and imported once: the feeds are read against this graph, and the compile shapes it
  let bytes: Uint8Array | undefined = readModelFile(path);
  let graph: Graph | undefined = importOnnx(bytes, { path });
  const tol = options.tolerance ?? DEFAULT_TOLERANCE;
  let feeds: TensorMap;
  let inputShapes: Record<string, number[]>;
  // a plan brings the shapes it was compiled for: an --input-shape must agree with them (test data of other shapes fails the feed check)
  const planned = options.plan ? Object.fromEntries(Object.entries((await import('../compiler/index.js')).readPlanFile(options.plan).inputs).map(([k, v]) => [k, v.shape])) : undefined;
  if (options.data) {
    feeds = readFeeds(graph, options.data);
    inputShapes = Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, [...t.dims]]));
    for (const [name, shape] of Object.entries(options.inputShapes ?? {})) {
      if (formatShape(shape) !== formatShape(inputShapes[name] ?? null)) {
        throw new TesseraError('BAD_INPUT_SHAPE', `--input-shape ${name}=${shape.join('x')} contradicts the test data, whose '${name}' is ${formatShape(inputShapes[name] ?? null)}`);
      }
    }
  } else {
    for (const [name, shape] of Object.entries(planned ? (options.inputShapes ?? {}) : {})) {
      if (formatShape(shape) !== formatShape(planned![name] ?? null)) {
        throw new TesseraError('BAD_INPUT_SHAPE', `--input-shape ${name}=${shape.join('x')} contradicts the plan ${options.plan}, compiled for '${name}' ${formatShape(planned![name] ?? null)}; compile a plan for this shape (tessera compile --input-shape ${name}=${shape.join('x')}) or leave --input-shape out`);
      }
    }
    inputShapes = resolveInputShapes(graph, planned ?? options.inputShapes);
    feeds = randomFeeds(graph, inputShapes);
  }
  if (options.memoryBudget !== undefined && (options.plan || options.target || options.objective)) {
    throw new TesseraError('BAD_ARGUMENT', '--memory-budget runs the model on the CPU with its weights streamed, without a plan: it takes no --plan, --target or --objective');
  }
  const given = options.data || options.plan ? inputShapes : (options.inputShapes ?? {});
  const inputs = graph.inputs.map((name) => ({ name, dtype: feeds[name].type, shape: [...feeds[name].dims], source: options.data ? 'test data' : 'random (seeded)' }));
  const fixed = fixedDims(graph, inputShapes, given);
  const outputNames = [...graph.outputs];
  const host = await hostWithNothingToPlan(options);
  let ran: Ran;
  if (host) {
    bytes = graph = undefined; // the run needs the model's path only: the bytes and the graph go before the engine allocates
    ran = await runAsTheModel(path, feeds, outputNames, host, options.bind);
  } else if (options.memoryBudget !== undefined) {
    ran = await runUnderBudget(path, feeds, inputShapes, options.memoryBudget);
  } else {
    const { loadModel, refuseNothingToCompute } = await import('../compiler/index.js');
    const held = { loaded: await loadModel({ bytes, file: path, path, imported: graph }, { inputShapes: planned ?? inputShapes, sampleFeeds: feeds }) as LoadedModel | undefined };
    bytes = graph = undefined;
    if (!options.data && !planned) refuseNothingToCompute(held.loaded!.graph, options.inputShapes);
    ran = await runSessionOf(path, feeds, options, held);
  }
  const { outputs, runMs, lowered } = ran;
  const memory = options.memory ? { measuredPeakBytes: peakRssBytes(), ...(ran.predicted ? { predicted: ran.predicted } : {}) } : undefined;

  const reports: OutputReport[] = outputNames.map((name) => ({ name, dtype: outputs[name].type, shape: [...outputs[name].dims] }));
  let ok = true;
  if (options.check) {
    const ref = await createSession(path, 'cpu', `${path} (reference)`); // by path: external data resolves beside the model
    try {
      const expected = await runSession(ref, feeds, outputNames, `${path} (reference)`);
      for (const r of reports) {
        r.vsOnnxruntime = judge(compareTensors(outputs[r.name], expected[r.name], tol), lowered);
        ok &&= r.vsOnnxruntime.ok;
      }
    } finally {
      await ref.release();
    }
    if (options.data) {
      const files = listTensorFiles(options.data, 'output');
      files.forEach((f, i) => {
        const r = reports[i];
        if (!r) return;
        r.vsExpected = judge(compareTensors(outputs[r.name], tensorFromWeight(readTensorFile(f)), tol), lowered);
        ok &&= r.vsExpected.ok;
      });
    }
  }
  if (options.out) {
    writeFilesAtomically(reports.map((r, i) => ({ path: join(options.out!, `output_${i}.pb`), bytes: tensorFileBytes(weightFromTensor(outputs[r.name], r.name)) })));
  }
  if (options.trace && ran.traceEvents) writeFilesAtomically([{ path: options.trace, bytes: `${JSON.stringify({ traceEvents: ran.traceEvents, displayTimeUnit: 'ms' })}\n` }]);
  else if (options.trace && ran.trace) {
    const host = `${process.platform}-${process.arch}, node ${process.version}`;
    const { serializeTraceFile, traceFileOf } = await import('../viz/trace-file.js');
    writeFilesAtomically([{ path: options.trace, bytes: serializeTraceFile(traceFileOf(ran.trace.plan, ran.trace.trace, host)) }]);
  }
  return {
    model: path,
    inputs,
    fixedDims: fixed,
    outputs: reports,
    ok,
    runMs,
    target: ran.target,
    partitions: ran.partitions,
    criterion: lowered ? `cosine similarity ≥ ${MIN_COSINE} (a partition runs with float16/int16 storage)` : `rtol ${tol.rtol} / atol ${tol.atol}`,
    bindings: ran.bindings,
    fallbacks: ran.fallbacks,
    ...(memory ? { memory } : {}),
  };
}

interface Ran {
  outputs: TensorMap;
  outputNames: readonly string[];
  runMs: number;
  lowered: boolean;
  target: string;
  partitions: number;
  bindings: RunReport['bindings'];
  fallbacks: RunReport['fallbacks'];
  predicted?: Plan['resident'];
  trace?: { plan: Plan; trace: NonNullable<Session['lastTrace']> };
  /** A streamed run's timeline (no plan to view): Chrome Trace Event objects, weight reads on a storage lane beside the sessions' runs. */
  traceEvents?: object[];
}

/**
 * The host target when a compile for it would have nothing to decide (`nothingToPlan`: its CPU takes the
 * whole model as one onnxruntime session) and the run asks for nothing a plan brings (a plan file, an
 * objective, a trace, a predicted memory, a streamed run, a given zero dimension to refuse).
 */
async function hostWithNothingToPlan(options: RunOptions): Promise<Target | undefined> {
  if (options.plan || options.objective || options.trace || options.memory || options.memoryBudget !== undefined) return undefined;
  if ((options.target ?? 'host') !== 'host' || Object.values(options.inputShapes ?? {}).some((s) => s.includes(0))) return undefined;
  const host = await loadTarget('host');
  return (await nothingToPlan(host, { bind: options.bind })) ? host : undefined;
}

/**
 * Nothing to plan: the model runs as the plan of one whole-model partition on the CPU EP would run it (the
 * model's own bytes, `asTheModel`), as one onnxruntime session opened on its path, nothing compiled —
 * so none of a compile's memory is resident while the engine allocates.
 */
async function runAsTheModel(path: string, feeds: TensorMap, outputNames: readonly string[], target: Target, bind: BindSpec | undefined): Promise<Ran> {
  const bound = await bindProcessors(target, bind);
  collectGarbage(true); // the import's garbage goes before the engine allocates (see gc.ts)
  const session = await createSession(path, 'cpu', path);
  let outputs: TensorMap;
  let runMs: number;
  try {
    const t0 = performance.now();
    outputs = await runSession(session, feeds, outputNames, path);
    runMs = performance.now() - t0;
  } finally {
    await session.release();
  }
  return {
    outputs, outputNames, runMs, lowered: false, target: target.name, partitions: 1,
    bindings: bound.map(({ processor, backend, emulated, note }) => ({ processor, backend, emulated, note })), fallbacks: [],
  };
}

/**
 * A plan compiled (or given) and run by a Session; or, when the plan lowers to the model's own bytes (one
 * partition, the whole model as it is, on the CPU EP: see asTheModel in compiler/index.ts) and no trace is
 * asked for, run as that one engine session opened on the model's path, the compile (taken from `held`)
 * dropped before the engine allocates.
 */
async function runSessionOf(path: string, feeds: TensorMap, options: RunOptions, held: { loaded?: LoadedModel }): Promise<Ran> {
  const [{ compile }, { Session }] = await Promise.all([import('../compiler/index.js'), import('./session.js')]);
  const compiled = { c: await compile(held.loaded!, options.target, { bind: options.bind, plan: options.plan, lower: true, ...(options.objective ? { objective: options.objective } : {}) }) as Compilation | undefined };
  if (!options.trace && compiled.c!.partitions?.length === 1 && compiled.c!.partitions[0].onnx === held.loaded!.bytes) {
    // nothing of the compile stays reachable while the engine runs (not the plan, not the partitions: their
    // model bytes, 4.7 MB for ppocr-v4-det), only the prediction
    const { target, bind } = compiled.c!;
    const predicted = compiled.c!.plan.resident;
    const outputNames = [...held.loaded!.graph.outputs];
    held.loaded = compiled.c = undefined;
    const ran = await runAsTheModel(path, feeds, outputNames, target, bind);
    return { ...ran, ...(predicted ? { predicted } : {}) };
  }
  const session = await Session.of(compiled.c!);
  held.loaded = compiled.c = undefined;
  // Where a partition was lowered to float16/int16 storage, outputs are judged by cosine similarity.
  const lowered = session.plan.partitions.some((p) => p.precision === 'float16' && p.nodes.some((n) => !session.plan.nodes[n].folded));
  let outputs: TensorMap;
  let runMs: number;
  try {
    const t0 = performance.now();
    outputs = await session.run(feeds);
    runMs = performance.now() - t0;
  } finally {
    await session.release();
  }
  return {
    outputs, outputNames: session.outputNames, runMs, lowered, target: session.target.name, partitions: session.plan.partitions.length,
    bindings: session.bindings.map((b) => ({ ...b })), fallbacks: session.fallbacks.map((f) => ({ ...f })),
    ...(session.plan.resident ? { predicted: session.plan.resident } : {}),
    ...(session.lastTrace ? { trace: { plan: session.plan, trace: session.lastTrace } } : {}),
  };
}

/** One forward pass with the weights streamed from disk under a memory budget (stream.ts), on the CPU. */
async function runUnderBudget(path: string, feeds: TensorMap, inputShapes: Record<string, number[]>, budgetBytes: number): Promise<Ran> {
  const { StreamedModel } = await import('./stream.js');
  const model = await StreamedModel.open(path, { budgetBytes, inputShapes });
  const t0 = performance.now();
  const outputs = await model.run(feeds);
  return {
    outputs, outputNames: model.graph.outputs, runMs: performance.now() - t0, lowered: false, target: `host (weights streamed under a ${formatBytes(budgetBytes)} budget)`,
    partitions: model.groups.length, bindings: [{ processor: 'cpu', backend: 'ort:cpu', emulated: false, note: `${model.groups.length} groups, each an onnxruntime session reading its weights from the model's files; prefetch ${model.prefetching ? 'on' : 'off'}: ${model.prefetchDecision.why}` }], fallbacks: [],
    traceEvents: model.traceEvents(),
  };
}

/** Outputs of a run whose partitions store float32 as float16/int16 must reach this cosine similarity. */
export const MIN_COSINE = 0.999;

function judge(c: Comparison, lowered: boolean): Comparison {
  if (!lowered || c.reason?.startsWith('shape')) return c;
  const ok = Number.isNaN(c.cosine) ? c.ok : c.cosine >= MIN_COSINE;
  return { ...c, ok, reason: ok ? undefined : `cosine ${c.cosine} below ${MIN_COSINE}` };
}
