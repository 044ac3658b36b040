// A destination message as the delivery core holds it: where it came from, how much memory it
// holds, its ordering key, and the event it carries (typed from Courier's own headers by
// ../kafka/records.ts). Pure.
import type { KafkaMessage } from 'kafkajs';
import { type CarriedEvent, readEventMeta, userHeaders } from '../kafka/records.ts';

export interface DeliveryMessage extends CarriedEvent {
  partition: number;
  offset: number;
  /** The ordering key: the Kafka key, or the partition and offset when there is none. */
  orderingKey: string;
  /** Kafka timestamp (ms): when it was written to the destination topic. */
  timestamp: number;
  /** Bytes held in memory for it (value, key, headers): what the window counts. */
  size: number;
  /** When the deliverer fetched it (epoch ms, fractional): a hop of the attempt record's `timings`. */
  fetchedAt?: number;
}

/** Bytes a fetched message holds in memory (value, key, headers, and a little for the object). */
export function heldBytes(message: KafkaMessage): number {
  let headerBytes = 0;
  const headers = message.headers;
  if (headers) {
    for (const name in headers) {
      const v = headers[name];
      headerBytes += name.length + (Buffer.isBuffer(v) ? v.length : String(v ?? '').length);
    }
  }
  return (message.value?.length ?? 0) + (message.key?.length ?? 0) + headerBytes + 200;
}

/** The ordering key of a fetched message: its Kafka key, else its partition and offset. */
export function orderingKeyOf(message: KafkaMessage, partition: number): string {
  return message.key ? message.key.toString('latin1') : `${partition}:${message.offset}`;
}

/**
 * Decodes a fetched message. `known` is what the window worked out when it took the message
 * (`orderingKeyOf`, `heldBytes`, when it was fetched), not worked out again.
 */
export function toDeliveryMessage(
  message: KafkaMessage,
  partition: number,
  known: { orderingKey: string; size: number; fetchedAt?: number },
): DeliveryMessage {
  const { fetchedAt } = known;
  return {
    partition,
    offset: Number(message.offset),
    key: message.key,
    orderingKey: known.orderingKey,
    value: message.value,
    timestamp: Number(message.timestamp),
    size: known.size,
    // No event id header (not written by the router): the id is qualified by partition, so
    // messages of two partitions never dedupe against each other.
    meta: readEventMeta(message.headers, `offset-${partition}-${message.offset}`),
    userHeaders: userHeaders(message.headers),
    ...(fetchedAt === undefined ? {} : { fetchedAt }),
  };
}
