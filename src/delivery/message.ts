// What a destination message carries, typed from Courier's own headers (the router strips every
// `courier-*` header producers set, so these were written by Courier's stages), and the headers a
// stage writes when it hands the message on. Pure.
import type { IHeaders, KafkaMessage } from 'kafkajs';
import { H, headerNumber, headerString } from '../kafka/headers.ts';

export interface MessageMeta {
  eventId: string;
  eventType?: string;
  /** Attempts made before this one (0 for a fresh or replayed event). */
  attemptsBefore: number;
  firstAttemptAt?: number;
  replay?: { at: string; offset?: string; source?: string };
  /** A forced replay: deliver even if the delivered-key set says it was delivered. */
  force: boolean;
}

export interface DeliveryMessage {
  partition: number;
  offset: number;
  key: Buffer | null;
  /** The ordering key: the Kafka key, or the partition and offset when there is none. */
  orderingKey: string;
  value: Buffer | null;
  /** Kafka timestamp (ms): when it was written to the destination topic. */
  timestamp: number;
  /** Bytes held in memory for it (value, key, headers): what the window counts. */
  size: number;
  meta: MessageMeta;
  /** The producer's own headers (no `courier-*` ones), carried to every later stage. */
  userHeaders: Record<string, string>;
}

const COURIER_HEADER = /^courier-/i;

/** Every header that is not Courier's, as strings. */
export function userHeadersOf(headers: IHeaders | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of Object.keys(headers ?? {})) {
    if (COURIER_HEADER.test(name)) continue;
    const v = headerString(headers, name);
    if (v !== undefined) out[name] = v;
  }
  return out;
}

export function metaOf(headers: IHeaders | undefined, fallbackId: string): MessageMeta {
  const eventType = headerString(headers, H.eventType);
  const firstAttemptAt = headerNumber(headers, H.firstAttemptAt);
  const replayedAt = headerString(headers, H.replayedAt);
  const replayOffset = headerString(headers, H.replayOffset);
  const replaySource = headerString(headers, H.replaySource);
  return {
    eventId: headerString(headers, H.eventId) || fallbackId,
    ...(eventType ? { eventType } : {}),
    attemptsBefore: headerNumber(headers, H.attempt) ?? 0,
    ...(firstAttemptAt === undefined ? {} : { firstAttemptAt }),
    ...(replayedAt
      ? {
          replay: {
            at: replayedAt,
            ...(replayOffset ? { offset: replayOffset } : {}),
            ...(replaySource ? { source: replaySource } : {}),
          },
        }
      : {}),
    force: headerString(headers, H.replayForce) === '1',
  };
}

export function toDeliveryMessage(message: KafkaMessage, partition: number): DeliveryMessage {
  let headerBytes = 0;
  for (const [name, v] of Object.entries(message.headers ?? {})) {
    headerBytes += name.length + (Buffer.isBuffer(v) ? v.length : String(v ?? '').length);
  }
  return {
    partition,
    offset: Number(message.offset),
    key: message.key,
    orderingKey: message.key ? message.key.toString('latin1') : `${partition}:${message.offset}`,
    value: message.value,
    timestamp: Number(message.timestamp),
    size: (message.value?.length ?? 0) + (message.key?.length ?? 0) + headerBytes + 200,
    // No event id header (not written by the router): the id is qualified by partition, so
    // messages of two partitions never dedupe against each other.
    meta: metaOf(message.headers, `offset-${partition}-${message.offset}`),
    userHeaders: userHeadersOf(message.headers),
  };
}

/** The headers Courier writes on a destination, retry or DLQ record: the user's, then its own. */
export function eventHeaders(m: Pick<DeliveryMessage, 'meta' | 'userHeaders'>): Record<string, string> {
  const { meta } = m;
  return {
    ...m.userHeaders,
    [H.eventId]: meta.eventId,
    ...(meta.eventType ? { [H.eventType]: meta.eventType } : {}),
    ...(meta.replay
      ? {
          [H.replayedAt]: meta.replay.at,
          ...(meta.replay.offset ? { [H.replayOffset]: meta.replay.offset } : {}),
          ...(meta.replay.source ? { [H.replaySource]: meta.replay.source } : {}),
        }
      : {}),
    ...(meta.force ? { [H.replayForce]: '1' } : {}),
  };
}
