// Per-destination rate limit that holds across every instance: GCRA in Redis (one atomic
// script), with a local fast path: once Redis says "wait", every local sender waits out that
// time without asking again.
import type { CourierRedis } from './redis.ts';

export interface RateLimiterOptions {
  redis: CourierRedis;
  key: string;
  perSecond: number;
  burst: number;
  sleep?: (ms: number) => Promise<void>;
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class RateLimiter {
  private readonly options: RateLimiterOptions;
  private readonly intervalMs: number;
  private notBefore = 0;

  constructor(options: RateLimiterOptions) {
    if (!(options.perSecond > 0)) throw new RangeError('perSecond must be positive');
    if (!(options.burst >= 1)) throw new RangeError('burst must be at least 1');
    this.options = options;
    this.intervalMs = 1000 / options.perSecond;
  }

  /** Resolves when one request may be sent; `shouldStop` lets a shutdown abandon the wait. */
  async acquire(shouldStop: () => boolean = () => false): Promise<boolean> {
    const sleep = this.options.sleep ?? defaultSleep;
    for (;;) {
      if (shouldStop()) return false;
      const localWait = this.notBefore - Date.now();
      if (localWait > 0) {
        await sleep(Math.min(localWait, 250));
        continue;
      }
      const wait = Number(
        await this.options.redis.rateLimit(this.options.key, this.intervalMs, this.options.burst),
      );
      if (wait <= 0) return true;
      this.notBefore = Math.max(this.notBefore, Date.now() + wait);
    }
  }
}
