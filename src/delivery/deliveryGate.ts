// One destination's gate: one state machine over everything that stops sending — the circuit
// breaker (open: nothing goes; half-open: exactly one probe), a pause shared by every instance
// through Redis (an operator, a credential or a 410 Gone: until resumed) and a Retry-After (until
// a time, shared too). Messages wait at the gate inside the window; the gate tells the partition
// runner when to stop fetching (`onFlowing`), never the fetch loop itself.
import { type Clock, systemClock, type TimerHandle } from '../clock.ts';
import type { DestinationConfig } from '../config/schema.ts';
import type { PauseReason } from '../policy/failures.ts';
import type { PauseState } from '../redis/destinationControl.ts';
import type { PipelineEmitter } from '../telemetry/events.ts';
import type { Logger } from '../telemetry/logger.ts';
import {
  type Breaker,
  type ClassifiedResult,
  createBreaker,
  isBreakerRejection,
  TransientFailure,
} from './breaker.ts';

/** The shared pause state the gate reads and writes (Redis, for every instance). */
export interface PauseStore {
  pause(destination: string, reason: PauseReason, detail?: string): Promise<boolean>;
  pauseUntil(destination: string, until: number): Promise<void>;
  state(destination: string, now: number): Promise<PauseState>;
}

export interface DeliveryGateOptions {
  destination: DestinationConfig;
  control: PauseStore;
  events: PipelineEmitter;
  logger: Logger;
  /** Called when sending may go on at full speed (true) or should stop fetching (false). */
  onFlowing: (flowing: boolean) => void;
  /** How often the shared pause state is read from Redis. */
  pollMs?: number;
  clock?: Clock;
  /** The circuit breaker; opossum's, from the destination's `circuitBreaker` settings, by default. */
  breaker?: Breaker;
}

type BreakerState = 'closed' | 'open' | 'half-open';

export class DeliveryGate {
  private readonly options: DeliveryGateOptions;
  private readonly id: string;
  private readonly log: Logger;
  private readonly clock: Clock;
  private breaker: Breaker;
  private breakerState: BreakerState = 'closed';
  private probeTaken = false;
  private shared: { reason: PauseReason; detail?: string } | undefined;
  private retryAfterUntil = 0;
  /** Bumped by every local change, so that a Redis read begun before it does not undo it. */
  private version = 0;
  private waiters: Array<() => void> = [];
  private pollTimer: TimerHandle | undefined;
  private wakeTimer: TimerHandle | undefined;
  private lastFlowing = true;
  private stopped = false;

  constructor(options: DeliveryGateOptions) {
    this.options = options;
    this.id = options.destination.id;
    this.clock = options.clock ?? systemClock;
    this.log = options.logger.child({ component: 'gate', destination: this.id });
    this.breaker =
      options.breaker ?? createBreaker(options.destination.circuitBreaker, `destination:${this.id}`);
    this.listen(this.breaker);
  }

  /** Follows a breaker's state changes for as long as it is the gate's breaker. */
  private listen(breaker: Breaker): void {
    const follow = (state: BreakerState) => () => {
      if (breaker === this.breaker) this.setBreaker(state);
    };
    breaker.on('open', follow('open'));
    breaker.on('halfOpen', follow('half-open'));
    breaker.on('close', follow('closed'));
  }

  /**
   * Takes a new circuit breaker (a reload changed `circuitBreaker`): it starts closed, with no
   * history. Returns the old one; sends already firing through it finish there, and the caller
   * shuts it down once they have.
   */
  replaceBreaker(next: Breaker): Breaker {
    const old = this.breaker;
    this.breaker = next;
    this.listen(next);
    this.setBreaker('closed');
    return old;
  }

  async start(): Promise<void> {
    await this.refresh();
    this.pollTimer = this.clock.setInterval(() => {
      this.refresh().catch((err) => this.log.warn({ err }, 'pause state read failed'));
    }, this.options.pollMs ?? 500);
    // Never what keeps a process alive: the consumers and sockets are.
    this.pollTimer.unref();
  }

  stop(): void {
    this.stopped = true;
    this.clock.clear(this.pollTimer);
    this.clock.clear(this.wakeTimer);
    this.breaker.shutdown();
    this.wake();
  }

  /** Why nothing is sent right now, or undefined when the gate is open. */
  reason(): string | undefined {
    if (this.breakerState === 'open') return 'circuit-open';
    if (this.shared) return this.shared.reason;
    if (this.retryAfterUntil > this.clock.now()) return 'retry-after';
    if (this.breakerState === 'half-open' && this.probeTaken) return 'circuit-half-open';
    return undefined;
  }

  /**
   * Whether sending must stop right now (open circuit, a pause, a Retry-After), for a caller that
   * already passed the gate and waited since (for a rate-limit permit, say).
   */
  shut(): boolean {
    return (
      this.breakerState === 'open' || this.shared !== undefined || this.retryAfterUntil > this.clock.now()
    );
  }

  /** The state `courier status`, metrics and the retention warning show. */
  state(): { open: boolean; reason?: string; breaker: BreakerState; until?: number } {
    const reason = this.reason();
    return {
      open: reason === undefined,
      ...(reason ? { reason } : {}),
      breaker: this.breakerState,
      ...(this.retryAfterUntil > this.clock.now() ? { until: this.retryAfterUntil } : {}),
    };
  }

  /**
   * Waits until a message may be sent: 'pass' then (in half-open, this caller holds the one
   * probe), 'abandoned' when `signal` aborted first. `giveUp` is asked each time the gate is
   * looked at while shut: 'give-up' when it says so (a message held too long leaves the queue
   * instead of waiting). `poke()` makes every waiter look again.
   */
  async waitToPass(signal: AbortSignal, giveUp: () => boolean): Promise<'pass' | 'abandoned' | 'give-up'> {
    for (;;) {
      if (signal.aborted || this.stopped) return 'abandoned';
      if (this.reason() === undefined) {
        if (this.breakerState === 'half-open') this.probeTaken = true;
        return 'pass';
      }
      if (giveUp()) return 'give-up';
      await new Promise<void>((resolve) => {
        const done = () => {
          signal.removeEventListener('abort', done);
          resolve();
        };
        this.waiters.push(done);
        signal.addEventListener('abort', done, { once: true });
      });
    }
  }

  /** Every message waiting at the gate looks again (see `waitToPass`). */
  poke(): void {
    this.wake();
  }

  /**
   * Sends through the circuit breaker: the classified result, or 'rejected' when the breaker
   * refused to send (no attempt was made; the caller waits at the gate and tries again).
   */
  async fire(send: () => Promise<ClassifiedResult>): Promise<ClassifiedResult | 'rejected'> {
    try {
      return await this.breaker.fire(send);
    } catch (err) {
      if (err instanceof TransientFailure) return err.classified;
      if (isBreakerRejection(err)) {
        // A probe that could not go: let another caller take it.
        if (this.breakerState === 'half-open') this.probeTaken = false;
        this.wake();
        return 'rejected';
      }
      throw err;
    }
  }

  /**
   * Pauses the destination on every instance until an operator resumes it. True when this call
   * paused it; false when it was paused already (the first reason stays, and only that one alerts).
   */
  async pause(reason: PauseReason, detail: string): Promise<boolean> {
    const first = await this.options.control.pause(this.id, reason, detail);
    this.version += 1;
    const was = this.shared;
    if (first || !was) this.shared = { reason, detail };
    if (first) this.options.events.emit('paused', { destination: this.id, reason });
    this.changed();
    return first;
  }

  /** Holds the destination on every instance until `until` (a Retry-After). */
  async pauseUntil(until: number): Promise<void> {
    await this.options.control.pauseUntil(this.id, until);
    this.version += 1;
    if (until > this.retryAfterUntil) {
      this.retryAfterUntil = until;
      this.options.events.emit('paused', { destination: this.id, reason: 'retry-after', until });
    }
    this.changed();
  }

  private async refresh(): Promise<void> {
    const version = this.version;
    const state = await this.options.control.state(this.id, this.clock.now());
    if (version !== this.version || this.stopped) return;
    const wasShared = this.shared;
    const wasUntil = this.retryAfterUntil;
    if (state.paused && state.reason !== 'retry-after') {
      this.shared = { reason: state.reason, ...(state.detail ? { detail: state.detail } : {}) };
      this.retryAfterUntil = 0;
    } else {
      this.shared = undefined;
      // Shared state wins: `courier resume` deletes the Retry-After too, on every instance.
      this.retryAfterUntil = state.paused ? (state.until ?? 0) : 0;
    }
    if (!wasShared && this.shared)
      this.options.events.emit('paused', { destination: this.id, reason: this.shared.reason });
    if (
      (wasShared || wasUntil > this.clock.now()) &&
      !this.shared &&
      this.retryAfterUntil <= this.clock.now()
    )
      this.options.events.emit('resumed', { destination: this.id });
    this.changed();
  }

  private setBreaker(state: BreakerState): void {
    if (state === this.breakerState) return;
    this.breakerState = state;
    this.probeTaken = false;
    if (state === 'open') this.log.warn('circuit breaker open: sending stopped');
    else if (state === 'half-open') this.log.info('circuit breaker half-open: letting one probe through');
    else this.log.info('circuit breaker closed');
    const event =
      state === 'open' ? 'breaker-open' : state === 'half-open' ? 'breaker-half-open' : 'breaker-close';
    this.options.events.emit(event, { destination: this.id });
    this.changed();
  }

  /** Wakes waiters, tells the runner whether to fetch, and arms a timer for a timed pause. */
  private changed(): void {
    this.wake();
    // Half-open fetches again: a probe needs a message, and the window may hold none.
    const flowing = !this.shut();
    if (flowing !== this.lastFlowing) {
      this.lastFlowing = flowing;
      this.log.info(
        { reason: this.reason() ?? this.breakerState },
        flowing ? 'sending resumed' : 'sending paused',
      );
      this.options.onFlowing(flowing);
    }
    if (this.retryAfterUntil > this.clock.now()) {
      this.clock.clear(this.wakeTimer);
      this.wakeTimer = this.clock.setTimeout(
        () => {
          this.wakeTimer = undefined;
          if (!this.shared && this.retryAfterUntil <= this.clock.now()) {
            // The wait ran out here; a refresh that finds no Retry-After left will not say so.
            this.retryAfterUntil = 0;
            this.options.events.emit('resumed', { destination: this.id });
          }
          this.changed();
          this.refresh().catch((err) => this.log.warn({ err }, 'pause state read failed'));
        },
        this.retryAfterUntil - this.clock.now() + 5,
      );
      this.wakeTimer.unref();
    }
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}
