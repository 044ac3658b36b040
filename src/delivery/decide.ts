// What to do after an attempt: outcome + message + policy → action (DESIGN §5). Pure: the clock
// and the randomness come in as arguments, the effects are applied by act.ts.
import type { RetryPolicy } from '../config/schema.ts';
import { backoffDelay, budget, capDelay, type Tier } from '../retry/policy.ts';
import type { PauseReason } from './destinationControl.ts';
import type { MessageMeta } from './message.ts';
import type { Outcome } from './outcome.ts';

export type Action =
  | { kind: 'delivered' }
  /** Hand the message to the delay tier due at `dueAt`; `pauseUntil` when the receiver asked. */
  | { kind: 'retry'; dueAt: number; pauseUntil?: number }
  | { kind: 'dead-letter'; errorClass: string; pauseUntil?: number }
  /** Pause the destination on every instance and keep the message for after the resume. */
  | { kind: 'pause'; reason: PauseReason };

export interface DecideInput {
  outcome: Outcome;
  meta: MessageMeta;
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
      return { kind: 'pause', reason: outcome.pauseCause ?? 'auth-rejected' };
    case 'permanent':
      return { kind: 'dead-letter', errorClass: outcome.errorClass ?? 'permanent' };
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
