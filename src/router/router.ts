// The router: reads the events topic in consumer group `<prefix>-router`, decodes and validates
// each event, and fans it out to every subscribed destination's topic, keyed by the event's key
// (or id). Invalid events go to `<prefix>.events.invalid` with the reason. A batch's offsets are
// committed only after its whole fan-out is acknowledged.

import type { Consumer, EachBatchPayload, Kafka, Message, Producer } from 'kafkajs';
import type { DestinationConfig } from '../config/schema.ts';
import { InvalidEventError } from '../errors.ts';
import { groupByTopic, sessionSettings } from '../kafka/client.ts';
import type { EventCodec } from '../kafka/codec.ts';
import { H, stringHeaders } from '../kafka/headers.ts';
import type { PipelineEmitter } from '../observability/events.ts';
import type { Logger } from '../observability/logger.ts';
import { matchesEventType } from './match.ts';

export interface RouterOptions {
  kafka: Kafka;
  producer: Producer;
  groupId: string;
  eventsTopic: string;
  invalidTopic: string;
  destinationTopic: (id: string) => string;
  destinations: DestinationConfig[];
  codec: EventCodec;
  events: PipelineEmitter;
  logger: Logger;
  sessionTimeoutMs?: number;
}

export class Router {
  private readonly o: RouterOptions;
  private readonly consumer: Consumer;
  private readonly log: Logger;

  constructor(options: RouterOptions) {
    this.o = options;
    this.log = options.logger.child({ component: 'router' });
    this.consumer = options.kafka.consumer({
      groupId: options.groupId,
      maxWaitTimeInMs: 100,
      ...sessionSettings(options.sessionTimeoutMs),
    });
  }

  async start(): Promise<void> {
    await this.consumer.connect();
    await this.consumer.subscribe({ topic: this.o.eventsTopic, fromBeginning: true });
    await this.consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: 4,
      eachBatch: (payload) => this.onBatch(payload),
    });
  }

  async stop(): Promise<void> {
    await this.consumer.disconnect();
  }

  private async onBatch({
    batch,
    resolveOffset,
    heartbeat,
    isRunning,
    isStale,
  }: EachBatchPayload): Promise<void> {
    const out: Array<{ topic: string; message: Message }> = [];
    const push = (topic: string, message: Message) => out.push({ topic, message });
    const routed: Array<{ eventId: string; eventType: string; destinations: string[] }> = [];

    for (const message of batch.messages) {
      try {
        const event = await this.o.codec.decode(message.value);
        const matched = this.o.destinations.filter((d) => matchesEventType(d.eventTypes, event.type));
        const body = JSON.stringify(event);
        const key = message.key ?? Buffer.from(event.id);
        for (const d of matched) {
          push(this.o.destinationTopic(d.id), {
            key,
            value: body,
            headers: {
              ...stringHeaders(message.headers),
              [H.eventId]: event.id,
              [H.eventType]: event.type,
              [H.destination]: d.id,
              [H.attempt]: '0',
            },
          });
        }
        routed.push({ eventId: event.id, eventType: event.type, destinations: matched.map((d) => d.id) });
      } catch (err) {
        if (!(err instanceof InvalidEventError)) throw err; // e.g. registry down: retry the batch
        this.log.warn(
          { reason: err.code, partition: batch.partition, offset: message.offset, error: err.message },
          'invalid event',
        );
        this.o.events.emit('invalid', {
          reason: err.code,
          message: err.message,
          partition: batch.partition,
          offset: message.offset,
        });
        push(this.o.invalidTopic, {
          key: message.key,
          value: message.value,
          headers: {
            ...stringHeaders(message.headers),
            [H.error]: `${err.code}: ${err.message}`,
            'courier-source-topic': this.o.eventsTopic,
            'courier-source-partition': String(batch.partition),
            'courier-source-offset': message.offset,
          },
        });
      }
    }

    if (!isRunning() || isStale()) return;
    if (out.length > 0) {
      await this.o.producer.sendBatch({ acks: -1, topicMessages: groupByTopic(out) });
    }
    for (const r of routed) this.o.events.emit('routed', r);
    const last = batch.messages[batch.messages.length - 1];
    if (last) {
      resolveOffset(last.offset);
      await this.consumer.commitOffsets([
        { topic: batch.topic, partition: batch.partition, offset: String(Number(last.offset) + 1) },
      ]);
    }
    await heartbeat();
  }
}
