import assert from 'node:assert/strict';
import { test } from 'node:test';
import { oauthBearerProvider, refreshAt, saslOptions } from './auth.ts';

test('a token is refreshed at 80% of its lifetime, at least a minute before it expires', () => {
  assert.equal(refreshAt(0, 3600), 2_880_000);
  assert.equal(refreshAt(0, 120), 60_000);
  assert.equal(refreshAt(1000, 30), 1000);
  assert.equal(refreshAt(0, undefined), 240_000);
});

test('a static OAUTHBEARER token is handed out as is, with its extensions', async () => {
  const provider = oauthBearerProvider({
    mechanism: 'oauthbearer',
    token: 'abc',
    extensions: { logicalCluster: 'lkc-1', identityPoolId: 'pool-1' },
  });
  assert.deepEqual(await provider(), {
    value: 'abc',
    extensions: { logicalCluster: 'lkc-1', identityPoolId: 'pool-1' },
  });
});

test('SCRAM and PLAIN pass through as kafkajs options', () => {
  assert.deepEqual(saslOptions({ mechanism: 'scram-sha-256', username: 'u', password: 'p' }), {
    mechanism: 'scram-sha-256',
    username: 'u',
    password: 'p',
  });
});
