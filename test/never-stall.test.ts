// Issue 7, "never stall": backlogs produced before Courier starts, on broker-default topic
// settings (1 MiB max.message.bytes), are delivered completely — on one key and on 500 keys.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { CourierConfig } from '../src/config/schema.ts';
import { createProducer } from '../src/kafka/client.ts';
import { sendSized, TopicLimits } from '../src/kafka/sizedSend.ts';
import { type RunningCourier, startCourier } from './helpers/courier.ts';
import { eventJson } from './helpers/measure.ts';
import { type Receiver, startReceiver } from './helpers/receiver.ts';
import { createKafkaForTest, provision, testConfig, waitFor } from './helpers/stack.ts';

const BACKLOG = 20_000;

/** Writes a backlog with a few large requests, each sized to the topic's limit. */
async function produceBacklog(config: CourierConfig, count: number, keyOf: (i: number) => string) {
  const kafka = createKafkaForTest(config);
  const producer = createProducer(kafka);
  await producer.connect();
  try {
    const entries = Array.from({ length: count }, (_, i) => ({
      topic: config.kafka.eventsTopic,
      message: {
        key: keyOf(i),
        value: eventJson(`bk-${i}`, 'order.created', { n: i, pad: 'p'.repeat(120) }),
      },
    }));
    const { tooLarge } = await sendSized(producer, new TopicLimits({ kafka }), entries);
    assert.equal(tooLarge.length, 0);
  } finally {
    await producer.disconnect();
  }
}

async function backlogDelivered(keyOf: (i: number) => string, destination: Record<string, unknown> = {}) {
  let receiver: Receiver | undefined;
  let courier: RunningCourier | undefined;
  try {
    receiver = await startReceiver();
    const r = receiver;
    const config = testConfig([{ id: 'orders', url: r.url, concurrency: 32, ...destination }]);
    await provision(config);
    await produceBacklog(config, BACKLOG, keyOf);
    const started = Date.now();
    courier = await startCourier(config);
    const delivered = new Set<string>();
    await waitFor(
      () => {
        for (let i = delivered.size; i < r.accepted.length; i++)
          delivered.add(String(r.accepted[i]?.json.id));
        return delivered.size >= BACKLOG;
      },
      {
        timeoutMs: 170_000,
        intervalMs: 250,
        message: () => `${BACKLOG} events delivered; got ${delivered.size}`,
      },
    );
    for (let i = 0; i < r.accepted.length; i++) delivered.add(String(r.accepted[i]?.json.id));
    assert.equal(delivered.size, BACKLOG);
    console.log(`backlog of ${BACKLOG} delivered in ${Date.now() - started} ms`);
  } finally {
    await courier?.stop();
    await receiver?.close();
  }
}

test('a 20,000-event backlog on ONE key is delivered completely (default topic limits)', async () => {
  await backlogDelivered(() => 'hot');
});

test('a 20,000-event backlog on 500 keys is delivered completely (default topic limits)', async () => {
  await backlogDelivered((i) => `key-${i % 500}`);
});
