// Courier on the other Redis topologies it supports, each a real server from stack.sh: TLS
// (rediss:// with the stack's private CA) with an ACL user, and a master found through Redis
// Sentinel. Each delivers events end to end with a forced duplicate suppressed (the claim and
// markDelivered scripts on that connection); a wrong ACL password is refused.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createRedis } from '../src/redis/client.ts';
import { createLogger } from '../src/telemetry/logger.ts';
import { type RunningCourier, startCourier } from './helpers/courier.ts';
import { eventJson } from './helpers/measure.ts';
import {
  ensureRedisSentinel,
  ensureRedisTls,
  REDIS_SENTINEL,
  REDIS_TLS,
  SECURE_KAFKA,
} from './helpers/optionalStack.ts';
import { type Receiver, startReceiver } from './helpers/receiver.ts';
import { produceRaw, provision, testConfig, waitFor } from './helpers/stack.ts';

const stops: Array<() => Promise<void>> = [];
let receiver: Receiver;
const running: RunningCourier[] = [];

before(async () => {
  stops.push(await ensureRedisTls(), await ensureRedisSentinel());
  receiver = await startReceiver();
});
after(async () => {
  for (const c of running) await c.stop();
  await receiver.close();
  for (const stop of stops) await stop();
});

async function deliversOnce(redis: Record<string, unknown>, label: string): Promise<void> {
  const config = testConfig([{ id: 'crm', url: receiver.url, concurrency: 4 }], { redis });
  await provision(config);
  const courier = await startCourier(config);
  running.push(courier);
  const ids = Array.from({ length: 10 }, (_, i) => `${label}-${i}`);
  await produceRaw(
    config,
    [...ids, ids[0] as string].map((id) => ({ key: id, value: eventJson(id) })),
  );
  await waitFor(
    () => courier.attempts.some((a) => a.eventId === ids[0] && a.outcome === 'duplicate-skipped'),
    {
      timeoutMs: 30_000,
      message: `${label}: the duplicate skipped`,
    },
  );
  await waitFor(() => ids.every((id) => receiver.accepted.some((r) => r.json.id === id)), {
    message: `${label}: every event delivered`,
  });
  const sent = receiver.requests.filter((r) => r.json.id.startsWith(`${label}-`)).map((r) => r.json.id);
  assert.equal(sent.length, ids.length, `${label}: no event sent twice`);
  await courier.stop();
}

test('Redis over TLS (rediss://, private CA) with an ACL user', async () => {
  await deliversOnce(
    {
      url: REDIS_TLS.url,
      username: REDIS_TLS.username,
      password: REDIS_TLS.password,
      tls: { ca: `${SECURE_KAFKA.certDir}/ca.pem` },
    },
    'tls',
  );
});

test('a wrong ACL password is refused, and told once however often ioredis retries', async () => {
  const lines: Array<{ msg: string; err?: string; redis?: string }> = [];
  const logger = createLogger({
    level: 'info',
    destination: { write: (s: string) => lines.push(JSON.parse(s)) },
  });
  const redis = createRedis(
    {
      url: REDIS_TLS.url,
      username: REDIS_TLS.username,
      password: 'wrong',
      tls: { ca: `${SECURE_KAFKA.certDir}/ca.pem`, rejectUnauthorized: true },
    },
    { logger },
  );
  let reconnects = 0;
  redis.on('reconnecting', () => reconnects++);
  try {
    await waitFor(() => reconnects >= 3, { timeoutMs: 30_000, message: 'ioredis retrying' });
    const told = lines.filter((l) => l.msg === 'redis unreachable; retrying');
    assert.equal(told.length, 1, JSON.stringify(lines));
    assert.match(String(told[0]?.err), /WRONGPASS/);
    assert.equal(told[0]?.redis, 'rediss://127.0.0.1:7301', 'the address, never the password');
    assert.ok(!JSON.stringify(lines).includes('wrong'), 'the password is not logged');
  } finally {
    redis.disconnect();
  }
});

test('Redis Sentinel: the master is found through the sentinel', async () => {
  await deliversOnce({ sentinel: REDIS_SENTINEL }, 'sentinel');
});
