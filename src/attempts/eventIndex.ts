// "What happened to event X?" in one lookup. The index keeps, per (event, destination), its state
// and where its attempt records are in the attempts topic — in the destination's day buckets
// (../redis/buckets.ts), beside the delivered mark, not copies of the records. `inspect` reads
// the entries, then exactly those records from Kafka.
import { randomUUID } from 'node:crypto';
import type { Kafka } from 'kafkajs';
import { type BucketEntry, bucketDays, bucketExpiresAt, parseEntry, STATE_LETTER } from '../redis/buckets.ts';
import type { CourierRedis } from '../redis/client.ts';
import type { RedisKeys } from '../redis/keys.ts';
import type { AttemptRecord } from '../telemetry/events.ts';

const LETTER: Record<AttemptRecord['outcome'], string> = {
  delivered: STATE_LETTER.delivered,
  'duplicate-skipped': STATE_LETTER.delivered,
  retry: STATE_LETTER.retrying,
  dlq: STATE_LETTER['dead-lettered'],
  paused: STATE_LETTER.paused,
};

/** An attempt record and where it was written. */
export interface LocatedAttempt {
  record: AttemptRecord;
  partition: number;
  offset: number;
}

export class EventIndex {
  private readonly redis: CourierRedis;
  private readonly keys: RedisKeys;
  private readonly windowMs: number;

  constructor(options: { redis: CourierRedis; keys: RedisKeys; ttlMs: number }) {
    this.redis = options.redis;
    this.keys = options.keys;
    this.windowMs = options.ttlMs;
  }

  /** Records where a batch of attempt records went: one script call per destination, pipelined. */
  async recordAttempts(located: LocatedAttempt[]): Promise<void> {
    const now = Date.now();
    const byDestination = new Map<string, LocatedAttempt[]>();
    for (const l of located) {
      const list = byDestination.get(l.record.destination);
      if (list) list.push(l);
      else byDestination.set(l.record.destination, [l]);
    }
    await Promise.all(
      [...byDestination].map(([destination, list]) => {
        const buckets = this.buckets(destination, now);
        return this.redis.indexAttempts(
          buckets.length,
          ...buckets,
          buckets.length,
          bucketExpiresAt(now, this.windowMs),
          ...list.flatMap(({ record, partition, offset }) => [
            record.eventId,
            LETTER[record.outcome],
            record.attempt,
            partition,
            offset.toString(36),
          ]),
        );
      }),
    );
  }

  /** Each destination's entry for the event (those that handled it within the window). */
  async lookup(eventId: string, destinations: readonly string[]): Promise<Record<string, BucketEntry>> {
    const out: Record<string, BucketEntry> = {};
    await Promise.all(
      destinations.map(async (destination) => {
        for (const bucket of this.buckets(destination, Date.now())) {
          const value = await this.redis.hget(bucket, eventId);
          const entry = value === null ? undefined : parseEntry(value);
          if (entry) {
            out[destination] = entry;
            return;
          }
        }
      }),
    );
    return out;
  }

  private buckets(destination: string, now: number): string[] {
    return bucketDays(now, this.windowMs).map((day) => this.keys.deliveries(destination, day));
  }
}

/**
 * Reads the attempt records at the given offsets of the attempts topic (a throwaway consumer
 * group that starts at exactly those offsets), oldest first; gives up after `timeoutMs`.
 */
export async function readAttemptRecords(
  kafka: Kafka,
  topic: string,
  eventId: string,
  locations: ReadonlyArray<{ partition: number; offsets: readonly number[] }>,
  timeoutMs = 15_000,
): Promise<AttemptRecord[]> {
  const wanted = new Map<number, Set<number>>();
  for (const l of locations) {
    const set = wanted.get(l.partition) ?? new Set<number>();
    for (const o of l.offsets) set.add(o);
    wanted.set(l.partition, set);
  }
  let remaining = [...wanted.values()].reduce((n, s) => n + s.size, 0);
  if (remaining === 0) return [];
  const groupId = `courier-inspect-${randomUUID()}`;
  const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 100 });
  const found: AttemptRecord[] = [];
  try {
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: false });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(resolve, timeoutMs);
      consumer
        .run({
          eachMessage: async ({ partition, message }) => {
            const set = wanted.get(partition);
            const offset = Number(message.offset);
            if (!set?.has(offset)) return;
            set.delete(offset);
            remaining -= 1;
            if (message.key?.toString('utf8') === eventId && message.value) {
              found.push(JSON.parse(message.value.toString('utf8')) as AttemptRecord);
            }
            if (remaining === 0) {
              clearTimeout(timer);
              resolve();
            }
          },
        })
        .catch(reject);
      for (const [partition, offsets] of wanted) {
        consumer.seek({ topic, partition, offset: String(Math.min(...offsets)) });
      }
    });
  } finally {
    await consumer.disconnect().catch(() => {});
    const admin = kafka.admin();
    await admin
      .connect()
      .then(() => admin.deleteGroups([groupId]))
      .catch(() => {})
      .finally(() => admin.disconnect());
  }
  return found.sort((a, b) => a.at.localeCompare(b.at) || a.attempt - b.attempt);
}
