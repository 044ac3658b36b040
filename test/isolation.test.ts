// Isolation: a destination whose every answer comes after its timeout must not slow a healthy
// one. The healthy destination's median delivery latency (arrival at the receiver minus the
// time the batch was produced) is measured alone, then with the slow destination subscribed
// to the same events and busy failing; the ratio must stay small.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type RunningCourier, startCourier } from './helpers/courier.ts';
import { eventJson, median, openProducer } from './helpers/measure.ts';
import { type Receiver, startReceiver } from './helpers/receiver.ts';
import { provision, type TestDestination, testConfig, waitFor } from './helpers/stack.ts';

const ROUNDS = 30;
const PER_ROUND = 10;
const BACKLOG = 200;
const MAX_RATIO = 3;

/**
 * Latencies of the healthy destination over ROUNDS batches, after a warm-up event and a backlog
 * of `noise.tick` events that only the slow destination (if there is one) subscribes to.
 */
async function measure(
  label: string,
  healthy: Receiver,
  destinations: TestDestination[],
  before?: (c: RunningCourier) => Promise<void>,
): Promise<{ latencies: number[]; courier: RunningCourier; startedAt: number; endedAt: number }> {
  const config = testConfig(destinations);
  await provision(config);
  const courier = await startCourier(config);
  const producer = await openProducer(config);
  try {
    const arrived = (id: string) => healthy.requests.find((q) => q.json.id === id);
    const warm = `${label}-warmup`;
    await producer.send([{ key: warm, value: eventJson(warm) }]);
    await waitFor(() => arrived(warm) !== undefined, { message: `${label} warm-up`, timeoutMs: 20_000 });
    await producer.send(
      Array.from({ length: BACKLOG }, (_, i) => ({
        key: `noise-${i % 20}`,
        value: eventJson(`${label}-noise-${i}`, 'noise.tick'),
      })),
    );
    await before?.(courier);

    const startedAt = Date.now();
    const latencies: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const ids = Array.from({ length: PER_ROUND }, (_, i) => `${label}-r${round}-e${i}`);
      const producedAt = Date.now();
      await producer.send(ids.map((id, i) => ({ key: `k${i}`, value: eventJson(id) })));
      await waitFor(() => ids.every((id) => arrived(id) !== undefined), {
        message: `${label} round ${round}`,
        timeoutMs: 15_000,
      });
      for (const id of ids) latencies.push((arrived(id)?.at ?? Number.NaN) - producedAt);
    }
    return { latencies, courier, startedAt, endedAt: Date.now() };
  } catch (err) {
    await courier.stop();
    throw err;
  } finally {
    await producer.close();
  }
}

test('a slow destination does not slow a healthy one', async () => {
  const receivers: Receiver[] = [];
  const couriers: RunningCourier[] = [];
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
      // Keep it failing (no breaker rest, no early dead-lettering) for the whole measurement.
      retry: { baseDelayMs: 50, maxDelayMs: 400, maxAttempts: 1000, jitter: 0.25 },
      circuitBreaker: { volumeThreshold: 100_000, errorThresholdPercentage: 100, resetTimeoutMs: 1000 },
    };

    const alone = await measure('alone', healthy, [healthyDest]);
    couriers.push(alone.courier);
    await alone.courier.stop();

    const shared = await measure('shared', healthy, [healthyDest, slowDest], async (c) => {
      // The slow destination is busy: its requests hang and time out, and retries are flowing.
      await waitFor(
        () => c.attempts.filter((a) => a.destination === 'slow' && a.errorCode === 'TIMEOUT').length >= 16,
        {
          message: 'slow destination timing out',
          timeoutMs: 15_000,
        },
      );
    });
    couriers.push(shared.courier);

    // Timeouts of the slow destination while the healthy one was being measured.
    const slowTimeouts = shared.courier.attempts.filter((a) => {
      const at = Date.parse(a.at);
      return (
        a.destination === 'slow' &&
        a.errorCode === 'TIMEOUT' &&
        at >= shared.startedAt &&
        at <= shared.endedAt
      );
    }).length;
    await shared.courier.stop();

    const medianAlone = median(alone.latencies);
    const medianShared = median(shared.latencies);
    const ratio = medianShared / medianAlone;
    const detail = `median alone ${medianAlone} ms, with the slow destination ${medianShared} ms, ratio ${ratio.toFixed(2)}`;
    console.log(`isolation: ${detail}; slow destination timeouts while measuring: ${slowTimeouts}`);

    assert.ok(
      slowTimeouts >= PER_ROUND,
      `the slow destination was really failing (${slowTimeouts} timeouts)`,
    );
    assert.ok(slow.requests.length >= PER_ROUND, 'the slow destination was really being called');
    assert.ok(ratio < MAX_RATIO, `healthy latency must not grow ${MAX_RATIO}x: ${detail}`);
  } finally {
    for (const c of couriers) await c.stop();
    for (const r of receivers) await r.close();
  }
});
