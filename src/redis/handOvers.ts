// Where the next holder of a partition may start after a graceful hand-over. A rebalance moves a
// partition before its holder could commit what it finished (kafkajs rejoins first; a commit
// after that is refused for its stale generation), so the next holder would read that part again:
// instead the holder writes, as it hands the partition on, the offset below which everything is
// finished, and the next holder starts there. Best effort: a hand-over not written in time, or
// lost, only means reading again what the committed offset says (nothing is skipped that was not
// finished).
import type { RedisKeys } from './keys.ts';

export interface HandOverRedis {
  handOver(key: string, ttlMs: number, ...partitionsAndValues: Array<string | number>): Promise<unknown>;
  hget(key: string, field: string): Promise<string | null>;
}

export interface HandOver {
  owner: string;
  /** The offset below which everything of the partition was finished. */
  next: number;
  at: number;
}

/** Hand-overs older than this are not trusted (the partition has moved on since). */
const KEEP_MS = 10 * 60_000;

export class HandOvers {
  private readonly redis: HandOverRedis;
  private readonly key: string;
  readonly owner: string;

  constructor(options: { redis: HandOverRedis; keys: RedisKeys; groupId: string; owner: string }) {
    this.redis = options.redis;
    this.key = options.keys.handOvers(options.groupId);
    this.owner = options.owner;
  }

  async write(partitions: ReadonlyArray<{ partition: number; next: number }>): Promise<void> {
    if (partitions.length === 0) return;
    const now = Date.now();
    await this.redis.handOver(
      this.key,
      KEEP_MS,
      ...partitions.flatMap(({ partition, next }) => [partition, `${this.owner}|${next}|${now}`]),
    );
  }

  /** Another holder's recent hand-over of the partition, if any. */
  async read(partition: number): Promise<HandOver | undefined> {
    const raw = await this.redis.hget(this.key, String(partition));
    if (!raw) return undefined;
    const [owner, next, at] = raw.split('|');
    const parsed = { owner: owner ?? '', next: Number(next), at: Number(at) };
    if (!parsed.owner || parsed.owner === this.owner || !Number.isSafeInteger(parsed.next)) return undefined;
    if (!(Date.now() - parsed.at < KEEP_MS)) return undefined;
    return parsed;
  }
}
