// The delivery actor of one destination: consumes `courier.dest.<id>` in its own consumer group
// and, per message: paused? → rate limit → delivered-key check → circuit breaker → signed POST →
// classify → mark delivered · schedule a retry · dead-letter · pause on auth.
// Same-key messages go in order, other keys concurrently up to `concurrency`; offsets are
// committed only below the lowest unfinished message of each partition.

import type { Consumer, EachBatchPayload, Kafka, KafkaMessage } from 'kafkajs';
import type { DestinationConfig } from '../config/schema.ts';
import type { DlqWriter } from '../dlq/dlqWriter.ts';
import { sessionSettings } from '../kafka/client.ts';
import { H, headerNumber, headerString } from '../kafka/headers.ts';
import type { AttemptLog } from '../observability/attemptLog.ts';
import type { AttemptRecord, PipelineEmitter } from '../observability/events.ts';
import type { Logger } from '../observability/logger.ts';
import { backoffDelay, budget } from '../retry/policy.ts';
import type { RetryScheduler } from '../retry/retryScheduler.ts';
import { type ClassifiedResult, createBreaker, isBreakerRejection, TransientFailure } from './breaker.ts';
import type { DeliveredKeySet } from './deliveredKeySet.ts';
import type { DestinationControl } from './destinationControl.ts';
import { KeyedScheduler } from './keyedScheduler.ts';
import { OffsetTracker } from './offsetTracker.ts';
import { classify } from './outcome.ts';
import type { RateLimiter } from './rateLimiter.ts';
import type { WebhookSender } from './sender.ts';
import { sign } from './signer.ts';

/** What became of one message: finished (may be committed) or held (must be read again later). */
type Disposition = 'done' | 'hold';

export interface DestinationActorOptions {
  kafka: Kafka;
  groupId: string;
  topic: string;
  destination: DestinationConfig;
  sender: WebhookSender;
  deliveredKeys: DeliveredKeySet;
  control: DestinationControl;
  rateLimiter?: RateLimiter;
  retries: RetryScheduler;
  dlq: DlqWriter;
  attemptLog: AttemptLog;
  events: PipelineEmitter;
  logger: Logger;
  /** The destination topic's retention: a warning goes out when undelivered work is half that old. */
  retentionMs: number;
  /** How often shared pause state is read from Redis. */
  pausePollMs?: number;
  sessionTimeoutMs?: number;
  now?: () => number;
  random?: () => number;
}

interface MessageMeta {
  eventId: string;
  eventType?: string;
  attemptsBefore: number;
  firstAttemptAt?: number;
  replay: boolean;
  force: boolean;
  /** Earliest known time the event entered Kafka (retries are re-written, so the first attempt bounds it). */
  producedAt: number;
}

function metaOf(message: KafkaMessage): MessageMeta {
  const h = message.headers;
  let eventId = headerString(h, H.eventId);
  if (!eventId && message.value) {
    try {
      eventId = String((JSON.parse(message.value.toString('utf8')) as { id?: unknown }).id ?? '');
    } catch {
      eventId = undefined;
    }
  }
  const eventType = headerString(h, H.eventType);
  const firstAttemptAt = headerNumber(h, H.firstAttemptAt);
  return {
    eventId: eventId || `offset-${message.offset}`,
    ...(eventType ? { eventType } : {}),
    attemptsBefore: headerNumber(h, H.attempt) ?? 0,
    ...(firstAttemptAt === undefined ? {} : { firstAttemptAt }),
    replay: headerString(h, H.replayedAt) !== undefined,
    force: headerString(h, H.replayForce) === '1',
    producedAt: Math.min(Number(message.timestamp), firstAttemptAt ?? Number.POSITIVE_INFINITY),
  };
}

export class DestinationActor {
  private readonly o: DestinationActorOptions;
  private readonly id: string;
  private readonly consumer: Consumer;
  private readonly scheduler: KeyedScheduler;
  private readonly breaker: ReturnType<typeof createBreaker>;
  private readonly trackers = new Map<number, OffsetTracker>();
  private readonly log: Logger;
  private readonly now: () => number;
  private stopping = false;
  /** Batches being handled right now; `stop()` waits for them before leaving the group. */
  private readonly inFlight = new Set<Promise<void>>();
  /** Per partition, the Kafka timestamp of the oldest message not finished yet (held or backlog). */
  private readonly oldest = new Map<number, number>();
  private lastRetentionWarning = 0;
  private sharedPause: { paused: boolean; reason?: string; until?: number } = { paused: false };
  private localPauseUntil = 0;
  private breakerOpen = false;
  private consumerPaused = false;
  private pollTimer: NodeJS.Timeout | undefined;
  private wakeTimer: NodeJS.Timeout | undefined;

  constructor(options: DestinationActorOptions) {
    this.o = options;
    this.id = options.destination.id;
    this.now = options.now ?? Date.now;
    this.log = options.logger.child({ component: 'actor', destination: this.id });
    this.scheduler = new KeyedScheduler(options.destination.concurrency);
    this.consumer = options.kafka.consumer({
      groupId: options.groupId,
      ...sessionSettings(options.sessionTimeoutMs),
      maxBytesPerPartition: 512 * 1024,
      maxWaitTimeInMs: 250,
      retry: { retries: 10 },
    });
    this.breaker = createBreaker(options.destination.circuitBreaker, `destination:${this.id}`);
    this.breaker.on('open', () => {
      this.breakerOpen = true;
      this.log.warn('circuit breaker open: consumption stopped');
      this.o.events.emit('breaker-open', { destination: this.id });
      this.syncConsumer();
    });
    this.breaker.on('halfOpen', () => {
      this.breakerOpen = false;
      this.log.info('circuit breaker half-open: letting one probe through');
      this.o.events.emit('breaker-half-open', { destination: this.id });
      this.syncConsumer();
    });
    this.breaker.on('close', () => {
      this.breakerOpen = false;
      this.log.info('circuit breaker closed');
      this.o.events.emit('breaker-close', { destination: this.id });
      this.syncConsumer();
    });
  }

  async start(): Promise<void> {
    await this.refreshPause();
    await this.consumer.connect();
    this.consumer.on(this.consumer.events.GROUP_JOIN, () => {
      this.trackers.clear();
      this.oldest.clear();
    });
    await this.consumer.subscribe({ topic: this.o.topic, fromBeginning: true });
    await this.consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: Math.min(16, this.o.destination.concurrency),
      eachBatch: (payload) => {
        const handling = this.onBatch(payload);
        this.inFlight.add(handling);
        return handling.finally(() => this.inFlight.delete(handling));
      },
    });
    this.syncConsumer();
    this.pollTimer = setInterval(() => {
      this.refreshPause().catch((err) => this.log.warn({ err }, 'pause state read failed'));
      this.checkRetention();
    }, this.o.pausePollMs ?? 500);
  }

  /**
   * Stops taking new messages, lets in-flight sends finish (each is bounded by the destination's
   * timeout) and commits what is finished, all while still a member of the group; only then
   * leaves it, so the partitions' next owner starts exactly after the finished work.
   */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.pollTimer) clearInterval(this.pollTimer);
    if (this.wakeTimer) clearTimeout(this.wakeTimer);
    this.consumer.pause([{ topic: this.o.topic }]);
    await Promise.allSettled([...this.inFlight]);
    await this.consumer.disconnect();
    this.breaker.shutdown();
    await this.o.sender.close();
  }

  private gateOpen(): boolean {
    return (
      !this.stopping && !this.breakerOpen && !this.sharedPause.paused && this.localPauseUntil <= this.now()
    );
  }

  private async refreshPause(): Promise<void> {
    const state = await this.o.control.state(this.id, this.now());
    const was = this.sharedPause.paused;
    this.sharedPause = state.paused
      ? { paused: true, reason: state.reason, ...(state.until ? { until: state.until } : {}) }
      : { paused: false };
    if (was !== state.paused) {
      if (state.paused)
        this.o.events.emit('paused', {
          destination: this.id,
          reason: state.reason,
          ...(state.until ? { until: state.until } : {}),
        });
      else this.o.events.emit('resumed', { destination: this.id });
    }
    this.syncConsumer();
  }

  /** Pauses or resumes the Kafka consumer to match the gate; wakes itself when a timed pause ends. */
  private syncConsumer(): void {
    if (this.stopping) return;
    const open = this.gateOpen();
    if (!open && !this.consumerPaused) {
      this.consumer.pause([{ topic: this.o.topic }]);
      this.consumerPaused = true;
      this.log.info({ reason: this.pauseReason() }, 'consumption paused');
    } else if (open && this.consumerPaused) {
      this.consumer.resume([{ topic: this.o.topic }]);
      this.consumerPaused = false;
      this.log.info('consumption resumed');
    }
    const until = Math.max(this.localPauseUntil, this.sharedPause.until ?? 0);
    if (!open && until > this.now()) {
      if (this.wakeTimer) clearTimeout(this.wakeTimer);
      this.wakeTimer = setTimeout(
        () => {
          this.wakeTimer = undefined;
          this.refreshPause().catch((err) => this.log.warn({ err }, 'pause state read failed'));
        },
        until - this.now() + 5,
      );
    }
  }

  private pauseReason(): string {
    if (this.breakerOpen) return 'circuit-open';
    if (this.sharedPause.paused) return this.sharedPause.reason ?? 'paused';
    if (this.localPauseUntil > this.now()) return 'retry-after';
    return 'stopping';
  }

  /**
   * Warns (at most once a minute) when the oldest undelivered message of the destination is past
   * half of its topic's retention: a paused or failing destination must be dealt with, or its
   * retention raised, before Kafka deletes what it has not delivered.
   */
  private checkRetention(): void {
    let partition = -1;
    let oldestAt = Infinity;
    for (const [p, at] of this.oldest) {
      if (at < oldestAt) [partition, oldestAt] = [p, at];
    }
    const ageMs = this.now() - oldestAt;
    const { retentionMs } = this.o;
    if (ageMs < retentionMs / 2 || this.now() - this.lastRetentionWarning < 60_000) return;
    this.lastRetentionWarning = this.now();
    this.log.warn(
      { partition, ageMs, retentionMs, paused: !this.gateOpen(), reason: this.pauseReason() },
      'oldest undelivered message is past half of the topic retention: resume or fix the destination, or raise retention',
    );
    this.o.events.emit('retention-risk', { destination: this.id, partition, ageMs, retentionMs });
  }

  private trackerFor(partition: number): OffsetTracker {
    let tracker = this.trackers.get(partition);
    if (!tracker) {
      tracker = new OffsetTracker();
      this.trackers.set(partition, tracker);
    }
    return tracker;
  }

  private async onBatch(payload: EachBatchPayload): Promise<void> {
    const { batch, heartbeat, isRunning, isStale, resolveOffset } = payload;
    const partition = batch.partition;
    const tracker = this.trackerFor(partition);
    let revoked = false;
    const beat = setInterval(() => {
      heartbeat().catch(() => {
        revoked = true;
      });
      void this.commit(partition, tracker);
    }, 1000);
    const abandon = () => revoked || !isRunning() || isStale();

    const first = batch.messages[0];
    if (first)
      this.oldest.set(partition, Math.min(this.oldest.get(partition) ?? Infinity, Number(first.timestamp)));
    try {
      const results = batch.messages.map((message) => {
        const offset = Number(message.offset);
        if (tracker.skipIfFinished(offset)) return Promise.resolve<Disposition>('done');
        tracker.track(offset);
        const key = message.key?.toString('utf8') ?? `offset-${message.offset}`;
        return this.scheduler.run<Disposition>(key, async (previous) => {
          // Keep per-key order: once a message of this key is held, the rest wait with it.
          if (previous === 'hold' || abandon() || !this.gateOpen()) return 'hold';
          const disposition = await this.process(message, abandon).catch((err) => {
            this.log.error(
              { err, partition, offset: message.offset },
              'message handling failed; will retry it',
            );
            return 'hold' as const;
          });
          if (disposition === 'done') tracker.finish(offset);
          return disposition;
        });
      });
      await Promise.all(results);
    } finally {
      clearInterval(beat);
    }

    const lowest = tracker.lowestUnfinished();
    const held = lowest === undefined ? undefined : batch.messages.find((m) => Number(m.offset) === lowest);
    if (held) this.oldest.set(partition, Number(held.timestamp));
    else this.oldest.delete(partition);
    this.checkRetention();
    if (lowest === undefined) {
      const last = batch.messages[batch.messages.length - 1];
      if (last) resolveOffset(last.offset);
    } else if (!revoked && isRunning()) {
      // Read the held message (and everything after it) again once the gate reopens.
      this.consumer.seek({ topic: this.o.topic, partition, offset: String(lowest) });
      tracker.rewind(lowest);
    }
    await this.commit(partition, tracker);
  }

  private async commit(partition: number, tracker: OffsetTracker): Promise<void> {
    const offset = tracker.committable();
    if (offset === undefined) return;
    try {
      await this.consumer.commitOffsets([{ topic: this.o.topic, partition, offset: String(offset) }]);
    } catch (err) {
      // A revoked partition cannot commit; its next owner starts from the last good commit.
      this.log.debug({ err, partition }, 'offset commit skipped');
    }
  }

  private async process(message: KafkaMessage, abandon: () => boolean): Promise<Disposition> {
    const meta = metaOf(message);
    const { destination } = this.o;

    if (this.o.rateLimiter) {
      const allowed = await this.o.rateLimiter.acquire(() => abandon() || !this.gateOpen());
      if (!allowed) return 'hold';
    }

    // Delivered already? Sent by someone else right now? Wait for them rather than send twice.
    for (;;) {
      const claim = await this.o.deliveredKeys.claim(meta.eventId, { force: meta.force });
      if (claim.state === 'delivered') {
        this.record(meta, { attempt: meta.attemptsBefore, latencyMs: 0, outcome: 'duplicate-skipped' });
        return 'done';
      }
      if (claim.state === 'claimed') break;
      if (abandon() || this.stopping) return 'hold';
      await new Promise((r) => setTimeout(r, Math.min(claim.retryInMs, 250)));
    }

    const attempt = meta.attemptsBefore + 1;
    const firstAttemptAt = meta.firstAttemptAt ?? this.now();
    const body = message.value?.toString('utf8') ?? '';
    const timestampSeconds = Math.floor(this.now() / 1000);
    const headers = {
      ...destination.headers,
      'webhook-id': meta.eventId,
      'webhook-timestamp': String(timestampSeconds),
      'webhook-signature': sign({ id: meta.eventId, timestampSeconds, body, secrets: destination.secrets }),
    };

    const sentAt = this.now();
    let classified: ClassifiedResult;
    try {
      classified = await this.breaker.fire(async () => {
        const result = await this.o.sender.send({ body, headers });
        return { result, outcome: classify(result, this.now()) };
      });
    } catch (err) {
      if (err instanceof TransientFailure) {
        classified = err.classified;
      } else {
        await this.o.deliveredKeys.release(meta.eventId);
        if (isBreakerRejection(err)) return 'hold';
        throw err;
      }
    }

    const { result, outcome } = classified;
    const now = this.now();
    const base = {
      // When the attempt was made, not when its outcome was written down.
      at: new Date(sentAt).toISOString(),
      attempt,
      latencyMs: result.latencyMs,
      ...(result.status === undefined ? {} : { status: result.status }),
      ...(result.errorCode ? { errorCode: result.errorCode, error: result.errorMessage } : {}),
      ...(result.snippet ? { responseSnippet: result.snippet } : {}),
      request: {
        webhookId: headers['webhook-id'],
        webhookTimestamp: headers['webhook-timestamp'],
        webhookSignature: headers['webhook-signature'],
      },
    };

    switch (outcome.kind) {
      case 'delivered':
        await this.o.deliveredKeys.markDelivered(meta.eventId, now);
        this.record(meta, { ...base, outcome: 'delivered' });
        return 'done';

      case 'auth':
        await this.o.deliveredKeys.release(meta.eventId);
        await this.o.control.pause(this.id, 'auth', `HTTP ${result.status}`);
        this.sharedPause = { paused: true, reason: 'auth' };
        this.o.events.emit('paused', { destination: this.id, reason: 'auth' });
        this.syncConsumer();
        this.record(meta, { ...base, outcome: 'paused', alert: 'destination-paused-auth' });
        return 'hold';

      case 'permanent':
        await this.o.deliveredKeys.release(meta.eventId);
        await this.deadLetter(message, meta, {
          errorClass: outcome.errorClass ?? 'permanent',
          attempt,
          firstAttemptAt,
          now,
          result,
        });
        this.record(meta, { ...base, outcome: 'dlq', errorClass: outcome.errorClass ?? 'permanent' });
        return 'done';

      case 'transient': {
        await this.o.deliveredKeys.release(meta.eventId);
        let delay = backoffDelay(destination.retry, attempt, this.o.random);
        if (outcome.retryAfterMs !== undefined) {
          const until = now + outcome.retryAfterMs;
          delay = Math.max(delay, outcome.retryAfterMs);
          this.localPauseUntil = Math.max(this.localPauseUntil, until);
          await this.o.control.pauseUntil(this.id, until);
          this.o.events.emit('paused', { destination: this.id, reason: 'retry-after', until });
          this.syncConsumer();
        }
        const dueAt = now + delay;
        const verdict = budget(destination.retry, attempt, firstAttemptAt, dueAt);
        if (verdict.spent) {
          await this.deadLetter(message, meta, {
            errorClass: 'exhausted',
            attempt,
            firstAttemptAt,
            now,
            result,
          });
          this.record(meta, { ...base, outcome: 'dlq', errorClass: 'exhausted' });
          return 'done';
        }
        await this.o.retries.schedule(message, {
          destination: this.id,
          attempts: attempt,
          firstAttemptAt,
          dueAt,
          ...(result.status === undefined ? {} : { lastStatus: result.status }),
          ...(result.errorCode ? { lastError: result.errorCode } : {}),
        });
        this.record(meta, { ...base, outcome: 'retry', nextAttemptAt: new Date(dueAt).toISOString() });
        return 'done';
      }
    }
  }

  private async deadLetter(
    message: KafkaMessage,
    meta: MessageMeta,
    d: {
      errorClass: string;
      attempt: number;
      firstAttemptAt: number;
      now: number;
      result: ClassifiedResult['result'];
    },
  ): Promise<void> {
    await this.o.dlq.write(message, {
      destination: this.id,
      eventId: meta.eventId,
      errorClass: d.errorClass,
      attempts: d.attempt,
      firstAttemptAt: d.firstAttemptAt,
      lastAttemptAt: d.now,
      ...(d.result.status === undefined ? {} : { lastStatus: d.result.status }),
      ...(d.result.errorCode ? { lastError: `${d.result.errorCode}: ${d.result.errorMessage ?? ''}` } : {}),
      ...(d.result.snippet ? { responseSnippet: d.result.snippet } : {}),
    });
    this.o.events.emit('dlq', { destination: this.id, eventId: meta.eventId, errorClass: d.errorClass });
  }

  private record(
    meta: MessageMeta,
    fields: Omit<AttemptRecord, 'eventId' | 'destination' | 'at' | 'replay' | 'eventType'> & { at?: string },
  ): void {
    const record: AttemptRecord = {
      eventId: meta.eventId,
      ...(meta.eventType ? { eventType: meta.eventType } : {}),
      destination: this.id,
      at: new Date(this.now()).toISOString(),
      replay: meta.replay,
      ...(Number.isFinite(meta.producedAt) ? { producedAt: new Date(meta.producedAt).toISOString() } : {}),
      ...fields,
    };
    this.o.events.emit('attempt', record);
    this.o.attemptLog.record(record);
  }
}
