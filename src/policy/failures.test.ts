import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  authCaseOf,
  classify,
  DEAD_LETTER_CLASSES,
  type Outcome,
  PAUSE_REASONS,
  parseRetryAfter,
  pauseNeedsOwner,
  pauseReasonOf,
  refreshesCredentials,
  SEND_ERRORS,
  type SendErrorCode,
  statusClass,
  tokenFailureRevokes,
} from './failures.ts';

const at = (status: number, retryAfter?: string) =>
  classify({ status, latencyMs: 1, ...(retryAfter ? { retryAfter } : {}) }, 0);
const err = (errorCode: SendErrorCode) => classify({ errorCode, latencyMs: 1 }, 0);

test('2xx is delivered', () => {
  for (const s of [200, 201, 202, 204, 299]) assert.deepEqual(at(s), { kind: 'delivered' });
});

test('408, 425, 429 and 5xx are transient, never ambiguous: the receiver answered', () => {
  for (const s of [408, 425, 429, 500, 502, 503, 504, 599]) {
    assert.deepEqual(at(s), { kind: 'transient', ambiguous: false }, String(s));
  }
});

test('401, 403 and 410 pause the destination, each with its reason', () => {
  assert.deepEqual(at(401), { kind: 'pause', reason: 'auth-rejected' });
  assert.deepEqual(at(403), { kind: 'pause', reason: 'forbidden' });
  assert.deepEqual(at(410), { kind: 'pause', reason: 'gone' });
});

test('other 4xx and 3xx are permanent, with their DLQ class', () => {
  for (const s of [400, 404, 405, 409, 415, 418, 422, 451]) {
    assert.deepEqual(at(s), { kind: 'permanent', errorClass: 'permanent' }, String(s));
  }
  assert.deepEqual(at(413), { kind: 'permanent', errorClass: 'too-large' });
  for (const s of [300, 301, 302, 307, 308]) {
    assert.deepEqual(at(s), { kind: 'permanent', errorClass: 'redirect' }, String(s));
  }
});

test('Retry-After on 429/503 is honoured in seconds or as a date, and only there', () => {
  assert.deepEqual(at(429, '7'), { kind: 'transient', ambiguous: false, retryAfterMs: 7000 });
  assert.equal((at(503, new Date(60_000).toUTCString()) as { retryAfterMs?: number }).retryAfterMs, 60_000);
  assert.deepEqual(at(500, '7'), { kind: 'transient', ambiguous: false });
  assert.deepEqual(at(429, 'soon'), { kind: 'transient', ambiguous: false });
  assert.equal(parseRetryAfter('soon', 0), undefined);
  assert.equal(parseRetryAfter(new Date(1000).toUTCString(), 5000), 0, 'a date in the past waits not at all');
});

test('errors without a response: timeouts and resets are ambiguous, refusals and lookups are not', () => {
  assert.deepEqual(err('TIMEOUT'), { kind: 'transient', ambiguous: true });
  assert.deepEqual(err('CONNECTION_RESET'), { kind: 'transient', ambiguous: true });
  assert.deepEqual(err('NETWORK_ERROR'), { kind: 'transient', ambiguous: true });
  assert.deepEqual(err('CONNECTION_REFUSED'), { kind: 'transient', ambiguous: false });
  assert.deepEqual(err('DNS_FAILURE'), { kind: 'transient', ambiguous: false });
  assert.deepEqual(err('TLS_FAILURE'), { kind: 'transient', ambiguous: false });
  assert.deepEqual(classify({ latencyMs: 0 }, 0), { kind: 'transient', ambiguous: true });
});

test('nothing left the machine: the SSRF guard and an unbuildable request dead-letter at once', () => {
  assert.deepEqual(err('FORBIDDEN_ADDRESS'), { kind: 'permanent', errorClass: 'forbidden' });
  assert.deepEqual(err('INVALID_REQUEST'), { kind: 'permanent', errorClass: 'invalid-request' });
});

test('token endpoint failures: unavailable retries (not ambiguous), a refused client pauses auth-revoked', () => {
  assert.deepEqual(err('TOKEN_ENDPOINT_UNAVAILABLE'), { kind: 'transient', ambiguous: false });
  for (const code of ['AUTH_REVOKED', 'TOKEN_REQUEST_REJECTED', 'TOKEN_URL_FORBIDDEN'] as const) {
    assert.deepEqual(err(code), { kind: 'pause', reason: 'auth-revoked' }, code);
    assert.equal(tokenFailureRevokes(code), true, code);
  }
  assert.equal(tokenFailureRevokes('TOKEN_ENDPOINT_UNAVAILABLE'), false);
});

test('every outcome in the tables names a known pause reason or DLQ class', () => {
  const check = (o: Outcome, where: string) => {
    if (o.kind === 'pause') assert.ok(Object.hasOwn(PAUSE_REASONS, o.reason), where);
    if (o.kind === 'permanent') assert.ok(Object.hasOwn(DEAD_LETTER_CLASSES, o.errorClass), where);
  };
  for (const [code, o] of Object.entries(SEND_ERRORS)) check(o, code);
  for (let s = 100; s < 600; s++) check(at(s), String(s));
});

test('a pause waits for the owner unless an operator made it; older versions wrote `auth`', () => {
  assert.equal(pauseNeedsOwner('operator'), false);
  for (const r of ['auth-rejected', 'forbidden', 'auth-revoked', 'gone', 'auth']) {
    assert.equal(pauseNeedsOwner(r), true, r);
  }
  assert.equal(pauseNeedsOwner('retry-after'), false);
  assert.equal(pauseReasonOf('auth'), 'auth-rejected');
  assert.equal(pauseReasonOf('gone'), 'gone');
  assert.equal(pauseReasonOf('nonsense'), undefined);
});

test('auth cases: a credential pause names its case; a refreshed token is `expired`', () => {
  const none = { refreshed: false };
  assert.equal(authCaseOf(at(401), none), 'rejected');
  assert.equal(authCaseOf(at(401), { refreshed: true }), 'rejected', 'a second 401 after a refresh');
  assert.equal(authCaseOf(at(403), none), 'forbidden');
  assert.equal(authCaseOf(err('AUTH_REVOKED'), none), 'revoked');
  assert.equal(authCaseOf(at(410), none), undefined, 'gone is not a credential case');
  assert.equal(authCaseOf(at(200), { refreshed: true }), 'expired');
  assert.equal(authCaseOf(at(500), { refreshed: true }), 'expired');
  assert.equal(authCaseOf(at(200), none), undefined);
  assert.equal(
    authCaseOf(err('TOKEN_ENDPOINT_UNAVAILABLE'), {
      refreshed: false,
      errorCode: 'TOKEN_ENDPOINT_UNAVAILABLE',
    }),
    'token-unavailable',
  );
});

test('only a 401 with renewable credentials is answered with a fresh token', () => {
  assert.equal(refreshesCredentials(401, true), true);
  assert.equal(refreshesCredentials(401, false), false);
  assert.equal(refreshesCredentials(403, true), false, '403 pauses at once');
  assert.equal(refreshesCredentials(undefined, true), false);
});

test('status classes label metrics', () => {
  assert.equal(statusClass(204), '2xx');
  assert.equal(statusClass(503), '5xx');
  assert.equal(statusClass(undefined), 'none');
});
