// The delay consumer: reads every retry tier topic and forwards each message to its
// destination topic once its `courier-due-at` has passed. A partition whose head is not due is
// paused and resumed by a timer at the due time: no busy loop and no blocked consumer session.
//
// A tier partition is read in order, so its head holds everything behind it, every destination's
// retries. A message is therefore released at min(courier-due-at, its Kafka timestamp + the
// tier's duration) (`releaseAt`): never later than its tier allows. Delays are capped at the
// largest tier when written (`capDelay`), so a due time beyond the tier only comes from a message
// written before the cap, by a clock far ahead or by hand. Such a message is forwarded at the
// tier bound with the rest of its delay dropped, not re-parked: a Retry-After pause is held by
// the destination's shared pause in Redis (not by the message), the retry budget still applies
// when it is attempted, and re-parking would let an absurd due time circle the tiers forever.

import type { Consumer, EachBatchPayload, Kafka, Message, Producer } from 'kafkajs';
import { roleConsumer } from '../kafka/client.ts';
import type { ConsumerWatch } from '../kafka/consumerWatch.ts';
import { destinationRecord, readEventMeta, readRetryStamp, userHeaders } from '../kafka/records.ts';
import { sendSized, type TopicLimits } from '../kafka/sizedSend.ts';
import { releaseAt } from '../policy/retry.ts';
import type { PipelineEmitter } from '../telemetry/events.ts';
import type { Logger } from '../telemetry/logger.ts';

export interface DelayConsumerOptions {
  kafka: Kafka;
  producer: Producer;
  /** Each topic's max.message.bytes: forwards are sized to it. */
  limits: TopicLimits;
  /** Reports a consumer crash kafkajs will not restart. */
  watch?: ConsumerWatch;
  groupId: string;
  topics: string[];
  /** Each tier topic's duration in ms: no message holds its partition longer than that. */
  tierMs: ReadonlyMap<string, number>;
  destinationTopic: (destination: string) => string;
  events: PipelineEmitter;
  logger: Logger;
  now?: () => number;
  sessionTimeoutMs?: number;
}

export class DelayConsumer {
  private readonly options: DelayConsumerOptions;
  private readonly consumer: Consumer;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(options: DelayConsumerOptions) {
    this.options = options;
    this.now = options.now ?? Date.now;
    this.log = options.logger.child({ component: 'delay-consumer' });
    this.consumer = roleConsumer(options.kafka, {
      groupId: options.groupId,
      maxWaitTimeInMs: 250,
      sessionTimeoutMs: options.sessionTimeoutMs,
    });
    options.watch?.add('retry', this.consumer, options.groupId);
  }

  async start(): Promise<void> {
    await this.consumer.connect();
    await this.consumer.subscribe({ topics: this.options.topics, fromBeginning: true });
    await this.consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: 4,
      eachBatch: (payload) => this.onBatch(payload),
    });
  }

  async stop(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    await this.consumer.disconnect();
  }

  private async onBatch({
    batch,
    resolveOffset,
    pause,
    isRunning,
    isStale,
  }: EachBatchPayload): Promise<void> {
    const { topic, partition } = batch;
    const due: Array<{ topic: string; message: Message; destination: string }> = [];
    let lastForwarded: string | undefined;
    let notDueOffset: string | undefined;
    let notDueAt = 0;

    const tierMs = this.options.tierMs.get(topic);
    for (const message of batch.messages) {
      if (!isRunning() || isStale()) break;
      const stamp = readRetryStamp(message.headers);
      const dueAt = stamp?.dueAt ?? 0;
      const releaseTime = releaseAt({ dueAt, writtenAt: Number(message.timestamp), tierMs });
      const now = this.now();
      if (releaseTime > now) {
        notDueOffset = message.offset;
        notDueAt = releaseTime;
        break;
      }
      if (dueAt > now) {
        this.log.warn(
          { topic, partition, offset: message.offset, dueAt: new Date(dueAt).toISOString() },
          'retry due later than its tier allows; forwarded at the tier bound',
        );
      }
      if (!stamp) {
        this.log.error(
          { topic, partition, offset: message.offset },
          'retry message without courier-destination; skipped',
        );
        lastForwarded = message.offset;
        continue;
      }
      // The next attempt's destination record, written from the retry record's typed metadata.
      const event = {
        key: message.key,
        value: message.value,
        userHeaders: userHeaders(message.headers),
        meta: readEventMeta(message.headers, `offset-${topic}-${partition}-${message.offset}`),
      };
      due.push({
        topic: this.options.destinationTopic(stamp.destination),
        message: destinationRecord(stamp.destination, event),
        destination: stamp.destination,
      });
      lastForwarded = message.offset;
    }

    if (due.length > 0) {
      const { tooLarge } = await sendSized(this.options.producer, this.options.limits, due);
      // Only when a destination topic's limit is below its retry tier's: skipped, the record
      // stays on the retry topic (offset logged) for an operator to recover.
      for (const t of tooLarge) {
        this.log.error(
          {
            code: 'RECORD_TOO_LARGE',
            topic,
            partition,
            to: t.topic,
            bytes: t.bytes,
            limitBytes: t.limitBytes,
          },
          'retry record does not fit its destination topic; skipped',
        );
      }
      // Counted by destination id, like every other destination series; skipped records are not.
      const skipped = new Set(tooLarge.map((t) => t.message));
      const perDestination = new Map<string, number>();
      for (const d of due) {
        if (!skipped.has(d.message))
          perDestination.set(d.destination, (perDestination.get(d.destination) ?? 0) + 1);
      }
      for (const [destination, count] of perDestination) {
        this.options.events.emit('forwarded', { destination, count });
      }
    }
    if (lastForwarded !== undefined) {
      resolveOffset(lastForwarded);
      const next = String(Number(lastForwarded) + 1);
      await this.consumer.commitOffsets([{ topic, partition, offset: next }]).catch((err) => {
        this.log.debug({ err, topic, partition }, 'offset commit skipped');
      });
    }
    if (notDueOffset !== undefined && isRunning() && !isStale()) {
      // Read this message again once it is due.
      this.consumer.seek({ topic, partition, offset: notDueOffset });
      const resume = pause();
      const timer = setTimeout(
        () => {
          this.timers.delete(timer);
          resume();
        },
        Math.max(0, notDueAt - this.now()) + 2,
      );
      this.timers.add(timer);
    }
  }
}
