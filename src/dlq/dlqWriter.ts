// Writes a message to its destination's DLQ topic with the DESIGN §2 headers, acknowledged by
// all replicas before the source offset may be committed.
import type { KafkaMessage } from 'kafkajs';
import { H, stringHeaders } from '../kafka/headers.ts';
import type { ProducerQueue } from '../kafka/producerQueue.ts';

export interface DeadLetter {
  destination: string;
  eventId: string;
  errorClass: string;
  attempts: number;
  firstAttemptAt: number;
  lastAttemptAt: number;
  lastStatus?: number;
  lastError?: string;
  responseSnippet?: string;
}

export class DlqWriter {
  private readonly queue: ProducerQueue;
  private readonly topicOf: (destination: string) => string;

  constructor(options: { queue: ProducerQueue; topicOf: (destination: string) => string }) {
    this.queue = options.queue;
    this.topicOf = options.topicOf;
  }

  async write(message: Pick<KafkaMessage, 'key' | 'value' | 'headers'>, letter: DeadLetter): Promise<void> {
    const headers: Record<string, string> = {
      ...stringHeaders(message.headers),
      [H.destination]: letter.destination,
      [H.eventId]: letter.eventId,
      [H.errorClass]: letter.errorClass,
      [H.attempts]: String(letter.attempts),
      [H.firstAttemptAt]: String(letter.firstAttemptAt),
      [H.lastAttemptAt]: String(letter.lastAttemptAt),
      [H.lastStatus]: letter.lastStatus === undefined ? '' : String(letter.lastStatus),
      [H.lastError]: letter.lastError ?? '',
      [H.responseSnippet]: (letter.responseSnippet ?? '').slice(0, 1024),
    };
    // Scheduling headers of the last retry would contradict the totals above.
    delete headers[H.dueAt];
    delete headers[H.attempt];
    await this.queue.send(this.topicOf(letter.destination), {
      key: message.key,
      value: message.value,
      headers,
    });
  }
}
