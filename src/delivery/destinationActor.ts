// The delivery actor of one destination: composes the partition runner (consume, window, commits),
// the gate (breaker, pauses, Retry-After), deliver() (admit, rate limit, sign, POST), decide()
// (what the outcome means) and the actions of act.ts (retry, dead letter, pause, attempt record), and
// starts and stops them. An event's path reads top to bottom in `handle`.
import type { Kafka } from 'kafkajs';
import { type Clock, settledBy, sleep, systemClock, type TimerHandle } from '../clock.ts';
import type { DestinationConfig } from '../config/schema.ts';
import type { DestinationCredentials } from '../credentials/credentials.ts';
import type { ConsumerWatch } from '../kafka/consumerWatch.ts';
import { atRetentionRisk } from '../policy/retention.ts';
import type { Tier } from '../policy/retry.ts';
import type { DeliveredKeySet } from '../redis/deliveredKeySet.ts';
import type { DestinationControl } from '../redis/destinationControl.ts';
import type { PipelineEmitter } from '../telemetry/events.ts';
import type { Logger } from '../telemetry/logger.ts';
import type { Tracing } from '../telemetry/tracing.ts';
import { Actions, type AttemptSink, type DeadLetterSink, type RetrySink } from './act.ts';
import type { Breaker } from './breaker.ts';
import { decide } from './decide.ts';
import { Deliverer } from './deliver.ts';
import { DeliveryGate } from './deliveryGate.ts';
import type { DeliveryMessage } from './message.ts';
import {
  destinationConsumer,
  PartitionRunner,
  type PartitionRunnerOptions,
  type WindowLimits,
} from './partitionRunner.ts';
import type { RateLimiter } from './rateLimiter.ts';
import type { WebhookSender } from './sender.ts';

export interface DestinationActorOptions {
  kafka: Kafka;
  /** A span per delivery attempt (config `observability.tracing`). */
  tracing?: Tracing;
  groupId: string;
  topic: string;
  destination: DestinationConfig;
  sender: WebhookSender;
  /** The destination's credentials (OAuth2, Basic, mTLS); none when it has no `auth`. */
  credentials?: DestinationCredentials;
  deliveredKeys: DeliveredKeySet;
  control: DestinationControl;
  rateLimiter?: RateLimiter;
  retries: RetrySink;
  deadLetters: DeadLetterSink;
  attempts: AttemptSink;
  events: PipelineEmitter;
  logger: Logger;
  /** The retry tiers: no retry or Retry-After is scheduled further out than the longest. */
  tiers: readonly Tier[];
  /** The destination topic's retention: a warning goes out when undelivered work is at risk. */
  retentionMs: number;
  /** A held message this share of `retentionMs` old is moved to the DLQ (`held-too-long`). */
  rescueAtShare?: number;
  window: WindowLimits;
  /** Watches the consumer for a crash kafkajs will not restart. */
  watch?: ConsumerWatch;
  /** Partitions of the destination topic as configured (sizes each fetch: see fetchSizes). */
  partitions?: number;
  /** Graceful hand-overs of the destination topic's partitions (see PartitionRunnerOptions). */
  handOvers?: PartitionRunnerOptions['handOvers'];
  /** How often shared pause state is read from Redis. */
  pausePollMs?: number;
  sessionTimeoutMs?: number;
  clock?: Clock;
  random?: () => number;
}

/**
 * What a reload replaces in a running actor, in place: its consumer, window and group membership
 * stay as they are. Which fields apply in place, and what they rebuild: `RUNNING_PARTS` in
 * config/diff.ts.
 */
export interface ActorSettings {
  destination: DestinationConfig;
  /** A new sender (a new URL, timeout or proxy); the running one stays when absent. */
  sender?: WebhookSender;
  /** A new rate limit (`limiter` undefined: none any more); the running one stays when absent. */
  rateLimit?: { limiter: RateLimiter | undefined };
  /** A new circuit breaker when `circuitBreaker` changed; it starts closed. */
  breaker?: Breaker;
  /** The in-flight lock length for the new timeout. */
  lockMs: number;
}

export class DestinationActor {
  private readonly options: DestinationActorOptions;
  private readonly id: string;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly runner: PartitionRunner;
  private readonly gate: DeliveryGate;
  private readonly actions: Actions;
  /** What a reload can replace: the configuration, and the deliverer and sender built from it. */
  private destination: DestinationConfig;
  private deliverer: Deliverer;
  private sender: WebhookSender;
  private rateLimiter: RateLimiter | undefined;
  /** Replaced senders, limiters and breakers, closed once the sends begun with them have finished. */
  private readonly retiring = new Set<Promise<void>>();
  private readonly retiringSenders = new Set<WebhookSender>();
  private retentionTimer: TimerHandle | undefined;
  private lastRetentionWarning = 0;
  /** Whether the gate lets messages flow; and whether held messages are being moved to the DLQ. */
  private gateFlowing = true;
  private rescuing = false;

  constructor(options: DestinationActorOptions) {
    this.options = options;
    this.id = options.destination.id;
    this.destination = options.destination;
    this.sender = options.sender;
    this.rateLimiter = options.rateLimiter;
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? Math.random;
    this.log = options.logger.child({ component: 'actor', destination: this.id });
    this.runner = new PartitionRunner({
      name: `deliver:${this.id}`,
      consumer: destinationConsumer(options.kafka, {
        groupId: options.groupId,
        sessionTimeoutMs: options.sessionTimeoutMs,
        window: options.window,
        partitions: options.partitions ?? 1,
      }),
      groupId: options.groupId,
      topic: options.topic,
      concurrency: options.destination.concurrency,
      window: options.window,
      handle: (message, signal) => this.handle(message, signal),
      ...(options.attempts.flushed
        ? { beforeCommit: () => options.attempts.flushed?.() ?? Promise.resolve(true) }
        : {}),
      ...(options.watch ? { watch: options.watch } : {}),
      ...(options.handOvers ? { handOvers: options.handOvers } : {}),
      logger: this.log,
      clock: this.clock,
    });
    this.gate = new DeliveryGate({
      destination: options.destination,
      control: options.control,
      events: options.events,
      logger: this.log,
      onFlowing: (flowing) => {
        this.gateFlowing = flowing;
        this.runner.setFlowing(flowing || this.rescuing);
      },
      ...(options.pausePollMs ? { pollMs: options.pausePollMs } : {}),
      clock: this.clock,
    });
    this.deliverer = this.newDeliverer();
    this.actions = new Actions({
      destination: this.id,
      topic: options.topic,
      deliveredKeys: options.deliveredKeys,
      gate: this.gate,
      retries: options.retries,
      deadLetters: options.deadLetters,
      attempts: options.attempts,
      events: options.events,
      logger: this.log,
      strict: () => this.destination.ordering === 'strict',
      now: () => this.clock.now(),
    });
  }

  private newDeliverer(): Deliverer {
    return new Deliverer({
      destination: this.destination,
      sender: this.sender,
      deliveredKeys: this.options.deliveredKeys,
      gate: this.gate,
      ...(this.rateLimiter ? { rateLimiter: this.rateLimiter } : {}),
      ...(this.options.credentials ? { credentials: this.options.credentials } : {}),
      ...(this.options.tracing?.enabled ? { tracing: this.options.tracing } : {}),
      clock: this.clock,
    });
  }

  /** The delivery log has these deliveries' records and their marks are confirmed. */
  recorded(eventIds: readonly string[]): void {
    this.actions.recorded(eventIds);
  }

  /**
   * Takes a reloaded configuration in place: the next send of every message (including those
   * already in the window) goes under it; sends already under way finish under the old one, after
   * which the sender, rate limiter and breaker they used are closed. The consumer is not touched.
   */

  update(next: ActorSettings): void {
    const old = { deliverer: this.deliverer, sender: this.sender, rateLimiter: this.rateLimiter };
    this.destination = next.destination;
    if (next.sender) this.sender = next.sender;
    if (next.rateLimit) this.rateLimiter = next.rateLimit.limiter;
    this.options.deliveredKeys.setLockMs(next.lockMs);
    const oldBreaker = next.breaker ? this.gate.replaceBreaker(next.breaker) : undefined;
    this.deliverer = this.newDeliverer();
    const oldSender = old.sender !== this.sender ? old.sender : undefined;
    if (oldSender) this.retiringSenders.add(oldSender);
    const retired = old.deliverer
      .idle()
      .then(async () => {
        oldBreaker?.shutdown();
        if (old.rateLimiter && old.rateLimiter !== this.rateLimiter) old.rateLimiter.close();
        await oldSender?.close();
      })
      .finally(() => {
        if (oldSender) this.retiringSenders.delete(oldSender);
        this.retiring.delete(retired);
      });
    this.retiring.add(retired);
  }

  async start(): Promise<void> {
    await this.gate.start();
    await this.runner.start();
    this.retentionTimer = this.clock.setInterval(() => this.checkRetention(), 1000);
    this.retentionTimer.unref();
  }

  /**
   * Stops taking messages, lets in-flight sends finish (until `deadline` at most), commits, then
   * leaves the group.
   */
  async stop(deadline = Number.POSITIVE_INFINITY): Promise<void> {
    this.clock.clear(this.retentionTimer);
    this.rateLimiter?.close();
    // Past the deadline: every request still open is cut, and so is a token request.
    const cut = () => {
      this.sender.destroy();
      for (const s of this.retiringSenders) s.destroy();
      this.options.credentials?.abort?.();
    };
    try {
      await this.runner.stop(deadline, cut);
      await settledBy(Promise.allSettled([...this.retiring]), deadline, this.clock);
    } finally {
      this.gate.stop();
      if (!(await settledBy(this.sender.close(), deadline, this.clock))) cut();
    }
  }

  /**
   * One message, until it is finished (true) or abandoned by a stop or rebalance (false). Under
   * `ordering: strict` a transient failure is retried here, in place, so the key's later messages
   * (queued behind it by the partition runner) wait for it.
   */
  private async handle(original: DeliveryMessage, signal: AbortSignal): Promise<boolean> {
    let message = original;
    for (;;) {
      const { meta } = message;
      const attempt = meta.attemptsBefore + 1;
      const gate = await this.gate.waitToPass(signal, () => this.isHeldTooLong(message));
      if (gate === 'abandoned') return false;
      if (gate === 'give-up') {
        const state = this.gate.state();
        if (
          await this.actions.rescueHeld(message, {
            reason: state.reason ?? 'held',
            retentionMs: this.options.retentionMs,
          })
        )
          return true;
        continue; // the DLQ refused it (its record limit): it waits on, as before
      }
      const delivery = await this.deliverer.deliver(message, signal);
      switch (delivery.kind) {
        case 'abandoned':
          return false;
        case 'rejected':
          continue; // the breaker opened meanwhile: wait at the gate
        case 'skipped':
          this.actions.skipped(message, delivery);
          return true;
        case 'crash-loop':
          if (await this.actions.crashLoop(message, delivery)) return true;
          // The DLQ refused it (its record limit): it is sent after all.
          await this.options.deliveredKeys.release(message.meta.eventId, delivery.token);
          continue;
        case 'attempted': {
          const firstAttemptAt = meta.firstAttemptAt ?? delivery.sentAt;
          const action = decide({
            outcome: delivery.outcome,
            attempt,
            firstAttemptAt,
            policy: this.destination.retry,
            tiers: this.options.tiers,
            now: this.clock.now(),
            random: this.random,
          });
          const done = { number: attempt, firstAttemptAt, delivery };
          if (action.kind === 'retry' && this.destination.ordering === 'strict') {
            await this.actions.retryInPlace(message, done, action);
            if (!(await this.sleepUntil(action.dueAt, signal))) return false;
            message = { ...message, meta: { ...meta, attemptsBefore: attempt, firstAttemptAt } };
            continue;
          }
          if (await this.actions.apply(message, done, action)) return true;
          // Paused: the message waits at the gate and is sent again after the resume.
        }
      }
    }
  }

  /** Waits until `at` (epoch ms); false when `signal` aborted first (a stop or rebalance). */
  private async sleepUntil(at: number, signal: AbortSignal): Promise<boolean> {
    await sleep(this.clock, Math.max(0, at - this.clock.now()), signal);
    return !signal.aborted;
  }

  /** The age past which a held message leaves for the DLQ rather than wait for Kafka to delete it. */
  private rescueAgeMs(): number {
    const share = this.destination.rescueAtRetentionShare ?? this.options.rescueAtShare ?? 0.75;
    return share * this.options.retentionMs;
  }

  private isHeldTooLong(message: DeliveryMessage): boolean {
    return this.clock.now() - message.timestamp >= this.rescueAgeMs();
  }

  /**
   * Warns (at most once a minute) when the oldest undelivered message of the destination is at
   * risk of its topic's retention: a paused or failing destination must be dealt with, or its
   * retention raised, before Kafka deletes what it has not delivered. Past the rescue age the
   * held messages are moved to the DLQ instead (see `rescueAtShare`).
   */
  private checkRetention(): void {
    const oldest = this.runner.oldestUnfinished();
    // Held messages that old leave for the DLQ; while any is, the runner fetches on (the gate
    // would have it stop) so that the ones behind them are looked at too.
    const rescuing = oldest !== undefined && this.clock.now() - oldest.timestamp >= this.rescueAgeMs();
    if (rescuing !== this.rescuing) {
      this.rescuing = rescuing;
      this.runner.setFlowing(this.gateFlowing || rescuing);
      if (rescuing)
        this.log.warn(
          { rescueAfterMs: this.rescueAgeMs(), retentionMs: this.options.retentionMs },
          'held messages reached their rescue age: moving them to the DLQ (held-too-long) before the topic retention deletes them',
        );
    }
    if (rescuing) this.gate.poke();
    if (!oldest) return;
    const ageMs = this.clock.now() - oldest.timestamp;
    const { retentionMs } = this.options;
    if (!atRetentionRisk(ageMs, retentionMs) || this.clock.now() - this.lastRetentionWarning < 60_000) return;
    this.lastRetentionWarning = this.clock.now();
    const state = this.gate.state();
    this.log.warn(
      { partition: oldest.partition, ageMs, retentionMs, paused: !state.open, reason: state.reason },
      'oldest undelivered message is at risk of the topic retention: resume or fix the destination, or raise retention',
    );
    this.options.events.emit('retention-risk', {
      destination: this.id,
      partition: oldest.partition,
      ageMs,
      retentionMs,
    });
  }
}
