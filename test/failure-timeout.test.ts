// Timeout ambiguity: the receiver processes the first request of an event but answers only
// after the destination's timeout. Courier must retry with the same webhook-id, stop as soon
// as one attempt succeeded, and log TIMEOUT then delivered.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type RunningCourier, startCourier } from './helpers/courier.ts';
import { eventJson } from './helpers/measure.ts';
import { type Receiver, startReceiver } from './helpers/receiver.ts';
import { produceRaw, provision, testConfig, waitFor } from './helpers/stack.ts';

const TIMEOUT_MS = 300;

test('a timed-out attempt is retried with the same webhook-id and never sent again after success', async () => {
  let receiver: Receiver | undefined;
  let courier: RunningCourier | undefined;
  try {
    // First request of each event: processed, but the answer comes long after the timeout.
    receiver = await startReceiver((req) =>
      req.nth === 1 ? { status: 200, delayMs: 1000 } : { status: 200 },
    );
    const config = testConfig([{ id: 'slowack', url: receiver.url, timeoutMs: TIMEOUT_MS, concurrency: 4 }]);
    await provision(config);
    courier = await startCourier(config);
    const c = courier;
    const r = receiver;

    const ids = ['evt-t1', 'evt-t2', 'evt-t3'];
    await produceRaw(
      config,
      ids.map((id) => ({ key: id, value: eventJson(id) })),
    );

    const deliveredIds = () =>
      new Set(c.attempts.filter((a) => a.outcome === 'delivered').map((a) => a.eventId));
    await waitFor(() => ids.every((id) => deliveredIds().has(id)), {
      message: 'every event delivered',
      timeoutMs: 20_000,
    });

    // A bounded window after delivery: nothing more may arrive (soft wait, then assert).
    await waitFor(() => r.requests.length > ids.length * 2, { timeoutMs: 2500, soft: true });

    for (const id of ids) {
      const got = r.requests.filter((q) => q.json.id === id);
      assert.equal(got.length, 2, `${id}: the timed-out request and one retry, no third request`);
      assert.equal(got[0]?.headers['webhook-id'], id, `${id}: first request carries the event id`);
      assert.equal(got[1]?.headers['webhook-id'], id, `${id}: the retry carries the same webhook-id`);
      assert.deepEqual(
        got.map((q) => q.nth),
        [1, 2],
      );
      assert.equal(got[0]?.body, got[1]?.body, `${id}: the retry sends the same body`);

      const log = c.attempts.filter((a) => a.eventId === id);
      assert.deepEqual(
        log.map((a) => [a.attempt, a.outcome, a.errorCode]),
        [
          [1, 'retry', 'TIMEOUT'],
          [2, 'delivered', undefined],
        ],
        `${id}: attempt log is TIMEOUT then delivered`,
      );
      assert.equal(log[0]?.status, undefined, 'a timeout has no HTTP status');
      assert.ok(
        (log[0]?.latencyMs ?? 0) >= TIMEOUT_MS - 20 && (log[0]?.latencyMs ?? 0) < 1000,
        `${id}: the timed-out attempt gave up at the timeout, not at the late answer (${log[0]?.latencyMs} ms)`,
      );
    }
  } finally {
    await courier?.stop();
    await receiver?.close();
  }
});
