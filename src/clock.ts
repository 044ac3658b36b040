// Time as the delivery core sees it: the current time and timers, injected, so that the gate, the
// rate limiter, the partition runner, the delivered-key set and the periodic commits can be tested
// exactly with a fake clock instead of waiting on the wall clock. `systemClock` is the real one.

export interface TimerHandle {
  /** The timer never keeps the process alive on its own. */
  unref(): unknown;
}

export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  setInterval(fn: () => void, ms: number): TimerHandle;
  /** Cancels a timeout or an interval; undefined is ignored. */
  clear(timer: TimerHandle | undefined): void;
}

/**
 * One Node timer per period for every interval of that period (`systemClock.setInterval`): two
 * hundred destinations each polling their pause state every 500 ms wake the process twice a
 * second, not four hundred times, and their Redis reads leave in one pipeline. An interval joins
 * its period's beat (its first tick may come sooner than a full period); the beat keeps the
 * process alive while any of its intervals is not unref'd.
 */
class SharedInterval implements TimerHandle {
  referenced = true;
  readonly fn: () => void;
  readonly beat: Beat;
  constructor(fn: () => void, beat: Beat) {
    this.fn = fn;
    this.beat = beat;
  }
  unref(): this {
    this.referenced = false;
    this.beat.sync();
    return this;
  }
}

class Beat {
  readonly members = new Set<SharedInterval>();
  private readonly timer: NodeJS.Timeout;
  private readonly ms: number;
  constructor(ms: number) {
    this.ms = ms;
    this.timer = setInterval(() => this.tick(), ms);
  }
  private tick(): void {
    for (const member of [...this.members]) {
      if (!this.members.has(member)) continue; // cleared by an earlier member of this tick
      try {
        member.fn();
      } catch (err) {
        // As a timer of its own would: an uncaught exception, after the others have run.
        queueMicrotask(() => {
          throw err;
        });
      }
    }
  }
  /** Keeps the process alive while any member is referenced; ends when none is left. */
  sync(): void {
    if (this.members.size === 0) {
      clearInterval(this.timer);
      if (beats.get(this.ms) === this) beats.delete(this.ms);
    } else if ([...this.members].some((m) => m.referenced)) this.timer.ref();
    else this.timer.unref();
  }
}

const beats = new Map<number, Beat>();

/** Node timers behind `systemClock.setInterval` now (one per period in use): for tests. */
export function sharedBeats(): number {
  return beats.size;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  setInterval: (fn, ms) => {
    let beat = beats.get(ms);
    if (!beat) {
      beat = new Beat(ms);
      beats.set(ms, beat);
    }
    const member = new SharedInterval(fn, beat);
    beat.members.add(member);
    beat.sync();
    return member;
  },
  clear: (timer) => {
    if (timer instanceof SharedInterval) {
      timer.beat.members.delete(timer);
      timer.beat.sync();
    } else if (timer) clearTimeout(timer as NodeJS.Timeout);
  },
};

/**
 * Wall-clock epoch ms with fractions (hundredths), for the attempt record's hop timings only:
 * never for timers or comparisons with an injected clock.
 */
export function preciseNow(): number {
  return Math.round((performance.timeOrigin + performance.now()) * 100) / 100;
}

/** Resolves after `ms` on `clock`, or at once when `signal` aborts. */
export function sleep(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clock.clear(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = clock.setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * Waits for `work` until `deadline` (epoch ms on `clock`): true when it settled in time, false when
 * the deadline came first (the work goes on; the caller stops waiting for it).
 */
export async function settledBy(
  work: Promise<unknown>,
  deadline: number,
  clock: Clock = systemClock,
): Promise<boolean> {
  const settled = work.then(
    () => true,
    () => true,
  );
  // No deadline (or one past what a timer holds): wait for the work itself.
  if (!(deadline - clock.now() < 2 ** 31 - 1)) return settled;
  let timer: TimerHandle | undefined;
  const late = new Promise<false>((resolve) => {
    timer = clock.setTimeout(() => resolve(false), Math.max(0, deadline - clock.now()));
  });
  try {
    return await Promise.race([settled, late]);
  } finally {
    clock.clear(timer);
  }
}
