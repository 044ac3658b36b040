// `courier produce`: writes test events (Avro through the registry, or plain JSON) to the events topic.
import { randomUUID } from 'node:crypto';
import type { CloudEvent } from '../../cloudevents/cloudEvent.ts';
import type { CourierConfig } from '../../config/schema.ts';
import { RecordTooLargeError, UsageError } from '../../errors.ts';
import { createKafka, createProducer } from '../../kafka/client.ts';
import { eventsCodec } from '../../kafka/codec.ts';
import { sendSized, TopicLimits } from '../../kafka/sizedSend.ts';
import { topicNames } from '../../kafka/topics.ts';
import type { Flags } from '../args.ts';
import { type CommandContext, oneOf, positiveInt, printJson, required, str } from '../flags.ts';

/** The parsed flags of `courier produce`, checked before anything connects. */
export function produceOptions(config: CourierConfig, flags: Flags) {
  const type = required(flags, 'type', 'produce');
  const rawData = str(flags, 'data') ?? '{}';
  let data: unknown;
  try {
    data = JSON.parse(rawData);
  } catch {
    throw new UsageError(`--data must be JSON, got ${rawData.slice(0, 80)}`);
  }
  const count = positiveInt(flags, 'count', 1);
  const format = oneOf(flags, 'format', ['avro', 'json'], config.schemaRegistry ? 'avro' : 'json');
  if (format === 'avro' && !config.schemaRegistry)
    throw new UsageError('--format avro needs schemaRegistry.url in the configuration');
  return { type, data, count, format };
}

export async function produce(ctx: CommandContext): Promise<number> {
  const { config, flags } = ctx;
  const { type, data, count, format } = produceOptions(config, flags);
  const codec = eventsCodec(config);
  const kafka = createKafka(config, ctx.logger);
  const limits = new TopicLimits({ kafka, logger: ctx.logger });
  const producer = createProducer(kafka);
  await producer.connect();
  try {
    const source = str(flags, 'source') ?? 'courier-cli';
    const ids: string[] = [];
    for (let start = 0; start < count; start += 500) {
      const messages = [];
      for (let i = start; i < Math.min(count, start + 500); i++) {
        const event: CloudEvent = {
          specversion: '1.0',
          id: randomUUID(),
          type,
          source,
          time: new Date().toISOString(),
          data,
        };
        ids.push(event.id);
        const value = format === 'avro' ? await codec.encodeAvro(event) : codec.encodeJson(event);
        messages.push({ key: str(flags, 'key') ?? event.id, value });
      }
      const topic = topicNames(config).events;
      const { tooLarge } = await sendSized(
        producer,
        limits,
        messages.map((message) => ({ topic, message })),
      );
      const first = tooLarge[0];
      if (first) throw new RecordTooLargeError(topic, first.bytes, first.limitBytes);
    }
    if (ctx.json) {
      printJson({ topic: topicNames(config).events, format, type, count, ids });
      return 0;
    }
    console.log(`produced ${count} ${format} event(s) of type ${type} to ${topicNames(config).events}`);
    if (count <= 20) for (const id of ids) console.log(`  ${id}`);
    return 0;
  } finally {
    await producer.disconnect();
  }
}
