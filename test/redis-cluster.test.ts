// Courier on a real three-node Redis Cluster (stack.sh redis-cluster): two instances share a
// rate-limited destination (the scaling path: GCRA script), a forced duplicate is suppressed
// (claim/markDelivered scripts), the event index is written and read (MULTI over an event's
// keys), and pause/resume/state work (DEL and MGET over a destination's keys). Any key pair
// outside one slot would fail here with CROSSSLOT.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { AttemptFilters } from '../src/attempts/attemptFilters.ts';
import { attemptPartitionOf } from '../src/attempts/attemptLog.ts';
import { type CourierRedis, createRedis } from '../src/redis/client.ts';
import { DestinationControl } from '../src/redis/destinationControl.ts';
import { redisKeys } from '../src/redis/keys.ts';
import { type RunningCourier, startCourier } from './helpers/courier.ts';
import { eventJson, maxInWindow } from './helpers/measure.ts';
import { ensureRedisCluster, REDIS_CLUSTER_NODES } from './helpers/optionalStack.ts';
import { type Receiver, startReceiver } from './helpers/receiver.ts';
import { produceRaw, provision, testConfig, waitFor } from './helpers/stack.ts';

let stopCluster: () => Promise<void> = async () => {};
let plain: Receiver;
let limited: Receiver;
const running: RunningCourier[] = [];
let redis: CourierRedis | undefined;

before(async () => {
  stopCluster = await ensureRedisCluster();
  plain = await startReceiver();
  limited = await startReceiver();
});
after(async () => {
  for (const c of running) await c.stop();
  redis?.disconnect();
  await plain.close();
  await limited.close();
  await stopCluster();
});

test('delivery, duplicate suppression and a shared rate limit through Redis Cluster', async () => {
  const perSecond = 10;
  const burst = 3;
  const N = 40;
  const config = testConfig(
    [
      // A long timeout: a request only goes out twice after an unknown outcome (a timeout), which a
      // loaded machine must not cause here.
      { id: 'plain', url: plain.url, concurrency: 8, timeoutMs: 30_000 },
      { id: 'limited', url: limited.url, concurrency: 8, timeoutMs: 30_000, rateLimit: { perSecond, burst } },
    ],
    { redis: { cluster: { nodes: REDIS_CLUSTER_NODES } } },
  );
  assert.ok(config.redis.cluster, 'the config selects the cluster');
  await provision(config);
  running.push(await startCourier(config), await startCourier(config));

  const events = Array.from({ length: N }, (_, i) => ({ key: `k${i % 7}`, value: eventJson(`evt-${i}`) }));
  await produceRaw(config, events);
  await waitFor(() => plain.requests.length >= N && limited.requests.length >= N, {
    timeoutMs: 60_000,
    message: `${N} deliveries to each destination`,
  });

  // A forced duplicate: the same event id produced again is skipped, not sent.
  await produceRaw(config, [{ key: 'k0', value: eventJson('evt-0') }]);
  const skipped = () =>
    running
      .flatMap((c) => c.attempts)
      .filter((a) => a.outcome === 'duplicate-skipped' && a.eventId === 'evt-0');
  await waitFor(() => skipped().length >= 2, {
    timeoutMs: 30_000,
    message: 'the duplicate skipped for both',
  });

  for (const [name, receiver] of [
    ['plain', plain],
    ['limited', limited],
  ] as const) {
    const ids = receiver.requests.map((r) => r.json.id);
    const retried = running
      .flatMap((c) => c.attempts)
      .filter((a) => a.destination === name && a.outcome === 'retry')
      .map((a) => `${a.eventId}:${a.errorCode ?? a.status}`);
    assert.equal(ids.length, N, `${name}: no event sent twice (retried: ${retried.join(' ') || 'none'})`);
    assert.equal(new Set(ids).size, N, `${name}: every event sent`);
  }
  // The limit is enforced when a request is admitted; arrival times at the receiver add the
  // jitter of a loaded machine, so the checks keep headroom: the span can only grow under load,
  // and the busiest second may exceed the admitted rate (observed up to +2) but stays far from
  // the ~40 an unlimited destination takes in one second.
  const limitedTimes = limited.requests.map((r) => r.at);
  const peak = maxInWindow(limitedTimes, 1000);
  const spanMs = Math.max(...limitedTimes) - Math.min(...limitedTimes);
  console.log(
    `redis cluster: ${N} rate-limited events over ${(spanMs / 1000).toFixed(1)} s, peak ${peak} in any 1 s (limit ${perSecond}/s + burst ${burst})`,
  );
  const minSpanMs = ((N - burst) / perSecond) * 1000;
  assert.ok(spanMs >= 0.75 * minSpanMs, `${spanMs} ms for ${N} events; the limit needs ${minSpanMs} ms`);
  assert.ok(peak <= 2 * (perSecond + burst), `peak ${peak} for ${perSecond}/s + burst ${burst}`);

  // The attempt filters (one slot per deployment, a script and a BITFIELD per flush) and operator
  // controls (DEL/MGET over a destination's pause keys) on the cluster.
  redis = createRedis(config.redis);
  const keys = redisKeys(config.kafka.topicPrefix);
  const filters = new AttemptFilters({ redis, keys, retentionMs: config.kafka.attemptsRetentionMs });
  const partition = attemptPartitionOf('evt-1', config.kafka.partitions.attempts);
  await waitFor(async () => (await filters.candidates(partition, 'evt-1')).length > 0, {
    timeoutMs: 30_000,
    message: 'evt-1 in the attempt filters',
  });
  const control = new DestinationControl({ redis, keys });
  await control.pause('limited', 'operator');
  await control.pauseUntil('limited', Date.now() + 60_000);
  assert.equal((await control.state('limited')).paused, true);
  assert.equal(await control.resume('limited'), true);
  assert.deepEqual(await control.state('limited'), { paused: false });
});
