// A destination that always fails transiently: once the retry budget (maxAttempts 3) is spent,
// the event goes to the DLQ as exhausted, after exactly three requests.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { KafkaMessage } from 'kafkajs';
import type { CourierConfig } from '../src/config/schema.ts';
import { stringHeaders } from '../src/kafka/headers.ts';
import { topicNames } from '../src/kafka/topics.ts';
import { type RunningCourier, startCourier } from './helpers/courier.ts';
import { readDlq, topicMessageCount } from './helpers/dlq.ts';
import { eventJson } from './helpers/measure.ts';
import { type Receiver, startReceiver } from './helpers/receiver.ts';
import { produceRaw, provision, testConfig, waitFor } from './helpers/stack.ts';

const DEST = 'broken';
const MAX_ATTEMPTS = 3;
const IDS = ['evt-ex-0', 'evt-ex-1', 'evt-ex-2'];

let receiver: Receiver;
let courier: RunningCourier | undefined;
let config: CourierConfig;
let dlq: KafkaMessage[] = [];
let startedAt = 0;

before(async () => {
  receiver = await startReceiver(() => ({ status: 500, body: 'still broken' }));
  config = testConfig([
    {
      id: DEST,
      url: receiver.url,
      retry: { maxAttempts: MAX_ATTEMPTS, baseDelayMs: 50, maxDelayMs: 400, jitter: 0.25 },
    },
  ]);
  await provision(config);
  courier = await startCourier(config);
  startedAt = Date.now();
  await produceRaw(
    config,
    IDS.map((id) => ({
      key: id,
      value: eventJson(id, 'payment.failed', {}),
    })),
  );
  dlq = await readDlq(config, DEST, IDS.length, 20_000);
  // A fourth attempt, if one were (wrongly) made, would come within this window.
  await waitFor(() => receiver.requests.length > IDS.length * MAX_ATTEMPTS, { timeoutMs: 1500, soft: true });
});

after(async () => {
  await courier?.stop();
  await receiver.close();
});

test('the receiver sees exactly maxAttempts requests per event', () => {
  for (const id of IDS) {
    const sent = receiver.requests.filter((r) => r.headers['webhook-id'] === id);
    assert.equal(sent.length, MAX_ATTEMPTS, `${id} requests`);
  }
});

test('each event lands in the DLQ once as exhausted after 3 attempts', async () => {
  assert.equal(dlq.length, IDS.length, 'one dead letter per event');
  assert.equal(await topicMessageCount(config, [topicNames(config).dlq(DEST)]), IDS.length, 'DLQ size');
  for (const id of IDS) {
    const letters = dlq.filter((m) => stringHeaders(m.headers)['courier-event-id'] === id);
    assert.equal(letters.length, 1, `${id} dead-lettered once`);
    const h = stringHeaders(letters[0]!.headers);
    assert.equal(h['courier-error-class'], 'exhausted', `${id} error class`);
    assert.equal(h['courier-attempts'], String(MAX_ATTEMPTS), `${id} attempts`);
    assert.equal(h['courier-attempt'], undefined, `${id} carries no stale per-retry attempt header`);
    assert.equal(h['courier-due-at'], undefined, `${id} carries no retry due time`);
    assert.equal(h['courier-last-status'], '500', `${id} last status`);
    assert.equal(h['courier-destination'], DEST, `${id} destination`);
    assert.equal(h['courier-response-snippet'], 'still broken', `${id} snippet`);
    assert.equal(h['courier-due-at'], undefined, `${id} no due-at header`);
  }
});

test('the dead letter spans the first to the last attempt', () => {
  for (const id of IDS) {
    const h = stringHeaders(dlq.find((m) => stringHeaders(m.headers)['courier-event-id'] === id)!.headers);
    const sent = receiver.requests.filter((r) => r.headers['webhook-id'] === id);
    const first = Number(h['courier-first-attempt-at']);
    const last = Number(h['courier-last-attempt-at']);
    assert.ok(first >= startedAt && first <= sent[0]!.at, `${id} first attempt at the first request`);
    assert.ok(last >= sent[sent.length - 1]!.at, `${id} last attempt at or after the last request`);
  }
});

test('the attempt log shows retries 1 and 2, then dlq exhausted on attempt 3', () => {
  for (const id of IDS) {
    const records = courier!.attempts
      .filter((a) => a.eventId === id)
      .sort((a, b) => a.attempt - b.attempt)
      .map((a) => ({ attempt: a.attempt, outcome: a.outcome, errorClass: a.errorClass }));
    assert.deepEqual(
      records,
      [
        { attempt: 1, outcome: 'retry', errorClass: undefined },
        { attempt: 2, outcome: 'retry', errorClass: undefined },
        { attempt: 3, outcome: 'dlq', errorClass: 'exhausted' },
      ],
      `attempts of ${id}`,
    );
  }
});
