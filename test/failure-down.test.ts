// A destination that is down (connection refused) and then comes back on the same port:
// every event arrives after recovery, each accepted exactly once, and the catch-up flood is
// held to the destination's rate limit.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type RunningCourier, startCourier } from './helpers/courier.ts';
import { eventJson, freePort, maxInWindow } from './helpers/measure.ts';
import { type Receiver, startReceiver } from './helpers/receiver.ts';
import { produceRaw, provision, testConfig, waitFor } from './helpers/stack.ts';

const RATE = { perSecond: 20, burst: 5 };

test('a destination that was down gets everything once after recovery, within its rate limit', async () => {
  let receiver: Receiver | undefined;
  let courier: RunningCourier | undefined;
  try {
    const port = await freePort();
    const config = testConfig([
      {
        id: 'down',
        url: `http://127.0.0.1:${port}/hook`,
        concurrency: 8,
        rateLimit: RATE,
        // Enough budget to outlast the outage; a breaker that probes again soon.
        retry: { baseDelayMs: 100, maxDelayMs: 800, maxAttempts: 100, jitter: 0.25 },
        circuitBreaker: { volumeThreshold: 10, errorThresholdPercentage: 50, resetTimeoutMs: 1000 },
      },
    ]);
    await provision(config);
    courier = await startCourier(config);
    const c = courier;

    const ids = Array.from({ length: 40 }, (_, i) => `evt-down-${i}`);
    await produceRaw(
      config,
      ids.map((id, i) => ({ key: `k${i % 5}`, value: eventJson(id) })),
    );

    const refused = () => c.attempts.filter((a) => a.errorCode === 'CONNECTION_REFUSED');
    await waitFor(() => refused().length >= 5, { message: 'failed attempts while down', timeoutMs: 15_000 });
    assert.ok(
      refused().every((a) => a.outcome === 'retry'),
      'connection refused is transient: retried, not dead-lettered',
    );

    receiver = await startReceiver(() => ({ status: 200 }), port);
    const r = receiver;
    const acceptedIds = () => new Set(r.accepted.map((q) => q.json.id));
    await waitFor(() => ids.every((id) => acceptedIds().has(id)), {
      message: 'every event delivered after recovery',
      timeoutMs: 30_000,
    });
    // A bounded window for stray duplicates to show up.
    await waitFor(() => r.accepted.length > ids.length, { timeoutMs: 1500, soft: true });

    const counts = new Map<string, number>();
    for (const q of r.accepted) counts.set(q.json.id, (counts.get(q.json.id) ?? 0) + 1);
    for (const id of ids) assert.equal(counts.get(id), 1, `${id} accepted exactly once`);
    assert.equal(r.accepted.length, ids.length, 'no extra deliveries');

    const busiest = maxInWindow(
      r.requests.map((q) => q.at),
      1000,
    );
    assert.ok(
      busiest <= RATE.perSecond + RATE.burst,
      `at most perSecond + burst = ${RATE.perSecond + RATE.burst} requests in any second; saw ${busiest}`,
    );
    assert.equal(
      c.attempts.filter((a) => a.outcome === 'dlq').length,
      0,
      'nothing was dead-lettered by the outage',
    );
  } finally {
    await courier?.stop();
    await receiver?.close();
  }
});
