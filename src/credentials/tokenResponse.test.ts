import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  DEFAULT_TOKEN_LIFETIME_MS,
  isUsable,
  parseTokenResponse,
  refreshAt,
  tokenNetworkFailure,
  tokenRequest,
} from './tokenResponse.ts';

const NOW = 1_700_000_000_000;

test('client_secret_basic: form-urlencoded id and secret in a Basic header, not in the body', () => {
  const { body, headers } = tokenRequest({
    clientId: 'courier app',
    clientSecret: 's3cr:t/+',
    authMethod: 'client_secret_basic',
    scope: 'events.write',
    audience: 'https://api.example.com',
  });
  const form = new URLSearchParams(body);
  assert.equal(form.get('grant_type'), 'client_credentials');
  assert.equal(form.get('scope'), 'events.write');
  assert.equal(form.get('audience'), 'https://api.example.com');
  assert.equal(form.get('client_secret'), null);
  assert.equal(headers['content-type'], 'application/x-www-form-urlencoded');
  const decoded = Buffer.from((headers.authorization ?? '').replace(/^Basic /, ''), 'base64').toString();
  assert.equal(decoded, 'courier+app:s3cr%3At%2F%2B');
});

test('client_secret_post: id and secret in the form body, no Authorization header', () => {
  const { body, headers } = tokenRequest({
    clientId: 'c',
    clientSecret: 's',
    authMethod: 'client_secret_post',
  });
  const form = new URLSearchParams(body);
  assert.equal(form.get('client_id'), 'c');
  assert.equal(form.get('client_secret'), 's');
  assert.equal(form.get('scope'), null);
  assert.equal(headers.authorization, undefined);
});

test('a token response: expires_in sets the expiry; missing expires_in uses the default lifetime', () => {
  const r = parseTokenResponse(200, '{"access_token":"abc","token_type":"Bearer","expires_in":120}', NOW);
  assert.deepEqual(r, { ok: true, accessToken: 'abc', fetchedAt: NOW, expiresAt: NOW + 120_000 });
  const d = parseTokenResponse(200, '{"access_token":"abc","token_type":"bearer"}', NOW);
  assert.equal(d.ok && d.expiresAt, NOW + DEFAULT_TOKEN_LIFETIME_MS);
});

test('a 200 that is not a token is transient; a non-bearer token type needs a human', () => {
  for (const body of ['not json', '{}', '{"access_token":""}', '{"access_token":"a\\nb"}']) {
    const r = parseTokenResponse(200, body, NOW);
    assert.equal(!r.ok && r.code, 'TOKEN_ENDPOINT_UNAVAILABLE', body);
  }
  const mac = parseTokenResponse(200, '{"access_token":"abc","token_type":"mac"}', NOW);
  assert.equal(!mac.ok && mac.kind, 'revoked');
});

test('RFC 6749 §5.2 errors that mean the grant is gone are revoked', () => {
  for (const error of ['invalid_client', 'unauthorized_client', 'invalid_grant', 'invalid_scope']) {
    for (const status of [400, 401]) {
      const r = parseTokenResponse(
        status,
        JSON.stringify({ error, error_description: 'secret-ish text' }),
        NOW,
      );
      assert.equal(r.ok, false);
      assert.equal(!r.ok && r.kind, 'revoked');
      assert.equal(!r.ok && r.code, 'AUTH_REVOKED');
      assert.equal(!r.ok && r.message, `token endpoint answered ${status} ${error}`);
    }
  }
});

test('5xx, 429, 408 and unreachable are transient; other refusals need a human', () => {
  for (const status of [500, 502, 503, 504, 429, 408]) {
    const r = parseTokenResponse(status, '', NOW);
    assert.equal(!r.ok && r.kind, 'transient', String(status));
    assert.equal(!r.ok && r.code, 'TOKEN_ENDPOINT_UNAVAILABLE');
  }
  for (const [status, body] of [
    [400, '{"error":"invalid_request"}'],
    [404, ''],
    [401, 'nope'],
  ] as const) {
    const r = parseTokenResponse(status, body, NOW);
    assert.equal(!r.ok && r.kind, 'revoked', `${status} ${body}`);
    assert.equal(!r.ok && r.code, 'TOKEN_REQUEST_REJECTED');
  }
  assert.equal(tokenNetworkFailure('TIMEOUT', false).kind, 'transient');
  assert.equal(tokenNetworkFailure('FORBIDDEN_ADDRESS', true).code, 'TOKEN_URL_FORBIDDEN');
});

test('an error field that is not an RFC error token is not repeated in the message', () => {
  const r = parseTokenResponse(400, JSON.stringify({ error: 'bad "quoted" \\ value with secret\n' }), NOW);
  assert.equal(!r.ok && r.message, 'token endpoint answered 400');
});

test('refresh ahead of expiry, never before half the lifetime', () => {
  assert.equal(refreshAt({ fetchedAt: 0, expiresAt: 3_600_000 }, 60_000), 3_540_000);
  assert.equal(refreshAt({ fetchedAt: 0, expiresAt: 2_000 }, 60_000), 1_000);
  assert.equal(isUsable({ expiresAt: 10_000 }, 8_000), true);
  assert.equal(isUsable({ expiresAt: 10_000 }, 9_500), false);
});
