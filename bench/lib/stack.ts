// The benchmark's own Kafka and Redis access (kafkajs and ioredis directly, not Courier's code,
// so the bench measures any version of Courier from outside): topics, producing backlogs and
// paced streams, watermarks, Redis command counts and memory, and cleaning up a run.

import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import {
  type Admin,
  type ConfigResourceTypes,
  Kafka,
  type KafkaMessage,
  logLevel,
  type Producer,
} from 'kafkajs';

// kafkajs' ConfigResourceTypes.TOPIC; the enum is not a named export of its CommonJS module.
const TOPIC_RESOURCE = 2 as ConfigResourceTypes;

import { eventBody, eventKey, nowMs } from './events.ts';

export const BROKERS = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

// Quiet: kafkajs logs retried errors (e.g. "not the leader" just after a topic was created);
// a send that finally fails throws.
export const kafka = new Kafka({ clientId: 'courier-bench', brokers: BROKERS, logLevel: logLevel.NOTHING });

let admin: Admin | undefined;
let producer: Producer | undefined;
let redis: Redis | undefined;

export async function getAdmin(): Promise<Admin> {
  if (!admin) {
    admin = kafka.admin();
    await admin.connect();
  }
  return admin;
}

async function getProducer(): Promise<Producer> {
  if (!producer) {
    producer = kafka.producer({ allowAutoTopicCreation: false });
    await producer.connect();
  }
  return producer;
}

export function getRedis(): Redis {
  redis ??= new Redis(REDIS_URL, { maxRetriesPerRequest: 3 });
  return redis;
}

export async function createTopic(topic: string, partitions: number): Promise<void> {
  await (await getAdmin()).createTopics({
    topics: [{ topic, numPartitions: partitions, replicationFactor: 1 }],
    waitForLeaders: true,
  });
}

/** Sets `max.message.bytes` on every topic whose name starts with `prefix` (only the run's own). */
export async function raiseMaxMessageBytes(prefix: string, bytes: number): Promise<string[]> {
  const a = await getAdmin();
  const topics = (await a.listTopics()).filter((t) => t.startsWith(prefix));
  await a.alterConfigs({
    validateOnly: false,
    resources: topics.map((name) => ({
      type: TOPIC_RESOURCE,
      name,
      configEntries: [{ name: 'max.message.bytes', value: String(bytes) }],
    })),
  });
  return topics;
}

/** Produces events `from`..`from+count-1` as fast as Kafka takes them (acks=all). */
export async function produceBacklog(options: {
  topic: string;
  run: string;
  count: number;
  from?: number;
}): Promise<void> {
  const p = await getProducer();
  const from = options.from ?? 0;
  const batch = 1000;
  const inFlight = new Set<Promise<unknown>>();
  for (let start = from; start < from + options.count; start += batch) {
    const end = Math.min(from + options.count, start + batch);
    const messages = [];
    for (let n = start; n < end; n++) messages.push({ key: eventKey(n), value: eventBody(options.run, n) });
    const sent: Promise<unknown> = p.send({ topic: options.topic, acks: -1, messages });
    inFlight.add(sent);
    sent.finally(() => inFlight.delete(sent)).catch(() => {});
    if (inFlight.size >= 4) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
}

/**
 * Produces `perSecond` events for `seconds`, each carrying its produce time, in 10 ms ticks.
 * Returns how many were produced.
 */
export async function producePaced(options: {
  topic: string;
  run: string;
  perSecond: number;
  seconds: number;
  from: number;
}): Promise<number> {
  const p = await getProducer();
  const total = Math.round(options.perSecond * options.seconds);
  const started = nowMs();
  const pending: Promise<unknown>[] = [];
  let sent = 0;
  while (sent < total) {
    const due = Math.min(total, Math.floor(((nowMs() - started) * options.perSecond) / 1000));
    if (due > sent) {
      const at = nowMs();
      const messages = [];
      for (let n = sent; n < due; n++) {
        const id = options.from + n;
        messages.push({ key: eventKey(id), value: eventBody(options.run, id, at) });
      }
      pending.push(p.send({ topic: options.topic, acks: -1, messages }));
      sent = due;
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  await Promise.all(pending);
  return total;
}

/**
 * Every message a topic holds now (up to each partition's high watermark), through a throwaway
 * consumer group deleted afterwards; gives up after `timeoutMs`.
 */
export async function readTopic(
  topic: string,
  onMessage: (message: KafkaMessage) => void,
  timeoutMs = 60_000,
): Promise<void> {
  const a = await getAdmin();
  const ends = new Map((await a.fetchTopicOffsets(topic)).map((p) => [p.partition, Number(p.high)] as const));
  const pending = new Set([...ends].filter(([, high]) => high > 0).map(([p]) => p));
  if (pending.size === 0) return;
  const groupId = `courier-bench-read-${randomUUID()}`;
  const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 100 });
  try {
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`reading ${topic} timed out`)), timeoutMs);
      consumer
        .run({
          autoCommit: false,
          eachBatch: async ({ batch }) => {
            const high = ends.get(batch.partition) ?? 0;
            for (const m of batch.messages) if (Number(m.offset) < high) onMessage(m);
            if (Number(batch.lastOffset()) + 1 >= high) pending.delete(batch.partition);
            if (pending.size === 0) {
              clearTimeout(timer);
              resolve();
            }
          },
        })
        .catch(reject);
    });
  } finally {
    await consumer.disconnect().catch(() => {});
    await a.deleteGroups([groupId]).catch(() => {});
  }
}

/** Messages on a topic: the sum of its partitions' high watermarks (topics start empty). */
export async function topicMessages(topic: string): Promise<number> {
  const offsets = await (await getAdmin()).fetchTopicOffsets(topic);
  return offsets.reduce((sum, o) => sum + Number(o.high), 0);
}

/** Server-wide total of command calls (INFO commandstats), commands run inside scripts included. */
export async function redisCalls(): Promise<number> {
  return (await redisCounters()).commands;
}

/**
 * Server-wide command counts (INFO commandstats): every command (those a script runs included),
 * script calls (EVALSHA/EVAL: one round trip each), and TIME, which only Courier's rate-limit
 * script calls — so TIME counts the rate limiter's trips to Redis.
 */
export async function redisCounters(): Promise<{ commands: number; scripts: number; limiter: number }> {
  const info = await getRedis().info('commandstats');
  const out = { commands: 0, scripts: 0, limiter: 0 };
  for (const m of info.matchAll(/cmdstat_([a-z|]+):calls=(\d+)/g)) {
    const n = Number(m[2]);
    out.commands += n;
    if (m[1] === 'evalsha' || m[1] === 'eval') out.scripts += n;
    if (m[1] === 'time') out.limiter += n;
  }
  return out;
}

export interface RedisFootprint {
  keys: number;
  bytes: number;
  /** Bytes per shape of key, e.g. `:delivered:d0:<id>`. */
  byKind: Record<string, { keys: number; bytes: number }>;
}

/**
 * Every key of a run: named `<prefix>…`, or hash-tagged `{<prefix>…}…` (Redis Cluster layout).
 * Yields one SCAN page at a time.
 */
async function* scanRun(prefix: string): AsyncGenerator<string[]> {
  for (const pattern of [`${prefix}*`, `{${prefix}*`]) {
    let cursor = '0';
    do {
      const [next, keys] = await getRedis().scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) yield keys;
    } while (cursor !== '0');
  }
}

/**
 * Every key under a prefix and its MEMORY USAGE, grouped by the key's shape (the text after the
 * prefix with the event id, which matches `eventId`, replaced by `<id>`).
 */
export async function redisFootprint(prefix: string, eventId: RegExp): Promise<RedisFootprint> {
  const r = getRedis();
  const out: RedisFootprint = { keys: 0, bytes: 0, byKind: {} };
  for await (const keys of scanRun(prefix)) {
    const pipe = r.pipeline();
    for (const k of keys) pipe.call('MEMORY', 'USAGE', k, 'SAMPLES', '0');
    const results = (await pipe.exec()) ?? [];
    keys.forEach((k, i) => {
      const bytes = Number(results[i]?.[1] ?? 0);
      // Long digit runs (time buckets, e.g. a day number) vary between runs: `<n>` keeps the
      // shape comparable.
      const kind =
        k
          .slice(k.startsWith('{') ? prefix.length + 1 : prefix.length)
          .replace(eventId, '<id>')
          .replace(/\d{4,}/g, '<n>')
          // A day's delivered marks are sharded (`:e:<day>:<generation>:<shard>`): one kind.
          .replace(/:e:<n>:\d+:\d+$/, ':e:<n>:<shard>') || '?';
      const slot = out.byKind[kind] ?? { keys: 0, bytes: 0 };
      out.byKind[kind] = slot;
      slot.keys++;
      slot.bytes += bytes;
      out.keys++;
      out.bytes += bytes;
    });
  }
  return out;
}

export async function redisKeyCount(prefix: string): Promise<number> {
  let n = 0;
  for await (const keys of scanRun(prefix)) n += keys.length;
  return n;
}

/** Deletes every topic, consumer group and Redis key whose name starts with the run's prefix. */
export async function cleanupRun(run: string, log: (line: string) => void): Promise<void> {
  try {
    const a = await getAdmin();
    const topics = (await a.listTopics()).filter((t) => t.startsWith(run));
    if (topics.length > 0) await a.deleteTopics({ topics, timeout: 30_000 });
    const { groups } = await a.listGroups();
    const mine = groups.map((g) => g.groupId).filter((g) => g.startsWith(run));
    if (mine.length > 0) await a.deleteGroups(mine).catch(() => {});
    log(`cleanup: deleted ${topics.length} topics, ${mine.length} consumer groups`);
  } catch (err) {
    log(`cleanup: Kafka: ${(err as Error).message}`);
  }
  try {
    const r = getRedis();
    let deleted = 0;
    for await (const keys of scanRun(run)) deleted += await r.unlink(...keys);
    log(`cleanup: deleted ${deleted} Redis keys`);
  } catch (err) {
    log(`cleanup: Redis: ${(err as Error).message}`);
  }
}

export async function closeClients(): Promise<void> {
  await producer?.disconnect().catch(() => {});
  await admin?.disconnect().catch(() => {});
  redis?.disconnect();
  producer = undefined;
  admin = undefined;
  redis = undefined;
}
