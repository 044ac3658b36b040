// One builder per role: what each of the router, deliver and retry roles is made of, from the
// configuration and the clients the app shares. The app (app.ts) starts what these build and
// stops it in reverse; nothing here connects or starts anything.
import type { Kafka, Producer } from 'kafkajs';
import type { AttemptFilters } from '../attempts/attemptFilters.ts';
import { AttemptLog, type MarkConfirmer } from '../attempts/attemptLog.ts';
import { configVersion } from '../config/diff.ts';
import type { CourierConfig } from '../config/schema.ts';
import { CredentialMonitor } from '../credentials/health.ts';
import type { DestinationFleet, FleetSinks } from '../delivery/fleet.ts';
import { DlqWriter } from '../dlq/dlqWriter.ts';
import { eventsCodec } from '../kafka/codec.ts';
import type { ConsumerWatch } from '../kafka/consumerWatch.ts';
import { ProducerQueue } from '../kafka/producerQueue.ts';
import type { TopicLimits } from '../kafka/sizedSend.ts';
import { consumerGroups, type TopicSpec, topicNames, topicPlan } from '../kafka/topics.ts';
import { Observability, type ObservabilityOptions } from '../observability/observability.ts';
import { TlsWatch } from '../observability/tlsWatch.ts';
import { parseTiers } from '../policy/retry.ts';
import type { CourierRedis } from '../redis/client.ts';
import { DestinationControl } from '../redis/destinationControl.ts';
import { HandOvers } from '../redis/handOvers.ts';
import { redisKeys } from '../redis/keys.ts';
import { TlsCertificates } from '../redis/tlsCertificates.ts';
import { WorkMarks } from '../redis/workMarks.ts';
import { DelayConsumer } from '../retry/delayConsumer.ts';
import { RetryScheduler } from '../retry/retryScheduler.ts';
import { Router } from '../router/router.ts';
import type { PipelineEmitter } from '../telemetry/events.ts';
import type { Logger } from '../telemetry/logger.ts';
import type { Tracing } from '../telemetry/tracing.ts';

export const ROLES = ['router', 'deliver', 'retry'] as const;
export type Role = (typeof ROLES)[number];

/** The topic roles each Courier role reads or writes. */
const TOPICS_OF_ROLE: Record<Role, ReadonlyArray<TopicSpec['role']>> = {
  router: ['events', 'invalid', 'destination'],
  deliver: ['destination', 'retry', 'dlq', 'attempts'],
  retry: ['retry', 'destination'],
};

/** The topics of the plan the given roles need. */
export function topicsOfRoles(config: CourierConfig, roles: Iterable<Role>): TopicSpec[] {
  const needed = new Set(topicsForRoles(topicPlan(config), roles));
  return topicPlan(config).filter((t) => needed.has(t.topic));
}

/** The topics the given roles need (pure). */
export function topicsForRoles(plan: TopicSpec[], roles: Iterable<Role>): string[] {
  const wanted = new Set([...roles].flatMap((r) => TOPICS_OF_ROLE[r]));
  return plan.filter((t) => wanted.has(t.role)).map((t) => t.topic);
}

/** Intervals that tests and small deployments shorten; not part of the package's interface. */
export interface AppTuning {
  /** Consumer session timeout (default `kafka.sessionTimeoutMs`): short values make failover fast. */
  sessionTimeoutMs?: number;
  /** How often shared pause state is read from Redis. */
  pausePollMs?: number;
  /** How often the router commits the offsets whose fan-out is acknowledged (default 250 ms). */
  routerCommitIntervalMs?: number;
  /** How often credential expiries are checked for CREDENTIAL_EXPIRING warnings (default 1 h). */
  credentialCheckMs?: number;
  /** How often the Redis state marker is looked for (default 10 s). */
  stateCheckMs?: number;
}

/** What every role is built from. */
export interface RoleContext {
  config: CourierConfig;
  kafka: Kafka;
  redis: CourierRedis;
  limits: TopicLimits;
  watch: ConsumerWatch;
  events: PipelineEmitter;
  logger: Logger;
  sessionTimeoutMs: number;
  /** This process's id (redis/liveness.ts): the partitions it hands over name it. */
  owner: string;
  /** Spans for routing and delivery attempts (config `observability.tracing`). */
  tracing: Tracing;
}

/** The delivery log; the deliver role's fleet confirms the marks of what it records. */
export function buildAttemptLog(
  ctx: RoleContext,
  producer: Producer,
  filters: AttemptFilters,
  confirmer: MarkConfirmer | undefined,
): AttemptLog {
  const { config } = ctx;
  return new AttemptLog({
    producer,
    limits: ctx.limits,
    topic: topicNames(config).attempts,
    logger: ctx.logger.child({ component: 'attempts' }),
    filters,
    partitions: config.kafka.partitions.attempts,
    ...(confirmer ? { confirmer } : {}),
  });
}

/** The retry role: the delay consumer of every retry tier. */
export function buildRetry(ctx: RoleContext, producer: Producer): DelayConsumer {
  const { config } = ctx;
  const names = topicNames(config);
  return new DelayConsumer({
    ...ctx,
    producer,
    groupId: consumerGroups(config).retry,
    topics: config.retryTiers.map((t) => names.retry(t)),
    tierMs: new Map(parseTiers(config.retryTiers).map((t) => [names.retry(t.label), t.ms])),
    destinationTopic: names.dest,
  });
}

/** What the deliver role's actors share: retries and dead letters through the delivery producer. */
export function buildDeliverySinks(ctx: RoleContext, producer: Producer, attempts: AttemptLog): FleetSinks {
  const { config } = ctx;
  const names = topicNames(config);
  const queue = new ProducerQueue(producer, { limits: ctx.limits });
  const tiers = parseTiers(config.retryTiers);
  return {
    control: new DestinationControl({ redis: ctx.redis, keys: redisKeys(config.kafka.topicPrefix) }),
    retries: new RetryScheduler({ queue, tiers, topicOf: names.retry }),
    deadLetters: new DlqWriter({ queue, topicOf: names.dlq }),
    attempts,
    tiers,
  };
}

/** The router role: the fan-out from the events topic, one producer per batch routed at once. */
export function buildRouter(
  ctx: RoleContext,
  producers: Producer[],
  attempts: AttemptLog,
  commitIntervalMs: number | undefined,
): Router {
  const { config, redis } = ctx;
  const names = topicNames(config);
  const keys = redisKeys(config.kafka.topicPrefix);
  const groupId = consumerGroups(config).router;
  return new Router({
    ...ctx,
    producers,
    groupId,
    eventsTopic: names.events,
    invalidTopic: names.invalid,
    destinationTopic: names.dest,
    dlqTopic: names.dlq,
    destinations: config.destinations,
    configVersion: configVersion(config),
    attempts,
    codec: eventsCodec(config),
    expressions: config.router.expressions,
    workMarks: new WorkMarks({ redis, keys, groupId }),
    handOvers: new HandOvers({ redis, keys, groupId, owner: ctx.owner }),
    ...(commitIntervalMs ? { commitIntervalMs } : {}),
  });
}

/**
 * What watches the deliver role's destinations from outside their deliveries: the expiry of their
 * credentials (CREDENTIAL_EXPIRING) and of their servers' TLS certificates.
 */
export function buildDeliverWatches(
  ctx: RoleContext,
  fleet: DestinationFleet,
  config: () => CourierConfig,
  credentialCheckMs: number | undefined,
): { credentials: CredentialMonitor; tls: TlsWatch } {
  const { events, logger } = ctx;
  return {
    // Told the running destinations once they started (app.ts), and again by every reload.
    credentials: new CredentialMonitor({
      destinations: [],
      events,
      logger,
      ...(credentialCheckMs ? { intervalMs: credentialCheckMs } : {}),
    }),
    tls: new TlsWatch({
      certificates: new TlsCertificates(ctx.redis, redisKeys(ctx.config.kafka.topicPrefix)),
      config,
      clientTls: (id) => fleet.clientTls(id),
      events,
      logger,
    }),
  };
}

/** Metrics, alerts, /healthz, /readyz and the status page (config `observability`). */
export function buildObservability(
  ctx: RoleContext,
  filters: AttemptFilters,
  consumers: ObservabilityOptions['consumers'],
  options: { clusterWorker?: boolean; reload?: () => Promise<{ ok: boolean }> },
): Observability {
  return new Observability({
    ...ctx,
    filters,
    groups: consumerGroups(ctx.config),
    consumers,
    ...(options.clusterWorker ? { clusterWorker: true } : {}),
    ...(options.reload ? { reload: options.reload } : {}),
  });
}

/** The `courier started` line: where the start's time went (the checks, the slowest joins). */
export function logStarted(
  logger: Logger,
  start: {
    roles: Set<Role>;
    config: CourierConfig;
    startedAt: number;
    checkedAt: number;
    joinedAt: number;
    joins: Array<{ part: string; ms: number }>;
  },
): void {
  const { startedAt } = start;
  logger.info(
    {
      roles: [...start.roles],
      destinations: start.config.destinations.map((d) => d.id),
      configVersion: configVersion(start.config),
      startMs: Date.now() - startedAt,
      checksMs: start.checkedAt - startedAt,
      joinedMs: start.joinedAt - startedAt,
      processUptimeMs: Math.round(process.uptime() * 1000),
      slowestJoins: start.joins.sort((a, b) => b.ms - a.ms).slice(0, 3),
    },
    'courier started',
  );
}
