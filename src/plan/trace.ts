/**
 * The trace: what a run of a plan really did — how each processor was bound, every step's measured start
 * and end, bytes moved, fallbacks — the contract between the runtime, which writes it, and the viewer and
 * the Chrome trace export, which read it.
 */

export interface Binding {
  processor: string;
  /** The backend that really runs the processor's partitions here. */
  backend: string;
  emulated: boolean;
  /** Why, in words: shown by every command that runs a plan. */
  note: string;
}

export interface TraceStep {
  step: number;
  kind: 'compute' | 'transfer';
  lane: string;
  partition?: number;
  value?: string;
  bytes?: number;
  /** The backend that ran a compute step. */
  backend?: string;
  /** Measured, in µs from the start of the run. */
  startUs: number;
  endUs: number;
}

/** A partition that its bound backend failed to compile or run, moved to the CPU. */
export interface Fallback {
  partition: number;
  processor: string;
  from: string;
  to: string;
  when: 'compile' | 'run';
  reason: string;
}

export interface Trace {
  /** Every fallback so far in this session (none when every backend did its job). */
  fallbacks: Fallback[];
  steps: TraceStep[];
  /** Bytes of the arena allocated per processor memory (a direct run, which needs none, reports the plan's sizes). */
  arenaBytes: Record<string, number>;
  bindings: Binding[];
  totalUs: number;
}
