// `courier replay`: re-sends a destination's dead letters (or, with --source delivered, records of
// its destination topic, forcing re-delivery; or, with --source events, the events topic itself,
// routed and shaped for this one destination: a backfill) onto its destination topic, through
// the normal delivery path, paced, marked as replays, after a readiness check. Two ways to choose what:
//   - a window (replayPlan.ts): from --from, or from the replay group's committed offsets as
//     Kafka's own tool left them, to --to or the end; the group commits as it goes;
//   - event ids (--event, --ids-file): exactly those events, each found in the source topic; an id
//     that is not there refuses the whole replay, naming it.
// Each re-sent record carries the producer's own headers and the Courier headers replay writes
// from typed metadata; no courier-* header of the source record is copied onward.
import { randomUUID } from 'node:crypto';
import type { Admin, Kafka } from 'kafkajs';
import { requestTimeout } from '../config/destination.ts';
import { configVersion } from '../config/diff.ts';
import type { DestinationConfig } from '../config/schema.ts';
import { destinationTls } from '../credentials/credentials.ts';
import { CourierError } from '../errors.ts';
import { createKafka, createProducer } from '../kafka/client.ts';
import { eventsCodec } from '../kafka/codec.ts';
import { TopicLimits } from '../kafka/sizedSend.ts';
import { consumerGroups, topicNames } from '../kafka/topics.ts';
import { destinationProxy } from '../net/egress.ts';
import { createRedis } from '../redis/client.ts';
import { DeliveredKeySet } from '../redis/deliveredKeySet.ts';
import { DestinationControl } from '../redis/destinationControl.ts';
import { redisKeys } from '../redis/keys.ts';
import { FanOut } from '../shaping/fanOut.ts';
import type { Logger } from '../telemetry/logger.ts';
import { VERSION } from '../version.ts';
import { findLatestByEventId } from './deadLetters.ts';
import { checkReadiness, type ReadinessAnswer } from './readiness.ts';
import { replayWindow } from './replayPlan.ts';
import { type ReplayOptions, type ReplaySummary, Resender } from './resender.ts';

export { type ReplayOptions, type ReplaySource, type ReplaySummary, replayHeaders } from './resender.ts';

/** The one line a refused replay prints: what the readiness check got. Pure. */
export function notReadyMessage(destination: string, answer: ReadinessAnswer): string {
  const why =
    answer.status === undefined
      ? `is not reachable (${answer.answer})`
      : `is not ready (its readiness check answered ${answer.answer})`;
  return `destination ${destination} ${why}: a replay now would only spend fresh retry budgets and fill the DLQ again; nothing was replayed (--force replays anyway)`;
}

/** Refuses a replay into a paused destination, or one whose readiness check does not answer as expected. */
async function checkDestination(
  o: ReplayOptions,
  destination: DestinationConfig,
  control: DestinationControl,
  log: Logger,
): Promise<void> {
  if (o.force) {
    log.warn({ destination: destination.id }, 'replay forced: pause and readiness checks skipped');
    return;
  }
  const state = await control.state(destination.id);
  if (state.paused) {
    throw new CourierError(
      'REPLAY_DESTINATION_PAUSED',
      `destination ${destination.id} is paused (${state.reason}); resume it first`,
    );
  }
  const check = destination.healthCheck;
  const tls = destinationTls(destination); // an mTLS receiver answers only with the client certificate
  const expect = check?.expectStatus;
  const url = check?.url ?? destination.url;
  const proxy = destinationProxy(o.config.network, destination, url);
  const answer = await checkReadiness({
    url,
    ...(proxy ? { proxy } : {}),
    method: check?.method ?? 'HEAD',
    ...(expect === undefined ? {} : { expectStatus: Array.isArray(expect) ? expect : [expect] }),
    timeoutMs: check?.timeoutMs ?? requestTimeout(destination).timeoutMs,
    allowPrivateAddresses: o.config.network.allowPrivateAddresses,
    userAgent: `courier/${VERSION}`,
    ...(tls ? { tls } : {}),
  });
  log.info(
    { destination: destination.id, answer: answer.answer, ready: answer.ready },
    'replay readiness check',
  );
  if (!answer.ready)
    throw new CourierError('REPLAY_DESTINATION_NOT_READY', notReadyMessage(destination.id, answer));
}

export async function replay(o: ReplayOptions): Promise<number> {
  const summary = await runReplay(o);
  if (o.source === 'events') {
    o.print(
      `backfill ${o.dryRun ? '(dry run) ' : ''}of ${o.destination} from ${o.config.kafka.eventsTopic}: read ${summary.found}, sent ${summary.resent}, skipped ${summary.skipped} (already delivered), ${summary.notForIt ?? 0} not for it (types, filter, invalid)${summary.failed ? `, ${summary.failed} its transform or headers cannot shape` : ''}`,
    );
    return summary.failed > 0 ? 1 : 0;
  }
  o.print(
    `replay ${o.dryRun ? '(dry run) ' : ''}of ${o.destination}: found ${summary.found}, re-sent ${summary.resent}, skipped ${summary.skipped} (already delivered)${summary.failed ? `, ${summary.failed} still failing (kept in the DLQ)` : ''}`,
  );
  return summary.failed > 0 ? 1 : 0;
}

export async function runReplay(o: ReplayOptions): Promise<ReplaySummary> {
  const { config } = o;
  const destination = config.destinations.find((d) => d.id === o.destination);
  if (!destination) throw new CourierError('UNKNOWN_DESTINATION', `unknown destination "${o.destination}"`);
  const names = topicNames(config);
  const sourceTopic =
    o.source === 'dlq'
      ? names.dlq(destination.id)
      : o.source === 'events'
        ? names.events
        : names.dest(destination.id);
  const keys = redisKeys(config.kafka.topicPrefix);
  const redis = createRedis(config.redis, { logger: o.logger });
  const kafka = createKafka(config, o.logger);
  const admin = kafka.admin();
  const log = o.logger.child({ component: 'replay', destination: destination.id });
  const summary: ReplaySummary = { found: 0, resent: 0, skipped: 0, failed: 0 };
  const producer = createProducer(kafka);
  const fanOut = new FanOut({
    destinationTopic: names.dest,
    dlqTopic: names.dlq,
    limits: new TopicLimits({ kafka, logger: o.logger }),
    expressions: config.router.expressions,
    logger: o.logger,
  });
  try {
    if (!o.dryRun) await checkDestination(o, destination, new DestinationControl({ redis, keys }), log);
    await admin.connect();
    await fanOut.setRouting([destination], configVersion(config));
    const resender = new Resender({
      options: o,
      producer,
      delivered: new DeliveredKeySet({
        redis,
        keys,
        destination: destination.id,
        ttlMs: config.idempotency.windowMs,
        lockMs: 1,
      }),
      topic: names.dest(destination.id),
      summary,
      fanOut,
      ...(o.source === 'events'
        ? {
            codec: eventsCodec(config),
          }
        : {}),
    });
    if (!o.dryRun) await producer.connect();
    if (o.eventIds) await replayIds(o, { kafka, admin, sourceTopic, resender });
    else await replayWindowOf(o, { kafka, admin, sourceTopic, resender, log });
    return summary;
  } finally {
    await producer.disconnect().catch(() => {});
    await admin.disconnect().catch(() => {});
    await fanOut.close();
    redis.disconnect();
  }
}

/** Exactly the given events: every one must be in the source topic, or nothing is re-sent. */
async function replayIds(
  o: ReplayOptions,
  c: { kafka: Kafka; admin: Admin; sourceTopic: string; resender: Resender },
): Promise<void> {
  const wanted = new Set(o.eventIds);
  const found = await findLatestByEventId({
    kafka: c.kafka,
    admin: c.admin,
    topic: c.sourceTopic,
    groupPrefix: `${o.config.kafka.topicPrefix}-replay`,
    eventIds: wanted,
  });
  const missing = [...wanted].filter((id) => !found.has(id));
  if (missing.length > 0) {
    throw new CourierError(
      'REPLAY_EVENTS_NOT_FOUND',
      `${missing.length} of ${wanted.size} event(s) are not in ${c.sourceTopic}: ${missing.slice(0, 20).join(', ')}${missing.length > 20 ? ', …' : ''}; nothing was replayed`,
    );
  }
  const ordered = [...found.values()].sort(
    (a, b) => Number(a.message.timestamp) - Number(b.message.timestamp) || a.offset - b.offset,
  );
  for (const r of ordered) await c.resender.handle(r.message, r.partition);
}

/** A window of the source topic, read through the replay group (a throwaway one for a dry run). */
async function replayWindowOf(
  o: ReplayOptions,
  c: { kafka: Kafka; admin: Admin; sourceTopic: string; resender: Resender; log: Logger },
): Promise<void> {
  const { admin, sourceTopic } = c;
  const groups = consumerGroups(o.config);
  const replayGroup =
    o.source === 'dlq'
      ? groups.replay(o.destination)
      : o.source === 'events'
        ? groups.backfill(o.destination)
        : groups.replayDelivered(o.destination);
  const window = await replayWindow(admin, {
    topic: sourceTopic,
    groupId: replayGroup,
    ...(o.fromMs === undefined ? {} : { fromMs: o.fromMs }),
    ...(o.toMs === undefined ? {} : { toMs: o.toMs }),
  });
  for (const partition of window.uncommitted) {
    o.print(
      `partition ${partition} of ${sourceTopic}: group ${replayGroup} has no committed offset; starting at the end (nothing to replay there)`,
    );
  }
  const { pending, end } = window;
  if (pending.size === 0) {
    if (o.fromMs === undefined) {
      o.print(
        `nothing to replay: group ${replayGroup} is at the end of ${sourceTopic}; reset its offsets (kafka-consumer-groups --reset-offsets) or pass --from`,
      );
    }
    return;
  }
  // A dry run reads the same window through a throwaway group, leaving the real one as it is.
  const groupId = o.dryRun ? `${replayGroup}-dry-run-${randomUUID()}` : replayGroup;
  // With --from, the same reset Kafka's own tool does (--to-datetime); without, the committed
  // offsets again, kept within what the topic holds.
  await admin.setOffsets({
    groupId,
    topic: sourceTopic,
    partitions: [...window.start].map(([partition, offset]) => ({ partition, offset: String(offset) })),
  });
  const consumer = c.kafka.consumer({ groupId, maxWaitTimeInMs: 200 });
  try {
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
              await c.resender.handle(message, batch.partition);
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
                c.log.info({ partition: batch.partition }, 'partition replayed');
              }
            }
            if (pending.size === 0) resolve();
          },
        })
        .catch(reject);
    });
  } finally {
    await consumer.disconnect().catch(() => {});
    if (o.dryRun) await admin.deleteGroups([groupId]).catch(() => {});
  }
}
