// Kafka header names Courier writes and reads, and helpers to read them.
import type { IHeaders } from 'kafkajs';

export const COURIER_HEADER = {
  eventId: 'courier-event-id',
  eventType: 'courier-event-type',
  destination: 'courier-destination',
  attempt: 'courier-attempt',
  firstAttemptAt: 'courier-first-attempt-at',
  lastAttemptAt: 'courier-last-attempt-at',
  dueAt: 'courier-due-at',
  error: 'courier-error',
  errorClass: 'courier-error-class',
  lastStatus: 'courier-last-status',
  lastError: 'courier-last-error',
  attempts: 'courier-attempts',
  responseSnippet: 'courier-response-snippet',
  replayedAt: 'courier-replayed-at',
  replayOffset: 'courier-replay-dlq-offset',
  replaySource: 'courier-replay-source',
  replayForce: 'courier-replay-force',
  /** The body was made by the destination's transform (its value is not the CloudEvent). */
  transformed: 'courier-transformed',
  /** `event`: the value is the CloudEvent, not yet shaped for the destination (a router dead letter). */
  body: 'courier-body',
  /** The configuration version the router routed the event under (`courier config diff` shows versions). */
  configVersion: 'courier-config-version',
  /**
   * The event's offset in its events-topic partition (decimal): sent to the receiver as
   * `courier-sequence`, the same on every attempt and replay of the event.
   */
  sequence: 'courier-sequence',
  /** The routing span's W3C trace context (tracing on): the event's attempts join its trace. */
  traceparent: 'courier-traceparent',
  /** Prefix of the request headers taken from the event (`courier-header-idempotency-key`). */
  requestHeader: 'courier-header-',
} as const;

export function headerString(headers: IHeaders | undefined, name: string): string | undefined {
  const value = headers?.[name];
  if (value === undefined || value === null) return undefined;
  const first = Array.isArray(value) ? value[0] : value;
  if (first === undefined) return undefined;
  return Buffer.isBuffer(first) ? first.toString('utf8') : String(first);
}

export function headerNumber(headers: IHeaders | undefined, name: string): number | undefined {
  const raw = headerString(headers, name);
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  return Number.isFinite(n) ? n : undefined;
}

/** Whether a header name is one of Courier's own (`courier-*`, any case): only Courier writes those. */
export function isCourierHeader(name: string): boolean {
  return name.toLowerCase().startsWith('courier-');
}

/** Headers as plain strings, for copying a message onward. */
export function stringHeaders(headers: IHeaders | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of Object.keys(headers ?? {})) {
    const v = headerString(headers, name);
    if (v !== undefined) out[name] = v;
  }
  return out;
}
