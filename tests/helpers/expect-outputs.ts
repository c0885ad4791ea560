/**
 * Shared assertion for tests (imports vitest, so it lives apart from models.ts, which child scripts
 * outside vitest import too).
 */
import { expect } from 'vitest';
import type { TensorMap } from '../../src/backends/tensor.js';
import { cosine, valuesOf } from './models.js';

/** Each named output equal to onnxruntime's: cosine above 0.99999 and every element within 1e-4 of the largest magnitude (at least 1). */
export function expectOutputsMatch(got: TensorMap, want: TensorMap, names: readonly string[]): void {
  for (const name of names) {
    const g = valuesOf(got[name]), w = valuesOf(want[name]);
    expect(cosine(g, w), name).toBeGreaterThan(0.99999);
    expect(Math.max(...g.map((v, i) => Math.abs(v - w[i]))), name).toBeLessThan(1e-4 * Math.max(1, ...w.map(Math.abs)));
  }
}
