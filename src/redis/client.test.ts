import assert from 'node:assert/strict';
import { test } from 'node:test';
import { describeRedis } from './client.ts';
import { redisKeys } from './keys.ts';

/** The part of a key Redis Cluster hashes: the first non-empty {...}, else the whole key. */
function hashed(key: string): string {
  const open = key.indexOf('{');
  const close = open < 0 ? -1 : key.indexOf('}', open + 1);
  return close > open + 1 ? key.slice(open + 1, close) : key;
}

test("a destination's keys share one hash tag", () => {
  const keys = redisKeys('courier');
  const destination = [
    keys.rate('crm'),
    keys.paused('crm'),
    keys.backoff('crm'),
    keys.deliveries('crm', 20000),
    keys.deliveries('crm', 19999),
    keys.inflight('crm', 'evt-1'),
    keys.inflight('crm', 'evt-{odd}'),
  ];
  for (const key of destination) assert.equal(hashed(key), 'courier:crm', key);
  assert.notEqual(hashed(keys.rate('billing')), hashed(keys.rate('crm')), 'destinations spread');
  assert.equal(new Set(destination).size, destination.length, 'distinct keys');
  assert.equal(keys.deliveries('crm', 20000), '{courier:crm}:e:20000');
});

test('a Redis address is described without its credentials', () => {
  assert.equal(
    describeRedis({ url: 'rediss://courier:s3cret@cache.example.com:6380/2' }),
    'rediss://cache.example.com:6380',
  );
  assert.equal(describeRedis({ url: 'redis://x:1', cluster: { nodes: ['a:1', 'b:2'] } }), 'cluster a:1,b:2');
});
