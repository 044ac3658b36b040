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

export function toDeliveryMessage(
  message: KafkaMessage,
  partition: number,
  fetchedAt?: number,
): DeliveryMessage {
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
    meta: readEventMeta(message.headers, `offset-${partition}-${message.offset}`),
    userHeaders: userHeaders(message.headers),
    ...(fetchedAt === undefined ? {} : { fetchedAt }),
  };
}
