// The request an attempt sent, as it was signed: the signature-relevant headers from the attempt
// record and the exact body from the destination record it points to (the delivery log keeps no
// copy of payloads). With a Standard Webhooks library and the destination's secret, a receiver's
// "signature mismatch" can be checked after the fact.
import type { Admin, Kafka } from 'kafkajs';
import { readRecord } from '../kafka/rangeReader.ts';
import type { AttemptRecord } from '../telemetry/events.ts';

export interface RequestAsSent {
  destination: string;
  attempt: number;
  at: string;
  /** The headers the signature covers, as sent (never Authorization or configured headers). */
  headers: Record<string, string>;
  /** The body as sent, or undefined when its record is past the destination topic's retention. */
  body?: string;
  /** Where the body is (or was). */
  record?: { topic: string; partition: number; offset: number };
}

/** The request of one attempt; reads its destination record. */
export async function requestAsSent(
  attempt: AttemptRecord,
  o: { kafka: Kafka; admin: Admin; groupPrefix: string },
): Promise<RequestAsSent> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (attempt.request) {
    headers['webhook-id'] = attempt.request.webhookId;
    headers['webhook-timestamp'] = attempt.request.webhookTimestamp;
    headers['webhook-signature'] = attempt.request.webhookSignature;
  }
  const message = attempt.record ? await readRecord({ ...o, ...attempt.record }) : undefined;
  return {
    destination: attempt.destination,
    attempt: attempt.attempt,
    at: attempt.at,
    headers,
    ...(message?.value ? { body: message.value.toString('utf8') } : {}),
    ...(attempt.record ? { record: attempt.record } : {}),
  };
}
