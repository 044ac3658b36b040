// Noticing that Redis lost Courier's state: a marker key written once (no expiry) and looked for
// periodically. Gone while Courier runs means the data went with it — a failover to an empty
// replica, a FLUSHALL, eviction under memory pressure — and with it the delivered-key set (an
// event already delivered may be delivered again if it is read again, within the idempotency
// window), pauses, Retry-After waits, rate-limit state, cached OAuth2 tokens and the attempt
// log's filters (`courier inspect` does not find events recorded before). The first instance to
// notice writes when, for the alert; the marker is written again.
import type { PipelineEmitter } from '../telemetry/events.ts';
import type { Logger } from '../telemetry/logger.ts';
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

  /**
   * Writes the marker, and looks for it every `everyMs`: when it is gone, Redis lost Courier's
   * state; said once per loss (an error line and `redis-state-lost`), and delivering goes on.
   * Redis unreachable at start is not fatal (readiness says so): the first look writes it then.
   * Returns the stop of the loop.
   */
  async watch(options: { logger: Logger; events: PipelineEmitter; everyMs: number }): Promise<() => void> {
    const { logger, events } = options;
    const marker = await this.ensure().catch((err: unknown) => {
      logger.warn({ err }, 'state marker not written: Redis is not reachable');
      return 'unknown' as const;
    });
    if (marker === 'written') {
      logger.info(
        'no Courier state in Redis yet (a first start, or its data was lost while no instance ran); the marker is written',
      );
    }
    let known = marker !== 'unknown';
    const look = async (): Promise<void> => {
      // Never written by this instance: writing it is all a first look can do.
      if (!known) {
        await this.ensure();
        known = true;
        return;
      }
      if (!(await this.check())) return;
      logger.error(
        { code: 'REDIS_STATE_LOST' },
        "Redis lost Courier's state (an empty replica after a failover, FLUSHALL, eviction): events delivered before now may be delivered again if they are read again within the idempotency window; pauses, Retry-After waits and cached tokens were reset; courier inspect does not find events recorded before. Delivering goes on.",
      );
      events.emit('redis-state-lost', { at: Date.now() });
    };
    const timer = setInterval(() => {
      look().catch((err) => logger.debug({ err }, 'state marker not checked'));
    }, options.everyMs);
    timer.unref();
    return () => clearInterval(timer);
  }

  /** When a loss was last noticed (epoch ms), if ever (kept until the next one). */
  async lostAt(): Promise<number | undefined> {
    const raw = await this.redis.get(this.keys.stateLostAt);
    const at = raw === null ? Number.NaN : Number(raw);
    return Number.isFinite(at) ? at : undefined;
  }
}
