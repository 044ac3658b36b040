// Group commit for one idempotent producer. kafkajs lets an idempotent producer have one produce
// request per broker in flight, so one send per message would queue every caller behind the
// others. Here callers hand over a message and wait for its acknowledgement; whatever arrives
// while a request is in flight goes out together in the next one, split into requests sized to
// each topic's limit. A message that can never fit its topic is rejected alone with
// RecordTooLargeError (RECORD_TOO_LARGE); the others still go out.
import type { Message, Producer } from 'kafkajs';
import { RecordTooLargeError } from '../errors.ts';
import { sendSized, type TopicLimits } from './sizedSend.ts';

interface Pending {
  topic: string;
  message: Message;
  resolve: () => void;
  reject: (err: unknown) => void;
}

export interface ProducerQueueOptions {
  /** Each topic's max.message.bytes. */
  limits: TopicLimits;
  /** Most messages taken into one round (which may still be several requests). */
  maxBatch?: number;
}

export class ProducerQueue {
  private readonly producer: Producer;
  private readonly limits: TopicLimits;
  private readonly maxBatch: number;
  private pending: Pending[] = [];
  private draining = false;

  constructor(producer: Producer, options: ProducerQueueOptions) {
    this.producer = producer;
    this.limits = options.limits;
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
        const { tooLarge } = await sendSized(this.producer, this.limits, batch);
        const refused = new Map(tooLarge.map((t) => [t.message, t]));
        for (const p of batch) {
          const t = refused.get(p.message);
          if (t) p.reject(new RecordTooLargeError(t.topic, t.bytes, t.limitBytes));
          else p.resolve();
        }
      } catch (err) {
        for (const p of batch) p.reject(err);
      }
    }
    this.draining = false;
  }
}
