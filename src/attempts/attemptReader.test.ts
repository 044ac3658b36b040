import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AttemptRecord } from '../telemetry/events.ts';
import { matchesSearch, mergeRanges, Newest } from './attemptReader.ts';
import { destinationStates } from './inspect.ts';

const attempt = (over: Partial<AttemptRecord>): AttemptRecord => ({
  eventId: 'e1',
  destination: 'crm',
  attempt: 1,
  at: '2026-12-01T10:00:00.000Z',
  latencyMs: 5,
  outcome: 'retry',
  replay: false,
  ...over,
});

test('a search matches by destination, exact status, status class, no answer, outcome and type', () => {
  const a = attempt({ status: 503, eventType: 'order.created' });
  assert.ok(
    matchesSearch(a, { destination: 'crm', status: '5xx', outcome: 'retry', eventType: 'order.created' }),
  );
  assert.ok(matchesSearch(a, { status: '503' }));
  assert.ok(!matchesSearch(a, { status: '502' }));
  assert.ok(!matchesSearch(a, { status: '4xx' }));
  assert.ok(!matchesSearch(a, { destination: 'billing' }));
  assert.ok(matchesSearch(attempt({ errorCode: 'TIMEOUT' }), { status: 'none' }));
  assert.ok(!matchesSearch(attempt({ errorCode: 'TIMEOUT' }), { status: '5xx' }));
});

test('Newest keeps only the newest N, oldest first, whatever the arrival order', () => {
  const n = new Newest<number>(3);
  for (const k of [5, 1, 9, 3, 7, 2, 8]) n.add(k, k);
  assert.deepEqual(n.list(), [7, 8, 9]);
});

test('overlapping windows of one partition are read once', () => {
  assert.deepEqual(
    mergeRanges([
      { partition: 1, from: 50, to: 90 },
      { partition: 1, from: 0, to: 60 },
      { partition: 1, from: 100, to: 120 },
      { partition: 0, from: 10, to: 20 },
    ]),
    [
      { partition: 0, from: 10, to: 20 },
      { partition: 1, from: 0, to: 90 },
      { partition: 1, from: 100, to: 120 },
    ],
  );
});

test("a destination's state: delivered once delivered, else its latest outcome", () => {
  const states = destinationStates([
    attempt({ destination: 'a', attempt: 1, outcome: 'retry', status: 503 }),
    attempt({ destination: 'a', attempt: 2, outcome: 'delivered', status: 200 }),
    attempt({ destination: 'a', attempt: 2, outcome: 'duplicate-skipped' }),
    attempt({ destination: 'b', attempt: 1, outcome: 'retry', nextAttemptAt: '2026-12-01T10:01:00Z' }),
    attempt({ destination: 'c', attempt: 3, outcome: 'dlq', errorClass: 'exhausted', status: 503 }),
  ]);
  assert.equal(states.a?.state, 'delivered');
  assert.equal(states.a?.attempt, 2);
  assert.deepEqual([states.b?.state, states.b?.nextAttemptAt], ['retrying', '2026-12-01T10:01:00Z']);
  assert.deepEqual(
    [states.c?.state, states.c?.errorClass, states.c?.status],
    ['dead-lettered', 'exhausted', 503],
  );
});

test('a replay is a chapter of its own: requests add up over the chapters', () => {
  const states = destinationStates([
    attempt({ destination: 'a', attempt: 1, outcome: 'dlq', status: 422 }),
    attempt({ destination: 'a', attempt: 1, outcome: 'retry', status: 503, replay: true }),
    attempt({ destination: 'a', attempt: 2, outcome: 'delivered', status: 200, replay: true }),
    attempt({ destination: 'a', attempt: 2, outcome: 'duplicate-skipped', replay: true }),
  ]);
  assert.equal(states.a?.state, 'delivered');
  assert.equal(states.a?.requests, 3);
  assert.deepEqual(states.a?.chapters, [
    { replay: false, attempts: 1, state: 'dead-lettered' },
    { replay: true, attempts: 2, state: 'delivered' },
  ]);
});
