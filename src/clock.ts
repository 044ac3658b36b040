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

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  setInterval: (fn, ms) => setInterval(fn, ms),
  clear: (timer) => {
    if (timer) clearTimeout(timer as NodeJS.Timeout);
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
