import assert from 'node:assert/strict';
import { test } from 'node:test';
import { afterResponse, authPause, tokenFailureOutcome } from './authOutcome.ts';

const oauth = { refreshable: true };
const fixed = { refreshable: false };

test('401 with OAuth2: refresh once and send again; a second 401 pauses auth-rejected', () => {
  assert.deepEqual(afterResponse(401, oauth, false), { action: 'refresh-and-resend' });
  assert.deepEqual(afterResponse(401, oauth, true), { action: 'pause', reason: 'auth-rejected' });
  assert.deepEqual(afterResponse(401, fixed, false), { action: 'pause', reason: 'auth-rejected' });
});

test('403 pauses forbidden at once, refreshable or not; other statuses are no auth matter', () => {
  assert.deepEqual(afterResponse(403, oauth, false), { action: 'pause', reason: 'forbidden' });
  for (const status of [200, 400, 404, 410, 500, undefined])
    assert.equal(afterResponse(status, oauth, false), undefined);
});

test('pause reasons and attempt cases', () => {
  assert.deepEqual(authPause(401, 'expired'), { reason: 'auth-rejected', authCase: 'rejected' });
  assert.deepEqual(authPause(401, undefined), { reason: 'auth-rejected', authCase: 'rejected' });
  assert.deepEqual(authPause(403, undefined), { reason: 'forbidden', authCase: 'forbidden' });
  assert.deepEqual(authPause(undefined, 'revoked'), { reason: 'auth-revoked', authCase: 'revoked' });
});

test('token endpoint failures: transient retries later, revoked pauses; no request was sent', () => {
  const t = tokenFailureOutcome({
    ok: false,
    kind: 'transient',
    code: 'TOKEN_ENDPOINT_UNAVAILABLE',
    message: 'm',
  });
  assert.deepEqual(t.outcome, { kind: 'transient', ambiguous: false });
  assert.equal(t.result.errorCode, 'TOKEN_ENDPOINT_UNAVAILABLE');
  assert.equal(t.authCase, 'token-unavailable');
  const r = tokenFailureOutcome({ ok: false, kind: 'revoked', code: 'AUTH_REVOKED', message: 'm' });
  assert.deepEqual(r.outcome, { kind: 'auth', ambiguous: false });
  assert.equal(r.authCase, 'revoked');
});
