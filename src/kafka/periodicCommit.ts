// Commits a consumer's finished offsets off the message path: every `intervalMs` and when
// flushed (a graceful stop), one commit at a time. The owner says what is committable; a commit
// Kafka refuses (a rebalance in progress) is skipped, and the next generation starts from the
// last good one. Used by the router and the partition runner.
import type { Consumer } from 'kafkajs';
import { type Clock, systemClock, type TimerHandle } from '../clock.ts';
import type { Logger } from '../telemetry/logger.ts';

export interface CommitRound {
  /** Partitions of `topic` with the next offset to read, each above what was last committed. */
  offsets: Array<{ partition: number; offset: number }>;
  /** Called once Kafka accepted them. */
  committed(): void;
}

export interface PeriodicCommitOptions {
  consumer: Pick<Consumer, 'commitOffsets'>;
  topic: string;
  intervalMs: number;
  logger: Logger;
  /** What to commit now, or nothing. */
  collect: () => CommitRound | undefined;
  /**
   * Runs after a round is collected and before it is committed: false skips the commit (the
   * offsets are collected again next time). The delivery log's flush: no offset is committed
   * before the attempt records of everything below it are in Kafka.
   */
  beforeCommit?: () => Promise<boolean>;
  clock?: Clock;
}

export class PeriodicCommit {
  private readonly options: PeriodicCommitOptions;
  private readonly clock: Clock;
  private timer: TimerHandle | undefined;
  private chain: Promise<void> = Promise.resolve();

  constructor(options: PeriodicCommitOptions) {
    this.options = options;
    this.clock = options.clock ?? systemClock;
  }

  start(): void {
    this.timer = this.clock.setInterval(() => void this.flush(), this.options.intervalMs);
    this.timer.unref();
  }

  /** No more rounds on the timer; `flush()` still commits. */
  stopTimer(): void {
    this.clock.clear(this.timer);
  }

  /** Commits what is committable now, after any round still running. */
  flush(): Promise<void> {
    this.chain = this.chain.then(async () => {
      const round = this.options.collect();
      if (!round || round.offsets.length === 0) return;
      if (this.options.beforeCommit && !(await this.options.beforeCommit())) {
        this.options.logger.debug(
          'offset commit held back: the delivery log has not written everything below it',
        );
        return;
      }
      try {
        await this.options.consumer.commitOffsets(
          round.offsets.map((o) => ({
            topic: this.options.topic,
            partition: o.partition,
            offset: String(o.offset),
          })),
        );
        round.committed();
      } catch (err) {
        this.options.logger.debug({ err }, 'offset commit skipped');
      }
    });
    return this.chain;
  }
}
