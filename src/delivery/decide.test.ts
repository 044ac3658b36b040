import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { RetryPolicy } from '../config/schema.ts';
import { classify } from '../policy/failures.ts';
import { type DecideInput, decide } from './decide.ts';

const policy: RetryPolicy = {
  maxAttempts: 5,
  maxAgeMs: 60_000,
  baseDelayMs: 1000,
  maxDelayMs: 8000,
  jitter: 0,
};
const HOUR = 3_600_000;

function input(over: Partial<DecideInput> & Pick<DecideInput, 'outcome'>): DecideInput {
  return {
    attempt: 1,
    firstAttemptAt: 0,
    policy,
    tiers: [{ label: '1h', ms: HOUR }],
    now: 0,
    random: () => 0.5,
    ...over,
  };
}

test('2xx is done; 4xx dead-letters at once with its class; 401/403/410 pause and keep the message', () => {
  assert.deepEqual(decide(input({ outcome: classify({ status: 204, latencyMs: 1 }, 0) })), {
    kind: 'delivered',
  });
  assert.deepEqual(decide(input({ outcome: classify({ status: 422, latencyMs: 1 }, 0) })), {
    kind: 'dead-letter',
    errorClass: 'permanent',
  });
  assert.deepEqual(decide(input({ outcome: classify({ status: 302, latencyMs: 1 }, 0) })), {
    kind: 'dead-letter',
    errorClass: 'redirect',
  });
  for (const [status, reason] of [
    [401, 'auth-rejected'],
    [403, 'forbidden'],
    [410, 'gone'],
  ] as const) {
    assert.deepEqual(decide(input({ outcome: classify({ status, latencyMs: 1 }, 0) })), {
      kind: 'pause',
      reason,
    });
  }
});

test('transient failures back off exponentially and dead-letter as exhausted when the budget is spent', () => {
  const outcome = classify({ status: 503, latencyMs: 1 }, 0);
  assert.deepEqual(decide(input({ outcome, attempt: 1, now: 100 })), { kind: 'retry', dueAt: 1100 });
  assert.deepEqual(decide(input({ outcome, attempt: 3, now: 100 })), { kind: 'retry', dueAt: 4100 });
  assert.deepEqual(decide(input({ outcome, attempt: 5 })), { kind: 'dead-letter', errorClass: 'exhausted' });
  // Past the age budget: the next attempt would come more than maxAgeMs after the first.
  assert.deepEqual(decide(input({ outcome, attempt: 2, firstAttemptAt: 0, now: 59_000 })), {
    kind: 'dead-letter',
    errorClass: 'exhausted',
  });
});

test('Retry-After pauses the destination and delays the retry, both capped at maxDelayMs and the longest tier', () => {
  const wait = (s: number) => classify({ status: 429, retryAfter: String(s), latencyMs: 1 }, 0);
  assert.deepEqual(decide(input({ outcome: wait(5) })), { kind: 'retry', dueAt: 5000, pauseUntil: 5000 });
  // 7200 s asked; maxDelayMs 8 s caps it.
  assert.deepEqual(decide(input({ outcome: wait(7200) })), { kind: 'retry', dueAt: 8000, pauseUntil: 8000 });
  // A policy allowing more is still held to the longest tier.
  const loose = { ...policy, maxDelayMs: 10 * HOUR, maxAgeMs: 100 * HOUR };
  assert.deepEqual(decide(input({ outcome: wait(7200), policy: loose })), {
    kind: 'retry',
    dueAt: HOUR,
    pauseUntil: HOUR,
  });
});
