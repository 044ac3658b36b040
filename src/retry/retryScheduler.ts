// Hands a failed message to the delay tier that fits its next attempt, with the attempt count,
// the first-attempt time and the due time in headers.
import type { KafkaMessage } from 'kafkajs';
import { H, stringHeaders } from '../kafka/headers.ts';
import type { ProducerQueue } from '../kafka/producerQueue.ts';
import { type Tier, tierFor } from './policy.ts';

export interface ScheduledRetry {
  destination: string;
  /** Attempts made so far (including the one that just failed). */
  attempts: number;
  firstAttemptAt: number;
  dueAt: number;
  lastStatus?: number;
  lastError?: string;
}

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

  async schedule(
    message: Pick<KafkaMessage, 'key' | 'value' | 'headers'>,
    retry: ScheduledRetry,
  ): Promise<string> {
    const tier = tierFor(this.tiers, retry.dueAt - this.now());
    const topic = this.topicOf(tier.label);
    await this.queue.send(topic, {
      key: message.key,
      value: message.value,
      headers: {
        ...stringHeaders(message.headers),
        [H.destination]: retry.destination,
        [H.attempt]: String(retry.attempts),
        [H.firstAttemptAt]: String(retry.firstAttemptAt),
        [H.dueAt]: String(retry.dueAt),
        [H.lastStatus]: retry.lastStatus === undefined ? '' : String(retry.lastStatus),
        [H.lastError]: retry.lastError ?? '',
      },
    });
    return topic;
  }
}
