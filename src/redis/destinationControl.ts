// Pause state of destinations, shared by every instance through Redis: an operator or an auth
// failure pauses until resumed; a Retry-After pauses until a time.
// The pause reasons and what each means are the failure map's (../policy/failures.ts); a reason an
// older version wrote is read as today's.
import { type PauseReason, pauseReasonOf } from '../policy/failures.ts';
import type { CourierRedis } from './client.ts';
import type { RedisKeys } from './keys.ts';

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

  /**
   * Pauses until resumed. An operator pause replaces any other; an automatic (auth) pause never
   * replaces one already in place, so concurrent failures alert once. Returns whether this call
   * paused the destination (false: it was paused already and stays so with its first reason).
   */
  async pause(destination: string, reason: PauseReason, detail?: string): Promise<boolean> {
    const record: PauseRecord = { reason, since: Date.now(), ...(detail ? { detail } : {}) };
    const key = this.keys.paused(destination);
    if (reason === 'operator') {
      await this.redis.set(key, JSON.stringify(record));
      return true;
    }
    return (await this.redis.set(key, JSON.stringify(record), 'NX')) === 'OK';
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
      // An unknown reason (written by a newer version) still pauses; the operator's resume clears it.
      const reason = pauseReasonOf(record.reason) ?? 'operator';
      return { paused: true, reason, ...(record.detail ? { detail: record.detail } : {}) };
    }
    const until = backoff ? Number(backoff) : 0;
    if (until > now) return { paused: true, reason: 'retry-after', until };
    return { paused: false };
  }
}
