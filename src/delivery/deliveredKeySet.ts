// The delivered-key set: which events each destination has already received (kept for the
// idempotency window), plus a short in-flight lock so two senders never send one event at once.
import { randomUUID } from 'node:crypto';
import type { CourierRedis, RedisKeys } from './redis.ts';

export type ClaimResult =
  | { state: 'claimed' }
  | { state: 'delivered' }
  | { state: 'locked'; retryInMs: number };

export interface DeliveredKeySetOptions {
  redis: CourierRedis;
  keys: RedisKeys;
  destination: string;
  /** How long a delivered mark is kept (the idempotency window). */
  ttlMs: number;
  /** How long an in-flight lock lives if its holder dies: longer than one attempt. */
  lockMs: number;
}

export class DeliveredKeySet {
  private readonly options: DeliveredKeySetOptions;
  /** Identifies this process as the holder of its locks. */
  readonly owner = randomUUID();

  constructor(options: DeliveredKeySetOptions) {
    this.options = options;
  }

  async claim(eventId: string, options: { force?: boolean } = {}): Promise<ClaimResult> {
    const { redis, keys, destination, lockMs } = this.options;
    const [state, ttl] = await redis.claim(
      keys.delivered(destination, eventId),
      keys.inflight(destination, eventId),
      this.owner,
      lockMs,
      options.force ? '1' : '0',
    );
    if (state === 'locked') return { state, retryInMs: Math.max(10, Number(ttl)) };
    return { state: state as 'claimed' | 'delivered' };
  }

  async markDelivered(eventId: string, at: number = Date.now()): Promise<void> {
    const { redis, keys, destination, ttlMs } = this.options;
    await redis.markDelivered(
      keys.delivered(destination, eventId),
      keys.inflight(destination, eventId),
      this.owner,
      ttlMs,
      String(at),
    );
  }

  async release(eventId: string): Promise<void> {
    const { redis, keys, destination } = this.options;
    await redis.release(keys.inflight(destination, eventId), this.owner);
  }

  async isDelivered(eventId: string): Promise<boolean> {
    const { redis, keys, destination } = this.options;
    return (await redis.exists(keys.delivered(destination, eventId))) === 1;
  }
}
