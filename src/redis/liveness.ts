// Which Courier processes are alive: each writes a key of its own (`<prefix>:alive:<id>`) with a
// short lifetime and renews it while it runs; a graceful stop deletes it once everything it owes
// is written. A delivered mark whose attempt record is not confirmed yet names the process that
// made the delivery: while that process lives, its record is still coming; once its key is gone,
// the record was lost with it and is written again (see redis/deliveredKeySet.ts).
import { randomBytes } from 'node:crypto';
import type { RedisKeys } from './keys.ts';

export interface LivenessRedis {
  set(key: string, value: string, px: 'PX', ms: number): Promise<unknown>;
  del(key: string): Promise<number>;
  exists(key: string): Promise<number>;
}

/** Whether a process (by its liveness id) is alive: what a delivered-key set asks. */
export interface Owners {
  readonly id: string;
  isAlive(id: string): Promise<boolean>;
}

export class ProcessLiveness implements Owners {
  /** This process's id: 10 base-36 characters, new at every start. */
  readonly id = BigInt(`0x${randomBytes(7).toString('hex')}`)
    .toString(36)
    .padStart(10, '0')
    .slice(-10);
  private readonly redis: LivenessRedis;
  private readonly keys: RedisKeys;
  private readonly ttlMs: number;
  private timer: NodeJS.Timeout | undefined;
  /** Recent answers about others, so a burst of copies asks once. */
  private readonly seen = new Map<string, { alive: boolean; at: number }>();

  constructor(options: { redis: LivenessRedis; keys: RedisKeys; ttlMs?: number }) {
    this.redis = options.redis;
    this.keys = options.keys;
    this.ttlMs = options.ttlMs ?? 10_000;
  }

  /**
   * Writes the key and renews it every third of its lifetime. Never waits or fails on Redis: an
   * unreachable Redis does not hold a start; the renewals go on.
   */
  start(): void {
    const renew = () => void this.redis.set(this.keys.alive(this.id), '1', 'PX', this.ttlMs).catch(() => {});
    this.timer = setInterval(renew, Math.floor(this.ttlMs / 3));
    this.timer.unref();
    renew();
  }

  /** Deletes the key: call once this process owes no record any more. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.redis.del(this.keys.alive(this.id)).catch(() => 0);
  }

  async isAlive(id: string): Promise<boolean> {
    if (id === this.id) return this.timer !== undefined;
    const now = Date.now();
    const cached = this.seen.get(id);
    if (cached && now - cached.at < 500) return cached.alive;
    const alive = (await this.redis.exists(this.keys.alive(id))) === 1;
    if (this.seen.size > 1000) this.seen.clear();
    this.seen.set(id, { alive, at: now });
    return alive;
  }
}
