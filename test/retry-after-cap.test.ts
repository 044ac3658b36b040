// A long Retry-After (or any due time beyond its tier) must not hold other destinations' retries
// (issue 7 item 8). Retry delays are capped at min(retry.maxDelayMs, the largest tier), and the
// delay consumer releases a tier message no later than its Kafka timestamp + the tier's duration,
// so a message can never make its shared tier partition wait longer than the tier allows.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { COURIER_HEADER } from '../src/kafka/headers.ts';
import { topicNames } from '../src/kafka/topics.ts';
import { startCourier } from './helpers/courier.ts';
import { topicMessageCount } from './helpers/dlq.ts';
import { eventJson } from './helpers/measure.ts';
import { startReceiver } from './helpers/receiver.ts';
import { produceRaw, provision, testConfig, waitFor } from './helpers/stack.ts';

const HOUR = 3_600_000;
/** The largest of testConfig's tiers (50ms, 200ms, 1s, 5s). */
const LARGEST_TIER_MS = 5000;
/** One retry partition per tier, so every destination's retries share the parked message's. */
const SHARED_RETRY_PARTITION = { kafka: { partitions: { retry: 1 } } };

const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
});

test("one destination's Retry-After: 7200 does not hold another destination's retries", async () => {
  // A: always 429 with Retry-After: 7200 (two hours).
  const a = await startReceiver(() => ({ status: 429, headers: { 'retry-after': '7200' }, body: 'later' }));
  cleanups.push(() => a.close());
  // B: 503 twice per event, then 200.
  const b = await startReceiver((req) => (req.nth <= 2 ? { status: 503 } : { status: 200 }));
  cleanups.push(() => b.close());
  const config = testConfig(
    [
      {
        id: 'throttled',
        url: a.url,
        eventTypes: ['a.*'],
        retry: { baseDelayMs: 50, maxDelayMs: LARGEST_TIER_MS, maxAttempts: 1000, jitter: 0.25 },
      },
      {
        id: 'flaky',
        url: b.url,
        eventTypes: ['b.*'],
        // Backoff of 2.25–5 s: both retries of each event go through the 5s tier, behind A's.
        retry: { baseDelayMs: 3000, maxDelayMs: LARGEST_TIER_MS, maxAttempts: 10, jitter: 0.25 },
      },
    ],
    SHARED_RETRY_PARTITION,
  );
  await provision(config);
  const courier = await startCourier(config);
  cleanups.push(() => courier.stop());
  const pauses: Array<{ until?: number; at: number }> = [];
  courier.app.events.on('paused', (p) => {
    if (p.destination === 'throttled' && p.reason === 'retry-after') {
      pauses.push({ at: Date.now(), ...(p.until === undefined ? {} : { until: p.until }) });
    }
  });

  // A's event first: once its retry is on the 5s tier, B's events follow.
  await produceRaw(config, [{ key: 'a', value: eventJson('evt-a', 'a.created') }]);
  const ofA = () => courier.attempts.filter((r) => r.destination === 'throttled');
  await waitFor(() => ofA().some((r) => r.outcome === 'retry'), { message: "A's first retry scheduled" });
  const first = ofA()[0];
  assert.equal(first?.status, 429);
  const bIds = Array.from({ length: 5 }, (_, i) => `evt-b-${i}`);
  await produceRaw(
    config,
    bIds.map((id, i) => ({ key: `b${i}`, value: eventJson(id, 'b.created') })),
  );

  // B's events are all delivered on their third attempt (two retries through the 5s tier).
  const finalOfB = (id: string) =>
    courier.attempts.find((r) => r.destination === 'flaky' && r.eventId === id && r.outcome === 'delivered');
  await waitFor(() => bIds.every((id) => finalOfB(id) !== undefined), {
    message: () =>
      `B's events delivered (so far: ${bIds.filter((id) => finalOfB(id)).length} of ${bIds.length})`,
    timeoutMs: 90_000,
  });
  for (const id of bIds) assert.equal(finalOfB(id)?.attempt, 3, `${id} delivered on its third attempt`);
  assert.ok(
    courier.attempts.some((r) => r.destination === 'flaky' && r.outcome === 'retry' && r.attempt === 2),
    "B's second retries went through the tiers too",
  );

  // A is held, not lost: its retry chain keeps going (the parked retry came out of the tier and
  // was attempted again), every delay capped at the largest tier, nothing dead-lettered.
  await waitFor(() => ofA().length >= 2, { message: "A's event attempted again after the cap" });
  for (const r of ofA()) {
    assert.equal(r.outcome, 'retry', `A attempt ${r.attempt}: ${r.outcome}`);
    assert.equal(r.status, 429);
    const waitMs = Date.parse(r.nextAttemptAt ?? '') - Date.parse(r.at);
    assert.ok(waitMs < HOUR / 60, `A's next attempt is capped (due ${waitMs} ms after the attempt)`);
  }
  assert.ok(pauses.length >= 1, 'A was paused for its Retry-After');
  for (const p of pauses) {
    assert.ok((p.until ?? 0) - p.at < HOUR / 60, `A's pause is capped (${(p.until ?? 0) - p.at} ms)`);
  }
  assert.equal(a.accepted.length, 0);
  const names = topicNames(config);
  assert.equal(await topicMessageCount(config, [names.dlq('throttled'), names.dlq('flaky')]), 0, 'no DLQ');
});

test('a tier message due far beyond its tier is forwarded by the tier bound, not its due time', async () => {
  const receiver = await startReceiver(() => ({ status: 200 }));
  cleanups.push(() => receiver.close());
  const config = testConfig([{ id: 'plain', url: receiver.url }], SHARED_RETRY_PARTITION);
  await provision(config);
  const courier = await startCourier(config, { roles: ['retry', 'deliver'] });
  cleanups.push(() => courier.stop());

  // As a retry written before delays were capped would be: due in two hours on the 5s tier,
  // with an ordinary retry (already due) behind it in the same partition.
  const writtenAt = Date.now();
  const retry = (id: string, dueAt: number) => ({
    key: id,
    value: eventJson(id, 'x.created'),
    headers: {
      [COURIER_HEADER.eventId]: id,
      [COURIER_HEADER.eventType]: 'x.created',
      [COURIER_HEADER.destination]: 'plain',
      [COURIER_HEADER.attempt]: '1',
      [COURIER_HEADER.firstAttemptAt]: String(writtenAt),
      [COURIER_HEADER.dueAt]: String(dueAt),
    },
  });
  await produceRaw(
    config,
    [retry('evt-far', writtenAt + 2 * HOUR), retry('evt-behind', writtenAt)],
    topicNames(config).retry('5s'),
  );

  await waitFor(() => receiver.accepted.length >= 2, {
    message: () => `both retries delivered (got ${receiver.accepted.map((r) => r.json.id).join(', ')})`,
    timeoutMs: 90_000,
  });
  const far = receiver.accepted.find((r) => r.json.id === 'evt-far');
  assert.ok(far, 'the far-due message was forwarded');
  assert.ok(far.at - writtenAt >= LARGEST_TIER_MS - 100, 'held until the tier bound');
  // The bound is writtenAt + 5 s; the far due time is two hours away. A minute is headroom.
  assert.ok(far.at - writtenAt < 60_000, `forwarded ${far.at - writtenAt} ms after it was written`);
  assert.deepEqual(receiver.accepted.map((r) => r.json.id).sort(), ['evt-behind', 'evt-far']);
});
