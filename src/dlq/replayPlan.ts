// Where a window replay starts and ends, per partition of its source topic: at --from (the first
// offset at or after it, what kafka-consumer-groups --reset-offsets --to-datetime does) or at the
// offsets the replay group has committed (as Kafka's own tool left them; a partition without one
// starts at its end), up to --to or the end offsets captured when the replay began.
import type { Admin } from 'kafkajs';
import { offsetsAt } from '../kafka/rangeReader.ts';

export interface ReplayWindow {
  start: Map<number, number>;
  end: Map<number, number>;
  /** Partitions the group had no committed offset for (they start at their end). */
  uncommitted: number[];
  /** Partitions with something to replay. */
  pending: Set<number>;
}

/** The committed offsets of a group, kept within what the topic still holds. */
async function committedStart(
  admin: Admin,
  groupId: string,
  topic: string,
): Promise<{ start: Map<number, number>; uncommitted: number[] }> {
  const [offsets, committed] = await Promise.all([
    admin.fetchTopicOffsets(topic),
    admin.fetchOffsets({ groupId, topics: [topic] }),
  ]);
  const committedOf = new Map(
    (committed.find((t) => t.topic === topic)?.partitions ?? []).map((p) => [p.partition, Number(p.offset)]),
  );
  const start = new Map<number, number>();
  const uncommitted: number[] = [];
  for (const p of offsets) {
    const offset = committedOf.get(p.partition) ?? -1;
    const [low, high] = [Number(p.low), Number(p.high)];
    if (offset < 0) uncommitted.push(p.partition);
    start.set(p.partition, offset < 0 ? high : Math.min(high, Math.max(low, offset)));
  }
  return { start, uncommitted: uncommitted.sort((a, b) => a - b) };
}

export async function replayWindow(
  admin: Admin,
  o: { topic: string; groupId: string; fromMs?: number; toMs?: number },
): Promise<ReplayWindow> {
  let start: Map<number, number>;
  let uncommitted: number[] = [];
  if (o.fromMs === undefined) {
    ({ start, uncommitted } = await committedStart(admin, o.groupId, o.topic));
  } else {
    start = await offsetsAt(admin, o.topic, o.fromMs);
  }
  const end =
    o.toMs === undefined
      ? new Map((await admin.fetchTopicOffsets(o.topic)).map((p) => [p.partition, Number(p.high)]))
      : await offsetsAt(admin, o.topic, o.toMs);
  const pending = new Set([...start].filter(([p, offset]) => offset < (end.get(p) ?? 0)).map(([p]) => p));
  return { start, end, uncommitted, pending };
}
