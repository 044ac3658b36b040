// What an expression host (expressionPool.ts) and an expression thread (expressionThread.ts) both
// do with the jobs they are given: run them one after the other, counting those queued or running
// (the pool's measure of load), and, when a pair's evaluation killed its process or thread, fail
// that pair and defer the rest of its destination's pairs in the job.
import type { PairOutcome, PoolJob, PoolResult } from './protocol.ts';

export class SerialJobs {
  /** Jobs queued or running. */
  load = 0;
  private tail: Promise<unknown> = Promise.resolve();

  /** Runs `evaluate` on the job after the ones queued before it. */
  run(job: PoolJob, evaluate: (job: PoolJob) => Promise<PoolResult>): Promise<PoolResult> {
    this.load += 1;
    const turn = this.tail.then(() => evaluate(job));
    this.tail = turn.catch(() => {});
    return turn.finally(() => {
      this.load -= 1;
    });
  }
}

/**
 * Pair `k` failed with `failure` (its process or thread died under it): its destination `d` has
 * spent everything, its other remaining pairs come back deferred. Returns the pairs still to do.
 */
export function blamePair(
  job: { results: PairOutcome[]; spentMs: number[]; remaining: number[]; destOf: (k: number) => number },
  k: number,
  failure: PairOutcome,
): number[] {
  const { results, spentMs, remaining, destOf } = job;
  const d = destOf(k);
  results[k] = failure;
  spentMs[d] = Number.POSITIVE_INFINITY;
  for (const other of remaining)
    if (other !== k && destOf(other) === d) results[other] = { kind: 'deferred' };
  return remaining.filter((other) => destOf(other) !== d);
}
