// Issue 7 item 1 beyond the router: the producer queue (retries, dead letters) and the attempt
// log write whatever piles up while a request is in flight, on topics with the broker's default
// 1 MiB limit. Their group commits are sized to it; a record that can never fit is refused alone
// with RECORD_TOO_LARGE and the others are written.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AttemptFilters } from '../src/attempts/attemptFilters.ts';
import { AttemptLog } from '../src/attempts/attemptLog.ts';
import { AttemptReader } from '../src/attempts/attemptReader.ts';
import { RecordTooLargeError } from '../src/errors.ts';
import { createProducer } from '../src/kafka/client.ts';
import { ProducerQueue } from '../src/kafka/producerQueue.ts';
import { TopicLimits } from '../src/kafka/sizedSend.ts';
import { topicNames } from '../src/kafka/topics.ts';
import { createRedis } from '../src/redis/client.ts';
import { redisKeys } from '../src/redis/keys.ts';
import { topicMessageCount } from './helpers/dlq.ts';
import { createKafkaForTest, provision, testConfig, testLogger } from './helpers/stack.ts';

test('the producer queue sizes its group commits; an oversize record is refused alone', async () => {
  const config = testConfig([{ id: 'crm', url: 'http://127.0.0.1:9/hook' }]);
  await provision(config);
  const kafka = createKafkaForTest(config);
  const producer = createProducer(kafka);
  await producer.connect();
  try {
    const queue = new ProducerQueue(producer, { limits: new TopicLimits({ kafka }) });
    const topic = topicNames(config).dlq('crm');
    const value = 'v'.repeat(8 * 1024);
    // 500 × 8 KiB = 4 MiB handed over at once: one unsized request would be refused by the broker.
    const sends = Array.from({ length: 500 }, (_, i) => queue.send(topic, { key: `k${i}`, value }));
    const huge = queue.send(topic, { key: 'huge', value: 'h'.repeat(2 * 1024 * 1024) });
    const results = await Promise.allSettled([...sends, huge]);
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 500);
    const refused = results[500];
    assert.equal(refused?.status, 'rejected');
    assert.ok(refused.status === 'rejected' && refused.reason instanceof RecordTooLargeError);
    assert.equal(refused.reason.code, 'RECORD_TOO_LARGE');
    assert.equal(await topicMessageCount(config, [topic]), 500);
  } finally {
    await producer.disconnect();
  }
});

test('the attempt log writes a large flush in sized requests', async () => {
  const config = testConfig([{ id: 'crm', url: 'http://127.0.0.1:9/hook' }]);
  await provision(config);
  const kafka = createKafkaForTest(config);
  const producer = createProducer(kafka);
  await producer.connect();
  try {
    const topic = topicNames(config).attempts;
    const redis = createRedis(config.redis);
    const filters = new AttemptFilters({
      redis,
      keys: redisKeys(config.kafka.topicPrefix),
      retentionMs: config.kafka.attemptsRetentionMs,
    });
    const log = new AttemptLog({
      producer,
      limits: new TopicLimits({ kafka }),
      topic,
      logger: testLogger(),
      filters,
      partitions: config.kafka.partitions.attempts,
      maxBatch: 10_000,
      flushEveryMs: 60_000,
    });
    for (let i = 0; i < 1000; i++) {
      log.record({
        eventId: `e${i}`,
        destination: 'crm',
        attempt: 1,
        at: new Date().toISOString(),
        latencyMs: 1,
        outcome: 'retry',
        error: 'e'.repeat(2000),
        responseSnippet: 's'.repeat(1024),
        replay: false,
      });
    }
    await log.flush();
    assert.equal(await topicMessageCount(config, [topic]), 1000);
    // Each record is found again through the filters, across the several requests of the flush.
    const admin = kafka.admin();
    await admin.connect();
    const reader = new AttemptReader({
      kafka,
      admin,
      topic,
      partitions: config.kafka.partitions.attempts,
      filters,
      groupPrefix: config.kafka.topicPrefix,
    });
    for (const id of ['e0', 'e499', 'e999']) {
      const records = await reader.find(id);
      assert.deepEqual(
        records.map((r) => [r.eventId, r.outcome]),
        [[id, 'retry']],
        `${id} is read back through the filters`,
      );
    }
    await admin.disconnect();
    redis.disconnect();
  } finally {
    await producer.disconnect();
  }
});
