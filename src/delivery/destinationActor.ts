// The delivery actor of one destination: composes the partition runner (consume, window, commits),
// the gate (breaker, pauses, Retry-After), deliver() (admit, rate limit, sign, POST), decide()
// (what the outcome means) and the executor (retry, dead letter, pause, attempt record), and
// starts and stops them. An event's path reads top to bottom in `handle`.
import type { Kafka } from 'kafkajs';
import { type Clock, systemClock, type TimerHandle } from '../clock.ts';
import type { DestinationConfig } from '../config/schema.ts';
import type { DestinationCredentials } from '../credentials/credentials.ts';
import type { ConsumerWatch } from '../kafka/consumerWatch.ts';
import { atRetentionRisk } from '../policy/retention.ts';
import type { Tier } from '../policy/retry.ts';
import type { DeliveredKeySet } from '../redis/deliveredKeySet.ts';
import type { DestinationControl } from '../redis/destinationControl.ts';
import type { PipelineEmitter } from '../telemetry/events.ts';
import type { Logger } from '../telemetry/logger.ts';
import { type AttemptSink, type DeadLetterSink, Executor, type RetrySink } from './act.ts';
import { decide } from './decide.ts';
import { Deliverer } from './deliver.ts';
import { DeliveryGate } from './deliveryGate.ts';
import type { DeliveryMessage } from './message.ts';
import { destinationConsumer, PartitionRunner, type WindowLimits } from './partitionRunner.ts';
import type { RateLimiter } from './rateLimiter.ts';
import type { WebhookSender } from './sender.ts';

export interface DestinationActorOptions {
  kafka: Kafka;
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
  window: WindowLimits;
  /** Watches the consumer for a crash kafkajs will not restart. */
  watch?: ConsumerWatch;
  /** How often shared pause state is read from Redis. */
  pausePollMs?: number;
  sessionTimeoutMs?: number;
  clock?: Clock;
  random?: () => number;
}

export class DestinationActor {
  private readonly o: DestinationActorOptions;
  private readonly id: string;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly runner: PartitionRunner;
  private readonly gate: DeliveryGate;
  private readonly deliverer: Deliverer;
  private readonly executor: Executor;
  private retentionTimer: TimerHandle | undefined;
  private lastRetentionWarning = 0;

  constructor(options: DestinationActorOptions) {
    this.o = options;
    this.id = options.destination.id;
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? Math.random;
    this.log = options.logger.child({ component: 'actor', destination: this.id });
    this.runner = new PartitionRunner({
      name: `deliver:${this.id}`,
      consumer: destinationConsumer(options.kafka, options.groupId, options.sessionTimeoutMs),
      groupId: options.groupId,
      topic: options.topic,
      concurrency: options.destination.concurrency,
      window: options.window,
      handle: (message, signal) => this.handle(message, signal),
      ...(options.watch ? { watch: options.watch } : {}),
      logger: this.log,
      clock: this.clock,
    });
    this.gate = new DeliveryGate({
      destination: options.destination,
      control: options.control,
      events: options.events,
      logger: this.log,
      onFlowing: (flowing) => this.runner.setFlowing(flowing),
      ...(options.pausePollMs ? { pollMs: options.pausePollMs } : {}),
      clock: this.clock,
    });
    this.deliverer = new Deliverer({
      destination: options.destination,
      sender: options.sender,
      deliveredKeys: options.deliveredKeys,
      gate: this.gate,
      ...(options.rateLimiter ? { rateLimiter: options.rateLimiter } : {}),
      ...(options.credentials ? { credentials: options.credentials } : {}),
      clock: this.clock,
    });
    this.executor = new Executor({
      destination: this.id,
      topic: options.topic,
      deliveredKeys: options.deliveredKeys,
      gate: this.gate,
      retries: options.retries,
      deadLetters: options.deadLetters,
      attempts: options.attempts,
      events: options.events,
      logger: this.log,
      now: () => this.clock.now(),
    });
  }

  async start(): Promise<void> {
    await this.gate.start();
    await this.runner.start();
    this.retentionTimer = this.clock.setInterval(() => this.checkRetention(), 1000);
    this.retentionTimer.unref();
  }

  /** Stops taking messages, lets in-flight sends finish, commits, then leaves the group. */
  async stop(): Promise<void> {
    this.clock.clear(this.retentionTimer);
    this.o.rateLimiter?.close();
    try {
      await this.runner.stop();
    } finally {
      this.gate.stop();
      await this.o.sender.close();
    }
  }

  /** One message, until it is finished (true) or abandoned by a stop or rebalance (false). */
  private async handle(message: DeliveryMessage, signal: AbortSignal): Promise<boolean> {
    const { meta } = message;
    const attempt = meta.attemptsBefore + 1;
    for (;;) {
      if (!(await this.gate.pass(signal))) return false;
      const delivery = await this.deliverer.deliver(message, signal);
      switch (delivery.kind) {
        case 'abandoned':
          return false;
        case 'rejected':
          continue; // the breaker opened meanwhile: wait at the gate
        case 'skipped':
          this.executor.skipped(message);
          return true;
        case 'attempted': {
          const firstAttemptAt = meta.firstAttemptAt ?? delivery.sentAt;
          const action = decide({
            outcome: delivery.outcome,
            attempt,
            firstAttemptAt,
            policy: this.o.destination.retry,
            tiers: this.o.tiers,
            now: this.clock.now(),
            random: this.random,
          });
          if (await this.executor.apply(message, { number: attempt, firstAttemptAt, delivery }, action))
            return true;
          // Paused: the message waits at the gate and is sent again after the resume.
        }
      }
    }
  }

  /**
   * Warns (at most once a minute) when the oldest undelivered message of the destination is at
   * risk of its topic's retention: a paused or failing destination must be dealt with, or its
   * retention raised, before Kafka deletes what it has not delivered.
   */
  private checkRetention(): void {
    const oldest = this.runner.oldestUnfinished();
    if (!oldest) return;
    const ageMs = this.clock.now() - oldest.timestamp;
    const { retentionMs } = this.o;
    if (!atRetentionRisk(ageMs, retentionMs) || this.clock.now() - this.lastRetentionWarning < 60_000) return;
    this.lastRetentionWarning = this.clock.now();
    const state = this.gate.state();
    this.log.warn(
      { partition: oldest.partition, ageMs, retentionMs, paused: !state.open, reason: state.reason },
      'oldest undelivered message is at risk of the topic retention: resume or fix the destination, or raise retention',
    );
    this.o.events.emit('retention-risk', {
      destination: this.id,
      partition: oldest.partition,
      ageMs,
      retentionMs,
    });
  }
}
