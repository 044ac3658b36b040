// The real local stack the integration tests run against, and per-test isolation: every test
// gets its own topic prefix (so its own topics, consumer groups and Redis keys).
import { randomBytes } from 'node:crypto';
import { type Admin, AssignerProtocol, type Kafka, type KafkaMessage, logLevel } from 'kafkajs';
import { parseConfig } from '../../src/config/load.ts';
import type { CourierConfig } from '../../src/config/schema.ts';
import { ensureTopics } from '../../src/kafka/admin.ts';
import { createKafka, createProducer } from '../../src/kafka/client.ts';
import { topicPlan } from '../../src/kafka/topics.ts';
import { createLogger, type Logger } from '../../src/telemetry/logger.ts';

export const BROKERS = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
export const REGISTRY_URL = process.env.SCHEMA_REGISTRY_URL ?? 'http://127.0.0.1:8080/apis/ccompat/v7';
export const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';

export function uniqueName(prefix = 't'): string {
  return `${prefix}${randomBytes(5).toString('hex')}`;
}

/** A silent logger unless TEST_LOG=1; tests that check log lines pass their own destination. */
export function testLogger(): Logger {
  return createLogger({ level: process.env.TEST_LOG ? 'debug' : 'silent' });
}

export interface TestDestination {
  id: string;
  url: string;
  [field: string]: unknown;
}

/** A validated configuration with a fresh prefix, fast retry tiers and private addresses allowed. */
export function testConfig(
  destinations: TestDestination[],
  extra: Record<string, unknown> = {},
): CourierConfig {
  const prefix = uniqueName('c');
  const extraKafka = (extra.kafka ?? {}) as { partitions?: Record<string, number> } & Record<string, unknown>;
  return parseConfig(
    {
      redis: { url: REDIS_URL },
      schemaRegistry: { url: REGISTRY_URL },
      network: { allowPrivateAddresses: true },
      retryTiers: ['50ms', '200ms', '1s', '5s'],
      ...extra,
      // Many Courier instances share this machine: each serves /metrics on a free port.
      observability: { port: 0, ...(extra.observability as Record<string, unknown> | undefined) },
      // `extra.kafka` is merged, never replaces the per-test prefix and events topic.
      kafka: {
        brokers: BROKERS,
        ...extraKafka,
        eventsTopic: `${prefix}-events`,
        topicPrefix: prefix,
        partitions: {
          events: 3,
          destination: 3,
          retry: 2,
          dlq: 2,
          attempts: 2,
          invalid: 1,
          ...extraKafka.partitions,
        },
      },
      destinations: destinations.map((d) => ({
        secrets: [SECRET],
        timeoutMs: 2000,
        retry: { baseDelayMs: 50, maxDelayMs: 400, maxAttempts: 8, jitter: 0.25 },
        ...d,
      })),
    },
    { source: 'test', env: {} },
  );
}

/** A kafkajs client for the test's own reading and writing, quiet. */
export function createKafkaForTest(config: CourierConfig): Kafka {
  return createKafka(config, testLogger(), { logLevel: logLevel.NOTHING });
}

export async function withAdmin<T>(
  config: CourierConfig,
  fn: (admin: Admin, kafka: Kafka) => Promise<T>,
): Promise<T> {
  const kafka = createKafkaForTest(config);
  const admin = kafka.admin();
  await admin.connect();
  try {
    return await fn(admin, kafka);
  } finally {
    await admin.disconnect();
  }
}

/** Each member of a consumer group with how many partitions it holds (empty while it rebalances). */
export async function groupAssignments(config: CourierConfig, groupId: string): Promise<number[]> {
  return withAdmin(config, async (admin) => {
    const { groups } = await admin.describeGroups([groupId]);
    const group = groups[0];
    if (group?.state !== 'Stable') return [];
    return group.members.map((m) => {
      const decoded = AssignerProtocol.MemberAssignment.decode(m.memberAssignment);
      return Object.values(decoded?.assignment ?? {}).reduce((n, partitions) => n + partitions.length, 0);
    });
  });
}

export async function provision(config: CourierConfig): Promise<void> {
  await withAdmin(config, (admin) => ensureTopics(admin, topicPlan(config)));
}

export async function produceRaw(
  config: CourierConfig,
  messages: Array<{ key?: string | null; value: Buffer | string | null; headers?: Record<string, string> }>,
  topic: string = config.kafka.eventsTopic,
): Promise<void> {
  const kafka = createKafkaForTest(config);
  const producer = createProducer(kafka);
  await producer.connect();
  try {
    await producer.send({
      topic,
      acks: -1,
      messages: messages.map((m) => ({ key: m.key ?? null, value: m.value, headers: m.headers ?? {} })),
    });
  } finally {
    await producer.disconnect();
  }
}

/** Reads a topic from the beginning until `count` messages arrived (or the deadline passed). */
export async function readTopic(
  config: CourierConfig,
  topic: string,
  options: { count: number; timeoutMs?: number },
): Promise<KafkaMessage[]> {
  const kafka = createKafkaForTest(config);
  const consumer = kafka.consumer({ groupId: uniqueName('reader'), maxWaitTimeInMs: 100 });
  const got: KafkaMessage[] = [];
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const deadline = Date.now() + (options.timeoutMs ?? 20_000);
  await consumer.run({
    eachMessage: async ({ message }) => {
      got.push(message);
    },
  });
  await waitFor(() => got.length >= options.count, {
    timeoutMs: Math.max(0, deadline - Date.now()),
    message: `${options.count} messages on ${topic}`,
    soft: true,
  });
  await consumer.disconnect();
  return got;
}

export interface WaitOptions {
  timeoutMs?: number;
  intervalMs?: number;
  /** What was awaited; a function is asked at the deadline, so it can report the state then. */
  message?: string | (() => string);
  /** Return instead of throwing at the deadline. */
  soft?: boolean;
}

/** Polls a condition until it holds or the deadline passes; never a fixed sleep. */
export async function waitFor(
  condition: () => boolean | Promise<boolean>,
  options: WaitOptions = {},
): Promise<void> {
  const deadline = Date.now() + (options.timeoutMs ?? 20_000);
  for (;;) {
    if (await condition()) return;
    if (Date.now() >= deadline) {
      if (options.soft) return;
      const what = typeof options.message === 'function' ? options.message() : options.message;
      throw new Error(`timed out waiting for ${what ?? 'condition'}`);
    }
    await new Promise((r) => setTimeout(r, options.intervalMs ?? 25));
  }
}
