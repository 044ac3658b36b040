// Writes a message to its destination's DLQ topic with the DESIGN §2 headers, acknowledged by
// all replicas before the source offset may be committed.
import type { KafkaMessage, Producer } from 'kafkajs';
import { H, stringHeaders } from '../kafka/headers.ts';

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
  private readonly producer: Producer;
  private readonly topicOf: (destination: string) => string;

  constructor(options: { producer: Producer; topicOf: (destination: string) => string }) {
    this.producer = options.producer;
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
    delete headers[H.dueAt];
    await this.producer.send({
      topic: this.topicOf(letter.destination),
      acks: -1,
      messages: [{ key: message.key, value: message.value, headers }],
    });
  }
}
