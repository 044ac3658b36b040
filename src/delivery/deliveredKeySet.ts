// The delivered-key set: which events each destination has already received (kept for the
// idempotency window), plus a short in-flight lock so two senders never send one event at once.
// Admissions and completions of many events share one Redis round trip each (see ../redis/lua).
import { randomUUID } from 'node:crypto';
import { Batcher } from '../redis/batcher.ts';
import type { CourierRedis, RedisKeys } from '../redis/client.ts';

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

interface Completion {
  eventId: string;
  /** Delivery time when the event was delivered; undefined to only release the lock. */
  deliveredAt?: number;
}

export class DeliveredKeySet {
  private readonly options: DeliveredKeySetOptions;
  /** Identifies this process as the holder of its locks. */
  readonly owner = randomUUID();
  private readonly admissions: Batcher<{ eventId: string; force: boolean }, ClaimResult>;
  private readonly completions: Batcher<Completion, undefined>;

  constructor(options: DeliveredKeySetOptions) {
    this.options = options;
    this.admissions = new Batcher((items) => this.admitMany(items));
    this.completions = new Batcher((items) => this.completeMany(items));
  }

  /** Delivered already? Being sent by someone else? Otherwise the event is ours to send. */
  claim(eventId: string, options: { force?: boolean } = {}): Promise<ClaimResult> {
    return this.admissions.submit({ eventId, force: options.force === true });
  }

  async markDelivered(eventId: string, at: number = Date.now()): Promise<void> {
    await this.completions.submit({ eventId, deliveredAt: at });
  }

  async release(eventId: string): Promise<void> {
    await this.completions.submit({ eventId });
  }

  async isDelivered(eventId: string): Promise<boolean> {
    const { redis, keys, destination } = this.options;
    return (await redis.exists(keys.delivered(destination, eventId))) === 1;
  }

  private keysOf(eventIds: string[]): string[] {
    const { keys, destination } = this.options;
    return eventIds.flatMap((id) => [keys.delivered(destination, id), keys.inflight(destination, id)]);
  }

  private async admitMany(items: Array<{ eventId: string; force: boolean }>): Promise<ClaimResult[]> {
    const keys = this.keysOf(items.map((i) => i.eventId));
    const states = await this.options.redis.admit(
      keys.length,
      ...keys,
      this.owner,
      this.options.lockMs,
      ...items.map((i) => (i.force ? '1' : '0')),
    );
    return states.map((s) => {
      const n = Number(s);
      if (n === 0) return { state: 'claimed' };
      if (n < 0) return { state: 'delivered' };
      return { state: 'locked', retryInMs: Math.max(10, n) };
    });
  }

  private async completeMany(items: Completion[]): Promise<undefined[]> {
    const keys = this.keysOf(items.map((i) => i.eventId));
    await this.options.redis.complete(
      keys.length,
      ...keys,
      this.owner,
      this.options.ttlMs,
      ...items.map((i) => (i.deliveredAt === undefined ? '' : String(i.deliveredAt))),
    );
    return items.map(() => undefined);
  }
}
