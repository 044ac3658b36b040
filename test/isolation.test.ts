// Isolation: a destination whose every answer comes after its timeout must not hold up a healthy
// one. With the slow destination busy failing (a backlog of its own events, every request timing
// out and retried), batches of events for the healthy destination are delivered one after the
// other — each on its first attempt — and all of them while the slow destination is still timing
// out (a slow attempt sent after the last healthy delivery). These are definite signals, not
// timings; the latency figures are printed for information and measured by the benchmark.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type RunningCourier, startCourier } from './helpers/courier.ts';
import { eventJson, median, openProducer } from './helpers/measure.ts';
import { type Receiver, startReceiver } from './helpers/receiver.ts';
import { provision, type TestDestination, testConfig, waitFor } from './helpers/stack.ts';

const ROUNDS = 30;
const PER_ROUND = 10;
const BACKLOG = 200;

test('a slow destination does not hold up a healthy one', async () => {
  const receivers: Receiver[] = [];
  let courier: RunningCourier | undefined;
  try {
    const healthy = await startReceiver(() => ({ status: 200 }));
    receivers.push(healthy);
    // Every answer comes long after the slow destination's 300 ms timeout.
    const slow = await startReceiver(() => ({ status: 200, delayMs: 1500 }));
    receivers.push(slow);

    const healthyDest: TestDestination = {
      id: 'healthy',
      url: healthy.url,
      concurrency: 8,
      eventTypes: ['contact.*'],
    };
    const slowDest: TestDestination = {
      id: 'slow',
      eventTypes: ['*'],
      url: slow.url,
      timeoutMs: 300,
      concurrency: 16,
      // Keep it failing (no breaker rest, no early dead-lettering) for the whole test.
      retry: { baseDelayMs: 50, maxDelayMs: 400, maxAttempts: 1000, jitter: 0.25 },
      circuitBreaker: { volumeThreshold: 100_000, errorThresholdPercentage: 100, resetTimeoutMs: 1000 },
    };
    const config = testConfig([healthyDest, slowDest]);
    await provision(config);
    const c = await startCourier(config);
    courier = c;
    const delivered = (id: string) =>
      c.attempts.find((a) => a.destination === 'healthy' && a.eventId === id && a.outcome === 'delivered');
    const slowTimeouts = () =>
      c.attempts.filter((a) => a.destination === 'slow' && a.errorCode === 'TIMEOUT');

    const producer = await openProducer(config);
    const healthyIds: string[] = [];
    const latencies: number[] = [];
    try {
      const warm = 'warmup';
      await producer.send([{ key: warm, value: eventJson(warm) }]);
      await waitFor(() => delivered(warm) !== undefined, { message: 'warm-up delivered', timeoutMs: 30_000 });
      await producer.send(
        Array.from({ length: BACKLOG }, (_, i) => ({
          key: `noise-${i % 20}`,
          value: eventJson(`noise-${i}`, 'noise.tick'),
        })),
      );
      // The slow destination is busy: its requests hang and time out, and retries are flowing.
      await waitFor(() => slowTimeouts().length >= 16, {
        message: 'slow destination timing out',
        timeoutMs: 30_000,
      });

      for (let round = 0; round < ROUNDS; round++) {
        const ids = Array.from({ length: PER_ROUND }, (_, i) => `r${round}-e${i}`);
        healthyIds.push(...ids);
        const producedAt = Date.now();
        await producer.send(ids.map((id, i) => ({ key: `k${i}`, value: eventJson(id) })));
        await waitFor(() => ids.every((id) => delivered(id) !== undefined), {
          message: () =>
            `round ${round} delivered (${ids.filter((id) => delivered(id)).length} of ${PER_ROUND})`,
          timeoutMs: 60_000,
        });
        for (const id of ids) {
          latencies.push((healthy.requests.find((q) => q.json.id === id)?.at ?? Number.NaN) - producedAt);
        }
      }
    } finally {
      await producer.close();
    }

    // Every healthy event was delivered, none dead-lettered; had the slow destination's trouble
    // (its backlog, timeouts and retries) held the healthy one up, the rounds above would not
    // have completed while it was still failing (checked next).
    const healthyRecords = c.attempts.filter(
      (a) => a.destination === 'healthy' && healthyIds.includes(a.eventId),
    );
    const finals = healthyIds.map((id) => delivered(id));
    assert.ok(finals.every((r) => r !== undefined));
    assert.equal(healthyRecords.filter((r) => r.outcome === 'dlq').length, 0, 'nothing dead-lettered');
    const retried = healthyRecords.filter((r) => r.outcome !== 'delivered').length;

    // ... while the slow destination kept failing: it timed out during the healthy rounds, and
    // still does after the last healthy delivery.
    const deliveredAt = finals.map((r) => Date.parse(r?.at ?? ''));
    const firstHealthy = Math.min(...deliveredAt);
    const lastHealthy = Math.max(...deliveredAt);
    const during = slowTimeouts().filter(
      (a) => Date.parse(a.at) >= firstHealthy && Date.parse(a.at) <= lastHealthy,
    );
    assert.ok(
      during.length >= PER_ROUND,
      `the slow destination timed out during the rounds (${during.length})`,
    );
    await waitFor(() => slowTimeouts().some((a) => Date.parse(a.at) > lastHealthy), {
      message: 'a slow attempt sent after the last healthy delivery',
      timeoutMs: 30_000,
    });
    console.log(
      `isolation: healthy median latency ${median(latencies)} ms over ${latencies.length} events ` +
        `with the slow destination failing (${during.length} timeouts meanwhile, ${retried} healthy ` +
        'attempts not delivered at once); figures only, see bench',
    );
  } finally {
    await courier?.stop();
    for (const r of receivers) await r.close();
  }
});
