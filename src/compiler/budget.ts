/**
 * A memory budget: the fastest plan that fits. The budget is the bytes a run may hold beyond the engine
 * floor (the target's `memory.floorBytes`, as `tessera run --memory-budget` counts it): a plan fits when
 * its predicted peak resident bytes (passes/resident.ts) less that floor are within it. In turn:
 *   1. the latency plan (the default objective), if it fits;
 *   2. else the memory-objective plan, if it fits;
 *   3. else the model run with its weights streamed from its files in groups that fit (compiler/stream.ts,
 *      a model given by path only);
 *   4. else BUDGET_INFEASIBLE, naming the smallest budget that one of them fits.
 */
import { BudgetInfeasible, TesseraError } from '../errors.js';
import { formatBytes, parseBytes } from '../format.js';
import type { Plan } from '../plan/schema.js';
import { memoryFigures } from '../passes/resident.js';
import type { Compilation, CompileOptions, LoadedModel } from './index.js';
import { planStream } from './stream.js';

export type BudgetChoice = 'latency' | 'memory' | 'streamed';

export interface BudgetDecision {
  budgetBytes: number;
  choice: BudgetChoice;
  /** Why, with the figures compared. */
  reason: string;
  /** Bytes each candidate needs beyond the engine floor (predicted), as compared. */
  needs: { latency: number; memory?: number };
  /** The streamed run chosen: its groups (the plan returned beside it is the memory plan, for the record). */
  streamed?: { groups: number; largestGroupWeightBytes: number };
}

/** A budget given as bytes or as a size ('256MB'). */
export function budgetBytesOf(budget: number | string): number {
  const b = typeof budget === 'number' ? budget : parseBytes(budget, 'memoryBudget');
  if (!(b > 0) || !Number.isFinite(b)) throw new TesseraError('BAD_ARGUMENT', `memory budget ${budget}: expected a number of bytes > 0 (or a size such as 256MB)`);
  return b;
}

/** Predicted peak resident bytes beyond the engine floor. */
export function needOf(plan: Plan, c: Compilation): number {
  const r = plan.resident;
  if (!r) throw new TesseraError('INTERNAL', 'a plan compiled without a resident prediction');
  return Math.max(0, r.peakBytes - memoryFigures(c.target).floorBytes);
}

type CompileFn = (model: LoadedModel, target: string | Compilation['target'] | undefined, options: CompileOptions) => Promise<Compilation>;

/** Compiles under `options.memoryBudget` (see the file's header); the Compilation carries the decision. */
export async function compileUnderBudget(model: LoadedModel, path: string | undefined, target: string | Compilation['target'] | undefined, options: CompileOptions, compileFn: CompileFn): Promise<Compilation & { budget: BudgetDecision }> {
  const budgetBytes = budgetBytesOf(options.memoryBudget!);
  const rest: CompileOptions = { ...options, memoryBudget: undefined };
  const B = `${formatBytes(budgetBytes)} (${budgetBytes} bytes)`;
  const need = (n: number) => `${formatBytes(n)} beyond the engine floor`;
  // an objective given with the budget is kept: 'memory' skips the latency plan
  const latency = options.objective === 'memory' ? undefined : await compileFn(model, target, { ...rest, objective: 'latency' });
  const latencyNeed = latency ? needOf(latency.plan, latency) : Infinity;
  if (latency && latencyNeed <= budgetBytes) {
    return { ...latency, budget: { budgetBytes, choice: 'latency', reason: `the latency plan fits: it needs ${need(latencyNeed)} (predicted), within ${B}`, needs: { latency: latencyNeed } } };
  }
  const memory = await compileFn(model, target, { ...rest, objective: 'memory' });
  const memoryNeed = needOf(memory.plan, memory);
  const needs = { latency: latencyNeed, memory: memoryNeed };
  const over = latency ? `the latency plan needs ${need(latencyNeed)} (predicted), over ${B}; ` : '';
  if (memoryNeed <= budgetBytes) {
    return { ...memory, budget: { budgetBytes, choice: 'memory', reason: `${over}the memory-objective plan fits: ${need(memoryNeed)} (predicted)`, needs } };
  }
  let smallestStreamed = Infinity, streamWhy = 'a model given as bytes cannot be streamed from its files';
  if (path) {
    try {
      const s = await planStream(path, { budgetBytes, inputShapes: model.graph.inputShapes });
      const largest = Math.max(0, ...s.groups.map((g) => g.weightBytes));
      return {
        ...memory,
        warnings: [...memory.warnings, `under the budget the model runs streamed (${s.groups.length} group${s.groups.length === 1 ? '' : 's'}, weights read from its files): the plan here is the memory-objective plan, for the record`],
        budget: { budgetBytes, choice: 'streamed', reason: `${over}the memory-objective plan needs ${need(memoryNeed)} (predicted), over ${B}; streamed in ${s.groups.length} group${s.groups.length === 1 ? '' : 's'} of at most ${formatBytes(largest)} of weights each, it fits`, needs, streamed: { groups: s.groups.length, largestGroupWeightBytes: largest } },
      };
    } catch (err) {
      if (!(err instanceof BudgetInfeasible)) throw err;
      smallestStreamed = err.smallestBytes;
      streamWhy = `one node's weights with the activations need ${formatBytes(smallestStreamed)}`;
    }
  }
  const smallest = Math.min(latencyNeed, memoryNeed, smallestStreamed);
  throw new TesseraError('BUDGET_INFEASIBLE', `${model.file}: nothing fits a memory budget of ${B} (beyond the engine floor): ${over}the memory-objective plan needs ${need(memoryNeed)} (predicted); streamed, ${streamWhy}. The smallest feasible budget is ${formatBytes(smallest)} (${Math.ceil(smallest)} bytes)`);
}
