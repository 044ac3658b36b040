// Group commit for one idempotent producer. kafkajs lets an idempotent producer have one produce
// request per broker in flight, so one send per message would queue every caller behind the
// others. Here callers hand over a message and wait for its acknowledgement; whatever arrives
// while a request is in flight goes out together in the next one.
import type { Message, Producer } from 'kafkajs';
import { groupByTopic } from './client.ts';

interface Pending {
  topic: string;
  message: Message;
  resolve: () => void;
  reject: (err: unknown) => void;
}

export class ProducerQueue {
  private readonly producer: Producer;
  private readonly maxBatch: number;
  private pending: Pending[] = [];
  private draining = false;

  constructor(producer: Producer, options: { maxBatch?: number } = {}) {
    this.producer = producer;
    this.maxBatch = options.maxBatch ?? 500;
  }

  /** Resolves once the message is acknowledged by all in-sync replicas. */
  send(topic: string, message: Message): Promise<void> {
    return new Promise((resolve, reject) => {
      this.pending.push({ topic, message, resolve, reject });
      if (!this.draining) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.draining = true;
    while (this.pending.length > 0) {
      const batch = this.pending.splice(0, this.maxBatch);
      try {
        await this.producer.sendBatch({ acks: -1, topicMessages: groupByTopic(batch) });
        for (const p of batch) p.resolve();
      } catch (err) {
        for (const p of batch) p.reject(err);
      }
    }
    this.draining = false;
  }
}
