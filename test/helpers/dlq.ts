// Helpers for the failure tests: reading dead letters, counting what a topic
// holds (to show that nothing was retried or dead-lettered), and the shared pause-state handle.
import type { KafkaMessage } from 'kafkajs';
import type { CourierConfig } from '../../src/config/schema.ts';
import { topicNames } from '../../src/kafka/topics.ts';
import { type CourierRedis, createRedis } from '../../src/redis/client.ts';
import { DestinationControl } from '../../src/redis/destinationControl.ts';
import { redisKeys } from '../../src/redis/keys.ts';
import { readTopic, withAdmin } from './stack.ts';

/** How many messages the topics hold in all (high minus low watermark, summed over partitions). */
export async function topicMessageCount(config: CourierConfig, topics: string[]): Promise<number> {
  return withAdmin(config, async (admin) => {
    let total = 0;
    for (const topic of topics) {
      const offsets = await admin.fetchTopicOffsets(topic);
      for (const p of offsets) total += Number(p.high) - Number(p.low);
    }
    return total;
  });
}

/** Every retry tier topic of the configuration. */
export function retryTopics(config: CourierConfig): string[] {
  const names = topicNames(config);
  return config.retryTiers.map((tier) => names.retry(tier));
}

/** Reads a destination's DLQ topic from the beginning until `count` dead letters arrived. */
export async function readDlq(
  config: CourierConfig,
  destinationId: string,
  count: number,
  timeoutMs = 15_000,
): Promise<KafkaMessage[]> {
  return readTopic(config, topicNames(config).dlq(destinationId), { count, timeoutMs });
}

/** The shared pause state, as an operator (or `courier pause|resume`) would reach it. */
export function destinationControl(config: CourierConfig): {
  control: DestinationControl;
  redis: CourierRedis;
} {
  const redis = createRedis(config.redis);
  const control = new DestinationControl({ redis, keys: redisKeys(config.kafka.topicPrefix) });
  return { control, redis };
}
