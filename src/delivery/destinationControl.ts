// Pause state of destinations, shared by every instance through Redis: an operator or an auth
// failure pauses until resumed; a Retry-After pauses until a time.
import type { CourierRedis, RedisKeys } from '../redis/client.ts';

/** Why a destination is paused until resumed: an operator, or a response only a human can fix. */
export type PauseReason = 'operator' | 'auth-rejected' | 'forbidden' | 'auth-revoked' | 'gone';

export interface PauseRecord {
  reason: PauseReason;
  since: number;
  detail?: string;
}

export type PauseState =
  | { paused: false }
  | { paused: true; reason: PauseReason | 'retry-after'; until?: number; detail?: string };

export class DestinationControl {
  private readonly redis: CourierRedis;
  private readonly keys: RedisKeys;

  constructor(options: { redis: CourierRedis; keys: RedisKeys }) {
    this.redis = options.redis;
    this.keys = options.keys;
  }

  async pause(destination: string, reason: PauseReason, detail?: string): Promise<void> {
    const record: PauseRecord = { reason, since: Date.now(), ...(detail ? { detail } : {}) };
    await this.redis.set(this.keys.paused(destination), JSON.stringify(record));
  }

  /** Clears operator/auth pauses and any Retry-After wait. Returns whether anything was paused. */
  async resume(destination: string): Promise<boolean> {
    const removed = await this.redis.del(this.keys.paused(destination), this.keys.backoff(destination));
    return removed > 0;
  }

  async pauseUntil(destination: string, until: number): Promise<void> {
    await this.redis.pauseUntil(this.keys.backoff(destination), until);
  }

  async state(destination: string, now: number = Date.now()): Promise<PauseState> {
    const [paused, backoff] = await this.redis.mget(
      this.keys.paused(destination),
      this.keys.backoff(destination),
    );
    if (paused) {
      const record = JSON.parse(paused) as PauseRecord;
      return { paused: true, reason: record.reason, ...(record.detail ? { detail: record.detail } : {}) };
    }
    const until = backoff ? Number(backoff) : 0;
    if (until > now) return { paused: true, reason: 'retry-after', until };
    return { paused: false };
  }
}
