// The composition root: builds the shared clients and each role from its parts, joins every
// role's consumer group at once, and stops the parts in reverse. Before anything connects it
// checks that the topics the roles need exist. A consumer crash kafkajs will not restart stops the
// process's other parts and resolves `fatal`, so `courier run` exits non-zero. Each role writes
// through its own idempotent producer (kafkajs allows one request per broker in flight for each),
// so a failing destination's retries and dead letters never queue the router's fan-out.
import type { Kafka } from 'kafkajs';
import { AttemptFilters } from './attempts/attemptFilters.ts';
import type { AttemptLog } from './attempts/attemptLog.ts';
import { settledBy } from './clock.ts';
import { Joins, Parts } from './compose/parts.ts';
import {
  type AppTuning,
  buildAttemptLog,
  buildDeliverWatches,
  buildDeliverySinks,
  buildObservability,
  buildRetry,
  buildRouter,
  logStarted,
  ROLES,
  type Role,
  type RoleContext,
  topicsOfRoles,
} from './compose/roles.ts';
import { type ConfigDiff, configVersion } from './config/diff.ts';
import type { CourierConfig } from './config/schema.ts';
import type { CredentialMonitor } from './credentials/health.ts';
import { DestinationFleet } from './delivery/fleet.ts';
import { type ConsumerCrashedError, CourierError } from './errors.ts';
import { requireTopics } from './kafka/admin.ts';
import { CONSUMER_RETRY, createKafka } from './kafka/client.ts';
import { type ConsumerHealth, ConsumerWatch } from './kafka/consumerWatch.ts';
import { removeFormerMember } from './kafka/leaveGroup.ts';
import { TopicLimits } from './kafka/sizedSend.ts';
import { consumerGroups } from './kafka/topics.ts';
import { consumerReadiness, type Observability } from './observability/observability.ts';
import { type CourierRedis, createRedis } from './redis/client.ts';
import { ConfigStore } from './redis/configStore.ts';
import { redisKeys } from './redis/keys.ts';
import { ProcessLiveness } from './redis/liveness.ts';
import { StateMarker } from './redis/stateMarker.ts';
import { applyReload, publishConfig, type ReloadableParts } from './reload/apply.ts';
import { ROUTER_PARTITIONS_AT_ONCE, type Router } from './router/router.ts';
import { logPipelineEvents } from './telemetry/eventLog.ts';
import { PipelineEmitter } from './telemetry/events.ts';
import type { Logger } from './telemetry/logger.ts';
import { Tracing } from './telemetry/tracing.ts';

export { ROLES, type Role } from './compose/roles.ts';

export interface CourierAppOptions {
  config: CourierConfig;
  logger: Logger;
  roles?: readonly Role[];
  events?: PipelineEmitter;
  /**
   * In a `courier run --workers` worker: the metrics registry answers the supervisor's aggregated
   * scrape and this process serves no endpoint of its own.
   */
  clusterWorker?: boolean;
  /** What `POST /-/reload` on the observability endpoint runs (`observability.reloadEndpoint`). */
  reload?: () => Promise<{ ok: boolean }>;
}

/** The consumer-group names; they live in kafka/topics.ts (`consumerGroups`), re-exported here. */
export const groupIds = consumerGroups;

export class CourierApp {
  readonly events: PipelineEmitter;
  /**
   * Resolves (never rejects) with the first consumer crash kafkajs will not restart; by then the
   * app is already stopping itself. `courier run` races it against the stop signals.
   */
  readonly fatal: Promise<ConsumerCrashedError>;
  /** Metrics, alerts, /healthz, /readyz and the status page (config `observability`). */
  observability: Observability | undefined;
  private readonly options: CourierAppOptions;
  private readonly tuning: AppTuning;
  private readonly logger: Logger;
  private readonly kafka: Kafka;
  private readonly redis: CourierRedis;
  private readonly watch: ConsumerWatch;
  private readonly limits: TopicLimits;
  private readonly configStore: ConfigStore;
  /** This process's liveness key: the marks it leaves unconfirmed name it (redis/liveness.ts). */
  private readonly liveness: ProcessLiveness;
  private readonly parts: Parts;
  private readonly tracing: Tracing;
  private current: CourierConfig;
  private attemptLog: AttemptLog | undefined;
  private fleet: DestinationFleet | undefined;
  private monitor: CredentialMonitor | undefined;
  private router: Router | undefined;
  /** The reload being applied: a stop waits for it, so no actor it starts outlives the app. */
  private applying: Promise<void> | undefined;
  private stopping: Promise<void> | undefined;
  private running = false;

  constructor(options: CourierAppOptions, tuning: AppTuning = {}) {
    const { config, logger } = options;
    this.options = options;
    this.tuning = tuning;
    this.logger = logger;
    this.current = config;
    this.events = options.events ?? new PipelineEmitter();
    const keys = redisKeys(config.kafka.topicPrefix);
    // Connections are retried (at most a second apart) for about a minute, so a broker restart
    // does not crash the consumers (see CONSUMER_RETRY); `courier run` checked reachability first.
    this.kafka = createKafka(config, logger, { retry: { ...CONSUMER_RETRY } });
    this.watch = new ConsumerWatch({
      onRestart: (groupId, memberId) =>
        void removeFormerMember(
          this.kafka,
          { groupId, memberId },
          { logger, stopped: () => !!this.stopping },
        ),
    });
    this.redis = createRedis(config.redis, { logger });
    this.limits = new TopicLimits({ kafka: this.kafka, logger });
    this.parts = new Parts(this.kafka);
    this.tracing = new Tracing(config.observability.tracing);
    this.configStore = new ConfigStore(this.redis, keys);
    this.liveness = new ProcessLiveness({ redis: this.redis, keys });
    this.fatal = new Promise((resolve) => this.watch.once('fatal', resolve));
    this.watch.on('fatal', (err) => {
      logger.error(
        { code: err.code, consumer: err.consumer, groupId: err.groupId, err: err.cause },
        `${err.message}; stopping courier`,
      );
      void this.stop();
    });
    logPipelineEvents(this.events, logger);
  }

  /** Each role consumer's name, consumer group and state (starting, running, restarting, crashed, stopped). */
  health(): ConsumerHealth[] {
    return this.watch.health();
  }

  /** The configuration running now (the start's, or the last reload's). */
  get config(): CourierConfig {
    return this.current;
  }

  async start(): Promise<void> {
    const startedAt = Date.now();
    const { config, logger, tuning } = this;
    const roles = new Set(this.options.roles ?? ROLES);
    await requireTopics(this.kafka, topicsOfRoles(config, roles), logger);
    if (roles.has('deliver')) this.liveness.start();
    const keys = redisKeys(config.kafka.topicPrefix);
    const ctx: RoleContext = {
      config,
      kafka: this.kafka,
      redis: this.redis,
      limits: this.limits,
      watch: this.watch,
      events: this.events,
      logger,
      sessionTimeoutMs: tuning.sessionTimeoutMs ?? config.kafka.sessionTimeoutMs,
      owner: this.liveness.id,
      tracing: this.tracing,
    };
    const filters = new AttemptFilters({
      redis: this.redis,
      keys,
      retentionMs: config.kafka.attemptsRetentionMs,
    });
    const readiness = () => consumerReadiness(this.health(), this.running);
    this.observability = buildObservability(ctx, filters, readiness, this.options);
    await this.observability.start();
    const fleet = roles.has('deliver')
      ? new DestinationFleet({
          ...ctx,
          liveness: this.liveness,
          ...(tuning.pausePollMs ? { pausePollMs: tuning.pausePollMs } : {}),
        })
      : undefined;
    this.fleet = fleet;
    // Attempt records, retries and dead letters share one producer; the router and the delay
    // consumer get their own.
    const deliveryProducer = await this.parts.producer();
    const attemptLog = buildAttemptLog(ctx, deliveryProducer, filters, fleet);
    this.attemptLog = attemptLog;

    // Every consumer group is joined at once (the delay consumer's, each destination's, the
    // router's): joined one after the other, the rebalances an instance joining beside a running
    // one causes add up (bench `scaleout`).
    const joins = new Joins();
    const checkedAt = Date.now();
    if (roles.has('retry'))
      joins.add('retry', this.parts.start(buildRetry(ctx, await this.parts.producer())));
    const watches = fleet && buildDeliverWatches(ctx, fleet, () => this.current, tuning.credentialCheckMs);
    if (fleet && watches) {
      this.parts.onStop(() => watches.tls.stop());
      // Every destination's actor, stopped together (and in parallel) when the app stops.
      this.parts.onStop((deadline) => fleet.stopAll(deadline));
      const sinks = buildDeliverySinks(ctx, deliveryProducer, attemptLog);
      for (const { id, started } of fleet.startAll(sinks)) joins.add(`deliver:${id}`, started);
    }
    if (roles.has('router')) {
      // As many producers as batches routed at once (see RouterOptions.producers).
      const producers = await Promise.all(
        Array.from({ length: ROUTER_PARTITIONS_AT_ONCE }, () => this.parts.producer()),
      );
      const router = buildRouter(ctx, producers, attemptLog, tuning.routerCommitIntervalMs);
      this.router = router;
      joins.add('router', this.parts.start(router));
    }
    // The state marker is looked at meanwhile: nothing in it waits for the groups.
    joins.add(
      'state marker',
      new StateMarker(this.redis, keys)
        .watch({ logger, events: this.events, everyMs: tuning.stateCheckMs ?? 10_000 })
        .then((stopWatching) => this.parts.onStop(stopWatching)),
    );
    const took = await joins.settled();
    const joinedAt = Date.now();
    // The credential check and the record of the configuration, side by side: right after the
    // joins the consumers' first fetches keep the event loop busy, and each await waits its turn.
    let checked: Promise<void> = Promise.resolve();
    if (fleet && watches) {
      // The destinations running now (their credentials were built as they started).
      watches.credentials.setDestinations(fleet.watched());
      this.monitor = watches.credentials;
      this.parts.onStop(() => watches.credentials.stop());
      checked = watches.credentials.start();
      watches.tls.start();
    }
    this.running = true;
    const version = configVersion(config);
    this.events.emit('config-applied', { version, at: Date.now() });
    await Promise.all([checked, publishConfig(this.reloadable(), config)]);
    this.parts.onStop(this.configStore.beat(() => configVersion(this.current)));
    logStarted(logger, { roles, config, startedAt, checkedAt, joinedAt, joins: took });
  }

  /**
   * Applies a reloaded configuration (validated, and with no restart-only change: see
   * reload/reloader.ts and reload/apply.ts).
   */
  async apply(next: CourierConfig, diff: ConfigDiff): Promise<void> {
    if (!this.running || this.stopping) throw new CourierError('APP_NOT_RUNNING', 'courier is not running');
    this.current = next;
    const applying = applyReload(this.reloadable(), next, diff);
    this.applying = applying.catch(() => {});
    return applying;
  }

  /**
   * Stops every part in reverse order, in `shutdownTimeoutMs` at most; idempotent (a second call
   * waits for the first). In-flight sends get the time less a reserve for committing what
   * finished and leaving the groups; what is still under way then is abandoned uncommitted.
   */
  stop(): Promise<void> {
    this.stopping ??= this.stopParts(Date.now() + this.current.shutdownTimeoutMs);
    return this.stopping;
  }

  private async stopParts(deadline: number): Promise<void> {
    const { logger } = this;
    const timeout = this.current.shutdownTimeoutMs;
    const workDeadline = deadline - Math.min(5_000, timeout / 4);
    // /readyz answers 503 from here on; the endpoint itself stops last.
    this.running = false;
    this.parts.close();
    if (this.applying && !(await settledBy(this.applying, workDeadline)))
      logger.warn('stopping during a reload: not waiting for it to finish');
    await this.parts.stop(workDeadline, logger);
    // Attempt records of what finished, then the producers; neither may hold the stop past its bound.
    if (this.attemptLog && !(await settledBy(this.attemptLog.close(), deadline)))
      logger.warn('stop deadline reached before every attempt record was written');
    await this.parts.disconnectProducers(deadline);
    await settledBy(this.tracing.shutdown(), deadline);
    // Every record this process owed is written and its marks confirmed: it may be taken for gone.
    await settledBy(this.liveness.stop(), deadline);
    // The endpoint stops last; the Redis client it shares goes after it.
    await this.observability?.stop().catch((err) => logger.error({ err }, 'stop failed'));
    this.redis.disconnect();
    logger.info({ tookMs: Date.now() - (deadline - timeout) }, 'courier stopped');
  }

  /** What a reload reaches. */
  private reloadable(): ReloadableParts {
    const { kafka, logger, configStore, router, fleet, monitor, observability } = this;
    return { kafka, logger, configStore, router, fleet, monitor, observability };
  }
}
