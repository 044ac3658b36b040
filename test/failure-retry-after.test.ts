// A 429 with Retry-After (DESIGN §5) pauses the whole destination until then: no request of any
// event reaches the receiver before the time it asked for; afterwards the throttled event and
// everything queued behind it are delivered.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { CourierConfig } from '../src/config/schema.ts';
import { topicNames } from '../src/kafka/topics.ts';
import type { PauseState } from '../src/redis/destinationControl.ts';
import { type RunningCourier, startCourier } from './helpers/courier.ts';
import { destinationControl, topicMessageCount } from './helpers/dlq.ts';
import { eventJson } from './helpers/measure.ts';
import { type ReceivedRequest, type Receiver, startReceiver } from './helpers/receiver.ts';
import { produceRaw, provision, testConfig, waitFor } from './helpers/stack.ts';

const DEST = 'throttled';
const RETRY_AFTER_MS = 2000;

const event = (id: string) => eventJson(id, 'order.shipped', {});

const scenarios = [
  {
    name: 'events produced after the throttled one (concurrency 8)',
    concurrency: 8,
    staged: true,
  },
  {
    name: 'events already queued with the throttled one (concurrency 1)',
    concurrency: 1,
    staged: false,
  },
];

for (const scenario of scenarios) {
  describe(`429 Retry-After: ${scenario.name}`, () => {
    const ids = Array.from({ length: 11 }, (_, i) => `evt-ra-${i}`);
    let receiver: Receiver;
    let courier: RunningCourier | undefined;
    let config: CourierConfig;
    let throttled: ReceivedRequest | undefined;
    let sharedState: PauseState | undefined;

    before(async () => {
      let answered = 0;
      receiver = await startReceiver(() => {
        answered += 1;
        return answered === 1
          ? { status: 429, headers: { 'retry-after': String(RETRY_AFTER_MS / 1000) }, body: 'slow down' }
          : { status: 200 };
      });
      config = testConfig([
        {
          id: DEST,
          url: receiver.url,
          concurrency: scenario.concurrency,
          // Retry-After is capped at maxDelayMs (and the largest tier, 5s): room for the 2 s asked.
          retry: { baseDelayMs: 50, maxDelayMs: 5000, maxAttempts: 8, jitter: 0.25 },
        },
      ]);
      await provision(config);
      courier = await startCourier(config);

      const messages = ids.map((id, i) => ({ key: `k${i % 3}`, value: event(id) }));
      if (scenario.staged) {
        // One event first; once it is throttled, more (its key and others) queue behind it.
        await produceRaw(config, messages.slice(0, 1));
        await waitFor(() => receiver.requests.length >= 1, { message: 'the first request' });
        await produceRaw(config, messages.slice(1));
      } else {
        await produceRaw(config, messages);
        await waitFor(() => receiver.requests.length >= 1, { message: 'the first request' });
      }
      throttled = receiver.requests[0];

      // The pause is shared through Redis, so other instances hold off too.
      const { control, redis } = destinationControl(config);
      try {
        await waitFor(
          async () => {
            sharedState = await control.state(DEST);
            return sharedState.paused;
          },
          { timeoutMs: 1500, soft: true },
        );
      } finally {
        redis.disconnect();
      }

      await waitFor(() => new Set(receiver.accepted.map((r) => r.headers['webhook-id'])).size >= ids.length, {
        timeoutMs: 15_000,
        soft: true,
      });
    });

    after(async () => {
      await courier?.stop();
      await receiver.close();
    });

    test('no request reaches the receiver until Retry-After has passed', () => {
      assert.ok(throttled, 'the first request was made');
      const early = receiver.requests.filter((r) => r !== throttled && r.at < throttled!.at + RETRY_AFTER_MS);
      assert.deepEqual(
        early.map((r) => ({ id: r.headers['webhook-id'], afterMs: r.at - throttled!.at })),
        [],
        'requests sent during the Retry-After pause',
      );
    });

    test('the pause is shared through Redis until the time asked for', () => {
      assert.ok(sharedState?.paused, `paused in Redis: ${JSON.stringify(sharedState)}`);
      assert.equal(sharedState.reason, 'retry-after');
      const until = sharedState.until ?? 0;
      assert.ok(until >= throttled!.at + RETRY_AFTER_MS, 'paused at least until Retry-After');
      assert.ok(until <= throttled!.at + RETRY_AFTER_MS + 1000, 'and not much longer');
    });

    test('the throttled event is retried, due no earlier than Retry-After, not dead-lettered', async () => {
      const id = String(throttled?.headers['webhook-id']);
      const first = courier!.attempts.find((a) => a.eventId === id && a.attempt === 1);
      assert.equal(first?.outcome, 'retry');
      assert.equal(first?.status, 429);
      assert.ok(
        Date.parse(first?.nextAttemptAt ?? '') >= throttled!.at + RETRY_AFTER_MS,
        'next attempt due after Retry-After',
      );
      assert.equal(await topicMessageCount(config, [topicNames(config).dlq(DEST)]), 0, 'DLQ is empty');
    });

    test('afterwards the throttled event and every event behind it are delivered once', () => {
      const accepted = receiver.accepted.map((r) => String(r.headers['webhook-id']));
      assert.deepEqual([...accepted].sort(), [...ids].sort(), 'each event accepted exactly once');
    });
  });
}
