import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { KafkaMessage } from 'kafkajs';
import { deadLetterRecord } from '../kafka/records.ts';
import { deadLetterEntry, matchesDeadLetter } from './deadLetters.ts';

const record = deadLetterRecord(
  {
    key: Buffer.from('k'),
    value: Buffer.from('{"id":"e1"}'),
    userHeaders: { traceparent: 't' },
    meta: { eventId: 'e1', eventType: 'order.created', attemptsBefore: 0, force: false },
  },
  {
    destination: 'crm',
    eventId: 'e1',
    errorClass: 'permanent',
    attempts: 1,
    firstAttemptAt: 1,
    lastAttemptAt: 2,
    lastStatus: 422,
    lastError: 'HTTP 422',
    responseSnippet: `invalid: ${'x'.repeat(500)}`,
  },
  1024,
);
const message = {
  ...record,
  offset: '7',
  timestamp: String(Date.UTC(2026, 11, 1)),
  attributes: 0,
} as KafkaMessage;

test('a DLQ record becomes a listing entry from its headers', () => {
  const e = deadLetterEntry(message, 2);
  assert.deepEqual(
    { ...e, snippet: e?.snippet?.length },
    {
      eventId: 'e1',
      type: 'order.created',
      deadLetteredAt: '2026-12-01T00:00:00.000Z',
      attempts: 1,
      class: 'permanent',
      lastStatus: 422,
      lastError: 'HTTP 422',
      snippet: 120,
      partition: 2,
      offset: 7,
    },
  );
  assert.equal(
    deadLetterEntry({ ...message, headers: {} } as KafkaMessage, 0),
    undefined,
    'not a dead letter',
  );
});

test('filters by class and last status (exact, class, none)', () => {
  const e = deadLetterEntry(message, 0)!;
  assert.ok(matchesDeadLetter(e, { class: 'permanent', status: '4xx' }));
  assert.ok(matchesDeadLetter(e, { status: '422' }));
  assert.ok(!matchesDeadLetter(e, { class: 'exhausted' }));
  assert.ok(!matchesDeadLetter(e, { status: 'none' }));
  const { lastStatus: _s, ...noAnswer } = e;
  assert.ok(matchesDeadLetter(noAnswer, { status: 'none' }));
});
