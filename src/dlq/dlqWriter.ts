// Writes an event to its destination's DLQ topic with its headers
// (../kafka/records.ts), acknowledged by all replicas before the source offset may be committed.
import type { ProducerQueue } from '../kafka/producerQueue.ts';
import { type CarriedEvent, type DeadLetter, deadLetterRecord } from '../kafka/records.ts';
import { SNIPPET_BYTES } from '../net/responseSnippet.ts';

export class DlqWriter {
  private readonly queue: ProducerQueue;
  private readonly topicOf: (destination: string) => string;

  constructor(options: { queue: ProducerQueue; topicOf: (destination: string) => string }) {
    this.queue = options.queue;
    this.topicOf = options.topicOf;
  }

  async write(event: CarriedEvent, letter: DeadLetter): Promise<void> {
    await this.queue.send(this.topicOf(letter.destination), deadLetterRecord(event, letter, SNIPPET_BYTES));
  }
}
