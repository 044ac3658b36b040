import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readinessOf } from './readiness.ts';
import { notReadyMessage } from './replay.ts';

test('ready means answering: a 5xx, a 429, a timeout or no answer is not ready; a 405 to a HEAD is', () => {
  for (const status of [500, 502, 503, 504, 429])
    assert.equal(readinessOf({ status }).ready, false, String(status));
  for (const status of [200, 204, 301, 401, 404, 405])
    assert.equal(readinessOf({ status }).ready, true, String(status));
  assert.deepEqual(readinessOf({ errorCode: 'TIMEOUT' }), { ready: false, answer: 'timeout' });
  assert.deepEqual(readinessOf({ errorCode: 'CONNECTION_REFUSED' }), {
    ready: false,
    answer: 'CONNECTION_REFUSED',
  });
});

test('expectStatus says exactly which answers mean ready', () => {
  assert.equal(readinessOf({ status: 200 }, [200]).ready, true);
  assert.equal(readinessOf({ status: 204 }, [200]).ready, false);
  assert.equal(readinessOf({ status: 503 }, [200, 503]).ready, true, 'the operator decides');
});

test('a refused replay says in one line what the check got', () => {
  assert.match(
    notReadyMessage('crm', readinessOf({ status: 503 })),
    /^destination crm is not ready \(its readiness check answered 503\)/,
  );
  assert.match(
    notReadyMessage('crm', readinessOf({ errorCode: 'TIMEOUT' })),
    /^destination crm is not reachable \(timeout\)/,
  );
  assert.doesNotMatch(notReadyMessage('crm', readinessOf({ status: 503 })), /\n/);
});
