import type { IHeaders, KafkaMessage, Message, Producer } from 'kafkajs';
import { type CloudEvent, toCloudEvent } from '../cloudevents/cloudEvent.ts';
import type { CourierConfig } from '../config/schema.ts';
import { CourierError } from '../errors.ts';
import type { EventCodec } from '../kafka/codec.ts';
import { COURIER_HEADER, headerString } from '../kafka/headers.ts';
import { destinationRecord, type EventMeta, readEventMeta, userHeaders } from '../kafka/records.ts';
import type { DeliveredKeySet } from '../redis/deliveredKeySet.ts';
import type { FanOut, RoutedPart } from '../shaping/fanOut.ts';
import type { Logger } from '../telemetry/logger.ts';

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
  const eventId = headerString(source, COURIER_HEADER.eventId);
  const eventType = headerString(source, COURIER_HEADER.eventType);
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
      // The event's place in its events partition and its trace: the same as on its first attempt.
      ...(carried.sequence ? { sequence: carried.sequence } : {}),
      ...(carried.traceparent ? { traceparent: carried.traceparent } : {}),
    },
  });
  const headers = record.headers as IHeaders;
  // No id invented: the delivery core qualifies a record without one by its own offset.
  if (!eventId) delete headers[COURIER_HEADER.eventId];
  return headers;
}

/** Writes re-sent records at `rate` per second, skipping delivered ones; counts into `summary`. */
export class Resender {
  private nextSendAt = Date.now();
  private readonly spacingMs: number;
  private readonly replayedAt = new Date().toISOString();
  private readonly options: {
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

  constructor(options: Resender['options']) {
    this.options = options;
    this.spacingMs = 1000 / options.options.rate;
  }

  /**
   * An event routed for this destination alone, as the router would: its types and filter decide,
   * its transform and headers shape it, its limits hold. The record, or why there is none.
   */
  /**
   * Routes `event` (read from `message`, partition `partition` of the replay's source) for this
   * destination alone, as a fresh replay: attempt 0, replay marks, and `carried` (sequence, trace).
   */
  private async route(
    event: CloudEvent,
    message: KafkaMessage,
    partition: number,
    source: string,
    carried: Pick<EventMeta, 'sequence' | 'traceparent'>,
  ): Promise<{ record: Message } | { failed: string } | { notForIt: string }> {
    const meta: EventMeta = {
      eventId: event.id,
      eventType: event.type,
      attemptsBefore: 0,
      force: false,
      replay: { at: this.replayedAt, offset: `${partition}:${message.offset}`, source },
      ...carried,
    };
    const json = JSON.stringify(event);
    const parts: RoutedPart[] = [];
    const [summary] = await this.options.fanOut.route(
      [
        {
          event,
          json,
          carried: {
            key: message.key ?? Buffer.from(event.id),
            value: Buffer.from(json),
            userHeaders: userHeaders(message.headers),
            meta,
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
    const { options, summary } = this.options;
    const where = `partition ${partition} offset ${message.offset}`;
    let event: CloudEvent;
    try {
      event = await (this.options.codec as EventCodec).decode(message.value);
    } catch (err) {
      if (err instanceof CourierError && err.retriable) throw err;
      summary.notForIt = (summary.notForIt ?? 0) + 1;
      options.print(
        `invalid  (${where}): ${(err as Error).message} (the router sent it to the invalid topic)`,
      );
      return undefined;
    }
    // Read from the events topic: its offset there is the event's sequence.
    const routed = await this.route(event, message, partition, 'events', { sequence: message.offset });
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
    const { options, summary } = this.options;
    summary.found += 1;
    if (options.source === 'events') {
      const routed = await this.routeEvent(message, partition);
      if (!routed) return;
      const where = `partition ${partition} offset ${message.offset}`;
      if (await this.options.delivered.isDelivered(routed.eventId)) {
        summary.skipped += 1;
        options.print(`skip     ${routed.eventId} (${where}): already delivered`);
        return;
      }
      if (options.dryRun) {
        options.print(`would send ${routed.eventId} (${where})`);
        return;
      }
      await this.pace();
      await this.options.producer.send({ topic: this.options.topic, acks: -1, messages: [routed] });
      summary.resent += 1;
      options.print(`sent     ${routed.eventId} (${where})`);
      return;
    }
    const eventId = headerString(message.headers, COURIER_HEADER.eventId) ?? '(unknown)';
    const where = `partition ${partition} offset ${message.offset}`;
    if (options.source === 'dlq' && (await this.options.delivered.isDelivered(eventId))) {
      summary.skipped += 1;
      options.print(`skip     ${eventId} (${where}): already delivered`);
      return;
    }
    if (options.dryRun) {
      const cls = headerString(message.headers, COURIER_HEADER.errorClass);
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
      // The event's sequence and trace, as its dead letter carries them from the router.
      const { sequence, traceparent } = readEventMeta(message.headers, '');
      const routed = await this.route(event, message, partition, options.source, {
        ...(sequence ? { sequence } : {}),
        ...(traceparent ? { traceparent } : {}),
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
    await this.options.producer.send({ topic: this.options.topic, acks: -1, messages: [record] });
    summary.resent += 1;
    options.print(`re-sent  ${eventId} (${where})`);
  }
}
