// The `auth`, `secretsExpireAt` and `credentialWarningDays` fields of a destination (issue 9).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError } from '../errors.ts';
import { parseConfig } from './load.ts';

const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';

function config(destination: Record<string, unknown>) {
  return parseConfig(
    {
      kafka: { brokers: ['localhost:9092'] },
      destinations: [{ id: 'crm', url: 'https://hooks.example.com/e', secrets: [SECRET], ...destination }],
    },
    { source: 'test', env: {} },
  );
}

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err.problems;
  }
  assert.fail('expected the configuration to be rejected');
}

test('oauth2 defaults: client_secret_basic, refresh 60 s ahead, 10 s token timeout; warning 14 days', () => {
  const d = config({
    auth: { type: 'oauth2', tokenUrl: 'https://auth.example.com/token', clientId: 'c', clientSecret: 's' },
  }).destinations[0];
  assert.deepEqual(d?.auth, {
    type: 'oauth2',
    tokenUrl: 'https://auth.example.com/token',
    clientId: 'c',
    clientSecret: 's',
    authMethod: 'client_secret_basic',
    refreshBeforeMs: 60_000,
    timeoutMs: 10_000,
  });
  assert.equal(d?.credentialWarningDays, 14);
});

test('basic and mtls auth, secretsExpireAt as a date or a date-time', () => {
  assert.equal(
    config({ auth: { type: 'basic', username: 'u', password: 'p' } }).destinations[0]?.auth?.type,
    'basic',
  );
  const m = config({
    auth: { type: 'mtls', cert: '/etc/c.pem', key: '/etc/k.pem' },
    secretsExpireAt: '2027-01-31',
  });
  assert.equal(m.destinations[0]?.auth?.type, 'mtls');
  assert.equal(
    config({ secretsExpireAt: '2027-01-31T12:00:00Z' }).destinations[0]?.secretsExpireAt,
    '2027-01-31T12:00:00Z',
  );
});

test('auth together with a configured Authorization header is refused, as are unknown auth shapes', () => {
  const problems = problemsOf(() =>
    config({ headers: { Authorization: 'Bearer x' }, auth: { type: 'basic', username: 'u', password: 'p' } }),
  );
  assert.ok(
    problems.some((p) => p.startsWith('destinations[0].headers.authorization: conflicts with auth')),
    problems.join(),
  );
  assert.ok(
    problemsOf(() =>
      config({ auth: { type: 'oauth2', tokenUrl: 'ftp://x', clientId: 'c', clientSecret: 's' } }),
    ).length > 0,
  );
  assert.ok(problemsOf(() => config({ auth: { type: 'apikey' } })).length > 0);
  assert.ok(
    problemsOf(() =>
      config({
        auth: {
          type: 'oauth2',
          tokenUrl: 'https://a/t',
          clientId: 'c',
          clientSecret: 's',
          authMethod: 'jwt',
        },
      }),
    ).length > 0,
  );
  assert.ok(problemsOf(() => config({ secretsExpireAt: 'next year' })).length > 0);
});

test('a configuration error never quotes a client secret', () => {
  const problems = problemsOf(() =>
    config({
      auth: {
        type: 'oauth2',
        tokenUrl: 'https://a/t',
        clientId: 'c',
        clientSecret: 'cs_DO_NOT_PRINT',
        extra: 1,
      },
    }),
  );
  assert.ok(!problems.join('\n').includes('cs_DO_NOT_PRINT'));
});
