// Writes a message to its destination's DLQ topic with the DESIGN §2 headers, acknowledged by
// all replicas before the source offset may be committed. It writes the headers it owns beside
// the ones the message carries (the producer's own and the event's identity).
import { H } from '../kafka/headers.ts';
import type { ProducerQueue } from '../kafka/producerQueue.ts';

/** What the DLQ records about a message's last attempt (DESIGN §2 headers). */
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

export interface DeadLetterMessage {
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, string>;
}

/** At most this many bytes of the last response body are kept (DESIGN §2). */
const SNIPPET_BYTES = 1024;

export class DlqWriter {
  private readonly queue: ProducerQueue;
  private readonly topicOf: (destination: string) => string;

  constructor(options: { queue: ProducerQueue; topicOf: (destination: string) => string }) {
    this.queue = options.queue;
    this.topicOf = options.topicOf;
  }

  async write(message: DeadLetterMessage, letter: DeadLetter): Promise<void> {
    await this.queue.send(this.topicOf(letter.destination), {
      key: message.key,
      value: message.value,
      headers: {
        ...message.headers,
        [H.destination]: letter.destination,
        [H.eventId]: letter.eventId,
        [H.errorClass]: letter.errorClass,
        [H.attempts]: String(letter.attempts),
        [H.firstAttemptAt]: String(letter.firstAttemptAt),
        [H.lastAttemptAt]: String(letter.lastAttemptAt),
        [H.lastStatus]: letter.lastStatus === undefined ? '' : String(letter.lastStatus),
        [H.lastError]: letter.lastError ?? '',
        [H.responseSnippet]: Buffer.from(letter.responseSnippet ?? '')
          .subarray(0, SNIPPET_BYTES)
          .toString('utf8'),
      },
    });
  }
}
