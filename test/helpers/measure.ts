// Small tools the failure tests share: a free loopback port, a producer kept open across sends
// (so timing measurements do not include a connection per batch), and statistics over times.
import { once } from 'node:events';
import { createServer } from 'node:net';
import type { CourierConfig } from '../../src/config/schema.ts';
import { createProducer } from '../../src/kafka/client.ts';
import { createKafkaForTest } from './stack.ts';

/** A loopback port nothing listens on right now (the OS picks it; the probe server is closed). */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export interface OpenProducer {
  send(messages: Array<{ key?: string | null; value: Buffer | string }>, topic?: string): Promise<void>;
  close(): Promise<void>;
}

/** A connected producer on the events topic (or another topic) until `close()`. */
export async function openProducer(config: CourierConfig): Promise<OpenProducer> {
  const producer = createProducer(createKafkaForTest(config));
  await producer.connect();
  return {
    send: async (messages, topic = config.kafka.eventsTopic) => {
      await producer.send({
        topic,
        acks: -1,
        messages: messages.map((m) => ({ key: m.key ?? null, value: m.value })),
      });
    },
    close: () => producer.disconnect(),
  };
}

export function median(values: readonly number[]): number {
  if (values.length === 0) throw new RangeError('median of nothing');
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** The most timestamps that fall into any half-open window [t, t + windowMs): the bench's own count. */
export { busiestWindow as maxInWindow } from '../../bench/lib/stats.ts';

/** A CloudEvent as JSON text. */
export function eventJson(id: string, type = 'contact.updated', data: unknown = { id }): string {
  return JSON.stringify({ specversion: '1.0', id, type, source: 'test', data });
}
