import assert from 'node:assert/strict';
import { test } from 'node:test';
import { classify, parseRetryAfter } from './outcome.ts';

const at = (status: number, retryAfter?: string) =>
  classify({ status, latencyMs: 1, ...(retryAfter ? { retryAfter } : {}) }, 0);

test('2xx is delivered', () => {
  for (const s of [200, 201, 202, 204]) assert.equal(at(s).kind, 'delivered');
});

test('408, 425, 429 and 5xx are transient', () => {
  for (const s of [408, 425, 429, 500, 502, 503, 504]) assert.equal(at(s).kind, 'transient', String(s));
});

test('401, 403 and 410 pause the destination, each with its cause', () => {
  assert.deepEqual([at(401).kind, at(401).pauseCause], ['pause', 'auth-rejected']);
  assert.deepEqual([at(403).kind, at(403).pauseCause], ['pause', 'forbidden']);
  assert.deepEqual([at(410).kind, at(410).pauseCause], ['pause', 'gone']);
});

test('other 4xx and 3xx are permanent, with their DLQ class', () => {
  for (const s of [400, 404, 405, 415, 422, 418]) {
    assert.deepEqual([at(s).kind, at(s).errorClass], ['permanent', 'permanent'], String(s));
  }
  assert.equal(at(413).errorClass, 'too-large');
  assert.equal(at(301).errorClass, 'redirect');
  assert.equal(at(307).errorClass, 'redirect');
});

test('Retry-After on 429/503 is honoured in seconds or as a date', () => {
  assert.equal(at(429, '7').retryAfterMs, 7000);
  assert.equal(at(503, new Date(60_000).toUTCString()).retryAfterMs, 60_000);
  assert.equal(at(500, '7').retryAfterMs, undefined);
  assert.equal(parseRetryAfter('soon', 0), undefined);
});

test('errors without a response are transient; timeouts and resets are ambiguous', () => {
  const err = (
    errorCode: 'TIMEOUT' | 'CONNECTION_REFUSED' | 'CONNECTION_RESET' | 'DNS_FAILURE' | 'TLS_FAILURE',
  ) => classify({ errorCode, latencyMs: 1 });
  assert.deepEqual(err('TIMEOUT'), { kind: 'transient', ambiguous: true });
  assert.deepEqual(err('CONNECTION_RESET'), { kind: 'transient', ambiguous: true });
  assert.deepEqual(err('CONNECTION_REFUSED'), { kind: 'transient', ambiguous: false });
  assert.deepEqual(err('DNS_FAILURE'), { kind: 'transient', ambiguous: false });
  assert.deepEqual(err('TLS_FAILURE'), { kind: 'transient', ambiguous: false });
  assert.equal(classify({ errorCode: 'FORBIDDEN_ADDRESS', latencyMs: 0 }).errorClass, 'forbidden');
  assert.deepEqual(classify({ errorCode: 'INVALID_REQUEST', latencyMs: 0 }), {
    kind: 'permanent',
    errorClass: 'invalid-request',
    ambiguous: false,
  });
});
