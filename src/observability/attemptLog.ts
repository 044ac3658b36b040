// The attempt log: every delivery attempt becomes one record on `courier.attempts` (keyed by
// event id, batched), one structured log line, and an entry in the per-event index that
// `courier inspect` reads.
import type { Producer } from 'kafkajs';
import { sendSized, type TopicLimits } from '../kafka/sizedSend.ts';
import type { EventIndex } from './eventIndex.ts';
import type { AttemptRecord } from './events.ts';
import type { Logger } from './logger.ts';

export interface AttemptLogOptions {
  producer: Producer;
  /** Each topic's max.message.bytes: writes are sized to it. */
  limits: TopicLimits;
  topic: string;
  logger: Logger;
  index?: EventIndex;
  flushEveryMs?: number;
  maxBatch?: number;
}

export class AttemptLog {
  private readonly options: AttemptLogOptions;
  private buffer: AttemptRecord[] = [];
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();

  constructor(options: AttemptLogOptions) {
    this.options = options;
  }

  record(attempt: AttemptRecord): void {
    const { logger } = this.options;
    const level = attempt.alert
      ? 'error'
      : attempt.outcome === 'delivered' || attempt.outcome === 'duplicate-skipped'
        ? 'info'
        : 'warn';
    logger[level](
      { ...attempt, responseSnippet: attempt.responseSnippet?.slice(0, 200) },
      attempt.alert
        ? `ALERT destination ${attempt.destination} paused: authentication failed`
        : `attempt ${attempt.outcome}`,
    );
    this.options.index
      ?.recordAttempt(attempt)
      .catch((err) => logger.warn({ err }, 'event index write failed'));
    this.buffer.push(attempt);
    if (this.buffer.length >= (this.options.maxBatch ?? 500)) void this.flush();
    else this.timer ??= setTimeout(() => void this.flush(), this.options.flushEveryMs ?? 100);
  }

  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.buffer;
    this.buffer = [];
    if (batch.length === 0) return this.flushing;
    this.flushing = this.flushing.then(async () => {
      try {
        const { topic, producer, limits } = this.options;
        const { tooLarge } = await sendSized(
          producer,
          limits,
          batch.map((a) => ({ topic, message: { key: a.eventId, value: JSON.stringify(a) } })),
        );
        for (const t of tooLarge) {
          this.options.logger.error(
            { code: 'RECORD_TOO_LARGE', topic, bytes: t.bytes, limitBytes: t.limitBytes },
            'attempt record over the topic limit not written',
          );
        }
      } catch (err) {
        this.options.logger.error({ err, records: batch.length }, 'attempt log write failed');
      }
    });
    return this.flushing;
  }
}
