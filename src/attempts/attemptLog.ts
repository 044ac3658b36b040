// The attempt log: every delivery attempt becomes one record on `courier.attempts` (keyed by
// event id, batched), a log line (failures and pauses; successes at debug and in a periodic
// summary), and, once written, its event id in the filters of its partition, by which `courier
// inspect` finds it for the log's whole retention.
import { type Message, Partitioners, type PartitionMetadata, type Producer } from 'kafkajs';
import { sendSized, type TopicLimits } from '../kafka/sizedSend.ts';
import type { AttemptRecord } from '../telemetry/events.ts';
import type { Logger } from '../telemetry/logger.ts';
import type { AttemptFilters } from './attemptFilters.ts';

/**
 * The partition of the attempts topic an event's records go to: the Java client's partitioner
 * (murmur2 of the key), as every Courier producer uses, so readers know where to look.
 */
export function attemptPartitionOf(eventId: string, partitions: number): number {
  const partitionMetadata = Array.from(
    { length: partitions },
    (_, partitionId) =>
      ({
        partitionId,
        leader: 0,
        replicas: [],
        isr: [],
        partitionErrorCode: 0,
        offlineReplicas: [],
      }) as PartitionMetadata,
  );
  return DEFAULT_PARTITIONER({ topic: '', partitionMetadata, message: { key: eventId, value: null } });
}

const DEFAULT_PARTITIONER = Partitioners.DefaultPartitioner();

export interface AttemptLogOptions {
  producer: Producer;
  /** Each topic's max.message.bytes: writes are sized to it. */
  limits: TopicLimits;
  topic: string;
  logger: Logger;
  /** The filters by which an event's records are found again (attemptFilters.ts). */
  filters?: AttemptFilters;
  /** Partitions of the attempts topic: records are placed by key here so their offsets are known. */
  partitions: number;
  flushEveryMs?: number;
  /** Told each batch Kafka acknowledged: the delivered-key sets confirm those marks. */
  confirmer?: MarkConfirmer;
  /** How often the per-destination summary line is written (ms). */
  summaryEveryMs?: number;
  maxBatch?: number;
}

/** Confirms the delivered marks of records the delivery log has (the deliver role's fleet). */
export interface MarkConfirmer {
  confirmDelivered(records: readonly AttemptRecord[]): Promise<void>;
}

type Tally = Record<AttemptRecord['outcome'], number>;

export class AttemptLog {
  private readonly options: AttemptLogOptions;
  private tallies = new Map<string, Tally>();
  private summaryTimer: NodeJS.Timeout | undefined;
  private buffer: AttemptRecord[] = [];
  /** The next flush on the timer, and its end (what `flushed()` waits for instead of forcing one). */
  private scheduled: { timer: NodeJS.Timeout; done: Promise<void>; resolve: () => void } | undefined;
  private flushing: Promise<void> = Promise.resolve();
  /** Records whose write failed, written again by the next flush. */
  private failed: AttemptRecord[] = [];

  private readonly partitionOf: (key: string) => number;

  constructor(options: AttemptLogOptions) {
    this.options = options;
    this.partitionOf = (key) => attemptPartitionOf(key, options.partitions);
  }

  record(attempt: AttemptRecord): void {
    const { logger } = this.options;
    const ok = attempt.outcome === 'delivered' || attempt.outcome === 'duplicate-skipped';
    // Successes are counted into the periodic summary and logged one by one only at debug.
    const level = attempt.alert ? 'error' : ok ? 'debug' : 'warn';
    if (logger.isLevelEnabled(level)) {
      const { request: _request, ...fields } = attempt;
      logger[level](
        { ...fields, responseSnippet: attempt.responseSnippet?.slice(0, 200) },
        attempt.alert
          ? `ALERT destination ${attempt.destination} paused (${attempt.pauseReason}): an operator must act, then resume it`
          : `attempt ${attempt.outcome}`,
      );
    }
    this.count(attempt);
    this.buffer.push(attempt);
    if (this.buffer.length >= (this.options.maxBatch ?? 500)) void this.flush();
    else if (!this.scheduled) {
      let resolve!: () => void;
      const done = new Promise<void>((r) => {
        resolve = r;
      });
      const timer = setTimeout(() => void this.flush(), this.options.flushEveryMs ?? 100);
      this.scheduled = { timer, done, resolve };
    }
  }

  private count(attempt: AttemptRecord): void {
    let tally = this.tallies.get(attempt.destination);
    if (!tally) {
      tally = { delivered: 0, retry: 0, dlq: 0, paused: 0, 'duplicate-skipped': 0 };
      this.tallies.set(attempt.destination, tally);
    }
    tally[attempt.outcome] += 1;
    if (!this.summaryTimer) {
      this.summaryTimer = setTimeout(() => this.summarise(), this.options.summaryEveryMs ?? 60_000);
      this.summaryTimer.unref();
    }
  }

  /** One info line per destination with what its attempts came to since the last summary. */
  private summarise(): void {
    this.summaryTimer = undefined;
    const tallies = this.tallies;
    this.tallies = new Map();
    for (const [destination, tally] of tallies) {
      this.options.logger.info({ destination, ...tally }, 'delivery summary');
    }
  }

  /** Writes the last summary and everything buffered. */
  close(): Promise<void> {
    if (this.summaryTimer) {
      clearTimeout(this.summaryTimer);
      this.summarise();
    }
    return this.flush();
  }

  /**
   * Writes everything recorded so far and resolves true once Kafka has all of it (every earlier
   * write included); false when a write failed (its records wait for the next flush). The commit
   * barrier of every consumer that records attempts: an offset is committed only after this.
   */
  async flushed(): Promise<boolean> {
    // Every consumer's commit waits here: it rides on the next timed flush rather than forcing
    // one each (a write per commit per destination would multiply the produce requests).
    if (this.failed.length > 0) await this.flush();
    else await (this.scheduled?.done ?? this.flushing);
    return this.failed.length === 0;
  }

  flush(): Promise<void> {
    const scheduled = this.scheduled;
    this.scheduled = undefined;
    if (scheduled) clearTimeout(scheduled.timer);
    // Records a failed write left behind go first, in their order.
    const batch = [...this.failed.splice(0), ...this.buffer];
    this.buffer = [];
    if (batch.length === 0) {
      if (scheduled) void this.flushing.then(scheduled.resolve);
      return this.flushing;
    }
    this.flushing = this.flushing.then(async () => {
      const byPartition = new Map<number, AttemptRecord[]>();
      for (const a of batch) {
        const p = this.partitionOf(a.eventId);
        const list = byPartition.get(p);
        if (list) list.push(a);
        else byPartition.set(p, [a]);
      }
      const messagesOf = new Map<number, Message[]>();
      for (const [partition, records] of byPartition) {
        messagesOf.set(
          partition,
          records.map((a) => ({ key: a.eventId, value: JSON.stringify(a), partition })),
        );
      }
      const messages = [...messagesOf.values()].flat();
      const { topic, producer, limits } = this.options;
      let tooLarge: Awaited<ReturnType<typeof sendSized>>['tooLarge'];
      try {
        ({ tooLarge } = await sendSized(
          producer,
          limits,
          messages.map((message) => ({ topic, message })),
        ));
      } catch (err) {
        // Kept for the next flush; until then no consumer commits past these attempts.
        this.failed.unshift(...batch);
        this.options.logger.error(
          { err, records: batch.length },
          'attempt log write failed; retried with the next flush',
        );
        return;
      }
      for (const t of tooLarge) {
        this.options.logger.error(
          { code: 'RECORD_TOO_LARGE', topic, bytes: t.bytes, limitBytes: t.limitBytes },
          'attempt record over the topic limit not written',
        );
      }
      if (this.options.confirmer) {
        await this.options.confirmer
          .confirmDelivered(batch)
          .catch((err) =>
            this.options.logger.warn(
              { err },
              'delivered marks not confirmed (a later read of them writes their records again)',
            ),
          );
      }
      // Only once Kafka has them: each written record's event id goes into its partition's filter.
      const refused = new Set(tooLarge.map((t) => t.message));
      const filters = this.options.filters;
      if (!filters) return;
      try {
        await Promise.all(
          [...byPartition].map(([partition, records]) =>
            filters.add(
              partition,
              records
                .filter((_, i) => !refused.has(messagesOf.get(partition)?.[i] as Message))
                .map((a) => a.eventId),
            ),
          ),
        );
      } catch (err) {
        this.options.logger.error({ err, records: batch.length }, 'attempt filters not updated');
      }
    });
    if (scheduled) void this.flushing.then(scheduled.resolve);
    return this.flushing;
  }
}
