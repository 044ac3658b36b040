// The records Courier writes on its own topics, typed, and the `courier-*` headers each carries
// — written and read here only. Every stage hands an event on as a `CarriedEvent`
// (key, body, the producer's own headers, typed metadata) and the record is built from that: no
// stage copies another stage's headers wholesale, and no `courier-*` header a producer set is
// ever carried (only Courier's stages write those). Pure.
import type { IHeaders, Message } from 'kafkajs';
import { COURIER_HEADER, headerNumber, headerString, isCourierHeader } from './headers.ts';

/** What a destination record says about its event. */
export interface EventMeta {
  eventId: string;
  eventType?: string;
  /** Attempts made before the one this record leads to (0 for a fresh or replayed event). */
  attemptsBefore: number;
  firstAttemptAt?: number;
  replay?: { at: string; offset?: string; source?: string };
  /** A forced replay: deliver even if the delivered-key set says it was delivered. */
  force: boolean;
  /** Request headers taken from the event by the destination's configuration (router-computed). */
  headers?: Record<string, string>;
  /** The body was made by the destination's transform. */
  transformed?: boolean;
  /** The value is the CloudEvent itself, not yet shaped for the destination. */
  unshaped?: boolean;
  /** The configuration version the router routed it under (a hash of the destinations section). */
  configVersion?: string;
  /** The event's offset in its events-topic partition (decimal), the request's `courier-sequence`. */
  sequence?: string;
  /** The routing span's W3C `traceparent` (tracing on): every attempt of the event joins its trace. */
  traceparent?: string;
}

/** An event as one stage hands it to the next. */
export interface CarriedEvent {
  key: Buffer | null;
  value: Buffer | null;
  /** The producer's own headers (no `courier-*` one), values as they came. */
  userHeaders: IHeaders;
  meta: EventMeta;
}

/** A producer's headers without any `courier-*` one; values are kept as they came (bytes stay bytes). */
export function userHeaders(headers: IHeaders | undefined): IHeaders {
  const out: IHeaders = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (value !== undefined && !isCourierHeader(name)) out[name] = value;
  }
  return out;
}

/** The metadata of a destination (or retry) record; `fallbackId` when it has no event id header. */
export function readEventMeta(headers: IHeaders | undefined, fallbackId: string): EventMeta {
  const eventType = headerString(headers, COURIER_HEADER.eventType);
  const firstAttemptAt = headerNumber(headers, COURIER_HEADER.firstAttemptAt);
  const replayedAt = headerString(headers, COURIER_HEADER.replayedAt);
  const replayOffset = headerString(headers, COURIER_HEADER.replayOffset);
  const replaySource = headerString(headers, COURIER_HEADER.replaySource);
  const configVersion = headerString(headers, COURIER_HEADER.configVersion);
  const sequence = headerString(headers, COURIER_HEADER.sequence);
  const traceparent = headerString(headers, COURIER_HEADER.traceparent);
  return {
    eventId: headerString(headers, COURIER_HEADER.eventId) || fallbackId,
    ...(eventType ? { eventType } : {}),
    attemptsBefore: headerNumber(headers, COURIER_HEADER.attempt) ?? 0,
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
    force: headerString(headers, COURIER_HEADER.replayForce) === '1',
    ...requestHeadersOf(headers),
    ...(headerString(headers, COURIER_HEADER.transformed) === '1' ? { transformed: true } : {}),
    ...(headerString(headers, COURIER_HEADER.body) === 'event' ? { unshaped: true } : {}),
    ...(configVersion ? { configVersion } : {}),
    ...(sequence ? { sequence } : {}),
    ...(traceparent ? { traceparent } : {}),
  };
}

function requestHeadersOf(headers: IHeaders | undefined): Pick<EventMeta, 'headers'> {
  const out: Record<string, string> = {};
  for (const name of Object.keys(headers ?? {})) {
    if (!name.startsWith(COURIER_HEADER.requestHeader)) continue;
    const value = headerString(headers, name);
    if (value !== undefined) out[name.slice(COURIER_HEADER.requestHeader.length)] = value;
  }
  return Object.keys(out).length > 0 ? { headers: out } : {};
}

/** The event's identity and replay marks: what every record of the event carries. */
function identityHeaders(meta: EventMeta): Record<string, string> {
  return {
    [COURIER_HEADER.eventId]: meta.eventId,
    ...(meta.eventType ? { [COURIER_HEADER.eventType]: meta.eventType } : {}),
    ...(meta.replay
      ? {
          [COURIER_HEADER.replayedAt]: meta.replay.at,
          ...(meta.replay.offset ? { [COURIER_HEADER.replayOffset]: meta.replay.offset } : {}),
          ...(meta.replay.source ? { [COURIER_HEADER.replaySource]: meta.replay.source } : {}),
        }
      : {}),
    ...(meta.force ? { [COURIER_HEADER.replayForce]: '1' } : {}),
    ...Object.fromEntries(
      Object.entries(meta.headers ?? {}).map(([n, v]) => [`${COURIER_HEADER.requestHeader}${n}`, v]),
    ),
    ...(meta.transformed ? { [COURIER_HEADER.transformed]: '1' } : {}),
    ...(meta.unshaped ? { [COURIER_HEADER.body]: 'event' } : {}),
    ...(meta.configVersion ? { [COURIER_HEADER.configVersion]: meta.configVersion } : {}),
    ...(meta.sequence ? { [COURIER_HEADER.sequence]: meta.sequence } : {}),
    ...(meta.traceparent ? { [COURIER_HEADER.traceparent]: meta.traceparent } : {}),
  };
}

/** A record for `<prefix>.dest.<destination>`: the next attempt of the event. */
export function destinationRecord(destination: string, event: CarriedEvent): Message {
  const { meta } = event;
  return {
    key: event.key,
    value: event.value,
    headers: {
      ...event.userHeaders,
      ...identityHeaders(meta),
      [COURIER_HEADER.destination]: destination,
      [COURIER_HEADER.attempt]: String(meta.attemptsBefore),
      ...(meta.firstAttemptAt === undefined
        ? {}
        : { [COURIER_HEADER.firstAttemptAt]: String(meta.firstAttemptAt) }),
    },
  };
}

/** What a retry record adds: when it is due and what the last attempt got. */
export interface RetryStamp {
  destination: string;
  /** Attempts made so far (including the one that just failed). */
  attempts: number;
  firstAttemptAt: number;
  dueAt: number;
  lastStatus?: number;
  lastError?: string;
}

/** A record for a retry tier: the destination record of the next attempt, with its due time. */
export function retryRecord(event: CarriedEvent, retry: RetryStamp): Message {
  const next = destinationRecord(retry.destination, {
    ...event,
    meta: { ...event.meta, attemptsBefore: retry.attempts, firstAttemptAt: retry.firstAttemptAt },
  });
  return {
    ...next,
    headers: {
      ...next.headers,
      [COURIER_HEADER.dueAt]: String(retry.dueAt),
      [COURIER_HEADER.lastStatus]: retry.lastStatus === undefined ? '' : String(retry.lastStatus),
      [COURIER_HEADER.lastError]: retry.lastError ?? '',
    },
  };
}

/** The destination and due time of a retry record; undefined without a destination. */
export function readRetryStamp(
  headers: IHeaders | undefined,
): { destination: string; dueAt: number } | undefined {
  const destination = headerString(headers, COURIER_HEADER.destination);
  if (!destination) return undefined;
  return { destination, dueAt: headerNumber(headers, COURIER_HEADER.dueAt) ?? 0 };
}

/** What the DLQ records about a message's last attempt (its headers). */
export interface DeadLetter {
  destination: string;
  eventId: string;
  errorClass: string;
  attempts: number;
  firstAttemptAt: number;
  lastAttemptAt: number;
  lastStatus?: number;
  lastError?: string;
  /** The first KiB of the last response body (cut by the writer). */
  responseSnippet?: string;
}

/** A record for `<prefix>.dlq.<destination>`. */
export function deadLetterRecord(event: CarriedEvent, letter: DeadLetter, snippetBytes: number): Message {
  return {
    key: event.key,
    value: event.value,
    headers: {
      ...event.userHeaders,
      ...identityHeaders(event.meta),
      [COURIER_HEADER.destination]: letter.destination,
      [COURIER_HEADER.eventId]: letter.eventId,
      [COURIER_HEADER.errorClass]: letter.errorClass,
      [COURIER_HEADER.attempts]: String(letter.attempts),
      [COURIER_HEADER.firstAttemptAt]: String(letter.firstAttemptAt),
      [COURIER_HEADER.lastAttemptAt]: String(letter.lastAttemptAt),
      [COURIER_HEADER.lastStatus]: letter.lastStatus === undefined ? '' : String(letter.lastStatus),
      [COURIER_HEADER.lastError]: letter.lastError ?? '',
      [COURIER_HEADER.responseSnippet]: Buffer.from(letter.responseSnippet ?? '')
        .subarray(0, snippetBytes)
        .toString('utf8'),
    },
  };
}

/** The DLQ headers of a dead letter, as written by `deadLetterRecord`; undefined when it is not one. */
export function readDeadLetter(headers: IHeaders | undefined): DeadLetter | undefined {
  const destination = headerString(headers, COURIER_HEADER.destination);
  const eventId = headerString(headers, COURIER_HEADER.eventId);
  const errorClass = headerString(headers, COURIER_HEADER.errorClass);
  if (!destination || !eventId || !errorClass) return undefined;
  const lastStatus = headerNumber(headers, COURIER_HEADER.lastStatus);
  const lastError = headerString(headers, COURIER_HEADER.lastError);
  const responseSnippet = headerString(headers, COURIER_HEADER.responseSnippet);
  return {
    destination,
    eventId,
    errorClass,
    attempts: headerNumber(headers, COURIER_HEADER.attempts) ?? 0,
    firstAttemptAt: headerNumber(headers, COURIER_HEADER.firstAttemptAt) ?? 0,
    lastAttemptAt: headerNumber(headers, COURIER_HEADER.lastAttemptAt) ?? 0,
    ...(lastStatus === undefined ? {} : { lastStatus }),
    ...(lastError ? { lastError } : {}),
    ...(responseSnippet ? { responseSnippet } : {}),
  };
}
