// Topic names, consumer-group names and the topic plan: pure functions of the
// configuration, shared by every stage (so no stage borrows names from another or from app.ts).
import type { CourierConfig } from '../config/schema.ts';

export interface TopicNames {
  dest(destinationId: string): string;
  retry(tier: string): string;
  dlq(destinationId: string): string;
  attempts: string;
  invalid: string;
  events: string;
}

export function topicNames(config: Pick<CourierConfig, 'kafka'>): TopicNames {
  const prefix = config.kafka.topicPrefix;
  return {
    dest: (id) => `${prefix}.dest.${id}`,
    retry: (tier) => `${prefix}.retry.${tier}`,
    dlq: (id) => `${prefix}.dlq.${id}`,
    attempts: `${prefix}.attempts`,
    invalid: `${prefix}.events.invalid`,
    events: config.kafka.eventsTopic,
  };
}

export interface ConsumerGroups {
  router: string;
  deliver(destinationId: string): string;
  retry: string;
  /** `courier replay` of a DLQ; also the group Kafka's own tool resets for a replay. */
  replay(destinationId: string): string;
  /** `courier replay --source delivered` (forced re-delivery from the destination topic). */
  replayDelivered(destinationId: string): string;
  /** `courier replay --source events` (a backfill of one destination from the events topic). */
  backfill(destinationId: string): string;
}

export function consumerGroups(config: Pick<CourierConfig, 'kafka'>): ConsumerGroups {
  const prefix = config.kafka.topicPrefix;
  return {
    router: `${prefix}-router`,
    deliver: (id) => `${prefix}-deliver.${id}`,
    retry: `${prefix}-retry`,
    replay: (id) => `${prefix}-replay.${id}`,
    replayDelivered: (id) => `${prefix}-replay.${id}-delivered`,
    backfill: (id) => `${prefix}-backfill.${id}`,
  };
}

export interface TopicSpec {
  topic: string;
  partitions: number;
  replicationFactor: number;
  /** Topic-level configs Courier depends on; checked on existing topics. */
  configs: Record<string, string>;
  role: 'events' | 'destination' | 'retry' | 'dlq' | 'attempts' | 'invalid';
}

/** Every topic the configuration needs, with partition counts and retention. */
export function topicPlan(config: CourierConfig): TopicSpec[] {
  const names = topicNames(config);
  const { partitions, replicationFactor, retentionMs, attemptsRetentionMs } = config.kafka;
  const keep = { 'retention.ms': String(retentionMs) };
  const dlqKeep = { 'retention.ms': String(config.kafka.dlqRetentionMs) };
  const spec = (
    role: TopicSpec['role'],
    topic: string,
    count: number,
    configs: Record<string, string>,
  ): TopicSpec => ({
    topic,
    partitions: count,
    replicationFactor,
    configs,
    role,
  });
  return [
    spec('events', names.events, partitions.events, {}),
    spec('invalid', names.invalid, partitions.invalid, {
      'retention.ms': String(config.kafka.invalidRetentionMs),
    }),
    spec('attempts', names.attempts, partitions.attempts, { 'retention.ms': String(attemptsRetentionMs) }),
    ...config.retryTiers.map((tier) => spec('retry', names.retry(tier), partitions.retry, keep)),
    ...config.destinations.flatMap((d) => [
      spec('destination', names.dest(d.id), d.partitions ?? partitions.destination, keep),
      spec('dlq', names.dlq(d.id), partitions.dlq, dlqKeep),
    ]),
  ];
}
