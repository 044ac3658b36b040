// The composition root: builds the shared clients, wires the roles (router, deliver, retry),
// starts them in order and stops them in reverse. Before anything connects it checks that the
// topics the roles need exist. It watches every role's consumer: a crash kafkajs will not restart
// stops the process's other parts and resolves `fatal`, so `courier run` exits non-zero. Each role writes through its own idempotent
// producer (kafkajs allows one request per broker in flight for each), so a failing
// destination's retries and dead letters never queue the router's fan-out behind them.
import type { Kafka, Producer } from 'kafkajs';
import { AttemptFilters } from './attempts/attemptFilters.ts';
import { AttemptLog } from './attempts/attemptLog.ts';
import { settledBy } from './clock.ts';
import { requestTimeout } from './config/destination.ts';
import { type ConfigDiff, configVersion } from './config/diff.ts';
import type { CourierConfig, DestinationConfig } from './config/schema.ts';
import { createCredentials, type DestinationCredentials } from './credentials/credentials.ts';
import { CredentialMonitor, type WatchedCredentials } from './credentials/health.ts';
import { createBreaker } from './delivery/breaker.ts';
import { DestinationActor } from './delivery/destinationActor.ts';
import { RateLimiter } from './delivery/rateLimiter.ts';
import { WebhookSender } from './delivery/sender.ts';
import { DlqWriter } from './dlq/dlqWriter.ts';
import { type ConsumerCrashedError, CourierError, TopicsMissingError } from './errors.ts';
import { ensureTopics } from './kafka/admin.ts';
import { CONSUMER_RETRY, createKafka, createProducer } from './kafka/client.ts';
import { EventCodec, registryOptions } from './kafka/codec.ts';
import { type ConsumerHealth, ConsumerWatch } from './kafka/consumerWatch.ts';
import { removeGroupMember } from './kafka/leaveGroup.ts';
import { ProducerQueue } from './kafka/producerQueue.ts';
import { TopicLimits } from './kafka/sizedSend.ts';
import { consumerGroups, type TopicSpec, topicNames, topicPlan } from './kafka/topics.ts';
import { describeProxy, egressRules, proxyFor } from './net/egress.ts';
import { consumerReadiness, Observability } from './observability/observability.ts';
import { TlsWatch } from './observability/tlsWatch.ts';
import { parseTiers, type Tier } from './policy/retry.ts';
import { type CourierRedis, createRedis } from './redis/client.ts';
import { ConfigStore } from './redis/configStore.ts';
import { DeliveredKeySet } from './redis/deliveredKeySet.ts';
import { DestinationControl } from './redis/destinationControl.ts';
import { HandOvers } from './redis/handOvers.ts';
import { redisKeys } from './redis/keys.ts';
import { ProcessLiveness } from './redis/liveness.ts';
import { StateMarker } from './redis/stateMarker.ts';
import { TlsCertificates } from './redis/tlsCertificates.ts';
import { WorkMarks } from './redis/workMarks.ts';
import { DelayConsumer } from './retry/delayConsumer.ts';
import { RetryScheduler } from './retry/retryScheduler.ts';
import { ROUTER_PARTITIONS_AT_ONCE, Router } from './router/router.ts';
import { type AttemptRecord, PipelineEmitter } from './telemetry/events.ts';
import type { Logger } from './telemetry/logger.ts';
import { VERSION } from './version.ts';

export const ROLES = ['router', 'deliver', 'retry'] as const;
export type Role = (typeof ROLES)[number];

export interface CourierAppOptions {
  config: CourierConfig;
  logger: Logger;
  roles?: readonly Role[];
  events?: PipelineEmitter;
  /** Consumer session timeout; short values make failover fast (tests, small deployments). */
  sessionTimeoutMs?: number;
  pausePollMs?: number;
  /** How often the router commits the offsets whose fan-out is acknowledged; default 250 ms. */
  routerCommitIntervalMs?: number;
  /** How often credential expiries are checked for CREDENTIAL_EXPIRING warnings; default 1 h. */
  credentialCheckMs?: number;
  /**
   * In a `courier run --workers` worker: the metrics registry answers the supervisor's aggregated
   * scrape and this process serves no endpoint of its own.
   */
  clusterWorker?: boolean;
  /** How often the Redis state marker is looked for (default 10 s). */
  stateCheckMs?: number;
  /** What `POST /-/reload` on the observability endpoint runs (`observability.reloadEndpoint`). */
  reload?: () => Promise<{ ok: boolean }>;
}

/** The consumer-group names; they live in kafka/topics.ts (`consumerGroups`), re-exported here. */
export const groupIds = consumerGroups;

interface Part {
  start(): Promise<void>;
  /** Stops; in-flight work is waited for until `deadline` (epoch ms) at most. */
  stop(deadline?: number): Promise<void>;
}

/** One destination of the deliver role, as it runs now. */
interface LiveDestination {
  config: DestinationConfig;
  actor: DestinationActor;
  credentials: DestinationCredentials;
  deliveredKeys: DeliveredKeySet;
}

/** What every destination's actor shares. */
interface DeliveryShared {
  control: DestinationControl;
  retries: RetryScheduler;
  deadLetters: DlqWriter;
  tiers: Tier[];
}

/** The topic roles each Courier role reads or writes. */
const TOPICS_OF_ROLE: Record<Role, ReadonlyArray<TopicSpec['role']>> = {
  router: ['events', 'invalid', 'destination'],
  deliver: ['destination', 'retry', 'dlq', 'attempts'],
  retry: ['retry', 'destination'],
};

/** The topics the given roles need (pure). */
export function topicsForRoles(plan: TopicSpec[], roles: Iterable<Role>): string[] {
  const wanted = new Set([...roles].flatMap((r) => TOPICS_OF_ROLE[r]));
  return plan.filter((t) => wanted.has(t.role)).map((t) => t.topic);
}

export class CourierApp {
  readonly events: PipelineEmitter;
  /**
   * Resolves (never rejects) with the first consumer crash kafkajs will not restart; by then the
   * app is already stopping itself. `courier run` races it against the stop signals.
   */
  readonly fatal: Promise<ConsumerCrashedError>;
  private readonly o: CourierAppOptions;
  private readonly kafka: Kafka;
  private readonly producers: Producer[] = [];
  private readonly redis: CourierRedis;
  private readonly started: Part[] = [];
  private readonly watch: ConsumerWatch;
  private readonly limits: TopicLimits;
  private attemptLog: AttemptLog | undefined;
  private current: CourierConfig;
  private readonly configStore: ConfigStore;
  private heartbeat: NodeJS.Timeout | undefined;
  /** The deliver role's running destinations, and what they share. */
  private readonly destinations = new Map<string, LiveDestination>();
  /**
   * Every destination's delivered-key set, kept after its actor stopped: the delivery log still
   * confirms the marks of its last deliveries while the app stops.
   */
  private readonly markSets = new Map<string, DeliveredKeySet>();
  /** This process's liveness key: the marks it leaves unconfirmed name it (redis/liveness.ts). */
  private readonly liveness: ProcessLiveness;
  private delivery: DeliveryShared | undefined;
  private monitor: CredentialMonitor | undefined;
  private router: Router | undefined;
  private tlsWatch: TlsWatch | undefined;
  private readonly stateMarker: StateMarker;
  private stateTimer: NodeJS.Timeout | undefined;
  /** The reload being applied: a stop waits for it, so no actor it starts outlives the app. */
  private applying: Promise<void> | undefined;
  private stopping: Promise<void> | undefined;
  private running = false;
  /** Metrics, alerts, /healthz, /readyz and the status page (config `observability`). */
  observability: Observability | undefined;

  constructor(options: CourierAppOptions) {
    this.o = options;
    this.current = options.config;
    this.events = options.events ?? new PipelineEmitter();
    // Connections are retried (at most a second apart) for about a minute, so a broker restart
    // does not crash the consumers (see CONSUMER_RETRY); `courier run` checked reachability first.
    this.kafka = createKafka(options.config, options.logger, { retry: { ...CONSUMER_RETRY } });
    this.watch = new ConsumerWatch({
      onRestart: (groupId, memberId) => this.removeFormerMember(groupId, memberId),
    });
    this.redis = createRedis(options.config.redis, { logger: options.logger });
    this.limits = new TopicLimits({ kafka: this.kafka, logger: options.logger });
    this.configStore = new ConfigStore(this.redis, redisKeys(options.config.kafka.topicPrefix));
    this.stateMarker = new StateMarker(this.redis, redisKeys(options.config.kafka.topicPrefix));
    this.liveness = new ProcessLiveness({
      redis: this.redis,
      keys: redisKeys(options.config.kafka.topicPrefix),
    });
    this.fatal = new Promise((resolve) => this.watch.once('fatal', resolve));
    this.watch.on('fatal', (err) => {
      options.logger.error(
        { code: err.code, consumer: err.consumer, groupId: err.groupId, err: err.cause },
        `${err.message}; stopping courier`,
      );
      void this.stop();
    });
  }

  /** Each role consumer's name, consumer group and state (starting, running, restarting, crashed, stopped). */
  health(): ConsumerHealth[] {
    return this.watch.health();
  }

  /** Fails with TopicsMissingError naming every topic the roles need that does not exist. */
  private async checkTopics(roles: Set<Role>): Promise<void> {
    const { config, logger } = this.o;
    const needed = new Set(topicsForRoles(topicPlan(config), roles));
    const admin = this.kafka.admin();
    await admin.connect();
    try {
      const report = await ensureTopics(
        admin,
        topicPlan(config).filter((t) => needed.has(t.topic)),
        { create: false },
      );
      if (report.missing.length > 0) throw new TopicsMissingError(report.missing);
      for (const problem of report.problems)
        logger.warn({ problem }, 'topic does not match the configuration');
    } finally {
      await admin.disconnect().catch(() => {});
    }
  }

  /** Tracks a part before starting it, so one that fails half-way is still stopped. */
  private async startPart(part: Part): Promise<void> {
    if (this.stopping) throw new CourierError('APP_STOPPED', 'courier was stopped while starting');
    this.started.push(part);
    await part.start();
  }

  async start(): Promise<void> {
    const startedAt = Date.now();
    const { config, logger } = this.o;
    const roles = new Set(this.o.roles ?? ROLES);
    await this.checkTopics(roles);
    if (roles.has('deliver')) this.liveness.start();
    const keys = redisKeys(config.kafka.topicPrefix);
    const filters = new AttemptFilters({
      redis: this.redis,
      keys,
      retentionMs: config.kafka.attemptsRetentionMs,
    });
    this.observability = new Observability({
      config,
      logger,
      events: this.events,
      kafka: this.kafka,
      redis: this.redis,
      filters,
      groups: consumerGroups(config),
      consumers: () => consumerReadiness(this.health(), this.running),
      ...(this.o.clusterWorker ? { clusterWorker: true } : {}),
      ...(this.o.reload ? { reload: this.o.reload } : {}),
    });
    await this.observability.start();
    const names = topicNames(config);
    const groups = consumerGroups(config);
    // Attempt records, retries and dead letters share one producer; the router and the delay
    // consumer get their own.
    const deliveryProducer = await this.connectProducer();
    this.attemptLog = new AttemptLog({
      producer: deliveryProducer,
      limits: this.limits,
      topic: names.attempts,
      logger: logger.child({ component: 'attempts' }),
      filters,
      partitions: config.kafka.partitions.attempts,
      onWritten: (records) => this.confirmDelivered(records),
    });

    // Every consumer group is joined at once (the delay consumer's, each destination's, the
    // router's): an instance joining beside a running one makes each of those groups rebalance,
    // and one after the other those rebalances added up to 101 s for a second instance with 50
    // destinations (bench `scaleout`). Every start is settled before a failure is thrown.
    const joining: Promise<unknown>[] = [];
    /** How long each group join took (ms), for the `courier started` line. */
    const joins: Array<{ part: string; ms: number }> = [];
    const timed = (part: string, start: Promise<unknown>) => {
      const from = Date.now();
      return start.then(() => joins.push({ part, ms: Date.now() - from }));
    };
    const checkedAt = Date.now();
    if (roles.has('retry')) {
      const delay = new DelayConsumer({
        kafka: this.kafka,
        producer: await this.connectProducer(),
        limits: this.limits,
        watch: this.watch,
        groupId: groups.retry,
        topics: config.retryTiers.map((t) => names.retry(t)),
        tierMs: new Map(parseTiers(config.retryTiers).map((t) => [names.retry(t.label), t.ms])),
        destinationTopic: names.dest,
        events: this.events,
        logger,
        sessionTimeoutMs: this.o.sessionTimeoutMs ?? config.kafka.sessionTimeoutMs,
      });
      joining.push(timed('retry', this.startPart(delay)));
    }

    if (roles.has('deliver')) {
      const queue = new ProducerQueue(deliveryProducer, { limits: this.limits });
      const tiers = parseTiers(config.retryTiers);
      this.delivery = {
        control: new DestinationControl({ redis: this.redis, keys }),
        retries: new RetryScheduler({ queue, tiers, topicOf: names.retry }),
        deadLetters: new DlqWriter({ queue, topicOf: names.dlq }),
        tiers,
      };
      this.tlsWatch = new TlsWatch({
        certificates: new TlsCertificates(this.redis, keys),
        config: () => this.current,
        clientTls: (id) => this.destinations.get(id)?.credentials.tls,
        logger,
      });
      this.started.push({ start: async () => {}, stop: async () => this.tlsWatch?.stop() });
      // Every destination's actor, stopped together (and in parallel) when the app stops.
      this.started.push({ start: async () => {}, stop: (deadline) => this.stopDestinations(deadline) });
      joining.push(...config.destinations.map((d) => timed(`deliver:${d.id}`, this.startDestination(d))));
    }

    if (roles.has('router')) {
      const codec = new EventCodec({
        ...registryOptions(config.schemaRegistry),
        maxEventBytes: config.router.maxEventBytes,
        subject: `${config.kafka.eventsTopic}-value`,
      });
      // As many producers as batches routed at once (see RouterOptions.producers).
      const producers = await Promise.all(
        Array.from({ length: ROUTER_PARTITIONS_AT_ONCE }, () => this.connectProducer()),
      );
      this.router = new Router({
        kafka: this.kafka,
        producers,
        groupId: groups.router,
        eventsTopic: names.events,
        invalidTopic: names.invalid,
        destinationTopic: names.dest,
        dlqTopic: names.dlq,
        destinations: config.destinations,
        configVersion: configVersion(config),
        ...(this.attemptLog ? { attempts: this.attemptLog } : {}),
        codec,
        limits: this.limits,
        expressions: config.router.expressions,
        workMarks: new WorkMarks({ redis: this.redis, keys, groupId: groups.router }),
        handOvers: new HandOvers({
          redis: this.redis,
          keys,
          groupId: groups.router,
          owner: this.liveness.id,
        }),
        watch: this.watch,
        events: this.events,
        logger,
        sessionTimeoutMs: this.o.sessionTimeoutMs ?? config.kafka.sessionTimeoutMs,
        ...(this.o.routerCommitIntervalMs ? { commitIntervalMs: this.o.routerCommitIntervalMs } : {}),
      });
      joining.push(timed('router', this.startPart(this.router)));
    }
    // The state marker is looked at meanwhile: nothing in it waits for the groups.
    const starts = await Promise.allSettled([...joining, this.watchRedisState()]);
    const joinedAt = Date.now();
    const failed = starts.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    // The credential check and the record of the configuration, side by side: right after the
    // joins the consumers' first fetches keep the event loop busy, and each await waits its turn.
    let checked: Promise<void> = Promise.resolve();
    if (roles.has('deliver')) {
      const monitor = new CredentialMonitor({
        destinations: this.watchedCredentials(),
        events: this.events,
        logger,
        ...(this.o.credentialCheckMs ? { intervalMs: this.o.credentialCheckMs } : {}),
      });
      this.started.push(monitor);
      this.monitor = monitor;
      checked = monitor.start();
      this.tlsWatch?.start();
    }
    this.running = true;
    const version = configVersion(config);
    this.events.emit('config-applied', { version, at: Date.now() });
    await Promise.all([checked, this.publishConfig()]);
    this.heartbeat = setInterval(() => {
      this.configStore.heartbeat(configVersion(this.current)).catch(() => {});
    }, 60_000);
    this.heartbeat.unref();
    logger.info(
      {
        roles: [...roles],
        destinations: config.destinations.map((d) => d.id),
        configVersion: version,
        // Where the start's time went: the checks before the groups, and the slowest joins.
        startMs: Date.now() - startedAt,
        checksMs: checkedAt - startedAt,
        joinedMs: joinedAt - startedAt,
        processUptimeMs: Math.round(process.uptime() * 1000),
        slowestJoins: joins.sort((a, b) => b.ms - a.ms).slice(0, 3),
      },
      'courier started',
    );
  }

  /**
   * Writes the state marker, and looks for it every `stateCheckMs`: when it is gone, Redis lost
   * Courier's state (see redis/stateMarker.ts); said once per loss, and delivering goes on.
   */
  private async watchRedisState(): Promise<void> {
    const { logger } = this.o;
    // Redis unreachable at start is not fatal here (readiness says so); the first check writes it.
    const marker = await this.stateMarker.ensure().catch((err: unknown) => {
      logger.warn({ err }, 'state marker not written: Redis is not reachable');
      return 'unknown' as const;
    });
    if (marker === 'written') {
      logger.info(
        'no Courier state in Redis yet (a first start, or its data was lost while no instance ran); the marker is written',
      );
    }
    let known = marker !== 'unknown';
    this.stateTimer = setInterval(() => {
      if (!known) {
        // Never written by this instance: writing it is all a first look can do.
        this.stateMarker
          .ensure()
          .then(() => {
            known = true;
          })
          .catch(() => {});
        return;
      }
      this.stateMarker
        .check()
        .then((lost) => {
          if (!lost) return;
          logger.error(
            { code: 'REDIS_STATE_LOST' },
            "Redis lost Courier's state (an empty replica after a failover, FLUSHALL, eviction): events delivered before now may be delivered again if they are read again within the idempotency window; pauses, Retry-After waits and cached tokens were reset; courier inspect does not find events recorded before. Delivering goes on.",
          );
          this.events.emit('redis-state-lost', { at: Date.now() });
        })
        .catch((err) => logger.debug({ err }, 'state marker not checked'));
    }, this.o.stateCheckMs ?? 10_000);
    this.stateTimer.unref();
  }

  /**
   * A consumer kafkajs restarted after a crash rejoins as a new member; its former self leaves
   * the group here, so the rebalance does not wait for that member's session to expire
   * (kafka/leaveGroup.ts). Tried for about a minute (the coordinator may be loading after a
   * broker restart); if it never works, the session timeout ends the wait as before.
   */
  private removeFormerMember(groupId: string, memberId: string): void {
    const { logger } = this.o;
    const until = Date.now() + 60_000;
    const attempt = async (): Promise<void> => {
      for (;;) {
        if (this.stopping) return;
        try {
          const result = await removeGroupMember(this.kafka, groupId, memberId);
          logger.info({ groupId, memberId, result }, "a restarted consumer's former member left its group");
          return;
        } catch (err) {
          if (Date.now() > until) {
            logger.warn(
              { err, groupId },
              'the former member of a restarted consumer could not be removed; its session will expire',
            );
            return;
          }
          await new Promise((resolve) => setTimeout(resolve, 1_000).unref());
        }
      }
    };
    void attempt();
  }

  /** The configuration running now (the start's, or the last reload's). */
  get config(): CourierConfig {
    return this.current;
  }

  /** Records the running configuration in Redis for `courier config diff`; a failure only warns. */
  private async publishConfig(): Promise<void> {
    await this.configStore
      .publish(this.current)
      .catch((err) => this.o.logger.warn({ err }, 'running configuration not recorded in Redis'));
  }

  /** The parts of a destination's sending that its configuration makes: its sender and rate limiter. */
  private senderFor(destination: DestinationConfig, credentials: DestinationCredentials): WebhookSender {
    const config = this.current;
    const { logger } = this.o;
    const egress = egressRules(config.network, destination.proxy, process.env);
    const timeout = requestTimeout(destination);
    const deliveryProxy = proxyFor(destination.url, egress);
    if (deliveryProxy) {
      logger.info(
        { destination: destination.id, proxy: describeProxy(deliveryProxy) },
        'deliveries go through a proxy',
      );
    }
    return new WebhookSender({
      url: destination.url,
      timeoutMs: timeout.timeoutMs,
      ...(timeout.auto
        ? {
            autoTimeout: timeout.auto,
            onTimeoutChange: (change) => {
              logger.info(
                { destination: destination.id, ...change },
                `timeout of ${destination.id} adapted from ${change.from} to ${change.to} ms (p99 ${change.p99Ms} ms, p99.9 ${change.p999Ms} ms)`,
              );
              this.events.emit('timeout-adapted', { destination: destination.id, timeoutMs: change.to });
            },
          }
        : {}),
      connections: destination.concurrency,
      allowPrivateAddresses: config.network.allowPrivateAddresses,
      userAgent: `courier/${VERSION}`,
      ...(credentials.tls ? { tls: credentials.tls } : {}),
      ...(deliveryProxy ? { proxy: deliveryProxy } : {}),
      ...(this.tlsWatch ? { onServerCertificate: (cert) => this.tlsWatch?.seen(destination.id, cert) } : {}),
    });
  }

  private rateLimiterFor(destination: DestinationConfig): RateLimiter | undefined {
    if (!destination.rateLimit) return undefined;
    return new RateLimiter({
      redis: this.redis,
      key: redisKeys(this.current.kafka.topicPrefix).rate(destination.id),
      perSecond: destination.rateLimit.perSecond,
      burst: destination.rateLimit.burst,
      onWait: (waitedMs, permits) =>
        this.events.emit('rate-limited', { destination: destination.id, waitedMs, permits }),
    });
  }

  /** How long an in-flight claim lives: a 401 with OAuth2 can mean a token request and a second send. */
  private static lockMs(destination: DestinationConfig): number {
    const { timeoutMs } = requestTimeout(destination);
    return destination.auth?.type === 'oauth2'
      ? 2 * timeoutMs + destination.auth.timeoutMs + 5_000
      : timeoutMs + 5_000;
  }

  /** Builds a destination's credentials and actor and starts it (its consumer joins its group). */
  private async startDestination(destination: DestinationConfig): Promise<void> {
    const config = this.current;
    const { logger } = this.o;
    const shared = this.delivery;
    if (!shared) return;
    const keys = redisKeys(config.kafka.topicPrefix);
    const egress = egressRules(config.network, destination.proxy, process.env);
    const tokenProxy =
      destination.auth?.type === 'oauth2' ? proxyFor(destination.auth.tokenUrl, egress) : undefined;
    // Credentials: built first, they fail at start when unusable; closed after the actor.
    const credentials = createCredentials({
      destination,
      redis: this.redis,
      keyPrefix: config.kafka.topicPrefix,
      allowPrivateAddresses: config.network.allowPrivateAddresses,
      userAgent: `courier/${VERSION}`,
      ...(tokenProxy ? { tokenProxy } : {}),
      logger,
    });
    const rateLimiter = this.rateLimiterFor(destination);
    const deliveredKeys = new DeliveredKeySet({
      redis: this.redis,
      keys,
      destination: destination.id,
      ttlMs: config.idempotency.windowMs,
      lockMs: CourierApp.lockMs(destination),
      owners: this.liveness,
    });
    this.markSets.set(destination.id, deliveredKeys);
    const actor = new DestinationActor({
      kafka: this.kafka,
      groupId: consumerGroups(config).deliver(destination.id),
      topic: topicNames(config).dest(destination.id),
      destination,
      sender: this.senderFor(destination, credentials),
      credentials,
      deliveredKeys,
      control: shared.control,
      ...(rateLimiter ? { rateLimiter } : {}),
      retries: shared.retries,
      deadLetters: shared.deadLetters,
      attempts: this.attemptLog as AttemptLog,
      watch: this.watch,
      events: this.events,
      logger,
      tiers: shared.tiers,
      sessionTimeoutMs: this.o.sessionTimeoutMs ?? config.kafka.sessionTimeoutMs,
      retentionMs: config.kafka.retentionMs,
      rescueAtShare: config.kafka.rescueAtRetentionShare,
      window: destination.window,
      handOvers: new HandOvers({
        redis: this.redis,
        keys,
        groupId: consumerGroups(config).deliver(destination.id),
        owner: this.liveness.id,
      }),
      ...(this.o.pausePollMs ? { pausePollMs: this.o.pausePollMs } : {}),
    });
    const live: LiveDestination = { config: destination, actor, credentials, deliveredKeys };
    this.destinations.set(destination.id, live);
    if (this.stopping) throw new CourierError('APP_STOPPED', 'courier was stopped while starting');
    await actor.start();
  }

  /**
   * The delivery log has these records: the delivered marks they stand for are confirmed (a mark
   * left unconfirmed by a crash makes the next read of its event write the record again).
   */
  private async confirmDelivered(records: readonly AttemptRecord[]): Promise<void> {
    const byDestination = new Map<string, string[]>();
    for (const r of records) {
      if (r.outcome !== 'delivered') continue;
      const ids = byDestination.get(r.destination);
      if (ids) ids.push(r.eventId);
      else byDestination.set(r.destination, [r.eventId]);
    }
    await Promise.all(
      [...byDestination].map(async ([id, events]) => {
        await this.markSets.get(id)?.confirm(events);
        this.destinations.get(id)?.actor.recorded(events);
      }),
    );
  }

  /** Stops a destination's actor after its in-flight work (until `deadline`), then closes its credentials. */
  private async stopDestination(id: string, deadline?: number): Promise<void> {
    const live = this.destinations.get(id);
    if (!live) return;
    this.destinations.delete(id);
    try {
      await live.actor.stop(deadline);
    } finally {
      await live.credentials.close();
    }
  }

  private async stopDestinations(deadline?: number): Promise<void> {
    const ids = [...this.destinations.keys()];
    const results = await Promise.allSettled(ids.map((id) => this.stopDestination(id, deadline)));
    for (const r of results)
      if (r.status === 'rejected') this.o.logger.error({ err: r.reason }, 'stop failed');
  }

  /** A running destination takes a changed configuration without leaving its consumer group. */
  private updateDestination(live: LiveDestination, next: DestinationConfig, fields: string[]): void {
    const changed = (...names: string[]) => fields.some((f) => names.includes(f.split('.')[0] as string));
    const sender = changed('url', 'timeoutMs', 'autoTimeout', 'proxy')
      ? this.senderFor(next, live.credentials)
      : undefined;
    live.actor.update({
      destination: next,
      ...(sender ? { sender } : {}),
      ...(changed('rateLimit') ? { rateLimit: { limiter: this.rateLimiterFor(next) } } : {}),
      ...(changed('circuitBreaker')
        ? { breaker: createBreaker(next.circuitBreaker, `destination:${next.id}`) }
        : {}),
      lockMs: CourierApp.lockMs(next),
    });
    live.config = next;
  }

  private watchedCredentials(): WatchedCredentials[] {
    return [...this.destinations.values()].map(({ config: d, credentials }) => ({
      id: d.id,
      credentials,
      warningDays: d.credentialWarningDays,
      ...(d.secretsExpireAt ? { secretsExpireAt: d.secretsExpireAt } : {}),
    }));
  }

  /**
   * Applies a reloaded configuration (validated, and with no restart-only change: see
   * reload/reloader.ts). Added destinations get their topics and start; changed ones are updated
   * in place or have their actor alone rebuilt; removed ones stop after their in-flight work
   * (their topics stay). The router switches at its next batch. Nothing else is touched: other
   * destinations' consumers keep their group membership and their in-flight sends.
   */
  async apply(next: CourierConfig, diff: ConfigDiff): Promise<void> {
    if (!this.running || this.stopping) throw new CourierError('APP_NOT_RUNNING', 'courier is not running');
    const applying = this.applyDiff(next, diff);
    this.applying = applying.catch(() => {});
    return applying;
  }

  private async applyDiff(next: CourierConfig, diff: ConfigDiff): Promise<void> {
    const byId = new Map(next.destinations.map((d) => [d.id, d]));
    const added = diff.added.map((id) => byId.get(id) as DestinationConfig);
    if (added.length > 0 && (this.router || this.delivery)) await this.createTopics(next, diff.added);
    this.current = next;
    // Routing first: events for an added destination wait in its topic for its actor; a removed
    // one gets no new events while its actor finishes.
    if (!diff.empty) await this.router?.setDestinations(next.destinations, configVersion(next));
    const problems: string[] = [];
    const attempt = async (what: string, work: () => Promise<void>) => {
      try {
        await work();
      } catch (err) {
        problems.push(`${what}: ${(err as Error).message}`);
      }
    };
    if (this.delivery) {
      const rebuilt: DestinationConfig[] = [];
      for (const change of diff.changed) {
        const live = this.destinations.get(change.id);
        const d = byId.get(change.id) as DestinationConfig;
        if (!live) continue;
        if (change.inPlace) {
          await attempt(`updating ${change.id}`, async () => this.updateDestination(live, d, change.fields));
        } else rebuilt.push(d);
      }
      // Destinations an earlier reload could not start (their credentials failed, say): again.
      const stray = next.destinations.filter(
        (d) => !this.destinations.has(d.id) && !diff.added.includes(d.id),
      );
      await Promise.all([
        ...diff.removed.map((id) => attempt(`stopping ${id}`, () => this.stopDestination(id))),
        ...rebuilt.map((d) =>
          attempt(`rebuilding ${d.id}`, async () => {
            await this.stopDestination(d.id);
            await this.startDestination(d);
          }),
        ),
        ...added.map((d) => attempt(`starting ${d.id}`, () => this.startDestination(d))),
        ...stray.map((d) => attempt(`starting ${d.id}`, () => this.startDestination(d))),
      ]);
      this.monitor?.setDestinations(this.watchedCredentials());
    }
    await this.observability?.setConfig(next);
    await this.publishConfig();
    if (problems.length > 0) {
      throw new CourierError('RELOAD_INCOMPLETE', `applied, except: ${problems.join('; ')}`);
    }
  }

  /** Creates the topics of added destinations, as `courier topics` would. */
  private async createTopics(config: CourierConfig, ids: string[]): Promise<void> {
    const names = topicNames(config);
    const wanted = new Set(ids.flatMap((id) => [names.dest(id), names.dlq(id)]));
    const admin = this.kafka.admin();
    await admin.connect();
    try {
      const report = await ensureTopics(
        admin,
        topicPlan(config).filter((t) => wanted.has(t.topic)),
        { create: true },
      );
      if (report.created.length > 0) this.o.logger.info({ topics: report.created }, 'topics created');
    } finally {
      await admin.disconnect().catch(() => {});
    }
  }

  private async connectProducer(): Promise<Producer> {
    if (this.stopping) throw new CourierError('APP_STOPPED', 'courier was stopped while starting');
    const producer = createProducer(this.kafka);
    this.producers.push(producer);
    await producer.connect();
    return producer;
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
    const { logger } = this.o;
    const timeout = this.current.shutdownTimeoutMs;
    const workDeadline = deadline - Math.min(5_000, timeout / 4);
    // /readyz answers 503 from here on; the endpoint itself stops last.
    this.running = false;
    if (this.applying && !(await settledBy(this.applying, workDeadline)))
      logger.warn('stopping during a reload: not waiting for it to finish');
    clearInterval(this.heartbeat);
    clearInterval(this.stateTimer);
    if (this.heartbeat) await settledBy(this.configStore.leave(), deadline);
    for (const part of this.started.reverse()) {
      await part.stop(workDeadline).catch((err) => logger.error({ err }, 'stop failed'));
    }
    this.started.length = 0;
    // Attempt records of what finished, then the producers; neither may hold the stop past its bound.
    if (this.attemptLog && !(await settledBy(this.attemptLog.close(), deadline)))
      logger.warn('stop deadline reached before every attempt record was written');
    await settledBy(Promise.allSettled(this.producers.map((p) => p.disconnect())), deadline);
    this.producers.length = 0;
    // Every record this process owed is written and its marks confirmed: it may be taken for gone.
    await settledBy(this.liveness.stop(), deadline);
    // The endpoint stops last; the Redis client it shares goes after it.
    await this.observability?.stop().catch((err) => logger.error({ err }, 'stop failed'));
    this.redis.disconnect();
    logger.info({ tookMs: Date.now() - (deadline - timeout) }, 'courier stopped');
  }
}
