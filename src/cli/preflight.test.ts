// The preflight's few words for why a dependency cannot be reached, from the errors kafkajs,
// ioredis and fetch raise (the checks themselves run against closed ports in test/cli.test.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { reasonOf } from './preflight.ts';

test('a connection failure is named in a few words', () => {
  const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
  const wrapped = Object.assign(new Error('retries exceeded'), { name: 'KafkaJSNumberOfRetriesExceeded' });
  wrapped.cause = Object.assign(new Error('Connection error'), { originalError: refused });
  assert.equal(reasonOf(wrapped), 'connection refused');
  assert.equal(reasonOf(new TypeError('fetch failed', { cause: { code: 'ENOTFOUND' } })), 'fetch failed');
  const dns = new TypeError('fetch failed', {
    cause: Object.assign(new Error('getaddrinfo ENOTFOUND x'), { code: 'ENOTFOUND' }),
  });
  assert.equal(reasonOf(dns), 'host not found');
  const sasl = Object.assign(new Error('SASL SCRAM failed'), { name: 'KafkaJSSASLAuthenticationError' });
  assert.equal(reasonOf(sasl), 'authentication failed');
  const closed = Object.assign(new Error('Closed connection'), { name: 'KafkaJSConnectionClosedError' });
  assert.equal(reasonOf(Object.assign(new Error('retries'), { cause: closed })), 'connection closed');
  assert.equal(reasonOf(new Error('Something odd\nmore')), 'Something odd');
});
