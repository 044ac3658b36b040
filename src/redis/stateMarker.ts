// Noticing that Redis lost Courier's state: a marker key written once (no expiry) and looked for
// periodically. Gone while Courier runs means the data went with it — a failover to an empty
// replica, a FLUSHALL, eviction under memory pressure — and with it the delivered-key set (an
// event already delivered may be delivered again if it is read again, within the idempotency
// window), pauses, Retry-After waits, rate-limit state, cached OAuth2 tokens and the attempt
// log's filters (`courier inspect` does not find events recorded before). The first instance to
// notice writes when, for the alert; the marker is written again.
import type { RedisKeys } from './keys.ts';

export interface MarkerRedis {
  set(key: string, value: string, nx: 'NX'): Promise<unknown>;
  set(key: string, value: string): Promise<unknown>;
  exists(key: string): Promise<number>;
  get(key: string): Promise<string | null>;
}

export class StateMarker {
  private readonly redis: MarkerRedis;
  private readonly keys: RedisKeys;

  constructor(redis: MarkerRedis, keys: RedisKeys) {
    this.redis = redis;
    this.keys = keys;
  }

  /** At start: writes the marker if there is none (a first start, or a loss while nobody ran). */
  async ensure(now = Date.now()): Promise<'present' | 'written'> {
    const set = await this.redis.set(this.keys.stateMarker, new Date(now).toISOString(), 'NX');
    return set === 'OK' ? 'written' : 'present';
  }

  /** True when the marker vanished since the last look: the loss is recorded and the marker written again. */
  async check(now = Date.now()): Promise<boolean> {
    if ((await this.redis.exists(this.keys.stateMarker)) === 1) return false;
    await this.redis.set(this.keys.stateLostAt, String(now));
    await this.redis.set(this.keys.stateMarker, new Date(now).toISOString(), 'NX');
    return true;
  }

  /** When a loss was last noticed (epoch ms), if ever (kept until the next one). */
  async lostAt(): Promise<number | undefined> {
    const raw = await this.redis.get(this.keys.stateLostAt);
    const at = raw === null ? Number.NaN : Number(raw);
    return Number.isFinite(at) ? at : undefined;
  }
}
