// A destination that fails transiently: it answers 500 to the first two requests of every event,
// then 200. Every event goes through the retry tiers and is delivered exactly once; nothing is
// dead-lettered.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { CourierConfig } from '../src/config/schema.ts';
import { topicNames } from '../src/kafka/topics.ts';
import { type RunningCourier, startCourier } from './helpers/courier.ts';
import { topicMessageCount } from './helpers/dlq.ts';
import { eventJson } from './helpers/measure.ts';
import { type Receiver, startReceiver } from './helpers/receiver.ts';
import { produceRaw, provision, testConfig, waitFor } from './helpers/stack.ts';

const FAILURES = 2;
const N = 30;
const DEST = 'flaky';

let receiver: Receiver;
let courier: RunningCourier | undefined;
let config: CourierConfig;
const ids = Array.from({ length: N }, (_, i) => `evt-5xx-${i}`);

before(async () => {
  receiver = await startReceiver((req) =>
    req.nth <= FAILURES ? { status: 500, body: 'upstream broke' } : { status: 200 },
  );
  config = testConfig([
    {
      id: DEST,
      url: receiver.url,
      concurrency: 8,
      // Two failures in three requests would trip the default breaker; this test is about the
      // retry path, so the breaker is kept out of the way.
      circuitBreaker: { volumeThreshold: 10_000 },
    },
  ]);
  await provision(config);
  courier = await startCourier(config);
  await produceRaw(
    config,
    ids.map((id, i) => ({
      key: `k${i % 5}`,
      value: eventJson(id, 'order.created', { i }),
    })),
  );
  // Let the scenario run to its end; the tests below assert on what happened.
  await waitFor(
    () =>
      receiver.accepted.length >= N &&
      (courier?.attempts.filter((a) => a.outcome === 'delivered').length ?? 0) >= N,
    { timeoutMs: 25_000, soft: true },
  );
});

after(async () => {
  await courier?.stop();
  await receiver.close();
});

test('every event is delivered, each accepted exactly once, after two failed requests', () => {
  const accepted = receiver.accepted.map((r) => String(r.headers['webhook-id']));
  assert.deepEqual([...new Set(accepted)].sort(), [...ids].sort(), 'every event was accepted');
  assert.equal(accepted.length, N, 'no event was accepted twice');
  for (const id of ids) {
    const seen = receiver.requests.filter((r) => r.headers['webhook-id'] === id);
    assert.equal(seen.length, FAILURES + 1, `${id}: two failures and one success`);
    assert.ok(
      seen.every((r) => r.body === seen[0]?.body),
      `${id}: every attempt carried the same body`,
    );
  }
});

test('the attempt log shows retries 1 and 2, then delivery on attempt 3', () => {
  for (const id of ids) {
    const records = courier!.attempts
      .filter((a) => a.eventId === id)
      .sort((a, b) => a.attempt - b.attempt)
      .map((a) => ({ attempt: a.attempt, outcome: a.outcome, status: a.status }));
    assert.deepEqual(
      records,
      [
        { attempt: 1, outcome: 'retry', status: 500 },
        { attempt: 2, outcome: 'retry', status: 500 },
        { attempt: 3, outcome: 'delivered', status: 200 },
      ],
      `attempts of ${id}`,
    );
  }
  // Each retry is due after the failed request and is not sent again before it is due.
  for (const r of courier!.attempts.filter((a) => a.outcome === 'retry')) {
    const dueAt = Date.parse(r.nextAttemptAt ?? '');
    const sent = receiver.requests.filter((q) => q.headers['webhook-id'] === r.eventId);
    const failed = sent.find((q) => q.nth === r.attempt);
    const next = sent.find((q) => q.nth === r.attempt + 1);
    assert.ok(failed && next, `${r.eventId}: requests ${r.attempt} and ${r.attempt + 1}`);
    assert.ok(dueAt > failed.at, `${r.eventId}: attempt ${r.attempt + 1} is due after attempt ${r.attempt}`);
    assert.ok(next.at >= dueAt, `${r.eventId}: attempt ${r.attempt + 1} was not sent before it was due`);
  }
});

test('nothing is dead-lettered', async () => {
  assert.equal(courier!.attempts.filter((a) => a.outcome === 'dlq').length, 0, 'no dlq attempt records');
  assert.equal(await topicMessageCount(config, [topicNames(config).dlq(DEST)]), 0, 'DLQ topic is empty');
});
