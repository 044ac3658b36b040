// What to do after an attempt: outcome + policy → action. What each outcome means is
// the failure map's (../policy/failures.ts); this adds the retry budget and the delay. Pure: the
// clock and the randomness come in as arguments, the effects are applied by act.ts.

import type { DeadLetterClass, Outcome, PauseReason } from '../policy/failures.ts';
import type { RetryPolicy } from '../policy/retry.ts';
import { backoffDelay, budget, capDelay, type Tier } from '../policy/retry.ts';

export type Action =
  | { kind: 'delivered' }
  /** Hand the message to the delay tier due at `dueAt`; `pauseUntil` when the receiver asked. */
  | { kind: 'retry'; dueAt: number; pauseUntil?: number }
  | { kind: 'dead-letter'; errorClass: DeadLetterClass; pauseUntil?: number }
  /** Pause the destination on every instance and keep the message for after the resume. */
  | { kind: 'pause'; reason: PauseReason };

export interface DecideInput {
  outcome: Outcome;
  /** This attempt's number (1 for the first). */
  attempt: number;
  firstAttemptAt: number;
  policy: RetryPolicy;
  /** The retry tiers: no delay may exceed the longest, or it would hold that tier's partition. */
  tiers: readonly Tier[];
  now: number;
  random: () => number;
}

export function decide(input: DecideInput): Action {
  const { outcome, policy, attempt, now } = input;
  switch (outcome.kind) {
    case 'delivered':
      return { kind: 'delivered' };
    case 'pause':
      return { kind: 'pause', reason: outcome.reason };
    case 'permanent':
      return { kind: 'dead-letter', errorClass: outcome.errorClass };
    case 'transient': {
      // Both the backoff and a Retry-After stop at maxDelayMs and the longest tier.
      const cap = (ms: number) => capDelay(policy, input.tiers, ms);
      const retryAfter = outcome.retryAfterMs === undefined ? undefined : cap(outcome.retryAfterMs);
      const delay = cap(Math.max(backoffDelay(policy, attempt, input.random), retryAfter ?? 0));
      const dueAt = now + delay;
      const pause = retryAfter === undefined ? {} : { pauseUntil: now + retryAfter };
      if (budget(policy, attempt, input.firstAttemptAt, dueAt).spent) {
        return { kind: 'dead-letter', errorClass: 'exhausted', ...pause };
      }
      return { kind: 'retry', dueAt, ...pause };
    }
  }
}
