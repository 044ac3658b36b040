// The circuit breaker: a destination that always answers 500 trips it; while it is open no
// request is sent (only those already in flight land, counted); after resetTimeoutMs exactly one
// probe goes through, and when that fails it opens again. Once the destination recovers every
// event is delivered. Asserted from counts and the breaker's own transitions, not from timings.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type RunningCourier, startCourier } from './helpers/courier.ts';
import { eventJson } from './helpers/measure.ts';
import { type Receiver, startReceiver } from './helpers/receiver.ts';
import { produceRaw, provision, testConfig, waitFor } from './helpers/stack.ts';

const RESET_MS = 1500;
const CONCURRENCY = 4;

interface Transition {
  kind: 'open' | 'half-open' | 'close';
  at: number;
  /** How many requests the receiver had seen when the transition happened. */
  seen: number;
}

test('an open breaker stops all traffic, lets one probe through when half-open, and recovers', async () => {
  let receiver: Receiver | undefined;
  let courier: RunningCourier | undefined;
  try {
    receiver = await startReceiver(() => ({ status: 500, body: 'down' }));
    const r = receiver;
    const config = testConfig([
      {
        id: 'flaky',
        url: r.url,
        concurrency: CONCURRENCY,
        circuitBreaker: { volumeThreshold: 5, errorThresholdPercentage: 50, resetTimeoutMs: RESET_MS },
        // Enough budget that nothing is dead-lettered while the breaker cycles.
        retry: { baseDelayMs: 50, maxDelayMs: 400, maxAttempts: 200, jitter: 0.25 },
      },
    ]);
    await provision(config);
    courier = await startCourier(config);
    const c = courier;

    const transitions: Transition[] = [];
    const note = (kind: Transition['kind']) => () =>
      transitions.push({ kind, at: Date.now(), seen: r.requests.length });
    c.app.events.on('breaker-open', note('open'));
    c.app.events.on('breaker-half-open', note('half-open'));
    c.app.events.on('breaker-close', note('close'));

    const ids = Array.from({ length: 30 }, (_, i) => `evt-cb-${i}`);
    await produceRaw(
      config,
      ids.map((id, i) => ({ key: `k${i % 6}`, value: eventJson(id) })),
    );

    // open → half-open → (probe fails) → open again.
    const kinds = () => transitions.map((t) => t.kind).join(',');
    await waitFor(() => kinds().startsWith('open,half-open,open'), {
      message: `breaker open, half-open, open again (saw: ${kinds()})`,
      timeoutMs: 20_000,
    });
    const [open1, half1, open2] = transitions as [Transition, Transition, Transition];

    // While open: only requests already in flight when it opened may still land (counted), and
    // none is sent until it turns half-open, no earlier than resetTimeoutMs (a lower bound, which
    // a busy machine cannot break).
    assert.ok(
      half1.at - open1.at >= RESET_MS - 5,
      `half-open only after resetTimeoutMs (${half1.at - open1.at} ms)`,
    );
    const whileOpen = r.requests.slice(open1.seen, half1.seen);
    assert.ok(
      whileOpen.length <= CONCURRENCY - 1,
      `at most the ${CONCURRENCY - 1} requests in flight at opening land while open; got ${whileOpen.length}`,
    );
    // Attempt records carry the time each request was sent: none was sent while open.
    const sentWhileOpen = c.attempts.filter((a) => {
      const sentAt = Date.parse(a.at);
      return a.outcome !== 'duplicate-skipped' && sentAt > open1.at && sentAt < half1.at;
    });
    assert.deepEqual(
      sentWhileOpen.map(
        (a) => `${a.eventId}#${a.attempt} sent ${Date.parse(a.at) - open1.at} ms after opening`,
      ),
      [],
      'requests sent while the breaker was open',
    );

    // Half-open: exactly one probe, then the breaker opens again.
    assert.equal(open2.seen - half1.seen, 1, 'exactly one probe request while half-open');

    // Recover: the next probe succeeds, the breaker closes, everything is delivered.
    r.setBehaviour(() => ({ status: 200 }));
    await waitFor(() => transitions.some((t) => t.kind === 'close'), {
      message: 'breaker closes after a successful probe',
      timeoutMs: 10_000,
    });
    const reopenedAt = open2.at;
    const nextHalf = transitions.find((t) => t.kind === 'half-open' && t.at > reopenedAt);
    assert.ok(nextHalf, 'half-open again before closing');
    assert.equal(
      r.requests.slice(open2.seen, nextHalf.seen).length,
      0,
      'no request at all during the second open period',
    );
    assert.ok(nextHalf.at - reopenedAt >= RESET_MS - 5, 'the second open period lasted resetTimeoutMs');

    const acceptedIds = () => new Set(r.accepted.map((q) => q.json.id));
    await waitFor(() => ids.every((id) => acceptedIds().has(id)), {
      message: 'every event delivered after recovery',
      timeoutMs: 20_000,
    });
    assert.equal(r.accepted.length, ids.length, 'each event accepted once');
    assert.equal(c.attempts.filter((a) => a.outcome === 'dlq').length, 0, 'nothing dead-lettered');
  } finally {
    await courier?.stop();
    await receiver?.close();
  }
});
