// The retry policy: when the next attempt is due, which delay tier carries it, and when the
// budget is spent. Pure; randomness is injected.

import { parseDuration } from '../config/duration.ts';
import type { RetryPolicy } from '../config/schema.ts';

/**
 * Delay before attempt `attempt + 1`, after `attempt` failed attempts (attempt ≥ 1):
 * base · 2^(attempt-1), capped at maxDelay, then ±jitter.
 */
export function backoffDelay(
  policy: RetryPolicy,
  attempt: number,
  random: () => number = Math.random,
): number {
  const exponential = policy.baseDelayMs * 2 ** Math.max(0, attempt - 1);
  const capped = Math.min(policy.maxDelayMs, exponential);
  const factor = 1 + policy.jitter * (2 * random() - 1);
  return Math.max(1, Math.round(capped * factor));
}

export interface Tier {
  label: string;
  ms: number;
}

export function parseTiers(labels: readonly string[]): Tier[] {
  return labels.map((label) => ({ label, ms: parseDuration(label) as number })).sort((a, b) => a.ms - b.ms);
}

/**
 * The tier topic for a delay: the shortest tier at least as long as the delay (the largest when
 * none is). Within a tier, delays then differ by less than the gap to the tier below, which bounds
 * how long a due message can wait behind a later one.
 */
export function tierFor(tiers: readonly Tier[], delayMs: number): Tier {
  for (const tier of tiers) if (tier.ms >= delayMs) return tier;
  return tiers[tiers.length - 1] as Tier;
}

export type BudgetVerdict = { spent: false } | { spent: true; reason: 'attempts' | 'age' };

/** Whether another attempt may be scheduled after `attemptsMade`, given the first attempt's time. */
export function budget(
  policy: RetryPolicy,
  attemptsMade: number,
  firstAttemptAt: number,
  nextAttemptAt: number,
): BudgetVerdict {
  if (attemptsMade >= policy.maxAttempts) return { spent: true, reason: 'attempts' };
  if (nextAttemptAt - firstAttemptAt > policy.maxAgeMs) return { spent: true, reason: 'age' };
  return { spent: false };
}
