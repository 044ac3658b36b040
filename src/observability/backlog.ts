// Backlog read from Kafka offsets alone (so it works from any machine): per destination, the
// consumer lag, the age of the oldest uncommitted message and the DLQ depth; per retry tier, the
// messages waiting. The age comes from a binary search over `fetchTopicOffsetsByTimestamp`,
// which needs no consumer and no group membership.
import type { Admin } from 'kafkajs';

export interface GroupNames {
  deliver(destination: string): string;
  retry: string;
  replay(destination: string): string;
}

export interface DestinationBacklog {
  lag: number;
  /** Age of the oldest message not yet committed by the destination's group; 0 when caught up. */
  oldestAgeMs: number;
  /** Dead letters after the replay group's committed offset (all of them when never replayed). */
  dlqDepth: number;
}

export interface BacklogSnapshot {
  /** When the read started (ms): the snapshot shows the state at this moment or later. */
  at: number;
  destinations: Map<string, DestinationBacklog>;
  retryTiers: Map<string, number>;
}

export interface BacklogTopics {
  dest(destination: string): string;
  dlq(destination: string): string;
  retry(tier: string): string;
}

interface PartitionRange {
  partition: number;
  low: number;
  high: number;
}

export class BacklogProbe {
  private readonly admin: Admin;
  private readonly topics: BacklogTopics;
  private readonly groups: GroupNames;
  private readonly now: () => number;

  constructor(options: { admin: Admin; topics: BacklogTopics; groups: GroupNames; now?: () => number }) {
    this.admin = options.admin;
    this.topics = options.topics;
    this.groups = options.groups;
    this.now = options.now ?? Date.now;
  }

  async read(destinations: readonly string[], tiers: readonly string[]): Promise<BacklogSnapshot> {
    const snapshot: BacklogSnapshot = { at: this.now(), destinations: new Map(), retryTiers: new Map() };
    await Promise.all(
      destinations.map(async (d) => {
        const [dest, dlqDepth] = await Promise.all([
          this.pending(this.topics.dest(d), this.groups.deliver(d), true),
          this.pending(this.topics.dlq(d), this.groups.replay(d), false),
        ]);
        snapshot.destinations.set(d, {
          lag: dest.count,
          oldestAgeMs: dest.oldestAgeMs,
          dlqDepth: dlqDepth.count,
        });
      }),
    );
    const retryTopics = tiers.map((t) => this.topics.retry(t));
    const committed = await this.committed(this.groups.retry, retryTopics);
    await Promise.all(
      tiers.map(async (tier) => {
        const topic = this.topics.retry(tier);
        const ranges = await this.ranges(topic);
        snapshot.retryTiers.set(tier, countAfter(ranges, committed.get(topic)));
      }),
    );
    return snapshot;
  }

  /** Messages of `topic` after `groupId`'s committed offsets, and the age of the first of them. */
  private async pending(
    topic: string,
    groupId: string,
    withAge: boolean,
  ): Promise<{ count: number; oldestAgeMs: number }> {
    const [ranges, committed] = await Promise.all([this.ranges(topic), this.committed(groupId, [topic])]);
    const offsets = committed.get(topic);
    const count = countAfter(ranges, offsets);
    if (!withAge || count === 0) return { count, oldestAgeMs: 0 };
    const firstPending = new Map<number, number>();
    for (const r of ranges) {
      const from = Math.max(r.low, offsets?.get(r.partition) ?? r.low);
      if (from < r.high) firstPending.set(r.partition, from);
    }
    const oldest = await this.oldestTimestamp(topic, firstPending);
    return { count, oldestAgeMs: oldest === undefined ? 0 : Math.max(0, this.now() - oldest) };
  }

  private async ranges(topic: string): Promise<PartitionRange[]> {
    const offsets = await this.admin.fetchTopicOffsets(topic);
    return offsets.map((o) => ({ partition: o.partition, low: Number(o.low), high: Number(o.high) }));
  }

  private async committed(groupId: string, topics: string[]): Promise<Map<string, Map<number, number>>> {
    const result = new Map<string, Map<number, number>>();
    const fetched = await this.admin.fetchOffsets({ groupId, topics });
    for (const t of fetched) {
      const byPartition = new Map<number, number>();
      for (const p of t.partitions) if (Number(p.offset) >= 0) byPartition.set(p.partition, Number(p.offset));
      result.set(t.topic, byPartition);
    }
    return result;
  }

  /**
   * The smallest timestamp among the messages at `offsets` (per partition), to about 100 ms: the
   * smallest `ts` at which some partition's first offset with timestamp ≥ ts lies past its message.
   */
  private async oldestTimestamp(topic: string, offsets: Map<number, number>): Promise<number | undefined> {
    const passed = async (ts: number): Promise<boolean> => {
      const at = await this.admin.fetchTopicOffsetsByTimestamp(topic, ts);
      return at.some((p) => {
        const target = offsets.get(p.partition);
        return target !== undefined && Number(p.offset) > target;
      });
    };
    return searchSmallest(passed, this.now() - 400 * 86_400_000, this.now() + 1000, 100);
  }
}

/** Sum over partitions of the messages after the committed offset (or after the low mark). */
export function countAfter(ranges: PartitionRange[], committed: Map<number, number> | undefined): number {
  let n = 0;
  for (const r of ranges) n += Math.max(0, r.high - Math.max(r.low, committed?.get(r.partition) ?? r.low));
  return n;
}

/**
 * Binary search over a monotone predicate: the smallest x in (lo, hi] within `precision` for which
 * `passed(x)` holds, or undefined when it does not hold at `hi`.
 */
export async function searchSmallest(
  passed: (x: number) => Promise<boolean>,
  lo: number,
  hi: number,
  precision: number,
): Promise<number | undefined> {
  if (!(await passed(hi))) return undefined;
  let low = lo;
  let high = hi;
  while (high - low > precision) {
    const mid = Math.floor((low + high) / 2);
    if (await passed(mid)) high = mid;
    else low = mid;
  }
  return low;
}
