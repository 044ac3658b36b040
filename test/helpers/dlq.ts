// Helpers for the failure tests: reading dead letters, counting what a topic
// holds (to show that nothing was retried or dead-lettered), and the shared pause-state handle.
import type { KafkaMessage } from 'kafkajs';
import type { CourierConfig } from '../../src/config/schema.ts';
import { consumerGroups, topicNames } from '../../src/kafka/topics.ts';
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

/**
 * Waits until a destination's consumer group has committed everything its topic holds: every
 * message read was finished (delivered, retried, dead-lettered) — a definite end, where a window
 * of "nothing more arrives" is not.
 */
export async function waitAllCommitted(
  config: CourierConfig,
  destination: string,
  timeoutMs = 20_000,
): Promise<void> {
  const topic = topicNames(config).dest(destination);
  const groupId = consumerGroups(config).deliver(destination);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const done = await withAdmin(config, async (admin) => {
      const ends = await admin.fetchTopicOffsets(topic);
      const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
      const at = new Map((committed?.partitions ?? []).map((p) => [p.partition, Number(p.offset)]));
      return ends.every((e) => Number(e.high) === 0 || (at.get(e.partition) ?? -1) >= Number(e.high));
    });
    if (done) return;
    if (Date.now() > deadline)
      throw new Error(`${groupId} did not commit all of ${topic} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
