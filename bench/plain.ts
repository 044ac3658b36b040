// The plain consumer, in its own process: a kafkajs `eachBatch` consumer that POSTs every message
// of a batch concurrently (undici, BENCH_CONNECTIONS connections) and commits. No Redis, no
// signing, no breaker, no retries: the least a Kafka-to-HTTP bridge does, to compare Courier with.
import { Kafka, logLevel } from 'kafkajs';
import { Pool } from 'undici';

const url = new URL(process.env.BENCH_URL as string);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 64);
const kafka = new Kafka({
  clientId: 'bench-plain',
  brokers: (process.env.BENCH_BROKERS ?? '127.0.0.1:9092').split(','),
  logLevel: logLevel.ERROR,
});
const pool = new Pool(url.origin, { connections });
const consumer = kafka.consumer({ groupId: process.env.BENCH_GROUP as string, maxWaitTimeInMs: 50 });

async function post(value: Buffer | null, id: string): Promise<void> {
  const res = await pool.request({
    path: url.pathname,
    method: 'POST',
    headers: { 'content-type': 'application/json', 'webhook-id': id },
    body: value ?? '',
  });
  await res.body.dump();
}

await consumer.connect();
await consumer.subscribe({ topic: process.env.BENCH_TOPIC as string, fromBeginning: true });
await consumer.run({
  partitionsConsumedConcurrently: Number(process.env.BENCH_PARTITIONS ?? 6),
  eachBatch: async ({ batch, resolveOffset, heartbeat }) => {
    await Promise.all(batch.messages.map((m) => post(m.value, `${batch.partition}-${m.offset}`)));
    const last = batch.messages.at(-1);
    if (last) resolveOffset(last.offset);
    await heartbeat();
  },
});
process.send?.({ running: true });

let stopping = false;
process.on('SIGTERM', () => {
  if (stopping) return;
  stopping = true;
  consumer
    .disconnect()
    .catch(() => {})
    .finally(() => process.exit(0));
});
