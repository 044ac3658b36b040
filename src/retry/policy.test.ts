import assert from 'node:assert/strict';
import { test } from 'node:test';
import { backoffDelay, budget, parseTiers, tierFor } from './policy.ts';

const policy = { maxAttempts: 5, maxAgeMs: 60_000, baseDelayMs: 1000, maxDelayMs: 10_000, jitter: 0.25 };

test('backoff doubles from the base and is capped', () => {
  const mid = () => 0.5; // no jitter
  assert.deepEqual(
    [1, 2, 3, 4, 5, 6].map((a) => backoffDelay(policy, a, mid)),
    [1000, 2000, 4000, 8000, 10_000, 10_000],
  );
});

test('jitter stays within ±jitter of the nominal delay', () => {
  assert.equal(
    backoffDelay(policy, 1, () => 0),
    750,
  );
  assert.equal(
    backoffDelay(policy, 1, () => 1),
    1250,
  );
  for (let i = 0; i < 200; i++) {
    const d = backoffDelay(policy, 3, Math.random);
    assert.ok(d >= 3000 && d <= 5000, `delay ${d}`);
  }
});

test('the tier is the shortest that covers the delay, or the longest', () => {
  const tiers = parseTiers(['1m', '30s', '1h']);
  assert.deepEqual(
    tiers.map((t) => t.label),
    ['30s', '1m', '1h'],
  );
  assert.equal(tierFor(tiers, 10).label, '30s');
  assert.equal(tierFor(tiers, 30_000).label, '30s');
  assert.equal(tierFor(tiers, 30_001).label, '1m');
  assert.equal(tierFor(tiers, 5 * 3_600_000).label, '1h');
});

test('the budget is spent by attempts or by age', () => {
  assert.deepEqual(budget(policy, 4, 0, 1000), { spent: false });
  assert.deepEqual(budget(policy, 5, 0, 1000), { spent: true, reason: 'attempts' });
  assert.deepEqual(budget(policy, 2, 0, 60_001), { spent: true, reason: 'age' });
});
