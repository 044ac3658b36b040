// The record an invalid event becomes on `<prefix>.events.invalid` (pure): original key, bytes and
// producer headers (minus any `courier-*` one) plus Courier's reason and source headers. When that
// would not fit the invalid topic's limit it is stored truncated (first bytes of the value,
// `courier-truncated: 1`, `courier-original-size`), and when even that cannot fit, as a reference
// (source topic, partition, offset, size, reason) without key, value or producer headers.
import type { IHeaders, Message } from 'kafkajs';
import { COURIER_HEADER } from '../kafka/headers.ts';
import { userHeaders } from '../kafka/records.ts';
import { estimateRecordBytes, fitsAlone } from '../kafka/sizedSend.ts';

export const INVALID_H = {
  sourceTopic: 'courier-source-topic',
  sourcePartition: 'courier-source-partition',
  sourceOffset: 'courier-source-offset',
  originalSize: 'courier-original-size',
  truncated: 'courier-truncated',
} as const;

/** Share of the topic's limit an invalid record may use, so it always goes out on its own. */
const FILL = 0.9;
/** Longest `courier-error` text kept. */
const MAX_ERROR_TEXT = 1024;

export interface InvalidInput {
  key: Buffer | null;
  value: Buffer | null;
  headers: IHeaders | undefined;
  reason: string;
  detail: string;
  source: { topic: string; partition: number; offset: string };
}

export function invalidRecord(input: InvalidInput, limitBytes: number): Message {
  const value = input.value ?? null;
  const courier: Record<string, string> = {
    [COURIER_HEADER.error]: `${input.reason}: ${input.detail}`.slice(0, MAX_ERROR_TEXT),
    [INVALID_H.sourceTopic]: input.source.topic,
    [INVALID_H.sourcePartition]: String(input.source.partition),
    [INVALID_H.sourceOffset]: input.source.offset,
    [INVALID_H.originalSize]: String(value?.length ?? 0),
  };
  const whole: Message = {
    key: input.key,
    value,
    headers: { ...userHeaders(input.headers), ...courier },
  };
  const target = Math.floor(limitBytes * FILL);
  if (fitsAlone(whole, target)) return whole;

  // Truncated: keep as much of the value as fits, first with the producer's headers, then without.
  for (const headers of [whole.headers as IHeaders, { ...courier }]) {
    const shell: Message = {
      key: input.key,
      value: null,
      headers: { ...headers, [INVALID_H.truncated]: '1' },
    };
    const room = target - 61 - estimateRecordBytes(shell);
    if (room >= 0) return { ...shell, value: value ? value.subarray(0, Math.min(room, value.length)) : null };
  }
  // A reference only: the key alone is too large to keep.
  return { key: null, value: null, headers: { ...courier, [INVALID_H.truncated]: '1' } };
}
