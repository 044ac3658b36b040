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
import type { Admin, IHeaders, Kafka, KafkaMessage, Message, Producer } from 'kafkajs';
import { type CloudEvent, toCloudEvent } from '../cloudevents/cloudEvent.ts';
import { requestTimeout } from '../config/destination.ts';
import { configVersion } from '../config/diff.ts';
import type { CourierConfig, DestinationConfig } from '../config/schema.ts';
import { destinationTls } from '../credentials/credentials.ts';
import { CourierError } from '../errors.ts';
import { createKafka, createProducer } from '../kafka/client.ts';
import { EventCodec, registryOptions } from '../kafka/codec.ts';
import { H, headerString } from '../kafka/headers.ts';
import { destinationRecord, type EventMeta, readEventMeta, userHeaders } from '../kafka/records.ts';
import { TopicLimits } from '../kafka/sizedSend.ts';
import { consumerGroups, topicNames } from '../kafka/topics.ts';
import { egressRules, proxyFor } from '../net/egress.ts';
import { createRedis } from '../redis/client.ts';
import { DeliveredKeySet } from '../redis/deliveredKeySet.ts';
import { DestinationControl } from '../redis/destinationControl.ts';
import { redisKeys } from '../redis/keys.ts';
import { FanOut, type RoutedPart } from '../shaping/fanOut.ts';
import type { Logger } from '../telemetry/logger.ts';
import { VERSION } from '../version.ts';
import { findLatestByEventId } from './deadLetters.ts';
import { checkReadiness, type ReadinessAnswer } from './readiness.ts';
import { replayWindow } from './replayPlan.ts';

export type ReplaySource = 'dlq' | 'delivered' | 'events';

/** What to replay, already validated (the CLI parses and checks the flags). */
export interface ReplayOptions {
  config: CourierConfig;
  logger: Logger;
  destination: string;
  /** A window: its start (epoch ms); undefined continues from the replay group's committed offsets. */
  fromMs?: number;
  toMs?: number;
  /** Exactly these events instead of a window. */
  eventIds?: readonly string[];
  rate: number;
  dryRun: boolean;
  source: ReplaySource;
  /** Skip the readiness check (and the paused check); logged. */
  force?: boolean;
  print: (line: string) => void;
}

export interface ReplaySummary {
  found: number;
  resent: number;
  skipped: number;
  /** Dead letters the destination's transform or headers still cannot handle (not re-sent). */
  failed: number;
  /** From the events topic: events the destination's types or filter do not take, or invalid ones. */
  notForIt?: number;
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
    source: ReplaySource;
    partition: number;
    offset: string;
  },
): IHeaders {
  const eventId = headerString(source, H.eventId);
  const eventType = headerString(source, H.eventType);
  // What the router computed for the destination travels on (headers taken from the event, the
  // transform mark).
  const carried = readEventMeta(source, '');
  const requestHeaders = carried.headers;
  const transformed = carried.transformed;
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
      ...(requestHeaders && Object.keys(requestHeaders).length > 0 ? { headers: requestHeaders } : {}),
      ...(transformed ? { transformed: true } : {}),
    },
  });
  const headers = record.headers as IHeaders;
  // No id invented: the delivery core qualifies a record without one by its own offset.
  if (!eventId) delete headers[H.eventId];
  return headers;
}

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
  const proxy = proxyFor(url, egressRules(o.config.network, destination.proxy, process.env));
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

/** Writes re-sent records at `rate` per second, skipping delivered ones; counts into `summary`. */
class Resender {
  private nextSendAt = Date.now();
  private readonly spacingMs: number;
  private readonly replayedAt = new Date().toISOString();
  private readonly o: {
    options: ReplayOptions;
    producer: Producer;
    delivered: DeliveredKeySet;
    topic: string;
    summary: ReplaySummary;
    /** The router's fan-out, for this destination alone: backfilled events, dead letters the router could not shape. */
    fanOut: FanOut;
    /** Decodes events-topic records (a backfill). */
    codec?: EventCodec;
  };

  constructor(options: Resender['o']) {
    this.o = options;
    this.spacingMs = 1000 / options.options.rate;
  }

  /**
   * An event routed for this destination alone, as the router would: its types and filter decide,
   * its transform and headers shape it, its limits hold. The record, or why there is none.
   */
  private async route(
    event: CloudEvent,
    carried: { key: Buffer | null; headers: IHeaders | undefined; meta: EventMeta },
  ): Promise<{ record: Message } | { failed: string } | { notForIt: string }> {
    const json = JSON.stringify(event);
    const parts: RoutedPart[] = [];
    const [summary] = await this.o.fanOut.route(
      [
        {
          event,
          json,
          carried: {
            key: carried.key ?? Buffer.from(event.id),
            value: Buffer.from(json),
            userHeaders: userHeaders(carried.headers),
            meta: carried.meta,
          },
        },
      ],
      (part) => parts.push(part),
    );
    const record = parts.flatMap((p) => p.records)[0];
    if (record) return { record: record.message };
    const dead = parts.flatMap((p) => p.deadLetters)[0];
    if (dead) return { failed: `${dead.errorClass}: ${dead.error}` };
    const filterError = parts.flatMap((p) => p.filterFailures)[0];
    if (filterError) return { notForIt: `its filter failed: ${filterError.message}` };
    return {
      notForIt: summary?.filtered.length ? 'its filter turns it away' : 'its event types do not take it',
    };
  }

  /**
   * An event of the events topic, as the router would route it to this destination alone.
   * Undefined when it is not for it (or cannot be shaped: printed and counted).
   */
  private async routeEvent(
    message: KafkaMessage,
    partition: number,
  ): Promise<{ key: Buffer; value: Buffer; headers: IHeaders; eventId: string } | undefined> {
    const { options, summary } = this.o;
    const where = `partition ${partition} offset ${message.offset}`;
    let event: CloudEvent;
    try {
      event = await (this.o.codec as EventCodec).decode(message.value);
    } catch (err) {
      if (err instanceof CourierError && err.retriable) throw err;
      summary.notForIt = (summary.notForIt ?? 0) + 1;
      options.print(
        `invalid  (${where}): ${(err as Error).message} (the router sent it to the invalid topic)`,
      );
      return undefined;
    }
    const routed = await this.route(event, {
      key: message.key,
      headers: message.headers,
      meta: {
        eventId: event.id,
        eventType: event.type,
        attemptsBefore: 0,
        force: false,
        replay: { at: this.replayedAt, offset: `${partition}:${message.offset}`, source: 'events' },
      },
    });
    if ('notForIt' in routed) {
      summary.notForIt = (summary.notForIt ?? 0) + 1;
      if (routed.notForIt.startsWith('its filter failed'))
        options.print(`filter failed ${event.id} (${where}): ${routed.notForIt}`);
      return undefined;
    }
    if ('failed' in routed) {
      summary.failed += 1;
      options.print(`cannot shape ${event.id} (${where}): ${routed.failed}`);
      return undefined;
    }
    return {
      key: routed.record.key as Buffer,
      value: routed.record.value as Buffer,
      headers: routed.record.headers as IHeaders,
      eventId: event.id,
    };
  }

  /** Paces the writes to `rate` per second. */
  private async pace(): Promise<void> {
    const wait = this.nextSendAt - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    this.nextSendAt = Math.max(Date.now(), this.nextSendAt) + this.spacingMs;
  }

  async handle(message: KafkaMessage, partition: number): Promise<void> {
    const { options, summary } = this.o;
    summary.found += 1;
    if (options.source === 'events') {
      const routed = await this.routeEvent(message, partition);
      if (!routed) return;
      const where = `partition ${partition} offset ${message.offset}`;
      if (await this.o.delivered.isDelivered(routed.eventId)) {
        summary.skipped += 1;
        options.print(`skip     ${routed.eventId} (${where}): already delivered`);
        return;
      }
      if (options.dryRun) {
        options.print(`would send ${routed.eventId} (${where})`);
        return;
      }
      await this.pace();
      await this.o.producer.send({ topic: this.o.topic, acks: -1, messages: [routed] });
      summary.resent += 1;
      options.print(`sent     ${routed.eventId} (${where})`);
      return;
    }
    const eventId = headerString(message.headers, H.eventId) ?? '(unknown)';
    const where = `partition ${partition} offset ${message.offset}`;
    if (options.source === 'dlq' && (await this.o.delivered.isDelivered(eventId))) {
      summary.skipped += 1;
      options.print(`skip     ${eventId} (${where}): already delivered`);
      return;
    }
    if (options.dryRun) {
      const cls = headerString(message.headers, H.errorClass);
      options.print(`would re-send ${eventId} (${where}${cls ? `, ${cls}` : ''})`);
      return;
    }
    // A dead letter the router could not shape holds the CloudEvent: routed again with today's
    // configuration (its types, filter, transform, headers and limits).
    let record: Message = {
      key: message.key,
      value: message.value,
      headers: replayHeaders(message.headers, {
        destination: options.destination,
        replayedAt: this.replayedAt,
        source: options.source,
        partition,
        offset: message.offset,
      }),
    };
    if (readEventMeta(message.headers, '').unshaped && message.value) {
      let event: CloudEvent;
      try {
        event = toCloudEvent(JSON.parse(message.value.toString('utf8')));
      } catch (err) {
        summary.failed += 1;
        options.print(`still fails ${eventId} (${where}): not a CloudEvent: ${(err as Error).message}`);
        return;
      }
      const routed = await this.route(event, {
        key: message.key,
        headers: message.headers,
        meta: {
          eventId: event.id,
          eventType: event.type,
          attemptsBefore: 0,
          force: false,
          replay: { at: this.replayedAt, offset: `${partition}:${message.offset}`, source: options.source },
        },
      });
      if (!('record' in routed)) {
        summary.failed += 1;
        options.print(
          `still fails ${eventId} (${where}): ${'failed' in routed ? routed.failed : routed.notForIt}`,
        );
        return;
      }
      record = routed.record;
    }
    await this.pace();
    await this.o.producer.send({ topic: this.o.topic, acks: -1, messages: [record] });
    summary.resent += 1;
    options.print(`re-sent  ${eventId} (${where})`);
  }
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
            codec: new EventCodec({
              ...registryOptions(config.schemaRegistry),
              maxEventBytes: config.router.maxEventBytes,
              subject: `${config.kafka.eventsTopic}-value`,
            }),
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
