/**
 * The one error class of Tessera. `code` is stable (tests and callers match on it);
 * the message says what was wrong, where, and what to do.
 */
export type ErrorCode =
  | 'FILE_NOT_FOUND'
  | 'FILE_UNREADABLE'
  | 'NOT_ONNX'
  | 'TRUNCATED'
  | 'GRAPH_CYCLE'
  | 'DANGLING_VALUE'
  | 'UNKNOWN_DOMAIN'
  | 'UNSUPPORTED_OP'
  | 'BAD_MODEL'
  /** A tensor's external data was refused: not a relative path to a regular file inside the model's directory, or past the file's end. */
  | 'EXTERNAL_DATA'
  /** A model beyond a resource limit (tensor bytes, nodes, subgraph depth: src/ir/limits.ts). */
  | 'LIMIT_EXCEEDED'
  | 'SHAPE_INFERENCE'
  | 'BAD_INPUT_SHAPE'
  | 'MISSING_FEED'
  | 'UNKNOWN_FEED'
  | 'FEED_SHAPE'
  | 'FEED_DTYPE'
  | 'BAD_TEST_DATA'
  | 'BACKEND_UNAVAILABLE'
  | 'BACKEND_FAILED'
  | 'BAD_ARGUMENT'
  /** An onnxruntime session or run option Tessera does not honour (refused rather than ignored). */
  | 'UNSUPPORTED_OPTION'
  | 'BAD_TARGET'
  | 'BAD_PLAN'
  | 'PLAN_MISMATCH'
  | 'BAD_CALIBRATION'
  | 'ALREADY_QUANTIZED'
  /** Nothing fits the memory budget asked for: the message names the smallest feasible budget. */
  | 'BUDGET_INFEASIBLE'
  | 'INTERNAL';

export class TesseraError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TesseraError';
    this.code = code;
  }
}

/** A memory budget nothing fits, with the smallest budget that would (bytes), for a caller that tries something else. */
export class BudgetInfeasible extends TesseraError {
  constructor(message: string, readonly smallestBytes: number) {
    super('BUDGET_INFEASIBLE', message);
  }
}

/** Wraps a foreign failure as a TesseraError with context; passes TesseraErrors through. */
export function asTesseraError(err: unknown, code: ErrorCode, context: string): TesseraError {
  if (err instanceof TesseraError) return err;
  const detail = err instanceof Error ? err.message : String(err);
  return new TesseraError(code, `${context}: ${detail}`, { cause: err });
}

/**
 * The exit status a failure gives the `tessera` command: 2 for a user error (bad input, usage: a
 * TesseraError with its code), 3 for an internal one (a TesseraError with code INTERNAL, or anything
 * else thrown). 0 and 1 (a check that failed) are the command's own.
 */
export function exitStatusOf(err: unknown): 2 | 3 {
  return err instanceof TesseraError && err.code !== 'INTERNAL' ? 2 : 3;
}
