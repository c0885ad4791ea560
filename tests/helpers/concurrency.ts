/** 16 (or more) concurrent `run` calls on one Session must return what the same runs return one after another. */
import { expect } from 'vitest';
import type { TensorMap } from '../../src/backends/tensor.js';
import type { Session } from '../../src/runtime/session.js';

export async function expectConcurrentEqualsSequential(session: Session, feeds: TensorMap[], output: string): Promise<void> {
  const sequential: number[][] = [];
  for (const f of feeds) sequential.push([...((await session.run(f))[output].data as Float32Array)]);
  const concurrent = await Promise.all(feeds.map((f) => session.run(f)));
  concurrent.forEach((o, i) => expect([...(o[output].data as Float32Array)], `run ${i}`).toEqual(sequential[i]));
  // distinct inputs gave distinct outputs (so the comparison above means something)
  expect(new Set(sequential.map((s) => s.join())).size).toBe(feeds.length);
}
