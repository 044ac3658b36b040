// A per-event index in Redis, kept for the idempotency window, so that "what happened to
// event X?" is one lookup, not a scan of the attempt topic.
import type { CourierRedis, RedisKeys } from '../delivery/redis.ts';
import type { AttemptRecord } from './events.ts';

export interface DestinationState {
  state: 'pending' | 'delivered' | 'retrying' | 'dead-lettered' | 'paused' | 'duplicate-skipped';
  at: string;
  attempt?: number;
  status?: number;
  errorCode?: string;
  errorClass?: string;
  nextAttemptAt?: string;
}

const STATE_OF: Record<AttemptRecord['outcome'], DestinationState['state']> = {
  delivered: 'delivered',
  retry: 'retrying',
  dlq: 'dead-lettered',
  paused: 'paused',
  'duplicate-skipped': 'delivered',
};

export class EventIndex {
  private readonly redis: CourierRedis;
  private readonly keys: RedisKeys;
  private readonly ttlMs: number;

  constructor(options: { redis: CourierRedis; keys: RedisKeys; ttlMs: number }) {
    this.redis = options.redis;
    this.keys = options.keys;
    this.ttlMs = options.ttlMs;
  }

  async recordRouted(eventId: string, eventType: string, destinations: string[]): Promise<void> {
    const key = this.keys.eventIndex(eventId);
    const at = new Date().toISOString();
    const pipeline = this.redis.multi().hset(key, '_type', eventType);
    for (const d of destinations)
      pipeline.hsetnx(key, d, JSON.stringify({ state: 'pending', at } satisfies DestinationState));
    await pipeline.pexpire(key, this.ttlMs).exec();
  }

  async recordAttempt(a: AttemptRecord): Promise<void> {
    const key = this.keys.eventIndex(a.eventId);
    const attemptsKey = this.keys.eventAttempts(a.eventId);
    const state: DestinationState = {
      state: STATE_OF[a.outcome],
      at: a.at,
      attempt: a.attempt,
      ...(a.status === undefined ? {} : { status: a.status }),
      ...(a.errorCode ? { errorCode: a.errorCode } : {}),
      ...(a.errorClass ? { errorClass: a.errorClass } : {}),
      ...(a.nextAttemptAt ? { nextAttemptAt: a.nextAttemptAt } : {}),
    };
    const { responseSnippet: _s, ...compact } = a;
    await this.redis
      .multi()
      .hset(key, a.destination, JSON.stringify(state))
      .rpush(attemptsKey, JSON.stringify(compact))
      .ltrim(attemptsKey, -200, -1)
      .pexpire(key, this.ttlMs)
      .pexpire(attemptsKey, this.ttlMs)
      .exec();
  }

  async lookup(eventId: string): Promise<{
    eventType?: string;
    destinations: Record<string, DestinationState>;
    attempts: AttemptRecord[];
  }> {
    const key = this.keys.eventIndex(eventId);
    const [hash, attempts] = await Promise.all([
      this.redis.hgetall(key),
      this.redis.lrange(this.keys.eventAttempts(eventId), 0, -1),
    ]);
    const { _type, ...rest } = hash;
    return {
      ...(_type ? { eventType: _type } : {}),
      destinations: Object.fromEntries(
        Object.entries(rest).map(([d, v]) => [d, JSON.parse(v) as DestinationState]),
      ),
      attempts: attempts.map((s) => JSON.parse(s) as AttemptRecord),
    };
  }
}
