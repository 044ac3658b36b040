// A fake clock for unit tests: time moves only when the test advances it, timers fire in due
// order, and between timers the event loop turns once so promise chains and setImmediate
// callbacks (the Redis batchers) settle as they would in real time.
import type { Clock, TimerHandle } from '../../src/clock.ts';

interface Timer extends TimerHandle {
  id: number;
  due: number;
  every?: number;
  fn: () => void;
}

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

export class FakeClock implements Clock {
  private time: number;
  private timers: Timer[] = [];
  private ids = 0;

  constructor(start = Date.UTC(2026, 11, 1, 12, 0, 0)) {
    this.time = start;
  }

  now(): number {
    return this.time;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    return this.add(fn, ms);
  }

  setInterval(fn: () => void, ms: number): TimerHandle {
    return this.add(fn, ms, Math.max(1, ms));
  }

  clear(timer: TimerHandle | undefined): void {
    this.timers = this.timers.filter((t) => t !== timer);
  }

  /** Timers waiting to fire. */
  get pending(): number {
    return this.timers.length;
  }

  /** Lets pending promise chains settle without moving time. */
  async settle(turns = 5): Promise<void> {
    for (let i = 0; i < turns; i++) await turn();
  }

  /** Moves time forward by `ms`, firing every timer that falls due on the way, in order. */
  async advance(ms: number): Promise<void> {
    const until = this.time + ms;
    await this.settle();
    for (;;) {
      const next = this.timers.reduce<Timer | undefined>((a, t) => (!a || t.due < a.due ? t : a), undefined);
      if (!next || next.due > until) break;
      this.time = Math.max(this.time, next.due);
      if (next.every) next.due += next.every;
      else this.clear(next);
      next.fn();
      await this.settle();
    }
    this.time = until;
    await this.settle();
  }

  private add(fn: () => void, ms: number, every?: number): Timer {
    const timer: Timer = {
      id: ++this.ids,
      due: this.time + Math.max(0, ms),
      fn,
      ...(every ? { every } : {}),
      unref: () => timer,
    };
    this.timers.push(timer);
    return timer;
  }
}
