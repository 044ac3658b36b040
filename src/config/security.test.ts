import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError } from '../errors.ts';
import { parseConfig } from './load.ts';

function problemsOf(raw: Record<string, unknown>): string[] {
  try {
    parseConfig(raw, { source: 'test', env: {} });
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    return err.problems;
  }
  assert.fail('expected the configuration to be rejected');
}

test('Kafka TLS and SCRAM, registry basic auth and Redis ACL fields are accepted', () => {
  const config = parseConfig(
    {
      kafka: {
        brokers: ['b-1.example.com:9096'],
        ssl: true,
        sasl: { mechanism: 'scram-sha-512', username: 'courier', password: 'pw' },
      },
      schemaRegistry: { url: 'https://registry.example.com', username: 'key', password: 'secret' },
      redis: { url: 'rediss://cache.example.com:6380', username: 'courier', password: 'pw' },
    },
    { source: 'test', env: {} },
  );
  assert.equal(config.kafka.ssl, true);
  assert.equal(config.kafka.sasl?.mechanism, 'scram-sha-512');
  assert.equal(config.redis.username, 'courier');
});

test('a TLS section defaults to verifying the server', () => {
  const config = parseConfig(
    { kafka: { brokers: ['k:9093'], ssl: { ca: '/etc/ca.pem' } }, redis: { cluster: { nodes: ['r:7000'] } } },
    { source: 'test', env: {} },
  );
  assert.deepEqual(config.kafka.ssl, { ca: '/etc/ca.pem', rejectUnauthorized: true });
  assert.deepEqual(config.redis.cluster, { nodes: ['r:7000'] });
});

test('OAUTHBEARER needs a static token or all client-credentials fields, not both', () => {
  assert.deepEqual(problemsOf({ kafka: { brokers: ['k:9093'], sasl: { mechanism: 'oauthbearer' } } }), [
    'kafka.sasl.tokenUrl: required for OAUTHBEARER without a static token',
    'kafka.sasl.clientId: required for OAUTHBEARER without a static token',
    'kafka.sasl.clientSecret: required for OAUTHBEARER without a static token',
  ]);
  const both = problemsOf({
    kafka: {
      brokers: ['k:9093'],
      sasl: {
        mechanism: 'oauthbearer',
        token: 't',
        tokenUrl: 'https://idp/token',
        clientId: 'a',
        clientSecret: 'b',
      },
    },
  });
  assert.deepEqual(both, ['kafka.sasl: give either token or tokenUrl/clientId/clientSecret, not both']);
});

test('an unknown SASL mechanism and a cluster with a sentinel are refused', () => {
  const problems = problemsOf({
    kafka: { brokers: ['k:9093'], sasl: { mechanism: 'gssapi', username: 'u', password: 'p' } },
    redis: { cluster: { nodes: ['r:7000'] }, sentinel: { sentinels: ['s:26379'], name: 'mymaster' } },
  });
  assert.equal(problems.length, 2, problems.join('\n'));
  assert.match(problems[0] ?? '', /^kafka\.sasl\.mechanism: /);
  assert.equal(problems[1], 'redis.sentinel: choose cluster or sentinel, not both');
});
