// Reads exact offset ranges of a topic, for the operator's tools (dlq list and show, attempts,
// inspect, replay by id): time bounds become offsets (`offsetsAt`), and each partition is read from
// `from` up to `to` and no further, through a throwaway consumer group that seeks there and is
// deleted afterwards. kafkajs has no group-less consumer, so the group is the price of a read; on
// brokers with `group.initial.rebalance.delay.ms` (3 s by default) each read pays it once.
import { randomUUID } from 'node:crypto';
import type { Admin, Kafka, KafkaMessage } from 'kafkajs';

/** Offsets [from, to) of one partition. */
export interface PartitionRange {
  partition: number;
  from: number;
  to: number;
}

/** Per partition, the first offset whose timestamp is at or after `ms`; the end where none is. */
export async function offsetsAt(admin: Admin, topic: string, ms: number): Promise<Map<number, number>> {
  const [byTime, ends] = await Promise.all([
    admin.fetchTopicOffsetsByTimestamp(topic, ms),
    admin.fetchTopicOffsets(topic),
  ]);
  const high = new Map(ends.map((p) => [p.partition, Number(p.high)]));
  return new Map(
    byTime.map((p) => [p.partition, Number(p.offset) < 0 ? (high.get(p.partition) ?? 0) : Number(p.offset)]),
  );
}

/** The ranges of `topic` holding messages written in [sinceMs, untilMs) (the whole topic when unset). */
export async function rangesBetween(
  admin: Admin,
  topic: string,
  bounds: { sinceMs?: number; untilMs?: number; partitions?: readonly number[] } = {},
): Promise<PartitionRange[]> {
  const ends = await admin.fetchTopicOffsets(topic);
  const from = bounds.sinceMs === undefined ? undefined : await offsetsAt(admin, topic, bounds.sinceMs);
  const to = bounds.untilMs === undefined ? undefined : await offsetsAt(admin, topic, bounds.untilMs);
  return ends
    .filter((p) => !bounds.partitions || bounds.partitions.includes(p.partition))
    .map((p) => ({
      partition: p.partition,
      from: Math.max(Number(p.low), from?.get(p.partition) ?? Number(p.low)),
      to: Math.min(Number(p.high), to?.get(p.partition) ?? Number(p.high)),
    }))
    .filter((r) => r.to > r.from)
    .sort((a, b) => a.partition - b.partition);
}

export interface ReadRangesOptions {
  kafka: Kafka;
  admin: Admin;
  topic: string;
  ranges: readonly PartitionRange[];
  /** Called for every message in the ranges, in offset order per partition; return true to stop early. */
  onMessage: (message: KafkaMessage, partition: number) => boolean | undefined | Promise<boolean | undefined>;
  /** Names the throwaway group: `<prefix>-read-<uuid>`. */
  groupPrefix: string;
  /** Gives up (resolving `complete: false`) after this long. */
  timeoutMs?: number;
}

/** Reads the ranges; `complete` is false when stopped early or timed out. */
export async function readRanges(o: ReadRangesOptions): Promise<{ complete: boolean; read: number }> {
  const pending = new Map(o.ranges.filter((r) => r.to > r.from).map((r) => [r.partition, r]));
  if (pending.size === 0) return { complete: true, read: 0 };
  const groupId = `${o.groupPrefix}-read-${randomUUID()}`;
  const consumer = o.kafka.consumer({ groupId, maxWaitTimeInMs: 100, maxBytesPerPartition: 1024 * 1024 });
  let read = 0;
  let stopped = false;
  try {
    await consumer.connect();
    await consumer.subscribe({ topic: o.topic, fromBeginning: false });
    const complete = await new Promise<boolean>((resolve, reject) => {
      const timer = setTimeout(() => resolve(false), o.timeoutMs ?? 60_000);
      const finish = (value: boolean) => {
        clearTimeout(timer);
        resolve(value);
      };
      consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
        // Partitions outside the ranges are never fetched.
        const assigned = payload.memberAssignment[o.topic] ?? [];
        const idle = assigned.filter((p) => !pending.has(p));
        if (idle.length > 0) consumer.pause([{ topic: o.topic, partitions: idle }]);
      });
      consumer
        .run({
          // Nothing is committed; resolving each batch moves the fetch position on.
          autoCommit: false,
          partitionsConsumedConcurrently: 4,
          eachBatch: async ({ batch, isRunning }) => {
            const range = pending.get(batch.partition);
            if (!range) return;
            for (const message of batch.messages) {
              if (!isRunning() || stopped) return;
              const offset = Number(message.offset);
              if (offset < range.from) continue;
              if (offset >= range.to) break;
              read += 1;
              if (await o.onMessage(message, batch.partition)) {
                stopped = true;
                finish(false);
                return;
              }
            }
            if (Number(batch.messages.at(-1)?.offset ?? -1) + 1 >= range.to) {
              pending.delete(batch.partition);
              consumer.pause([{ topic: o.topic, partitions: [batch.partition] }]);
            }
            if (pending.size === 0) finish(true);
          },
        })
        .catch(reject);
      for (const r of pending.values()) {
        consumer.seek({ topic: o.topic, partition: r.partition, offset: String(r.from) });
      }
    });
    return { complete, read };
  } finally {
    await consumer.disconnect().catch(() => {});
    await o.admin.deleteGroups([groupId]).catch(() => {});
  }
}

/** The message at one offset, or undefined when the topic no longer holds it (retention). */
export async function readRecord(
  o: Omit<ReadRangesOptions, 'ranges' | 'onMessage'> & { partition: number; offset: number },
): Promise<KafkaMessage | undefined> {
  const [range] = await rangesBetween(o.admin, o.topic, { partitions: [o.partition] });
  if (!range || o.offset < range.from || o.offset >= range.to) return undefined;
  let found: KafkaMessage | undefined;
  await readRanges({
    ...o,
    ranges: [{ partition: o.partition, from: o.offset, to: o.offset + 1 }],
    onMessage: (message) => {
      found = message;
      return true;
    },
  });
  return found;
}
