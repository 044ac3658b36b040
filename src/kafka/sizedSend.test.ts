import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Message } from 'kafkajs';
import { estimateRecordBytes, fitsAlone, planSends } from './sizedSend.ts';

const LIMIT = 10_000;
const msg = (id: number, valueBytes: number): Message => ({
  key: `k${id}`,
  value: 'x'.repeat(valueBytes),
  headers: { 'courier-event-id': `e${id}` },
});

test('the estimate counts key, value, header names and values, and overhead', () => {
  const m = msg(1, 100);
  const exact = 2 + 100 + 'courier-event-id'.length + 2;
  assert.ok(estimateRecordBytes(m) > exact);
  assert.ok(estimateRecordBytes(m) < exact + 100);
  assert.equal(estimateRecordBytes({ key: null, value: null }) > 0, true);
  assert.ok(
    estimateRecordBytes({ value: 'é' }) > estimateRecordBytes({ value: 'e' }),
    'bytes, not characters',
  );
  assert.ok(
    estimateRecordBytes({ value: 'a', headers: { h: ['x'.repeat(50), Buffer.alloc(50)] } }) > 100,
    'every value of a multi-valued header counts',
  );
});

test('one request per topic stays within the fill ratio of the limit, order kept', () => {
  const entries = Array.from({ length: 200 }, (_, i) => ({ topic: 'a', message: msg(i, 200) }));
  const plan = planSends(entries, () => LIMIT, { fillRatio: 0.8 });
  assert.equal(plan.tooLarge.length, 0);
  assert.ok(plan.requests.length > 1);
  const flat = plan.requests.flatMap((r) => r.flatMap((t) => t.messages));
  assert.deepEqual(
    flat.map((m) => m.key),
    entries.map((e) => e.message.key),
    'every record once, in order',
  );
  for (const request of plan.requests) {
    for (const t of request) {
      const bytes = t.messages.reduce((n, m) => n + estimateRecordBytes(m), 0);
      assert.ok(bytes <= LIMIT * 0.8, `request of ${bytes} bytes`);
    }
  }
});

test('several topics share a request, each within its own limit', () => {
  const entries = [
    ...Array.from({ length: 50 }, (_, i) => ({ topic: 'small', message: msg(i, 300) })),
    ...Array.from({ length: 50 }, (_, i) => ({ topic: 'big', message: msg(i, 300) })),
  ];
  const plan = planSends(entries, (t) => (t === 'small' ? 2_000 : 100_000));
  assert.equal(plan.requests[0]?.length, 2, 'first request carries both topics');
  for (const request of plan.requests) {
    for (const t of request) {
      const bytes = t.messages.reduce((n, m) => n + estimateRecordBytes(m), 0);
      assert.ok(bytes <= (t.topic === 'small' ? 2_000 : 100_000));
    }
  }
  const big = plan.requests.flatMap((r) => r.filter((t) => t.topic === 'big'));
  assert.equal(big.length, 1, 'the big topic needs one request');
});

test('a record over the budget but inside the limit goes alone; one over the limit is handed back', () => {
  const entries = [
    { topic: 'a', message: msg(1, 10) },
    { topic: 'a', message: msg(2, 9_000) },
    { topic: 'a', message: msg(3, 20_000) },
    { topic: 'a', message: msg(4, 10) },
  ];
  const plan = planSends(entries, () => LIMIT);
  assert.deepEqual(
    plan.requests.map((r) => r.flatMap((t) => t.messages.map((m) => m.key))),
    [['k1'], ['k2'], ['k4']],
  );
  assert.equal(plan.tooLarge.length, 1);
  assert.equal(plan.tooLarge[0]?.message.key, 'k3');
  assert.equal(plan.tooLarge[0]?.limitBytes, LIMIT);
  assert.equal(fitsAlone(msg(2, 9_000), LIMIT), true);
  assert.equal(fitsAlone(msg(3, 20_000), LIMIT), false);
});

test('nothing to send is no request', () => {
  assert.deepEqual(
    planSends([], () => LIMIT),
    { requests: [], tooLarge: [] },
  );
});
