// Permanent failures (DESIGN §5): 4xx other than 401/403/408/425/429, 413 and 3xx go to the
// destination's DLQ at once, after one request, with the DESIGN §2 headers. Redirects are not
// followed.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { KafkaMessage } from 'kafkajs';
import type { CourierConfig } from '../src/config/schema.ts';
import { stringHeaders } from '../src/kafka/headers.ts';
import { topicNames } from '../src/kafka/topics.ts';
import { type RunningCourier, startCourier } from './helpers/courier.ts';
import { readDlq, retryTopics, topicMessageCount, waitAllCommitted } from './helpers/dlq.ts';
import { eventJson } from './helpers/measure.ts';
import { type Receiver, startReceiver } from './helpers/receiver.ts';
import { produceRaw, provision, testConfig } from './helpers/stack.ts';

const DEST = 'strict';

interface Case {
  id: string;
  status: number;
  body: string;
  errorClass: string;
  headers?: Record<string, string>;
}

// A 3000-byte body whose every position is recognisable, so a cut at 1024 bytes is visible.
const LONG_BODY = Array.from({ length: 300 }, (_, i) => `<${String(i).padStart(3, '0')}-err>`)
  .join('')
  .slice(0, 3000);

let receiver: Receiver;
let elsewhere: Receiver;
let courier: RunningCourier | undefined;
let config: CourierConfig;
let cases: Case[];
let dlq: KafkaMessage[] = [];
let startedAt = 0;

before(async () => {
  elsewhere = await startReceiver();
  cases = [
    { id: 'evt-400', status: 400, body: LONG_BODY, errorClass: 'permanent' },
    { id: 'evt-404', status: 404, body: '{"error":"no such hook"}', errorClass: 'permanent' },
    { id: 'evt-422', status: 422, body: '{"error":"unprocessable"}', errorClass: 'permanent' },
    {
      id: 'evt-307',
      status: 307,
      body: 'moved',
      errorClass: 'redirect',
      headers: { location: elsewhere.url },
    },
    { id: 'evt-413', status: 413, body: 'payload too large', errorClass: 'too-large' },
  ];
  // The receiver answers each event with the status its data names.
  receiver = await startReceiver((req) => {
    const c = cases.find((x) => x.id === req.json.id);
    return c ? { status: c.status, body: c.body, ...(c.headers ? { headers: c.headers } : {}) } : {};
  });
  config = testConfig([{ id: DEST, url: receiver.url }]);
  await provision(config);
  courier = await startCourier(config);
  startedAt = Date.now();
  await produceRaw(
    config,
    cases.map((c) => ({
      key: c.id,
      value: eventJson(c.id, 'invoice.paid', {}),
    })),
  );
  dlq = await readDlq(config, DEST, cases.length, 20_000);
  // Every message finished and committed: a (wrong) retry would have written its retry record first.
  await waitAllCommitted(config, DEST);
});

after(async () => {
  await courier?.stop();
  await receiver.close();
  await elsewhere.close();
});

function letterFor(id: string): Record<string, string> {
  const found = dlq.find((m) => stringHeaders(m.headers)['courier-event-id'] === id);
  assert.ok(found, `a dead letter for ${id}`);
  return stringHeaders(found.headers);
}

test('each permanently failing event is sent exactly once and never retried', async () => {
  for (const c of cases) {
    const sent = receiver.requests.filter((r) => r.headers['webhook-id'] === c.id);
    assert.equal(sent.length, 1, `${c.id} (${c.status}) was sent once`);
  }
  assert.equal(receiver.requests.length, cases.length, 'no other request reached the receiver');
  assert.equal(courier!.attempts.filter((a) => a.outcome === 'retry').length, 0, 'no retry attempt records');
  assert.equal(await topicMessageCount(config, retryTopics(config)), 0, 'retry topics are empty');
});

test('each lands in the DLQ once, with the error class, status and attempt count', async () => {
  assert.equal(dlq.length, cases.length, 'one dead letter per event');
  assert.equal(await topicMessageCount(config, [topicNames(config).dlq(DEST)]), cases.length, 'DLQ size');
  for (const c of cases) {
    const h = letterFor(c.id);
    assert.equal(h['courier-error-class'], c.errorClass, `${c.id} error class`);
    assert.equal(h['courier-last-status'], String(c.status), `${c.id} last status`);
    assert.equal(h['courier-attempts'], '1', `${c.id} attempts`);
    assert.equal(h['courier-destination'], DEST, `${c.id} destination`);
  }
  for (const c of cases) {
    const record = courier!.attempts.find((a) => a.eventId === c.id);
    assert.equal(record?.outcome, 'dlq', `${c.id} attempt outcome`);
    assert.equal(record?.errorClass, c.errorClass, `${c.id} attempt error class`);
    assert.equal(record?.attempt, 1, `${c.id} attempt number`);
  }
});

test('the dead letter carries the exact body, key and attempt times', () => {
  for (const c of cases) {
    const message = dlq.find((m) => stringHeaders(m.headers)['courier-event-id'] === c.id)!;
    const sent = receiver.requests.find((r) => r.headers['webhook-id'] === c.id)!;
    assert.equal(message.value?.toString('utf8'), sent.body, `${c.id} value is the POSTed body`);
    assert.equal(message.key?.toString('utf8'), c.id, `${c.id} key kept`);
    const h = letterFor(c.id);
    const first = Number(h['courier-first-attempt-at']);
    const last = Number(h['courier-last-attempt-at']);
    assert.ok(Number.isInteger(first) && Number.isInteger(last), `${c.id} times are epoch ms`);
    assert.ok(first >= startedAt, `${c.id} first attempt after the test started`);
    assert.ok(first <= sent.at && sent.at <= last, `${c.id} the request lies between first and last attempt`);
    assert.equal(h['courier-due-at'], undefined, `${c.id} no due-at header`);
  }
});

test('the response snippet is the receiver body, cut to its first 1 KiB', () => {
  for (const c of cases) {
    const snippet = letterFor(c.id)['courier-response-snippet'];
    const expected = Buffer.from(c.body).subarray(0, 1024).toString('utf8');
    assert.equal(snippet, expected, `${c.id} snippet`);
  }
  assert.equal(Buffer.byteLength(letterFor('evt-400')['courier-response-snippet'] ?? ''), 1024);
});

test('a redirect is not followed', () => {
  assert.equal(elsewhere.requests.length, 0, 'the redirect target saw no request');
});
