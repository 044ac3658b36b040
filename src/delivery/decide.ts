// What to do after an attempt: outcome + message + policy → action (DESIGN §5). Pure: the clock
// and the randomness come in as arguments, the effects are applied by act.ts.
import type { RetryPolicy } from '../config/schema.ts';
import { backoffDelay, budget } from '../retry/policy.ts';
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
  /** The longest retry tier (ms): no delay may exceed it, or it would hold the tier's partition. */
  longestTierMs: number;
  now: number;
  random: () => number;
}

/** The longest wait Courier will schedule: the policy's maxDelayMs, never past the longest tier. */
export function delayCap(policy: RetryPolicy, longestTierMs: number): number {
  return Math.max(1, Math.min(policy.maxDelayMs, longestTierMs));
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
      const cap = delayCap(policy, input.longestTierMs);
      const retryAfter = outcome.retryAfterMs === undefined ? undefined : Math.min(outcome.retryAfterMs, cap);
      const delay = Math.min(cap, Math.max(backoffDelay(policy, attempt, input.random), retryAfter ?? 0));
      const dueAt = now + delay;
      const pause = retryAfter === undefined ? {} : { pauseUntil: now + retryAfter };
      if (budget(policy, attempt, input.firstAttemptAt, dueAt).spent) {
        return { kind: 'dead-letter', errorClass: 'exhausted', ...pause };
      }
      return { kind: 'retry', dueAt, ...pause };
    }
  }
}
