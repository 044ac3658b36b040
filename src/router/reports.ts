// What the router reports besides the routed records: an event decoded for routing (or the reason
// it cannot be), its invalid-topic record, the dead letters it wrote (a pipeline event, a log line
// and an attempt record each) and filters that could not be evaluated (counted, and said at most
// once a minute per destination). Also `beating`, the wait that keeps the group membership.
import type { KafkaMessage } from 'kafkajs';
import { CourierError, InvalidEventError } from '../errors.ts';
import type { EventCodec } from '../kafka/codec.ts';
import { userHeaders } from '../kafka/records.ts';
import type { SizedEntry, TopicLimits } from '../kafka/sizedSend.ts';
import type { RoutedDeadLetter, RouteItem } from '../shaping/fanOut.ts';
import { type AttemptRecord, attemptRecord, type PipelineEmitter } from '../telemetry/events.ts';
import type { Logger } from '../telemetry/logger.ts';
import { producerTrace, type TraceSpan, type Tracing } from '../telemetry/tracing.ts';
import { invalidRecord } from './invalidRecord.ts';

export interface RouterReportsOptions {
  codec: EventCodec;
  groupId: string;
  tracing?: Tracing;
  eventsTopic: string;
  invalidTopic: string;
  limits: TopicLimits;
  attempts?: { record(attempt: AttemptRecord): void };
  events: PipelineEmitter;
}

export class RouterReports {
  private readonly options: RouterReportsOptions;
  private readonly log: Logger;
  private readonly filterFailures = new Map<string, { count: number; warnedAt: number; last: string }>();

  constructor(options: RouterReportsOptions, log: Logger) {
    this.options = options;
    this.log = log;
  }

  /**
   * A batch's messages as events to route, each with its routing span (tracing on), and the
   * invalid-topic records of those that cannot be routed. Throws for a retriable error (the
   * registry unreachable is not the events' fault: the batch is read again).
   */
  async decodeAll(
    messages: KafkaMessage[],
    partition: number,
  ): Promise<{ items: RouteItem[]; invalid: SizedEntry[]; spans: TraceSpan[] }> {
    const items: RouteItem[] = [];
    const invalid: SizedEntry[] = [];
    const spans: TraceSpan[] = [];
    for (const message of messages) {
      try {
        const item = await this.decode(message);
        items.push(item);
        const span = this.routingSpan(item, message, partition);
        if (span) spans.push(span);
      } catch (err) {
        if (err instanceof CourierError && err.retriable) throw err;
        invalid.push(this.invalid(message, partition, err));
      }
    }
    return { items, invalid, spans };
  }

  /**
   * The span of routing one event (tracing on), under its producer's trace; the event's records
   * carry its context (`courier-traceparent`), so every attempt joins the trace.
   */
  routingSpan(item: RouteItem, message: KafkaMessage, partition: number): TraceSpan | undefined {
    const tracing = this.options.tracing;
    if (!tracing?.enabled) return undefined;
    const span = tracing.routing(producerTrace(message.headers, item.event.traceparent), {
      'messaging.destination.name': this.options.eventsTopic,
      'messaging.destination.partition.id': String(partition),
      'messaging.kafka.offset': Number(message.offset),
      'messaging.consumer.group.name': this.options.groupId,
      'messaging.message.id': item.event.id,
    });
    if (span?.traceparent) item.carried.meta.traceparent = span.traceparent;
    return span;
  }

  /** One message as an event to route (throws for an invalid one). */
  async decode(message: KafkaMessage): Promise<RouteItem> {
    const event = await this.options.codec.decode(message.value);
    let json: string;
    try {
      json = JSON.stringify(event);
    } catch (err) {
      throw new InvalidEventError(
        'EVENT_NOT_ENCODABLE',
        `event cannot be encoded as JSON: ${String(err)}`,
        err,
      );
    }
    // Producer headers go onward, but never a `courier-*` one: only Courier's stages write those.
    return {
      event,
      json,
      carried: {
        key: message.key ?? Buffer.from(event.id),
        value: Buffer.from(json),
        userHeaders: userHeaders(message.headers),
        meta: {
          eventId: event.id,
          eventType: event.type,
          attemptsBefore: 0,
          force: false,
          sequence: message.offset,
        },
      },
    };
  }

  /** Counts a filter that could not be evaluated, and says so at most once a minute per destination. */
  filterFailed(destination: string, reason: string, message: string): void {
    this.options.events.emit('filter-failed', { destination, reason });
    const now = Date.now();
    const seen = this.filterFailures.get(destination) ?? { count: 0, warnedAt: 0, last: '' };
    seen.count += 1;
    seen.last = `${reason}: ${message}`;
    if (now - seen.warnedAt >= 60_000) {
      this.log.warn(
        { destination, reason, failures: seen.count, error: message },
        `filter of ${destination} could not be evaluated for ${seen.count} event(s) since the last warning; they were not routed there`,
      );
      seen.warnedAt = now;
      seen.count = 0;
    }
    this.filterFailures.set(destination, seen);
  }

  /** A dead letter the router wrote (now acknowledged): the pipeline event and its attempt record. */
  deadLettered(d: RoutedDeadLetter): void {
    this.options.events.emit('dlq', {
      destination: d.destination,
      eventId: d.eventId,
      errorClass: d.errorClass,
    });
    this.log.warn(
      {
        destination: d.destination,
        eventId: d.eventId,
        errorClass: d.errorClass,
        code: d.errorCode,
        error: d.error,
      },
      'event dead-lettered before delivery',
    );
    const { eventId, eventType, destination, at, configVersion } = d;
    const record = attemptRecord(
      { eventId, eventType, destination, attempt: 0, at, outcome: 'dlq', replay: false, configVersion },
      { errorClass: d.errorClass, errorCode: d.errorCode, error: d.error },
    );
    this.options.events.emit('attempt', record);
    this.options.attempts?.record(record);
  }

  /** The invalid-topic record for an event that cannot be routed, whatever the error was. */
  invalid(message: KafkaMessage, partition: number, err: unknown): SizedEntry {
    const reason = err instanceof InvalidEventError ? err.code : 'EVENT_UNPROCESSABLE';
    const detail = err instanceof Error ? err.message : String(err);
    const log = { reason, partition, offset: message.offset, error: detail };
    if (err instanceof InvalidEventError) this.log.warn(log, 'invalid event');
    else this.log.error({ ...log, err }, 'event could not be handled; stored as invalid');
    this.options.events.emit('invalid', { reason, message: detail, partition, offset: message.offset });
    const topic = this.options.invalidTopic;
    return {
      topic,
      message: invalidRecord(
        {
          key: message.key,
          value: message.value,
          headers: message.headers,
          reason,
          detail,
          source: { topic: this.options.eventsTopic, partition, offset: message.offset },
        },
        this.options.limits.limitOf(topic),
      ),
    };
  }
}

/**
 * Waits for `work`, heartbeating every second meanwhile: a batch that takes long to write (a
 * large fan-out into a busy broker) is not a dead member, and the group must not think so.
 */
export async function beating(work: Promise<unknown>, heartbeat: () => Promise<void>): Promise<void> {
  let done = false;
  const finish = () => {
    done = true;
  };
  work.then(finish, finish);
  while (!done) {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([work, new Promise((r) => (timer = setTimeout(r, 1000)))]).catch(() => {});
    clearTimeout(timer);
    if (!done) await heartbeat().catch(() => {});
  }
  await work;
}
