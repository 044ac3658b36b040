import assert from 'node:assert/strict';
import { test } from 'node:test';
import { backoffDelay, budget, capDelay, parseTiers, releaseAt, tierFor } from './retry.ts';

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

test('a delay is capped at maxDelayMs and at the largest tier, whichever is shorter', () => {
  const tiers = parseTiers(['30s', '1h', '1m']);
  const hour = 3_600_000;
  assert.equal(capDelay({ maxDelayMs: hour }, tiers, 7_200_000), hour, 'Retry-After: 7200 → 1 h');
  assert.equal(capDelay({ maxDelayMs: 10_000 }, tiers, 7_200_000), 10_000, 'maxDelayMs below the tiers');
  assert.equal(capDelay({ maxDelayMs: 5 * hour }, tiers, 7_200_000), hour, 'never past the largest tier');
  assert.equal(capDelay({ maxDelayMs: hour }, tiers, 45_000), 45_000, 'a short delay is kept');
  assert.equal(capDelay({ maxDelayMs: hour }, tiers, -5), 0);
  assert.equal(capDelay({ maxDelayMs: hour }, tiers, Number.NaN), hour);
  assert.equal(capDelay({ maxDelayMs: hour }, [], 7_200_000), hour, 'no tiers: maxDelayMs alone');
  // Backoff with jitter can overshoot maxDelayMs by the jitter; capped it stays within the tier.
  const jittered = backoffDelay({ ...policy, maxDelayMs: hour }, 20, () => 1);
  assert.ok(jittered > hour);
  assert.equal(capDelay({ maxDelayMs: hour }, tiers, jittered), hour);
  assert.equal(tierFor(tiers, capDelay({ maxDelayMs: hour }, tiers, jittered)).label, '1h');
});

test('a tier releases a message at its due time, but never later than the tier after writing', () => {
  const writtenAt = 1_000_000;
  const tierMs = 5_000;
  assert.equal(releaseAt({ dueAt: writtenAt + 3_000, writtenAt, tierMs }), writtenAt + 3_000);
  assert.equal(releaseAt({ dueAt: writtenAt + 7_200_000, writtenAt, tierMs }), writtenAt + tierMs);
  assert.equal(releaseAt({ dueAt: 0, writtenAt, tierMs }), 0, 'already due');
  assert.equal(
    releaseAt({ dueAt: writtenAt + 7_200_000, writtenAt, tierMs: undefined }),
    writtenAt + 7_200_000,
  );
  assert.equal(releaseAt({ dueAt: 42, writtenAt: Number.NaN, tierMs }), 42, 'no valid timestamp');
});
