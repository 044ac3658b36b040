// The retry policy: when the next attempt is due, which delay tier carries it, how long a delay
// may be at most, when the delay consumer releases a message, and when the budget is spent.
// Pure; randomness is injected.

import { parseDuration } from '../duration.ts';

/** A destination's retry budget and backoff (config `retry`). */
export interface RetryPolicy {
  maxAttempts: number;
  /** No attempt is scheduled later than this after the first one. */
  maxAgeMs: number;
  baseDelayMs: number;
  maxDelayMs: number;
  /** ±share of each delay drawn at random (0..1). */
  jitter: number;
}

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

/** The longest tier (`tiers` need not be sorted); Infinity when there is none. */
function largestTierMs(tiers: readonly Tier[]): number {
  return tiers.length === 0 ? Number.POSITIVE_INFINITY : Math.max(...tiers.map((t) => t.ms));
}

/**
 * A retry delay (backoff with jitter, or a receiver's Retry-After) capped at
 * min(policy.maxDelayMs, the largest tier). A delay longer than the largest tier would park its
 * message at the head of that tier's partition past the tier's duration and hold every message
 * behind it — every destination's retries — so no delay may exceed it, whatever a receiver asks.
 */
export function capDelay(
  policy: Pick<RetryPolicy, 'maxDelayMs'>,
  tiers: readonly Tier[],
  delayMs: number,
): number {
  const limit = Math.min(policy.maxDelayMs, largestTierMs(tiers));
  if (Number.isNaN(delayMs)) return limit;
  return Math.max(0, Math.min(delayMs, limit));
}

/**
 * When the delay consumer forwards a message read from a tier topic: at its due time, but never
 * later than the tier's duration after the message was written (its Kafka timestamp). A message
 * whose due time lies beyond its tier (written before delays were capped, by a clock far ahead,
 * or by hand) therefore never holds its partition longer than the tier allows. Without a known
 * tier duration or a valid timestamp, the due time alone decides.
 */
export function releaseAt(m: { dueAt: number; writtenAt: number; tierMs: number | undefined }): number {
  if (m.tierMs === undefined || !Number.isFinite(m.writtenAt)) return m.dueAt;
  return Math.min(m.dueAt, m.writtenAt + m.tierMs);
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
