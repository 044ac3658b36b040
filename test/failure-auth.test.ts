// Responses only a human can fix (DESIGN §5): a 401 (auth-rejected), a 403 (forbidden) or a 410
// (gone, Standard Webhooks: disable the endpoint) pauses the whole destination (state in Redis),
// raises an alert and keeps the message — no retry, no dead letter. Once the receiver accepts again and
// an operator resumes the destination, every event is delivered exactly once.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { CourierConfig } from '../src/config/schema.ts';
import { topicNames } from '../src/kafka/topics.ts';
import type { CourierRedis } from '../src/redis/client.ts';
import type { DestinationControl } from '../src/redis/destinationControl.ts';
import { type RunningCourier, startCourier } from './helpers/courier.ts';
import { destinationControl, retryTopics, topicMessageCount } from './helpers/dlq.ts';
import { eventJson } from './helpers/measure.ts';
import { type Receiver, startReceiver } from './helpers/receiver.ts';
import { produceRaw, provision, testConfig, waitFor } from './helpers/stack.ts';

const DEST = 'locked';
const N = 12;
const CONCURRENCY = 4;

for (const [status, reason] of [
  [401, 'auth-rejected'],
  [403, 'forbidden'],
  [410, 'gone'],
] as const) {
  describe(`a destination answering ${status}`, () => {
    let receiver: Receiver;
    let courier: RunningCourier | undefined;
    let config: CourierConfig;
    let control: DestinationControl;
    let redis: CourierRedis;
    const ids = Array.from({ length: N }, (_, i) => `evt-${status}-${i}`);

    before(async () => {
      receiver = await startReceiver(() => ({ status, body: 'bad credentials' }));
      config = testConfig([{ id: DEST, url: receiver.url, concurrency: CONCURRENCY }]);
      await provision(config);
      ({ control, redis } = destinationControl(config));
      courier = await startCourier(config);
      await produceRaw(
        config,
        ids.map((id, i) => ({
          key: `k${i % 4}`,
          value: eventJson(id, 'user.created', { i }),
        })),
      );
    });

    after(async () => {
      await courier?.stop();
      await receiver.close();
      redis.disconnect();
    });

    test(`pauses the destination in Redis with reason ${reason} and raises an alert`, async () => {
      await waitFor(() => courier!.attempts.some((a) => a.alert === 'destination-paused'), {
        message: 'an auth alert',
        timeoutMs: 10_000,
      });
      const alert = courier!.attempts.find((a) => a.alert === 'destination-paused')!;
      assert.equal(alert.outcome, 'paused');
      assert.equal(alert.pauseReason, reason);
      assert.equal(alert.status, status);
      assert.equal(alert.destination, DEST);
      await waitFor(async () => (await control.state(DEST)).paused, {
        message: 'paused state in Redis',
        timeoutMs: 5000,
      });
      const state = await control.state(DEST);
      assert.equal(state.paused && state.reason, reason, `paused because of ${reason}`);
      assert.equal(alert.authCase, { 401: 'rejected', 403: 'forbidden', 410: undefined }[status]);
    });

    test('while paused: no further request, no retry, no dead letter', async () => {
      // Every request that went out before the pause took hold was answered and recorded.
      await waitFor(
        () => courier!.attempts.filter((a) => a.outcome === 'paused').length >= receiver.requests.length,
        { message: 'attempt records for every request', timeoutMs: 5000 },
      );
      const sent = receiver.requests.length;
      assert.ok(sent >= 1 && sent <= CONCURRENCY, `at most one request per concurrency slot (${sent})`);
      await waitFor(() => receiver.requests.length > sent, { timeoutMs: 1500, soft: true });
      assert.equal(receiver.requests.length, sent, 'no request while paused');
      assert.equal(courier!.attempts.filter((a) => a.outcome === 'retry').length, 0, 'no retry scheduled');
      assert.equal(
        courier!.attempts.filter((a) => a.alert).length,
        1,
        'one alert, however many were in flight',
      );
      assert.equal(
        courier!.attempts.filter((a) => a.alert).length,
        1,
        'one alert, however many were in flight',
      );
      assert.equal(courier!.attempts.filter((a) => a.outcome === 'dlq').length, 0, 'nothing dead-lettered');
      assert.equal(await topicMessageCount(config, retryTopics(config)), 0, 'retry topics are empty');
      assert.equal(await topicMessageCount(config, [topicNames(config).dlq(DEST)]), 0, 'DLQ is empty');
      assert.equal((await control.state(DEST)).paused, true, 'still paused');
    });

    test('after the receiver is fixed and the destination resumed, every event arrives exactly once', async () => {
      receiver.setBehaviour(() => ({ status: 200 }));
      assert.equal(await control.resume(DEST), true, 'resume cleared a pause');
      await waitFor(() => new Set(receiver.accepted.map((r) => r.headers['webhook-id'])).size >= N, {
        message: 'every event accepted after resume',
        timeoutMs: 15_000,
      });
      await waitFor(() => courier!.attempts.filter((a) => a.outcome === 'delivered').length >= N, {
        message: 'delivered attempt records',
      });
      // A late duplicate would show up within this window.
      await waitFor(() => receiver.accepted.length > N, { timeoutMs: 1000, soft: true });
      const accepted = receiver.accepted.map((r) => String(r.headers['webhook-id']));
      assert.deepEqual([...accepted].sort(), [...ids].sort(), 'each event accepted exactly once');
      assert.equal(courier!.attempts.filter((a) => a.outcome === 'retry').length, 0, 'still no retry');
      assert.equal(await topicMessageCount(config, [topicNames(config).dlq(DEST)]), 0, 'DLQ still empty');
      assert.equal((await control.state(DEST)).paused, false, 'no longer paused');
    });
  });
}
