// The clients the operator's verbs share (inspect, dlq, attempts, replay): Redis, Kafka with a
// connected admin, the attempt log's reader, and one place that closes them all.
import type { Admin, Kafka } from 'kafkajs';
import { AttemptFilters } from '../attempts/attemptFilters.ts';
import { AttemptReader } from '../attempts/attemptReader.ts';
import type { CourierConfig } from '../config/schema.ts';
import { createKafka } from '../kafka/client.ts';
import { type TopicNames, topicNames } from '../kafka/topics.ts';
import type { CourierRedis } from '../redis/client.ts';
import { type RedisKeys, redisKeys } from '../redis/keys.ts';
import type { Logger } from '../telemetry/logger.ts';
import { commandRedis } from './flags.ts';

export interface Tools {
  config: CourierConfig;
  redis: CourierRedis;
  keys: RedisKeys;
  kafka: Kafka;
  admin: Admin;
  names: TopicNames;
  attempts: AttemptReader;
  /** Names the throwaway consumer groups reads use. */
  groupPrefix: string;
}

export async function withTools<T>(
  config: CourierConfig,
  logger: Logger,
  run: (tools: Tools) => Promise<T>,
): Promise<T> {
  const redis = commandRedis(config, logger);
  const kafka = createKafka(config, logger);
  const admin = kafka.admin();
  try {
    await admin.connect();
    const keys = redisKeys(config.kafka.topicPrefix);
    const names = topicNames(config);
    const groupPrefix = `${config.kafka.topicPrefix}-cli`;
    const attempts = new AttemptReader({
      kafka,
      admin,
      topic: names.attempts,
      partitions: config.kafka.partitions.attempts,
      filters: new AttemptFilters({ redis, keys, retentionMs: config.kafka.attemptsRetentionMs }),
      groupPrefix,
    });
    return await run({ config, redis, keys, kafka, admin, names, attempts, groupPrefix });
  } finally {
    await admin.disconnect().catch(() => {});
    redis.disconnect();
  }
}
