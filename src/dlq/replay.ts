// `courier replay`: re-sends a destination's DLQ (or, with --source delivered, its destination
// topic, forcing re-delivery) through a replay consumer group. The window starts at --from (the
// group is reset to the first offset at or after it, as kafka-consumer-groups --to-datetime
// would) or, without --from, at the offsets the group has committed, as Kafka's own tool
// (kafka-consumer-groups --reset-offsets) left them. It ends at --to or at the end offsets
// captured at the start, paced at --rate per second, after checking the destination is healthy.
// Each re-sent record carries the producer's own headers and the Courier headers replay writes
// from typed metadata; no courier-* header of the source record is copied onward.
import { randomUUID } from 'node:crypto';
import type { Admin, IHeaders, KafkaMessage } from 'kafkajs';
import type { CourierConfig } from '../config/schema.ts';
import { destinationTls } from '../credentials/credentials.ts';
import { CourierError, UsageError } from '../errors.ts';
import { createKafka, createProducer } from '../kafka/client.ts';
import { H, headerString } from '../kafka/headers.ts';
import { destinationRecord, userHeaders } from '../kafka/records.ts';
import { consumerGroups, topicNames } from '../kafka/topics.ts';
import { createRedis } from '../redis/client.ts';
import { DeliveredKeySet } from '../redis/deliveredKeySet.ts';
import { DestinationControl } from '../redis/destinationControl.ts';
import { redisKeys } from '../redis/keys.ts';
import type { Logger } from '../telemetry/logger.ts';
import { VERSION } from '../version.ts';
import { checkReadiness } from './readiness.ts';

export interface ReplayOptions {
  config: CourierConfig;
  logger: Logger;
  destination: string;
  /**
   * Start of the window (ISO-8601). Undefined: start at the replay group's committed offsets,
   * as Kafka's own tool left them; a partition without one starts at its end (nothing to replay).
   */
  from?: string | undefined;
  to?: string;
  rate: number;
  dryRun: boolean;
  source: 'dlq' | 'delivered';
  print: (line: string) => void;
}

export interface ReplaySummary {
  found: number;
  resent: number;
  skipped: number;
}

function parseTime(label: string, flag: string): number {
  const ms = Date.parse(label);
  if (Number.isNaN(ms)) throw new UsageError(`--${flag} must be an ISO-8601 time, got "${label}"`);
  return ms;
}

/**
 * The headers of a re-sent record: the producer's own headers (none named courier-*), and the
 * destination record's Courier headers written from typed metadata — the event id and type,
 * attempt 0 (a fresh retry budget) and the replay marks. Nothing else of the source record's
 * courier-* headers (due times, attempt counts, errors, earlier replay marks) travels on.
 */
export function replayHeaders(
  source: IHeaders | undefined,
  replay: {
    destination: string;
    replayedAt: string;
    source: 'dlq' | 'delivered';
    partition: number;
    offset: string;
  },
): IHeaders {
  const eventId = headerString(source, H.eventId);
  const eventType = headerString(source, H.eventType);
  const record = destinationRecord(replay.destination, {
    key: null,
    value: null,
    userHeaders: userHeaders(source),
    meta: {
      eventId: eventId ?? '',
      ...(eventType ? { eventType } : {}),
      attemptsBefore: 0,
      replay: {
        at: replay.replayedAt,
        offset: `${replay.partition}:${replay.offset}`,
        source: replay.source,
      },
      force: replay.source === 'delivered',
    },
  });
  const headers = record.headers as IHeaders;
  // No id invented: the delivery core qualifies a record without one by its own offset.
  if (!eventId) delete headers[H.eventId];
  return headers;
}

/** First offset at or after `ms` per partition; the high watermark where no message is that late. */
async function offsetsAt(admin: Admin, topic: string, ms: number): Promise<Map<number, number>> {
  const [byTime, high] = await Promise.all([
    admin.fetchTopicOffsetsByTimestamp(topic, ms),
    admin.fetchTopicOffsets(topic),
  ]);
  const highOf = new Map(high.map((p) => [p.partition, Number(p.high)]));
  return new Map(
    byTime.map((p) => [
      p.partition,
      Number(p.offset) < 0 ? (highOf.get(p.partition) ?? 0) : Number(p.offset),
    ]),
  );
}

/**
 * Where the group's committed offsets put the start of each partition, kept within the offsets
 * the topic still holds; partitions without a committed offset start at their end.
 */
async function committedStart(
  admin: Admin,
  groupId: string,
  topic: string,
): Promise<{ start: Map<number, number>; uncommitted: number[] }> {
  const [offsets, committed] = await Promise.all([
    admin.fetchTopicOffsets(topic),
    admin.fetchOffsets({ groupId, topics: [topic] }),
  ]);
  const committedOf = new Map(
    (committed.find((t) => t.topic === topic)?.partitions ?? []).map((p) => [p.partition, Number(p.offset)]),
  );
  const start = new Map<number, number>();
  const uncommitted: number[] = [];
  for (const p of offsets) {
    const offset = committedOf.get(p.partition) ?? -1;
    const [low, high] = [Number(p.low), Number(p.high)];
    if (offset < 0) uncommitted.push(p.partition);
    start.set(p.partition, offset < 0 ? high : Math.min(high, Math.max(low, offset)));
  }
  return { start, uncommitted: uncommitted.sort((a, b) => a - b) };
}

export async function replay(o: ReplayOptions): Promise<number> {
  const summary = await runReplay(o);
  o.print(
    `replay ${o.dryRun ? '(dry run) ' : ''}of ${o.destination}: found ${summary.found}, re-sent ${summary.resent}, skipped ${summary.skipped} (already delivered)`,
  );
  return 0;
}

export async function runReplay(o: ReplayOptions): Promise<ReplaySummary> {
  const { config } = o;
  const fromMs = o.from === undefined ? undefined : parseTime(o.from, 'from');
  const toMs = o.to === undefined ? undefined : parseTime(o.to, 'to');
  if (toMs !== undefined && fromMs !== undefined && toMs <= fromMs) {
    throw new UsageError('--to must be after --from');
  }
  if (o.source !== 'dlq' && o.source !== 'delivered') throw new UsageError('--source is dlq or delivered');
  const destination = config.destinations.find((d) => d.id === o.destination);
  if (!destination) throw new UsageError(`unknown destination "${o.destination}"`);
  const names = topicNames(config);
  const sourceTopic = o.source === 'dlq' ? names.dlq(destination.id) : names.dest(destination.id);
  const keys = redisKeys(config.kafka.topicPrefix);
  const redis = createRedis(config.redis, { logger: o.logger });
  const kafka = createKafka(config, o.logger);
  const admin = kafka.admin();
  const log = o.logger.child({ component: 'replay', destination: destination.id });

  try {
    if (!o.dryRun) {
      const state = await new DestinationControl({ redis, keys }).state(destination.id);
      if (state.paused) {
        throw new CourierError(
          'REPLAY_DESTINATION_PAUSED',
          `destination ${destination.id} is paused (${state.reason}); resume it first`,
        );
      }
      const tls = destinationTls(destination); // an mTLS receiver answers only with the client certificate
      const ready = await checkReadiness({
        url: destination.url,
        method: 'HEAD',
        timeoutMs: destination.timeoutMs,
        allowPrivateAddresses: config.network.allowPrivateAddresses,
        userAgent: `courier/${VERSION}`,
        ...(tls ? { tls } : {}),
      });
      if (ready.status === undefined) {
        throw new CourierError(
          'REPLAY_DESTINATION_UNREACHABLE',
          `destination ${destination.id} is not reachable (${ready.answer}); a replay now would only fill the retry topics`,
        );
      }
    }

    await admin.connect();
    const groups = consumerGroups(config);
    const replayGroup =
      o.source === 'dlq' ? groups.replay(destination.id) : groups.replayDelivered(destination.id);
    let start: Map<number, number>;
    if (fromMs === undefined) {
      const committed = await committedStart(admin, replayGroup, sourceTopic);
      start = committed.start;
      for (const partition of committed.uncommitted) {
        o.print(
          `partition ${partition} of ${sourceTopic}: group ${replayGroup} has no committed offset; starting at the end (nothing to replay there)`,
        );
      }
    } else {
      start = await offsetsAt(admin, sourceTopic, fromMs);
    }
    const end =
      toMs === undefined
        ? new Map((await admin.fetchTopicOffsets(sourceTopic)).map((p) => [p.partition, Number(p.high)]))
        : await offsetsAt(admin, sourceTopic, toMs);
    const pending = new Set([...start].filter(([p, offset]) => offset < (end.get(p) ?? 0)).map(([p]) => p));
    const summary: ReplaySummary = { found: 0, resent: 0, skipped: 0 };
    if (pending.size === 0) {
      if (fromMs === undefined) {
        o.print(
          `nothing to replay: group ${replayGroup} is at the end of ${sourceTopic}; reset its offsets (kafka-consumer-groups --reset-offsets) or pass --from`,
        );
      }
      return summary;
    }

    // A dry run reads the same window through a throwaway group, leaving the real one as it is.
    const groupId = o.dryRun ? `${replayGroup}-dry-run-${randomUUID()}` : replayGroup;
    // With --from, the same reset Kafka's own tool does (kafka-consumer-groups --reset-offsets
    // --to-datetime); without, the committed offsets again, kept within what the topic holds.
    await admin.setOffsets({
      groupId,
      topic: sourceTopic,
      partitions: [...start].map(([partition, offset]) => ({ partition, offset: String(offset) })),
    });

    const delivered = new DeliveredKeySet({
      redis,
      keys,
      destination: destination.id,
      ttlMs: config.idempotency.windowMs,
      lockMs: 1,
    });
    const producer = createProducer(kafka);
    const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 200 });
    const spacingMs = 1000 / o.rate;
    let nextSendAt = Date.now();
    const replayedAt = new Date().toISOString();

    const handle = async (message: KafkaMessage, partition: number) => {
      summary.found += 1;
      const eventId = headerString(message.headers, H.eventId) ?? '(unknown)';
      if (o.source === 'dlq' && (await delivered.isDelivered(eventId))) {
        summary.skipped += 1;
        o.print(`skip     ${eventId} (partition ${partition} offset ${message.offset}): already delivered`);
        return;
      }
      if (o.dryRun) {
        const cls = headerString(message.headers, H.errorClass);
        o.print(
          `would re-send ${eventId} (partition ${partition} offset ${message.offset}${cls ? `, ${cls}` : ''})`,
        );
        return;
      }
      const wait = nextSendAt - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      nextSendAt = Math.max(Date.now(), nextSendAt) + spacingMs;
      await producer.send({
        topic: names.dest(destination.id),
        acks: -1,
        messages: [
          {
            key: message.key,
            value: message.value,
            headers: replayHeaders(message.headers, {
              destination: destination.id,
              replayedAt,
              source: o.source,
              partition,
              offset: message.offset,
            }),
          },
        ],
      });
      summary.resent += 1;
      o.print(`re-sent  ${eventId} (partition ${partition} offset ${message.offset})`);
    };

    await producer.connect();
    await consumer.connect();
    await consumer.subscribe({ topic: sourceTopic });
    await new Promise<void>((resolve, reject) => {
      consumer
        .run({
          autoCommit: false,
          eachBatchAutoResolve: false,
          eachBatch: async ({ batch, resolveOffset }) => {
            const last = end.get(batch.partition) ?? 0;
            for (const message of batch.messages) {
              if (Number(message.offset) >= last) break;
              await handle(message, batch.partition);
              resolveOffset(message.offset);
              if (!o.dryRun) {
                await consumer.commitOffsets([
                  {
                    topic: sourceTopic,
                    partition: batch.partition,
                    offset: String(Number(message.offset) + 1),
                  },
                ]);
              }
              if (Number(message.offset) + 1 >= last) {
                pending.delete(batch.partition);
                log.info({ partition: batch.partition }, 'partition replayed');
              }
            }
            if (pending.size === 0) resolve();
          },
        })
        .catch(reject);
    });
    await consumer.disconnect();
    await producer.disconnect();
    if (o.dryRun) await admin.deleteGroups([groupId]).catch(() => {});
    return summary;
  } finally {
    await admin.disconnect().catch(() => {});
    redis.disconnect();
  }
}
