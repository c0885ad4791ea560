/**
 * The `tessera` command: argument parsing, and for each command a call into the library (the compiler
 * driver, the runtime, the viewer) and the printing of what it returns. Exit status: 0 ok; 1 a check
 * failed; 2 a user error (bad input, usage); 3 an internal error.
 */
import { Command, CommanderError } from 'commander';
import { exitStatusOf, TesseraError } from '../errors.js';
import { parseInputShapes } from '../ir/input-shapes.js';

// Each command loads its own modules when it runs (tessera run does not load the viewer's bundler or tfjs).

/** A compile option that must be one of a few words. */
function oneOf<T extends string>(flag: string, value: string | undefined, allowed: readonly T[]): T | undefined {
  if (value === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(value)) throw new TesseraError('BAD_ARGUMENT', `${flag} '${value}': expected ${allowed.map((a) => `'${a}'`).join(' or ')}`);
  return value as T;
}

const collect = (v: string, prev: string[] = []) => [...prev, v];

function program(): Command {
  const p = new Command('tessera')
    .description('Compile an ONNX model into a heterogeneous CPU/GPU/NPU execution plan and run it')
    .option('--verbose', 'print stack traces on errors')
    .showHelpAfterError()
    .exitOverride()
    .addHelpText('after', '\nExit status: 0 ok; 1 --check found outputs outside tolerance; 2 bad input or usage (the message says what and where); 3 internal error.');

  p.command('inspect')
    .description('op histogram, node counts, weight and activation bytes, and the inferred dtype/shape of every value')
    .argument('<model>', 'an .onnx file')
    .option('--input-shape <spec>', 'concrete input shapes, e.g. x=1x3x640x640 (repeatable; default: symbolic dims = 1)', collect)
    .option('--json', 'print one JSON object')
    .action(async (model: string, o: { inputShape?: string[]; json?: boolean }) => {
      const { inspectModel } = await import('../compiler/inspect.js');
      const { formatInspect } = await import('./inspect.js');
      const r = await inspectModel(model, parseInputShapes(o.inputShape));
      console.log(o.json ? JSON.stringify(r, null, 2) : formatInspect(r));
    });

  p.command('compile')
    .description('compile a plan for a target: where every op goes, the predicted timeline, the peak memory against its lower bound')
    .argument('<model>', 'an .onnx file')
    .requiredOption('--target <name|file>', "a built-in target (see 'tessera targets') or a target JSON file")
    .option('--input-shape <spec>', 'concrete input shapes, e.g. x=1x3x640x640 (repeatable; default: symbolic dims = 1)', collect)
    .option('--out <plan.json>', 'write the plan there (atomically: no partial file on failure)')
    .option('--data <dir>', 'representative inputs (input_0.pb, …) for the shape probe and the calibration of float16 legalization; seeded random inputs otherwise')
    .option('--placement <how>', "'cost' (default): by predicted latency; 'capability': first processor that takes each node, by priority (as onnxruntime)", 'cost')
    .option('--explain', 'say why each partition went where it went (the costs compared), each transfer, and the predicted timeline')
    .option('--order-budget-ms <ms>', 'time budget of the memory-aware order search (counted as work, so plans stay deterministic)', '2000')
    .option('--split <how>', "'none' (default): one backend call per partition; 'memory': split partitions into chunks that follow the planned order where the backend's own order would raise the peak")
    .option('--inplace', 'let elementwise ops write their output over their input buffer')
    .option('--objective <what>', "'latency' (default): today's fast plans; 'memory': the plan with the smallest predicted peak resident bytes of the process (partition splitting, in place and the memory rewrites chosen by it)")
    .option('--memory-budget <size>', 'bytes a run may hold beyond the engine floor (e.g. 256MB): the latency plan if its predicted resident peak fits, else the memory-objective plan, else the weights streamed from the model files; refused with the smallest feasible budget when nothing fits')
    .option('--rewrite', 'try the memory rewrites (a Sum of several inputs → a chain of Adds; a Conv over a Concat → per-part Convs summed; regions of row-local ops run in bands of rows) and keep them when the arenas get smaller')
    .option('--bind <spec>', 'processor → backend, e.g. cpu=tfjs: a processor gets only the nodes its bound backend takes, priced with the figures measured through it (backends: cpu, webgpu, wasm, tfjs)')
    .option('--json', 'print the summary as one JSON object')
    .option('--decode', 'the model is a decoder (Optimum past/present): compile a decode plan (one token, KV cache in place) and a prefill plan (chunks of --prefill-chunk) and predict tokens/s of each, beside the roofline arithmetic and published figures')
    .option('--max-length <n>', 'with --decode: KV cache length the decode plan reads (default 1024)')
    .option('--prefill-chunk <n>', 'with --decode: tokens per prefill run (default 128)')
    .action(async (model: string, o: { target: string; inputShape?: string[]; out?: string; data?: string; placement: string; explain?: boolean; json?: boolean; orderBudgetMs: string; split?: string; inplace?: boolean; rewrite?: boolean; bind?: string; decode?: boolean; maxLength?: string; prefillChunk?: string; objective?: string; memoryBudget?: string }) => {
      const objective = o.objective === undefined ? undefined : oneOf('--objective', o.objective, ['latency', 'memory'] as const);
      const { parseBytes } = await import('../format.js');
      const memoryBudget = o.memoryBudget === undefined ? undefined : parseBytes(o.memoryBudget, '--memory-budget');
      if (o.decode) {
        const { formatPrediction, predictCommand } = await import('./generate.js');
        const r = await predictCommand(model, o);
        console.log(o.json ? JSON.stringify(r, null, 2) : formatPrediction(r));
        return;
      }
      const orderBudgetMs = Number(o.orderBudgetMs);
      if (!Number.isFinite(orderBudgetMs) || orderBudgetMs < 0) throw new TesseraError('BAD_ARGUMENT', `--order-budget-ms '${o.orderBudgetMs}': expected a number of milliseconds >= 0`);
      const split = oneOf('--split', o.split, ['none', 'memory'] as const);
      const placement = oneOf('--placement', o.placement, ['cost', 'capability'] as const);
      const { parseBind } = await import('../backends/binding.js');
      const bind = parseBind(o.bind);
      const { compile } = await import('../compiler/index.js');
      const { readFeeds } = await import('../runtime/test-data.js');
      const { importOnnxFile } = await import('../ir/onnx-import.js');
      const { writeFilesAtomically } = await import('../atomic.js');
      const { serializePlan } = await import('../plan/schema.js');
      const { withModelPath } = await import('../viz/find-model.js');
      const { formatCompile, formatExplain, summarize } = await import('./compile.js');
      const sampleFeeds = o.data ? readFeeds(importOnnxFile(model), o.data) : undefined;
      const inputShapes = sampleFeeds ? Object.fromEntries(Object.entries(sampleFeeds).map(([k, t]) => [k, [...t.dims]])) : parseInputShapes(o.inputShape);
      const c = await compile(model, o.target, { inputShapes, sampleFeeds, placement, orderBudgetMs, split, inplace: o.inplace, rewrite: o.rewrite, bind, lower: false, objective, memoryBudget });
      // a plan written to a file records where the model is, relative to it (tessera viz finds it from there)
      if (o.out) writeFilesAtomically([{ path: o.out, bytes: serializePlan(withModelPath(c.plan, o.out, model)) }]);
      const s = summarize(c);
      console.log(o.json ? JSON.stringify(s, null, 2) : formatCompile(s, o.out));
      if (o.explain && !o.json) console.log(formatExplain(c));
    });

  p.command('calibrate')
    .description("measure this host's backends with micro-benchmarks and write a target profile (used by --target host)")
    .option('--out <file>', 'where to write the profile (default: the place --target host reads it from)')
    .option('--no-gpu', 'leave out the WebGPU EP, even when an adapter exists')
    .option('--no-wasm', "leave out onnxruntime-web's wasm backend")
    .option('--no-tfjs', 'leave out TensorFlow.js')
    .option('--json', 'print the measurements as JSON')
    .option('--storage <path>', "where to measure the storage's cold read bandwidth: a file to read (a model's weights) or a directory to write a 512 MB scratch file in (default: the profile's directory)")
    .option('--no-storage', "leave out the storage's read bandwidth")
    .action(async (o: { out?: string; gpu: boolean; wasm: boolean; tfjs: boolean; json?: boolean; storage: string | boolean }) => {
      const { calibrateHost } = await import('../runtime/calibrate.js');
      const { calibratedHostPath } = await import('../targets/host.js');
      const { writeFilesAtomically } = await import('../atomic.js');
      const { formatCalibration, progressBar } = await import('./progress.js');
      const out = o.out ?? calibratedHostPath();
      const { target, measurements } = await calibrateHost({ gpu: o.gpu, wasm: o.wasm, tfjs: o.tfjs, storage: o.storage === false ? false : typeof o.storage === 'string' ? o.storage : undefined, progress: progressBar('calibrating') });
      writeFilesAtomically([{ path: out, bytes: `${JSON.stringify(target, null, 2)}\n` }]);
      console.log(o.json ? JSON.stringify(measurements, null, 2) : formatCalibration(target, measurements, out));
    });

  p.command('targets')
    .description('list the built-in targets and their processors')
    .option('--json', 'print one JSON object')
    .action(async (o: { json?: boolean }) => {
      const { formatTargets, listTargets } = await import('./listing.js');
      const list = await listTargets();
      console.log(o.json ? JSON.stringify(list, null, 2) : formatTargets(list));
    });

  p.command('backends')
    .description('list the backends this host really has, and how each processor kind binds by default')
    .option('--json', 'print one JSON object')
    .action(async (o: { json?: boolean }) => {
      const { formatBackends, listBackends } = await import('./listing.js');
      const list = await listBackends();
      console.log(o.json ? JSON.stringify(list, null, 2) : formatBackends(list));
    });

  p.command('run')
    .description('run a model on test data or seeded random inputs; --check compares with onnxruntime')
    .argument('<model>', 'an .onnx file')
    .option('--data <dir>', 'ONNX test-data directory with input_0.pb, input_1.pb, … (and output_*.pb to check against)')
    .option('--input-shape <spec>', 'concrete input shapes for random inputs, e.g. x=1x3x224x224', collect)
    .option('--out <dir>', 'write output_0.pb, … there')
    .option('--check', 'compare with onnxruntime running the original model (and with output_*.pb in --data); exit 1 outside rtol 1e-3 / atol 1e-4, or below cosine 0.999 where a partition runs in float16/int16')
    .option('--target <name|file>', "compile the plan for this target: a built-in name or a target JSON file (default: 'host')")
    .option('--plan <plan.json>', "run this plan (from 'tessera compile') instead of compiling one; it is checked against the model and target first")
    .option('--bind <spec>', 'processor → backend overrides, e.g. gpu=webgpu (backends: cpu, webgpu, wasm, tfjs)')
    .option('--trace <trace.json>', "write the measured trace of the run there (for 'tessera viz --trace' and 'tessera trace --trace'); with --memory-budget, the streamed run's weight reads and session runs as Chrome Trace Event Format (ui.perfetto.dev)")
    .option('--objective <what>', "'latency' (default) or 'memory': what the compiled plan minimises (see tessera compile)")
    .option('--memory', "print this process's measured peak resident bytes beside the plan's prediction, by category")
    .option('--memory-budget <size>', 'run on the CPU with the weights streamed from the model files under this budget (bytes or e.g. 256MB; the engine floor comes on top): groups of nodes whose weights fit, one engine session each, released after its run')
    .option('--json', 'print one JSON object')
    .action(async (model: string, o: { data?: string; inputShape?: string[]; out?: string; check?: boolean; target?: string; plan?: string; bind?: string; trace?: string; json?: boolean; objective?: string; memory?: boolean; memoryBudget?: string }) => {
      // one model run, then exit: the compile's young generation is not kept grown while the engine allocates
      (await import('../runtime/gc.js')).keepYoungGenerationSmall();
      const objective = o.objective === undefined ? undefined : oneOf('--objective', o.objective, ['latency', 'memory'] as const);
      const { parseBytes } = await import('./quantize.js');
      const memoryBudget = o.memoryBudget === undefined ? undefined : parseBytes(o.memoryBudget, '--memory-budget');
      const { runModel } = await import('../runtime/run-model.js');
      const { formatRun } = await import('./run.js');
      const { parseBind } = await import('../backends/binding.js');
      const r = await runModel(model, { data: o.data, inputShapes: parseInputShapes(o.inputShape), out: o.out, check: o.check, target: o.target, plan: o.plan, bind: parseBind(o.bind), trace: o.trace, objective, memory: o.memory, memoryBudget });
      console.log(o.json ? JSON.stringify(r, null, 2) : formatRun(r));
      if (!r.ok) process.exitCode = 1;
    });

  p.command('quantize')
    .description('quantize a model: int8 static QDQ from calibration data, w8/w4 weight-only, or mixed bits per layer from measured sensitivity')
    .argument('<model>', 'a float32 .onnx file')
    .requiredOption('--scheme <scheme>', 'int8 | w8 | w4 | mixed')
    .requiredOption('--out <q.onnx>', 'the quantized model (written atomically: nothing on failure)')
    .option('--calibration <dir>', 'an ONNX test-data directory (input_0.pb, …) or a directory of them; required for int8 and mixed')
    .option('--method <method>', 'int8 activation ranges: percentile (default), minmax or entropy')
    .option('--percentile <p>', 'for --method percentile: the share of values kept (default 99.999)')
    .option('--activations <type>', 'int8 activation type: uint8 (default) or uint16')
    .option('--block-size <n>', 'w4/mixed: int4 block size along the reduction axis (default 32, at least 16)')
    .option('--keep-float <names>', 'int8: node names or op types to keep float (repeatable, comma-separated)', collect)
    .option('--target-error <e>', 'mixed: the largest output error (relative squared, on the calibration data; default 1e-3); int8: raise activations to uint16 in measured groups until the error is within it')
    .option('--target-size <bytes>', 'mixed: the largest size of the quantized layers\' weights, e.g. 2MB')
    .option('--report <file.json>', 'also write the full report as JSON')
    .option('--json', 'print the report as one JSON object')
    .action(async (model: string, o: import('./quantize.js').QuantizeCliOptions & { json?: boolean }) => {
      const { formatQuantize, quantizeCommand } = await import('./quantize.js');
      const r = await quantizeCommand(model, o);
      console.log(o.json ? JSON.stringify(r, null, 2) : formatQuantize(r, o.out));
    });

  p.command('generate')
    .description('generate tokens with a decoder (Optimum past/present signature): the KV cache held by Tessera and written in place; prints the tokens, time to first token, tokens/s and peak memory')
    .argument('<model>', 'a decoder .onnx file')
    .option('--prompt-tokens <ids>', 'the prompt as token ids, e.g. 17,4,99')
    .option('--prompt-length <n>', 'a seeded prompt of n token ids (see --seed)')
    .option('--seed <s>', 'seed of the --prompt-length prompt and of the sampler (default 1)')
    .requiredOption('--steps <k>', 'tokens to generate (the first comes from the prefill)')
    .option('--memory-budget <bytes>', 'weights + KV cache + working memory, e.g. 2GB: the cache length is chosen from it, or refused')
    .option('--max-length <n>', 'KV cache length in tokens (default: prompt + steps, checked against the budget)')
    .option('--prefill-chunk <n>', 'tokens per prefill run (default 128)')
    .option('--temperature <t>', 'sample at this temperature (default greedy)')
    .option('--top-k <k>', 'sample among the k most likely tokens')
    .option('--eos <ids>', 'stop after one of these token ids')
    .option('--kv <type>', 'KV cache storage: float32 (default) or int8 (a float32 scale per head and row: about a quarter of the bytes)')
    .option('--one-session', 'hold one onnxruntime session at a time (prefill, then decode): one copy of the prepacked weights; the decode session opens between the first and second token')
    .option('--trace <trace.json>', 'write the prefill chunks and decode steps as Chrome Trace Event Format (ui.perfetto.dev)')
    .option('--json', 'print {tokens, ttftMs, tokensPerS, peakRssBytes}')
    .action(async (model: string, o: import('./generate.js').GenerateCliOptions) => {
      const { formatGenerate, generateCommand } = await import('./generate.js');
      const r = await generateCommand(model, o);
      console.log(o.json ? JSON.stringify(r.result) : formatGenerate(model, r));
    });

  p.command('viz')
    .description('write the plan viewer: one self-contained HTML page with the graph, timeline, memory and summary (exit 1 when the plan verifier finds the plan invalid; the page is written all the same)')
    .argument('<plan>', "a plan from 'tessera compile --out'")
    .option('--trace <trace.json>', "a measured trace from 'tessera run --plan … --trace' (measured times beside the predicted ones)")
    .option('--model <model.onnx>', "the plan's model, for edges, shapes, bytes, FLOPs, attributes, branches and the verifier (default: found from the path the plan records, relative to the plan, or beside it; its sha256 must match)")
    .option('-o, --out <plan.html>', 'the page to write (default: the plan path with .html)')
    .action(async (plan: string, o: { trace?: string; model?: string; out?: string }) => {
      const { vizPlan } = await import('./viz.js');
      const r = await vizPlan(plan, o);
      console.log(`${r.out}: plan viewer written (${(r.bytes / 1024).toFixed(0)} KB, self-contained); model: ${r.model}\nplan ${r.check.status}: ${r.check.message}`);
      if (r.check.status === 'invalid') process.exitCode = 1;
    });

  p.command('trace')
    .description('export the plan (and a measured trace) as Chrome Trace Event Format JSON for Perfetto or chrome://tracing')
    .argument('<plan>', "a plan from 'tessera compile --out'")
    .option('--trace <trace.json>', "a measured trace from 'tessera run --plan … --trace' (its times are used, the predicted ones go in each event's args)")
    .option('-o, --out <out.json>', 'the file to write (default: the plan path with .trace-events.json)')
    .action(async (plan: string, o: { trace?: string; out?: string }) => {
      const { exportTrace } = await import('./trace.js');
      const r = exportTrace(plan, o);
      console.log(`${r.out}: ${r.events} trace events, ${r.steps} steps (times ${r.times}); open it in ui.perfetto.dev or chrome://tracing`);
    });
  return p;
}

export async function main(argv: string[]): Promise<number> {
  const p = program();
  try {
    await p.parseAsync(argv, { from: 'user' });
    return Number(process.exitCode ?? 0);
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    const verbose = argv.includes('--verbose');
    const status = exitStatusOf(err);
    if (err instanceof TesseraError && status === 2) {
      console.error(`tessera: error [${err.code}]: ${err.message}`);
      if (verbose && err.stack) console.error(err.stack);
      return status;
    }
    console.error(`tessera: internal error${err instanceof TesseraError ? ` [${err.code}]` : ''}: ${(err as Error).message ?? err}`);
    if (verbose) console.error((err as Error).stack);
    else console.error('(run with --verbose for the stack trace; please report this)');
    return status;
  }
}

const code = await main(process.argv.slice(2));
process.exitCode = code;
