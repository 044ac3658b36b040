// Finds which stretch of the attempt log holds an event's records, for the log's whole retention
// (30 days by default), long after the idempotency window's delivery buckets have expired.
// Records are keyed by event id, so each event's records are in one known partition; per
// partition, a sequence of Bloom filters of the event ids written there (Redis bitmaps, see
// ../redis/lua/addToFilter-2.lua), each covering the time from its start to its last write. A lookup
// tests the id against every filter of its partition (one pipelined BITFIELD per filter) and
// returns the time windows that may hold it; the caller reads only those.
//
// Cost: 20 bits (2.5 B) of Redis per event id, whatever its destinations and attempts; at 1,000
// events/s kept 30 days that is 2.6 billion ids, 6.5 GB, in about 100,000 filters of 64 KiB. A filter
// holds at most 26,214 ids, so a lookup reads at most that many records per candidate window, and
// about one filter in 10,000 is a false candidate.
import { createHash } from 'node:crypto';
import type { Clock } from '../clock.ts';
import { systemClock } from '../clock.ts';
import type { CourierRedis } from '../redis/client.ts';
import type { RedisKeys } from '../redis/keys.ts';

/** Bits set per id (and tested per lookup); the script uses the same. */
const K = 7;

/** A new filter is started at least this often, so a quiet partition's filters stay small. */
export const FILTER_ROTATE_MS = 6 * 3_600_000;

/** The two 32-bit hashes of an id from which its K bit positions derive. */
export function idHashes(eventId: string): [number, number] {
  const digest = createHash('md5').update(eventId).digest();
  // h2 odd: with a power-of-two size the K positions are then all distinct.
  return [digest.readUInt32BE(0), (digest.readUInt32BE(4) | 1) >>> 0];
}

/** The K bit positions of an id in a filter of `bits` bits (a power of two). Pure. */
export function bitPositions([h1, h2]: [number, number], bits: number): number[] {
  return Array.from({ length: K }, (_, j) => (h1 + j * h2) % bits);
}

export interface FilterWindow {
  /** When the filter started (ms) and when it was last written to. */
  from: number;
  to: number;
}

export class AttemptFilters {
  private readonly redis: CourierRedis;
  private readonly keys: RedisKeys;
  private readonly keepMs: number;
  private readonly clock: Clock;

  constructor(options: { redis: CourierRedis; keys: RedisKeys; retentionMs: number; clock?: Clock }) {
    this.redis = options.redis;
    this.keys = options.keys;
    this.keepMs = options.retentionMs;
    this.clock = options.clock ?? systemClock;
  }

  /** Records that these event ids were written to `partition` of the attempt log now. */
  async add(partition: number, eventIds: Iterable<string>): Promise<void> {
    const unique = [...new Set(eventIds)];
    if (unique.length === 0) return;
    const [start, bits] = await this.redis.claimFilter(
      this.keys.attemptFilters(partition),
      this.keys.attemptFilterSizes(partition),
      this.keys.attemptFilterBits(partition),
      this.clock.now(),
      FILTER_ROTATE_MS,
      this.keepMs,
      unique.length,
    );
    const sets = unique.flatMap((id) =>
      bitPositions(idHashes(id), Number(bits)).flatMap((p) => ['SET', 'u1', p, 1]),
    );
    await this.redis.call('BITFIELD', `${this.keys.attemptFilterBits(partition)}${start}`, ...sets);
  }

  /** The time windows of `partition` whose filter may hold the id, newest first. */
  async candidates(partition: number, eventId: string): Promise<FilterWindow[]> {
    const [starts, sizes] = await Promise.all([
      this.redis.zrange(this.keys.attemptFilters(partition), 0, -1),
      this.redis.hgetall(this.keys.attemptFilterSizes(partition)),
    ]);
    const hashes = idHashes(eventId);
    const filters = starts
      .map((s) => ({
        start: Number(s),
        bits: Number(sizes[`${s}:m`] ?? 0),
        last: Number(sizes[`${s}:last`] ?? s),
      }))
      .filter((f) => f.bits > 0);
    if (filters.length === 0) return [];
    const pipeline = this.redis.pipeline();
    const prefix = this.keys.attemptFilterBits(partition);
    for (const f of filters) {
      pipeline.call(
        'BITFIELD',
        `${prefix}${f.start}`,
        ...bitPositions(hashes, f.bits).flatMap((p) => ['GET', 'u1', String(p)]),
      );
    }
    const replies = (await pipeline.exec()) ?? [];
    const hits: FilterWindow[] = [];
    filters.forEach((f, i) => {
      const [err, bits] = replies[i] ?? [null, []];
      if (!err && Array.isArray(bits) && bits.length === K && bits.every((b) => Number(b) === 1)) {
        hits.push({ from: f.start, to: f.last });
      }
    });
    return hits.sort((a, b) => b.from - a.from);
  }
}
