// The delivered-key set's scripts against real Redis (lua/_marks.lua): marks spread over a day's
// shards and generations are all found again; shards stay small (listpack-encoded) hashes; a day
// is sized from the day before; a mark made before midnight is found after it; and a mark in a
// bucket written by a version before sharding (keyed by the raw event id) is honoured and updated
// where it is. Time is a fake clock near the real one, so that the keys' expiries are real.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, describe, test } from 'node:test';
import type { Redis } from 'ioredis';
import { DAY_MS } from '../src/redis/buckets.ts';
import { createRedis } from '../src/redis/client.ts';
import { DeliveredKeySet } from '../src/redis/deliveredKeySet.ts';
import { redisKeys } from '../src/redis/keys.ts';
import { FakeClock } from './helpers/fakeClock.ts';
import { REDIS_URL } from './helpers/stack.ts';

const redis = createRedis({ url: REDIS_URL });
after(() => redis.disconnect());

function markSet(clock: FakeClock) {
  const prefix = `marks${randomUUID().slice(0, 8)}`;
  const set = new DeliveredKeySet({
    redis,
    keys: redisKeys(prefix),
    destination: 'crm',
    ttlMs: 7 * DAY_MS,
    lockMs: 5000,
    clock,
  });
  const index = `{${prefix}:crm}:e:days`;
  /** A day's generations from the index: [shards, marks] each. */
  const generations = async (day: number) =>
    ((await redis.hget(index, String(day))) ?? '')
      .split(',')
      .filter(Boolean)
      .map((g) => g.split(':').map(Number) as [number, number]);
  return { set, prefix, index, generations, base: (day: number) => redisKeys(prefix).deliveries('crm', day) };
}

/** Claims and delivers each id (by attempt `attempt`), 100 at a time, and confirms their records. */
async function deliver(set: DeliveredKeySet, ids: string[], attempt = 1): Promise<void> {
  for (let i = 0; i < ids.length; i += 100) {
    const chunk = ids.slice(i, i + 100);
    await Promise.all(
      chunk.map(async (id) => {
        const token = set.newToken();
        const claim = await set.claim(id, { token });
        assert.equal(claim.state, 'claimed', id);
        await set.markDelivered(id, token, attempt);
      }),
    );
    await set.confirm(chunk);
  }
}

async function claims(set: DeliveredKeySet, ids: string[]) {
  const out = [];
  for (let i = 0; i < ids.length; i += 100) {
    out.push(
      ...(await Promise.all(ids.slice(i, i + 100).map((id) => set.claim(id, { token: set.newToken() })))),
    );
  }
  return out;
}

async function keysOf(prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const batch of (redis as Redis).scanStream({
    match: `{${prefix}:*`,
    count: 1000,
  }) as AsyncIterable<string[]>)
    keys.push(...batch);
  return keys;
}

describe('delivered marks in Redis', () => {
  test('5,000 marks of one day, over several generations of shards, are all found again', async () => {
    const clock = new FakeClock(Date.now());
    const { set, prefix, index, generations } = markSet(clock);
    const ids = Array.from({ length: 5000 }, () => randomUUID());
    await deliver(set, ids, 2);

    const again = await claims(set, ids);
    const wrong = again.filter((c) => !(c.state === 'delivered' && c.attempt === 2 && !c.unconfirmed));
    assert.equal(wrong.length, 0, `${wrong.length} of 5000 not found as delivered and confirmed`);
    assert.equal(await set.isDelivered(ids[4321] as string), true);
    assert.equal(await set.isDelivered(randomUUID()), false);
    const token = set.newToken();
    const forced = await set.claim(ids[0] as string, { token, force: true });
    assert.equal(forced.state, 'claimed', 'a forced replay claims a delivered event');
    await set.release(ids[0] as string, token);

    const today = Math.floor(clock.now() / DAY_MS);
    const layout = await generations(today);
    assert.ok(layout.length > 1, `a fresh day grows generations: ${JSON.stringify(layout)}`);
    assert.equal(layout[0]?.[0], 16, 'a day with no history starts with 16 shards');
    const counted = layout.reduce((sum, [, marks]) => sum + marks, 0);
    assert.equal(counted, 5000, 'the layout counts every mark once');
    assert.ok((await redis.pttl(index)) > 7 * DAY_MS, 'the index outlives the window');
    const shards = (await keysOf(prefix)).filter((k) => /:e:\d+:\d+:\d+$/.test(k));
    for (const shard of shards) {
      assert.equal(await redis.object('ENCODING', shard), 'listpack', shard);
      assert.ok((await redis.pttl(shard)) > 7 * DAY_MS, `${shard} outlives the window`);
    }
    // Every id's lock was dropped when it was marked.
    assert.equal((await keysOf(prefix)).filter((k) => k.includes(':i:')).length, 0);
  });

  test('a mark made before midnight is found after it, and the new day is sized from the old one', async () => {
    const start = (Math.floor(Date.now() / DAY_MS) + 1) * DAY_MS - 2000;
    const clock = new FakeClock(start);
    const { set, generations } = markSet(clock);
    const before = Array.from({ length: 1000 }, () => randomUUID());
    await deliver(set, before);
    await clock.advance(4000);

    const found = await claims(set, before);
    assert.equal(found.filter((c) => c.state === 'delivered' && c.attempt === 1).length, 1000);
    const after = Array.from({ length: 10 }, () => randomUUID());
    await deliver(set, after);
    const today = Math.floor(clock.now() / DAY_MS);
    // 1,000 marks yesterday at 64 a shard, with a quarter to spare: 32 shards from the start (16 at least).
    assert.deepEqual(await generations(today), [[32, 10]]);
  });

  test('a mark written before sharding (keyed by the event id) is honoured and updated where it is', async () => {
    const clock = new FakeClock(Date.now());
    const { set, base, index } = markSet(clock);
    const yesterday = Math.floor(clock.now() / DAY_MS) - 1;
    const legacy = base(yesterday);
    await redis.hset(legacy, 'evt-old', 'D3|2:a,b', 'evt-unconfirmed', 'd1');
    await redis.pexpire(legacy, DAY_MS);

    const [old, unconfirmed] = await claims(set, ['evt-old', 'evt-unconfirmed']);
    assert.deepEqual(old, { state: 'delivered', attempt: 3, unconfirmed: false });
    assert.deepEqual(unconfirmed, { state: 'delivered', attempt: 1, unconfirmed: true });
    assert.equal(await set.isDelivered('evt-old'), true);

    // Delivered again (a forced replay): the mark is updated in the old bucket, not duplicated.
    const token = set.newToken();
    assert.equal((await set.claim('evt-old', { token, force: true })).state, 'claimed');
    await set.markDelivered('evt-old', token, 4);
    assert.equal(await redis.hget(legacy, 'evt-old'), 'd4|2:a,b');
    await set.confirm(['evt-old', 'evt-unconfirmed']);
    assert.deepEqual(await redis.hmget(legacy, 'evt-old', 'evt-unconfirmed'), ['D4|2:a,b', 'D1']);
    assert.equal(await redis.hget(index, String(yesterday + 1)), null, 'nothing new was added to today');
  });
});
