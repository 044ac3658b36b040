import assert from 'node:assert/strict';
import { test } from 'node:test';
import { configSchema } from '../config/schema.ts';
import { evaluateAlerts } from './alertRules.ts';
import { isPending, type StatusInputs, statusRow } from './destinationStatus.ts';
import {
  emptyWindowStats,
  LATENCY_EDGES_MS,
  latencyBucket,
  quantileMs,
  type WindowStats,
} from './rollingStats.ts';

const NOW = 1_800_000_000_000;
const thresholds = {
  ...configSchema.parse({ kafka: { brokers: ['k:9092'] } }).alerts.thresholds,
  retentionMs: 14 * 86_400_000,
};

function stats(s: Partial<WindowStats> = {}): WindowStats {
  return { ...emptyWindowStats(), ...s };
}

function row(s: Partial<WindowStats>, extra: Partial<StatusInputs> = {}) {
  return statusRow({
    destination: 'crm',
    pause: { paused: false },
    stats: stats(s),
    successThreshold: 0.95,
    stalledMs: 900_000,
    now: NOW,
    ...extra,
  });
}

const active = (r: ReturnType<typeof row>) =>
  evaluateAlerts(r, thresholds, NOW)
    .filter((c) => c.active)
    .map((c) => c.code);

test('a destination delivering everything is healthy and raises nothing', () => {
  const r = row({ attempts: 100, delivered: 100, deliveredPerMinute: 12, lastDeliveredAt: NOW - 1000 });
  assert.equal(r.state, 'healthy');
  assert.equal(r.successRate, 1);
  assert.deepEqual(active(r), []);
});

test('success under the threshold is degraded; alerts only with enough attempts', () => {
  const r = row({ attempts: 100, delivered: 90, failed: 10 });
  assert.equal(r.state, 'degraded');
  assert.deepEqual(active(r), ['success-rate-low']);
  assert.deepEqual(active(row({ attempts: 10, delivered: 5, failed: 5 })), []);
});

test('paused for auth or gone alerts; an operator pause or Retry-After does not', () => {
  const auth = row({}, { pause: { paused: true, reason: 'auth-rejected', detail: 'HTTP 401' } });
  assert.equal(auth.state, 'paused');
  assert.equal(auth.reason, 'auth-rejected (HTTP 401)');
  assert.deepEqual(active(auth), ['destination-paused']);
  assert.deepEqual(active(row({}, { pause: { paused: true, reason: 'operator' } })), []);
  assert.deepEqual(active(row({}, { pause: { paused: true, reason: 'retry-after', until: NOW + 1 } })), []);
});

test('circuit open alerts only past its threshold', () => {
  const recent = row({ breaker: { state: 'open', since: NOW - 60_000 } });
  assert.equal(recent.state, 'circuit-open');
  assert.deepEqual(active(recent), []);
  assert.deepEqual(active(row({ breaker: { state: 'half-open', since: NOW - 11 * 60_000 } })), [
    'circuit-open',
  ]);
});

test('dead letters in the window alert', () => {
  assert.deepEqual(active(row({ deadLetters: 2 })), ['dead-letters']);
});

test('stalled: events routed after the last delivery, none delivered for the window', () => {
  const stalled = row({ pendingSince: NOW - 16 * 60_000, lastDeliveredAt: NOW - 20 * 60_000 });
  assert.equal(stalled.state, 'degraded');
  assert.deepEqual(active(stalled), ['delivery-stalled']);
  // A router flush landing after the delivery of the same events is not a stall.
  assert.equal(
    isPending(stats({ pendingSince: NOW - 16 * 60_000, lastDeliveredAt: NOW - 15 * 60_000 })),
    false,
  );
  assert.deepEqual(active(row({ pendingSince: NOW - 60_000 })), []);
});

test('old backlog alerts past the threshold, and again past half the retention', () => {
  const old = row({}, { backlog: { lag: 5, oldestAgeMs: 2 * 3_600_000, dlqDepth: 0 } });
  assert.deepEqual(active(old), ['backlog-old']);
  const risky = row({}, { backlog: { lag: 5, oldestAgeMs: 8 * 86_400_000, dlqDepth: 0 } });
  assert.deepEqual(active(risky), ['backlog-old', 'retention-risk']);
});

test('latency quantiles from bucket counts', () => {
  const counts = LATENCY_EDGES_MS.map(() => 0);
  for (const ms of [3, 8, 40, 45, 48, 60, 70, 90, 95, 4000]) counts[latencyBucket(ms)]! += 1;
  const p50 = quantileMs(counts, 0.5) as number;
  assert.ok(p50 > 25 && p50 <= 50, `p50 ${p50}`);
  const p99 = quantileMs(counts, 0.99) as number;
  assert.ok(p99 > 2500 && p99 <= 5000, `p99 ${p99}`);
  assert.equal(
    quantileMs(
      LATENCY_EDGES_MS.map(() => 0),
      0.5,
    ),
    undefined,
  );
  assert.equal(latencyBucket(1e9), LATENCY_EDGES_MS.length - 1);
});
