// Hands a failed event to the delay tier that fits its next attempt, as a retry record
// (../kafka/records.ts: the next attempt's destination record plus its due time and last result).
import type { ProducerQueue } from '../kafka/producerQueue.ts';
import { type CarriedEvent, type RetryStamp, retryRecord } from '../kafka/records.ts';
import { type Tier, tierFor } from '../policy/retry.ts';

export class RetryScheduler {
  private readonly queue: ProducerQueue;
  /** The delay tiers, shortest first; delays are capped at the largest (`capDelay`). */
  readonly tiers: readonly Tier[];
  private readonly topicOf: (tier: string) => string;
  private readonly now: () => number;

  constructor(options: {
    queue: ProducerQueue;
    tiers: Tier[];
    topicOf: (tier: string) => string;
    now?: () => number;
  }) {
    this.queue = options.queue;
    this.tiers = options.tiers;
    this.topicOf = options.topicOf;
    this.now = options.now ?? Date.now;
  }

  /** Resolves with the tier topic once the record is acknowledged by all in-sync replicas. */
  async schedule(event: CarriedEvent, retry: RetryStamp): Promise<string> {
    const tier = tierFor(this.tiers, retry.dueAt - this.now());
    const topic = this.topicOf(tier.label);
    await this.queue.send(topic, retryRecord(event, retry));
    return topic;
  }
}
