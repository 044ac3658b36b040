// What a reload would change: per destination, in place or rebuilt; restart-only fields refused;
// the configuration version; and the fingerprints `courier config diff` compares secrets by.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { configVersion, diffConfigs, partsToRebuild } from './diff.ts';
import { parseConfig } from './load.ts';
import { fingerprint, fingerprintSecrets, MASK, maskSecrets } from './mask.ts';

const S1 = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const S2 = `whsec_${Buffer.from('another signing secret, 32 bytes').toString('base64')}`;

function config(destinations: Array<Record<string, unknown>>, extra: Record<string, unknown> = {}) {
  return parseConfig(
    {
      kafka: { brokers: ['localhost:9092'] },
      ...extra,
      destinations: destinations.map((d) => ({ url: 'https://hooks.example.com/in', secrets: [S1], ...d })),
    },
    { source: 'test', env: {} },
  );
}

test('added, removed and changed destinations; url, secrets, rate limit and filter change in place', () => {
  const before = config([{ id: 'a' }, { id: 'b' }, { id: 'c' }]);
  const after = config([
    { id: 'a' },
    {
      id: 'b',
      url: 'https://new.example.com/in',
      secrets: [S2, S1],
      rateLimit: { perSecond: 5 },
      filter: 'data.n > 1',
    },
    { id: 'd' },
  ]);
  const diff = diffConfigs(before, after);
  assert.deepEqual(diff.added, ['d']);
  assert.deepEqual(diff.removed, ['c']);
  assert.deepEqual(
    diff.changed.map((c) => [c.id, c.inPlace]),
    [['b', true]],
  );
  assert.deepEqual(
    diff.changed[0]?.fields.filter((f) => !f.startsWith('rateLimit')),
    ['filter', 'secrets', 'url'],
  );
  assert.deepEqual(diff.restartNeeded, []);
  assert.equal(diff.empty, false);
});

test('what an in-place change rebuilds in the running destination: its sender, rate limiter, breaker, or nothing', () => {
  assert.deepEqual([...partsToRebuild(['url', 'timeoutMs'])], ['sender']);
  assert.deepEqual([...partsToRebuild(['rateLimit.perSecond', 'circuitBreaker.resetTimeoutMs'])].sort(), [
    'breaker',
    'rateLimiter',
  ]);
  assert.deepEqual([...partsToRebuild(['secrets', 'retry.maxAttempts', 'rescueAtRetentionShare'])], []);
  const before = config([{ id: 'a' }]);
  const after = config([{ id: 'a', rescueAtRetentionShare: 0.3 }]);
  assert.deepEqual(diffConfigs(before, after).changed, [
    { id: 'a', fields: ['rescueAtRetentionShare'], inPlace: true },
  ]);
});

test('concurrency, window and auth rebuild the actor; partitions of an existing destination are refused', () => {
  const before = config([{ id: 'a' }, { id: 'b' }, { id: 'c' }]);
  const after = config([
    { id: 'a', concurrency: 64 },
    { id: 'b', window: { messages: 10 } },
    { id: 'c', partitions: 12 },
  ]);
  const diff = diffConfigs(before, after);
  assert.deepEqual(
    diff.changed.map((c) => [c.id, c.inPlace]),
    [
      ['a', false],
      ['b', false],
      ['c', false],
    ],
  );
  assert.equal(diff.restartNeeded.length, 1);
  assert.match(diff.restartNeeded[0] as string, /^destinations\.c\.partitions/);
});

test('kafka, redis and the observability port need a restart; alerts apply live except their windows', () => {
  const before = config([{ id: 'a' }]);
  const moved = config([{ id: 'a' }], {
    kafka: { brokers: ['other:9092'] },
    redis: { url: 'redis://other:6379' },
    observability: { port: 9999 },
    alerts: { thresholds: { stalledMs: 60_000, successWindowMs: 60_000 } },
  });
  const diff = diffConfigs(before, moved);
  assert.deepEqual(diff.restartNeeded.sort(), [
    'alerts.thresholds.successWindowMs',
    'kafka.brokers',
    'observability.port',
    'redis.url',
  ]);
  assert.deepEqual(diff.live, ['alerts']);
  assert.equal(diffConfigs(before, config([{ id: 'a' }])).empty, true);
});

test('the configuration version: the same for the same destinations in any order, new for any change', () => {
  const ab = config([{ id: 'a' }, { id: 'b' }]);
  assert.equal(configVersion(ab), configVersion(config([{ id: 'b' }, { id: 'a' }])));
  assert.notEqual(configVersion(ab), configVersion(config([{ id: 'a' }, { id: 'b', secrets: [S2] }])));
  assert.match(configVersion(ab), /^[0-9a-f]{12}$/);
});

test('fingerprints replace every secret: equal secrets compare equal, a rotation shows, nothing reads back', () => {
  const withAuth = (password: string) =>
    config([{ id: 'a', auth: { type: 'basic', username: 'u', password }, headers: { 'x-key': 'k1' } }], {
      redis: { url: 'redis://:hunter2@redis:6379' },
    });
  const one = fingerprintSecrets(withAuth('p1'));
  const text = JSON.stringify(one);
  for (const secret of [S1, 'p1', 'hunter2', 'k1'])
    assert.ok(!text.includes(secret), `${secret} is not kept`);
  assert.deepEqual(one.destinations[0]?.secrets, [fingerprint(S1)]);
  assert.deepEqual(diffConfigs(one, fingerprintSecrets(withAuth('p1'))).changed, []);
  assert.deepEqual(diffConfigs(one, fingerprintSecrets(withAuth('p2'))).changed[0]?.fields, [
    'auth.password',
  ]);
  // Masking for display is unchanged: every secret is `***`.
  const masked = maskSecrets(withAuth('p1')) as { destinations: Array<{ secrets: string[] }> };
  assert.deepEqual(masked.destinations[0]?.secrets, [MASK]);
});
