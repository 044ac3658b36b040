import assert from 'node:assert/strict';
import { test } from 'node:test';
import { replayHeaders } from './replay.ts';

// A dead letter as the DLQ writer leaves it, with a producer's own headers and, as an attacker
// or an older Courier could leave them, courier-* headers replay must not carry onward.
const deadLetter = {
  traceparent: '00-abc-def-01',
  'x-tenant': Buffer.from('acme'),
  'courier-event-id': 'evt-1',
  'courier-event-type': 'order.created',
  'courier-destination': 'someone-else',
  'courier-attempt': '7',
  'courier-attempts': '12',
  'courier-first-attempt-at': '1',
  'courier-due-at': '99999999999999',
  'courier-error-class': 'exhausted',
  'courier-last-status': '500',
  'courier-replay-force': '1',
  'courier-replayed-at': '2020-01-01T00:00:00.000Z',
  'Courier-Sneaky': 'x',
};

test('a re-sent record keeps the producer headers and writes its own courier-* headers', () => {
  const headers = replayHeaders(deadLetter, {
    destination: 'crm',
    replayedAt: '2026-11-23T20:00:00.000Z',
    source: 'dlq',
    partition: 1,
    offset: '42',
  });
  assert.deepEqual(headers, {
    traceparent: '00-abc-def-01',
    'x-tenant': Buffer.from('acme'),
    'courier-event-id': 'evt-1',
    'courier-event-type': 'order.created',
    'courier-destination': 'crm',
    'courier-attempt': '0',
    'courier-replayed-at': '2026-11-23T20:00:00.000Z',
    'courier-replay-dlq-offset': '1:42',
    'courier-replay-source': 'dlq',
  });
});

test('only a forced re-delivery of delivered records is marked to bypass the delivered set', () => {
  const forced = replayHeaders(deadLetter, {
    destination: 'crm',
    replayedAt: 'now',
    source: 'delivered',
    partition: 0,
    offset: '3',
  });
  assert.equal(forced['courier-replay-force'], '1');
  assert.equal(forced['courier-replay-source'], 'delivered');
  const { 'courier-event-id': _id, 'courier-event-type': _type, ...rest } = deadLetter;
  const withoutIds = replayHeaders(rest, {
    destination: 'crm',
    replayedAt: 'now',
    source: 'dlq',
    partition: 0,
    offset: '3',
  });
  assert.equal(withoutIds['courier-event-id'], undefined, 'no id invented');
  assert.equal(withoutIds['courier-replay-force'], undefined);
});
