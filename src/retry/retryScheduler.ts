// Hands a failed message to the delay tier that fits its next attempt. It writes the headers it
// owns (destination, attempt count, first-attempt, due time, last status and error) beside the
// ones the message carries (the producer's and the event's identity), never what a record
// happened to hold before.
import type { Message } from 'kafkajs';
import { H } from '../kafka/headers.ts';
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

export interface RetryMessage {
  key: Buffer | null;
  value: Buffer | null;
  /** The headers the message carries on: the producer's own and the event's identity. */
  headers: Record<string, string>;
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

  async schedule(message: RetryMessage, retry: ScheduledRetry): Promise<string> {
    const tier = tierFor(this.tiers, retry.dueAt - this.now());
    const topic = this.topicOf(tier.label);
    const record: Message = {
      key: message.key,
      value: message.value,
      headers: {
        ...message.headers,
        [H.destination]: retry.destination,
        [H.attempt]: String(retry.attempts),
        [H.firstAttemptAt]: String(retry.firstAttemptAt),
        [H.dueAt]: String(retry.dueAt),
        [H.lastStatus]: retry.lastStatus === undefined ? '' : String(retry.lastStatus),
        [H.lastError]: retry.lastError ?? '',
      },
    };
    await this.queue.send(topic, record);
    return topic;
  }
}
