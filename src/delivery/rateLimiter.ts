// Per-destination rate limit that holds across every instance: GCRA in Redis, taken in blocks.
// One local dispenser per destination queues its waiters and asks Redis for as many permits as
// it has waiters (at most `burst`); granted permits wake waiters one each, in order. While
// nobody waits nothing is asked, and while Redis says "not yet" the dispenser sleeps until the
// next permit is due, gathering waiters: at most one Redis call per block, never one per waiter.
import { type Clock, systemClock, type TimerHandle } from '../clock.ts';
import type { PipelineEmitter } from '../telemetry/events.ts';

/** Where permits are taken: GCRA on one shared key (Redis' `takePermits-1.lua`). */
export interface PermitStore {
  /** [permits granted now (0..wanted), ms until the next one when fewer than wanted]. */
  takePermits(key: string, intervalMs: number, burst: number, wanted: number): Promise<[number, number]>;
}

export interface RateLimiterOptions {
  redis: PermitStore;
  key: string;
  perSecond: number;
  burst: number;
  /** The destination limited, in the events emitted. */
  destination: string;
  /** `rate-limited` (how long a block of waiters waited for their permits) is emitted here. */
  events?: PipelineEmitter;
  clock?: Clock;
}

interface Waiter {
  since: number;
  resolve: (granted: boolean) => void;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

export class RateLimiter {
  private readonly options: RateLimiterOptions;
  private readonly intervalMs: number;
  /** Collect this long between Redis calls while a backlog waits, so each call grants a block. */
  private readonly gatherMs: number;
  private readonly waiters: Waiter[] = [];
  private asking = false;
  /** A first call is due once this turn's waiters have gathered. */
  private gathering = false;
  private readonly clock: Clock;
  private timer: TimerHandle | undefined;
  /** When the last call was made, and whether it met contention (several waiters, or a refusal). */
  private lastCallAt = 0;
  private busy = false;

  constructor(options: RateLimiterOptions) {
    if (!(options.perSecond > 0)) throw new RangeError('perSecond must be positive');
    if (!(options.burst >= 1)) throw new RangeError('burst must be at least 1');
    this.options = options;
    this.clock = options.clock ?? systemClock;
    this.intervalMs = 1000 / options.perSecond;
    // Long enough that a call finds about a burst's worth of permits (shared by all instances).
    this.gatherMs = Math.min(250, Math.max(20, this.intervalMs * options.burst));
  }

  /** Resolves true when one request may be sent now, false when `signal` aborted the wait. */
  acquire(signal?: AbortSignal): Promise<boolean> {
    if (signal?.aborted) return Promise.resolve(false);
    return new Promise<boolean>((resolve) => {
      const waiter: Waiter = { since: this.clock.now(), resolve, signal, onAbort: undefined };
      if (signal) {
        waiter.onAbort = () => {
          const i = this.waiters.indexOf(waiter);
          if (i >= 0) this.waiters.splice(i, 1);
          resolve(false);
        };
        signal.addEventListener('abort', waiter.onAbort, { once: true });
      }
      this.waiters.push(waiter);
      // Waiters that arrive together (a batch of admissions resolves in one turn) share one call.
      if (!this.gathering) {
        this.gathering = true;
        queueMicrotask(() => {
          this.gathering = false;
          this.pump();
        });
      }
    });
  }

  /** Wakes every waiter with false (stop). */
  close(): void {
    this.clock.clear(this.timer);
    this.timer = undefined;
    for (const w of this.waiters.splice(0)) this.settle(w, false);
  }

  private settle(w: Waiter, granted: boolean): void {
    if (w.signal && w.onAbort) w.signal.removeEventListener('abort', w.onAbort);
    w.resolve(granted);
  }

  private pump(): void {
    if (this.asking || this.timer || this.waiters.length === 0) return;
    // Under load, let waiters gather so the next call takes a block rather than one permit.
    const gatherFor = this.busy ? this.lastCallAt + this.gatherMs - this.clock.now() : 0;
    if (gatherFor > 0) {
      this.timer = this.clock.setTimeout(() => {
        this.timer = undefined;
        this.pump();
      }, gatherFor);
      return;
    }
    this.asking = true;
    this.lastCallAt = this.clock.now();
    const wanted = Math.min(this.waiters.length, this.options.burst);
    this.options.redis
      .takePermits(this.options.key, this.intervalMs, this.options.burst, wanted)
      .then(
        ([granted, waitMs]) => {
          const now = this.clock.now();
          this.busy = wanted > 1 || Number(granted) < wanted;
          const woken = this.waiters.splice(0, Number(granted));
          if (woken.length > 0) {
            this.options.events?.emit('rate-limited', {
              destination: this.options.destination,
              waitedMs: now - (woken[0] as Waiter).since,
              permits: woken.length,
            });
            for (const w of woken) this.settle(w, true);
          }
          return this.waiters.length > 0
            ? Math.max(Number(waitMs), this.gatherMs - (this.clock.now() - this.lastCallAt))
            : 0;
        },
        // Redis unreachable: try again shortly; the waiters keep waiting (nothing is sent).
        () => 500,
      )
      .then((nextInMs) => {
        this.asking = false;
        if (nextInMs > 0 && this.waiters.length > 0) {
          this.timer = this.clock.setTimeout(() => {
            this.timer = undefined;
            this.pump();
          }, nextInMs);
        } else {
          this.pump();
        }
      });
  }
}
