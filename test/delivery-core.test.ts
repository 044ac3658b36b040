// The delivery core against the real stack, for the defects found by trying to break it:
// a slow key never holds the others (issue 10); a held message never forks the work finished
// after it; a 2xx is delivered whatever its body does; duplicates spend no rate-limit permits;
// `courier resume` clears a Retry-After on the instance that got it; messages without an event id
// never dedupe across partitions (issue 7).
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, test } from 'node:test';
import type { CourierConfig } from '../src/config/schema.ts';
import { topicNames } from '../src/kafka/topics.ts';
import { createRedis } from '../src/redis/client.ts';
import { DeliveredKeySet } from '../src/redis/deliveredKeySet.ts';
import { redisKeys } from '../src/redis/keys.ts';
import { type RunningCourier, startCourier } from './helpers/courier.ts';
import { destinationControl, readDlq } from './helpers/dlq.ts';
import { eventJson } from './helpers/measure.ts';
import { startReceiver } from './helpers/receiver.ts';
import { produceRaw, provision, testConfig, waitFor, withAdmin } from './helpers/stack.ts';

/** Resolves when every committed offset of `groupId` on `topics` has reached the topics' ends. */
async function waitForDrained(config: CourierConfig, groupId: string, topics: string[]): Promise<void> {
  await waitFor(
    () =>
      withAdmin(config, async (admin) => {
        for (const topic of topics) {
          const ends = await admin.fetchTopicOffsets(topic);
          const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
          for (const end of ends) {
            const c = committed?.partitions.find((p) => p.partition === end.partition);
            const at = Number(c?.offset ?? -1);
            if (Number(end.high) > 0 && at < Number(end.high)) return false;
          }
        }
        return true;
      }),
    {
      message: `${groupId} committed to the end of ${topics.join(', ')}`,
      timeoutMs: 30_000,
      intervalMs: 200,
    },
  );
}

const running: RunningCourier[] = [];
after(async () => {
  for (const c of running) await c.stop();
});

async function start(config: CourierConfig): Promise<RunningCourier> {
  await provision(config);
  const courier = await startCourier(config);
  running.push(courier);
  return courier;
}

describe('a slow key', () => {
  test('holds only itself: 20 events on other keys arrive while its request is still open', async () => {
    let releaseSlow!: (why: string) => void;
    const slowReleased = new Promise<string>((resolve) => {
      releaseSlow = resolve;
    });
    // Held open until the others have all arrived (the definite signal), or 60 s at most: a core
    // whose other keys wait for the slow one never gets there, however fast the machine.
    const guard = setTimeout(() => releaseSlow('60 s passed'), 60_000);
    const others = new Set<string>();
    const receiver = await startReceiver((req) => {
      if (req.json.id === 'slow') return { status: 200, until: slowReleased };
      others.add(req.json.id);
      if (others.size === 20) releaseSlow('all others arrived');
      return { status: 200 };
    });
    try {
      const config = testConfig([{ id: 'partial', url: receiver.url, concurrency: 16, timeoutMs: 90_000 }]);
      const courier = await start(config);
      await produceRaw(config, [{ key: 'slow-key', value: eventJson('slow') }]);
      await waitFor(() => receiver.requests.length === 1, { message: 'the slow request' });
      await produceRaw(
        config,
        Array.from({ length: 20 }, (_, i) => ({ key: `key-${i}`, value: eventJson(`other-${i}`) })),
      );
      assert.equal(await slowReleased, 'all others arrived');
      await waitFor(() => courier.attempts.filter((a) => a.outcome === 'delivered').length === 21, {
        message: '21 deliveries',
      });
      await courier.stop();
    } finally {
      clearTimeout(guard);
      await receiver.close();
    }
  });
});

describe('a message held twice at the head of its partition', () => {
  test('never repeats the retries and dead letters finished after it', async () => {
    // a: 401 twice (the destination pauses each time), then 200. b and c: always 503, so each is
    // retried once and then dead-lettered (maxAttempts 2): exactly 2 requests and 1 DLQ entry each.
    let bothOthers!: () => void;
    const othersSent = new Promise<void>((resolve) => {
      bothOthers = resolve;
    });
    const firstOf = new Set<string>();
    const receiver = await startReceiver((req) => {
      if (req.json.id === 'a') {
        if (req.nth === 1) return { status: 401, until: othersSent };
        return { status: req.nth === 2 ? 401 : 200 };
      }
      firstOf.add(req.json.id);
      if (firstOf.size === 2) bothOthers();
      return { status: 503 };
    });
    const config = testConfig(
      [
        {
          id: 'held',
          url: receiver.url,
          concurrency: 4,
          retry: { baseDelayMs: 50, maxDelayMs: 200, maxAttempts: 2, jitter: 0 },
        },
      ],
      { kafka: { partitions: { destination: 1 } } },
    );
    const { control, redis } = destinationControl(config);
    try {
      const courier = await start(config);
      await produceRaw(config, [
        { key: 'a', value: eventJson('a') },
        { key: 'b', value: eventJson('b') },
        { key: 'c', value: eventJson('c') },
      ]);
      const paused = (n: number) => () => courier.attempts.filter((x) => x.outcome === 'paused').length >= n;
      await waitFor(paused(1), { message: 'the first pause' });
      await control.resume('held');
      await waitFor(paused(2), { message: 'the second pause' });
      await control.resume('held');
      await waitFor(() => courier.attempts.some((x) => x.eventId === 'a' && x.outcome === 'delivered'), {
        message: 'a delivered',
      });
      const letters = await readDlq(config, 'held', 2);
      const names = topicNames(config);
      await waitForDrained(config, `${config.kafka.topicPrefix}-deliver.held`, [names.dest('held')]);
      await waitForDrained(config, `${config.kafka.topicPrefix}-retry`, config.retryTiers.map(names.retry));
      const sent = (id: string) => receiver.requests.filter((r) => r.json.id === id).length;
      assert.deepEqual([sent('a'), sent('b'), sent('c')], [3, 2, 2], 'requests per event');
      assert.deepEqual(letters.map((m) => m.key?.toString()).sort(), ['b', 'c'], 'one dead letter each');
      assert.equal((await readDlq(config, 'held', 3, 1500)).length, 2, 'and no more');
      await courier.stop();
    } finally {
      redis.disconnect();
      await receiver.close();
    }
  });
});

describe('a 2xx whose body is slow or cut off', () => {
  let server: Server;
  after(() => {
    server?.closeAllConnections();
    server?.close();
  });

  test('is delivered on the first attempt: the status line decides, the snippet is best effort', async () => {
    const seen: string[] = [];
    server = createServer((req, res) => {
      const id = String(req.headers['webhook-id']);
      seen.push(id);
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-length': '100000' });
        if (id === 'drip') {
          // One byte every 300 ms, for longer than the 1 s timeout.
          const timer = setInterval(() => res.write('x'), 300);
          res.on('close', () => clearInterval(timer));
        } else {
          res.write('partial body');
          setTimeout(() => res.socket?.destroy(), 50);
        }
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
    const config = testConfig([{ id: 'dribble', url, timeoutMs: 1000 }]);
    const courier = await start(config);
    await produceRaw(config, [
      { key: 'd', value: eventJson('drip') },
      { key: 'r', value: eventJson('reset') },
    ]);
    await waitFor(() => courier.attempts.length >= 2, { message: 'two attempt records' });
    const outcomes = courier.attempts.map((a) => [a.eventId, a.outcome, a.status, a.attempt]).sort();
    assert.deepEqual(outcomes, [
      ['drip', 'delivered', 200, 1],
      ['reset', 'delivered', 200, 1],
    ]);
    await courier.stop();
    assert.deepEqual(seen.sort(), ['drip', 'reset'], 'one request each');
  });
});

describe('an already-delivered backlog', () => {
  test('is skipped without spending rate-limit permits', async () => {
    const receiver = await startReceiver();
    const config = testConfig([{ id: 'limited', url: receiver.url, rateLimit: { perSecond: 1, burst: 1 } }]);
    const redis = createRedis(config.redis);
    try {
      const keys = redisKeys(config.kafka.topicPrefix);
      const delivered = new DeliveredKeySet({
        redis,
        keys,
        destination: 'limited',
        ttlMs: 60_000,
        lockMs: 1000,
      });
      const ids = Array.from({ length: 40 }, (_, i) => `done-${i}`);
      await Promise.all(ids.map((id) => delivered.markDelivered(id, delivered.newToken())));
      // As a running Courier leaves them once the delivery log has their records.
      await delivered.confirm(ids);
      const courier = await start(config);
      await produceRaw(
        config,
        ids.map((id, i) => ({ key: `k${i}`, value: eventJson(id) })),
      );
      // At 1 permit a second, spending permits would take 40 s; the test's deadline is 20 s.
      await waitFor(() => courier.attempts.filter((a) => a.outcome === 'duplicate-skipped').length === 40, {
        message: '40 skipped duplicates',
      });
      assert.equal(receiver.requests.length, 0, 'nothing sent');
      assert.equal(await redis.exists(keys.rate('limited')), 0, 'no permit taken');
      await courier.stop();
    } finally {
      redis.disconnect();
      await receiver.close();
    }
  });
});

describe('courier resume', () => {
  test('clears a Retry-After on the instance that received the 429', async () => {
    const receiver = await startReceiver((req) =>
      req.json.id === 'first' && req.nth === 1
        ? { status: 429, headers: { 'retry-after': '60' } }
        : { status: 200 },
    );
    const config = testConfig(
      [
        {
          id: 'throttled',
          url: receiver.url,
          retry: { baseDelayMs: 50, maxDelayMs: 60_000, maxAttempts: 8, jitter: 0 },
        },
      ],
      { retryTiers: ['50ms', '1s', '1m'] },
    );
    const { control, redis } = destinationControl(config);
    try {
      const courier = await start(config);
      await produceRaw(config, [{ key: 'a', value: eventJson('first') }]);
      await waitFor(() => courier.attempts.some((a) => a.outcome === 'retry'), { message: 'the 429' });
      await produceRaw(config, [{ key: 'b', value: eventJson('second') }]);
      assert.equal(await control.resume('throttled'), true, 'there was a pause to clear');
      // Held for the full minute otherwise; the deadline leaves 40 s of headroom.
      await waitFor(() => receiver.accepted.some((r) => r.json.id === 'second'), {
        message: 'the second event after resume',
        timeoutMs: 20_000,
      });
      await courier.stop();
    } finally {
      redis.disconnect();
      await receiver.close();
    }
  });
});

describe('messages without an event id', () => {
  test('at the same offset of two partitions are both delivered', async () => {
    const receiver = await startReceiver();
    const config = testConfig([{ id: 'raw', url: receiver.url }]);
    const courier = await start(config);
    const topic = topicNames(config).dest('raw');
    await withAdmin(config, async (_admin, kafka) => {
      const producer = kafka.producer();
      await producer.connect();
      await producer.send({
        topic,
        messages: [
          { partition: 0, key: 'x', value: '{"p":0}' },
          { partition: 1, key: 'y', value: '{"p":1}' },
        ],
      });
      await producer.disconnect();
    });
    await waitFor(() => receiver.accepted.length === 2, { message: 'both delivered' });
    assert.deepEqual(receiver.accepted.map((r) => r.headers['webhook-id']).sort(), [
      'offset-0-0',
      'offset-1-0',
    ]);
    await courier.stop();
    await receiver.close();
  });
});
