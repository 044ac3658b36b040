// `courier replay`: re-sends a time window of a destination's DLQ (or, with --source delivered,
// of its destination topic, forcing re-delivery) through a replay consumer group whose offsets
// are reset to the window's start. Reads up to --to or the end offsets captured at the start,
// paced at --rate per second, after checking the destination is healthy.
import { randomUUID } from 'node:crypto';
import type { Admin, KafkaMessage } from 'kafkajs';
import { groupIds } from '../app.ts';
import type { CourierConfig } from '../config/schema.ts';
import { destinationTls } from '../credentials/credentials.ts';
import { DeliveredKeySet } from '../delivery/deliveredKeySet.ts';
import { DestinationControl } from '../delivery/destinationControl.ts';
import { createRedis, redisKeys } from '../delivery/redis.ts';
import { WebhookSender } from '../delivery/sender.ts';
import { CourierError, UsageError } from '../errors.ts';
import { createKafka, createProducer } from '../kafka/client.ts';
import { H, headerString, stringHeaders } from '../kafka/headers.ts';
import { topicNames } from '../kafka/topics.ts';
import type { Logger } from '../observability/logger.ts';
import { VERSION } from '../version.ts';

export interface ReplayOptions {
  config: CourierConfig;
  logger: Logger;
  destination: string;
  from: string;
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

export async function replay(o: ReplayOptions): Promise<number> {
  const summary = await runReplay(o);
  o.print(
    `replay ${o.dryRun ? '(dry run) ' : ''}of ${o.destination}: found ${summary.found}, re-sent ${summary.resent}, skipped ${summary.skipped} (already delivered)`,
  );
  return 0;
}

export async function runReplay(o: ReplayOptions): Promise<ReplaySummary> {
  const { config } = o;
  const fromMs = parseTime(o.from, 'from');
  const toMs = o.to === undefined ? undefined : parseTime(o.to, 'to');
  if (toMs !== undefined && toMs <= fromMs) throw new UsageError('--to must be after --from');
  if (o.source !== 'dlq' && o.source !== 'delivered') throw new UsageError('--source is dlq or delivered');
  const destination = config.destinations.find((d) => d.id === o.destination);
  if (!destination) throw new UsageError(`unknown destination "${o.destination}"`);
  const names = topicNames(config);
  const sourceTopic = o.source === 'dlq' ? names.dlq(destination.id) : names.dest(destination.id);
  const keys = redisKeys(config.kafka.topicPrefix);
  const redis = createRedis(config.redis.url);
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
      const sender = new WebhookSender({
        url: destination.url,
        timeoutMs: destination.timeoutMs,
        connections: 1,
        allowPrivateAddresses: config.network.allowPrivateAddresses,
        userAgent: `courier/${VERSION}`,
        ...(tls ? { tls } : {}),
      });
      const probe = await sender.probe();
      await sender.close();
      if (probe.status === undefined) {
        throw new CourierError(
          'REPLAY_DESTINATION_UNREACHABLE',
          `destination ${destination.id} is not reachable (${probe.errorCode}); a replay now would only fill the retry topics`,
        );
      }
    }

    await admin.connect();
    const start = await offsetsAt(admin, sourceTopic, fromMs);
    const end =
      toMs === undefined
        ? new Map((await admin.fetchTopicOffsets(sourceTopic)).map((p) => [p.partition, Number(p.high)]))
        : await offsetsAt(admin, sourceTopic, toMs);
    const pending = new Set([...start].filter(([p, offset]) => offset < (end.get(p) ?? 0)).map(([p]) => p));
    const summary: ReplaySummary = { found: 0, resent: 0, skipped: 0 };
    if (pending.size === 0) return summary;

    const groups = groupIds(config);
    const groupId = o.dryRun
      ? `${groups.replay(destination.id)}-dry-run-${randomUUID()}`
      : o.source === 'dlq'
        ? groups.replay(destination.id)
        : `${groups.replay(destination.id)}-delivered`;
    // The same reset Kafka's own tool does: kafka-consumer-groups --reset-offsets --to-datetime.
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
      const headers = stringHeaders(message.headers);
      for (const h of [
        H.dueAt,
        H.firstAttemptAt,
        H.lastAttemptAt,
        H.errorClass,
        H.lastStatus,
        H.lastError,
        H.responseSnippet,
        H.attempts,
      ]) {
        delete headers[h];
      }
      await producer.send({
        topic: names.dest(destination.id),
        acks: -1,
        messages: [
          {
            key: message.key,
            value: message.value,
            headers: {
              ...headers,
              [H.attempt]: '0',
              [H.replayedAt]: replayedAt,
              [H.replayOffset]: `${partition}:${message.offset}`,
              [H.replaySource]: o.source,
              ...(o.source === 'delivered' ? { [H.replayForce]: '1' } : {}),
            },
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
