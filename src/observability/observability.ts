// Everything an operator sees of a running Courier, wired in one place: the Prometheus metrics
// (subscribed to the pipeline's events), the rolling counters in Redis, the backlog probe, the
// alert evaluator and the HTTP endpoint (/metrics, /healthz, /readyz, the status page). The
// composition root starts it before the roles (so /healthz answers and /readyz says "starting"
// while they start) and stops it after them.
import type { Admin, Kafka } from 'kafkajs';
import { AttemptFilters } from '../attempts/attemptFilters.ts';
import { requestTimeout } from '../config/destination.ts';
import type { CourierConfig } from '../config/schema.ts';
import { topicNames } from '../kafka/topics.ts';
import { type CourierRedis, createRedis } from '../redis/client.ts';
import { DestinationControl } from '../redis/destinationControl.ts';
import { redisKeys } from '../redis/keys.ts';
import type { PipelineEmitter } from '../telemetry/events.ts';
import type { Logger } from '../telemetry/logger.ts';
import { AlertEvaluator } from './alerts.ts';
import { BacklogProbe, type BacklogSnapshot, type GroupNames } from './backlog.ts';
import { readStatus, type StatusReport, statsBucketMs } from './destinationStatus.ts';
import { CourierMetrics, clusterWorkerRegistries } from './metrics.ts';
import { statusPages } from './pages.ts';
import { RollingStatsWriter } from './rollingStats.ts';
import { check, ObservabilityServer, type Readiness } from './server.ts';

export interface ObservabilityOptions {
  config: CourierConfig;
  logger: Logger;
  events: PipelineEmitter;
  kafka: Kafka;
  /** The process's Redis client (the composition root's); one of its own when not given. */
  redis?: CourierRedis;
  /** The attempt log's filters, for the event pages; built on `redis` when not given. */
  filters?: AttemptFilters;
  groups: GroupNames;
  /** The roles' consumers (CourierApp.health()); readiness fails when one is not running. */
  consumers?: () => Readiness | Promise<Readiness>;
  /** Serve a different scrape (the cluster primary's aggregate) instead of this process's registry. */
  scrape?: () => Promise<{ contentType: string; body: string }>;
  /**
   * Whether this process serves the endpoint (default `observability.enabled`). Cluster workers
   * pass false: the primary serves one aggregated endpoint for the machine.
   */
  serve?: boolean;
  /** A cluster worker: its registry answers the primary's aggregation, and it serves nothing. */
  clusterWorker?: boolean;
  /** What `POST /-/reload` runs (served only with `observability.reloadEndpoint: true`). */
  reload?: () => Promise<{ ok: boolean }>;
  now?: () => number;
}

export class Observability {
  readonly metrics: CourierMetrics;
  private readonly options: ObservabilityOptions;
  private readonly log: Logger;
  private readonly redis: CourierRedis;
  /** Whether `redis` is this object's own (disconnected on stop) or the caller's. */
  private readonly ownsRedis: boolean;
  private readonly filters: AttemptFilters;
  private readonly admin: Admin;
  private readonly probe: BacklogProbe;
  private readonly stats: RollingStatsWriter;
  private readonly alerts: AlertEvaluator;
  private readonly control: DestinationControl;
  private server: ObservabilityServer | undefined;
  private unsubscribe: (() => void) | undefined;
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly running = new Set<Promise<void>>();
  private backlog: { at: number; snapshot: BacklogSnapshot } | undefined;
  private adminConnecting: Promise<Admin> | undefined;
  private stopping = false;

  constructor(options: ObservabilityOptions) {
    this.options = options;
    const { config } = options;
    this.log = options.logger.child({ component: 'observability' });
    this.metrics = new CourierMetrics();
    this.ownsRedis = options.redis === undefined;
    this.redis = options.redis ?? createRedis(config.redis, { lazyConnect: true });
    if (this.ownsRedis) this.redis.on('error', () => {}); // reported through /readyz, not as unhandled errors
    this.filters =
      options.filters ??
      new AttemptFilters({
        redis: this.redis,
        keys: redisKeys(config.kafka.topicPrefix),
        retentionMs: config.kafka.attemptsRetentionMs,
      });
    this.admin = options.kafka.admin();
    const names = topicNames(config);
    this.probe = new BacklogProbe({ admin: this.admin, topics: names, groups: options.groups });
    const keys = redisKeys(config.kafka.topicPrefix);
    this.stats = new RollingStatsWriter({
      redis: this.redis,
      keys,
      bucketMs: statsBucketMs(config),
      retainMs: Math.max(
        config.alerts.thresholds.successWindowMs,
        config.alerts.thresholds.deadLetterWindowMs,
      ),
      onError: (err) => this.log.debug({ err }, 'rolling counters not written'),
    });
    this.alerts = new AlertEvaluator({
      config,
      redis: this.redis,
      keys,
      logger: options.logger,
      onState: (destination, alert, active) =>
        this.metrics.alertActive.set({ destination, alert }, active ? 1 : 0),
    });
    this.control = new DestinationControl({ redis: this.redis, keys: redisKeys(config.kafka.topicPrefix) });
    for (const d of config.destinations) this.metrics.registerDestination(d.id, requestTimeout(d).timeoutMs);
    if (options.clusterWorker) clusterWorkerRegistries([this.metrics.registry]);
  }

  /**
   * Takes a reloaded configuration: series for added destinations start at zero, those of removed
   * ones are dropped, and probes, alerts and the status page read the new one from now on.
   */
  async setConfig(next: CourierConfig): Promise<void> {
    const before = new Map(this.options.config.destinations.map((d) => [d.id, d]));
    const after = new Set(next.destinations.map((d) => d.id));
    for (const d of next.destinations) {
      const old = before.get(d.id);
      if (!old) this.metrics.registerDestination(d.id, requestTimeout(d).timeoutMs);
      else if (old.timeoutMs !== d.timeoutMs)
        this.metrics.timeout.set({ destination: d.id }, requestTimeout(d).timeoutMs / 1000);
    }
    for (const id of before.keys()) if (!after.has(id)) await this.metrics.forgetDestination(id);
    this.options.config = next;
    this.alerts.setConfig(next);
  }

  /** The bound port of the endpoint, when serving. */
  get port(): number | undefined {
    return this.server?.port;
  }

  async start(): Promise<void> {
    const { config } = this.options;
    this.unsubscribe = this.metrics.subscribe(this.options.events);
    this.stats.subscribe(this.options.events);
    this.stats.start();
    if (this.ownsRedis) this.redis.connect().catch(() => {});
    this.every(config.observability.probeIntervalMs, () => this.probeOnce().then(() => {}));
    this.every(config.alerts.evaluateIntervalMs, () => this.evaluateOnce());
    if (this.options.serve ?? (config.observability.enabled && !this.options.clusterWorker)) {
      this.server = new ObservabilityServer({
        host: config.observability.host,
        port: config.observability.port,
        logger: this.options.logger,
        metrics: this.options.scrape ?? (() => this.metrics.scrape()),
        readiness: () => this.readiness(),
        ...(config.observability.statusPage
          ? {
              pages: statusPages({
                config: () => this.options.config,
                kafka: this.options.kafka,
                admin: () => this.connectAdmin(),
                filters: this.filters,
                control: this.control,
                status: () => this.status(),
              }),
            }
          : {}),
        ...(config.observability.reloadEndpoint && this.options.reload
          ? { reload: this.options.reload }
          : {}),
      });
      await this.server.start();
    }
  }

  async stop(): Promise<void> {
    this.stopping = true;
    for (const t of this.timers.splice(0)) clearInterval(t);
    await this.server?.stop();
    // A probe may be waiting on Kafka's retries (a missing topic): wait a little, not for them.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([...this.running]),
      new Promise((resolve) => {
        timer = setTimeout(resolve, 2000);
      }),
    ]);
    clearTimeout(timer);
    this.unsubscribe?.();
    await this.stats.stop();
    await this.admin.disconnect().catch(() => {});
    if (this.ownsRedis) this.redis.disconnect();
  }

  /** Runs `task` now and then every `ms`, never two at once. */
  private every(ms: number, task: () => Promise<void>): void {
    let running = false;
    const tick = () => {
      if (running || this.stopping) return;
      running = true;
      const run = task()
        .catch((err) => this.log.debug({ err }, 'observability task failed'))
        .finally(() => {
          running = false;
          this.running.delete(run);
        });
      this.running.add(run);
    };
    const timer = setInterval(tick, ms);
    timer.unref();
    this.timers.push(timer);
    setImmediate(tick);
  }

  /** One connection attempt at a time; a failed one is retried by the next caller. */
  private connectAdmin(): Promise<Admin> {
    this.adminConnecting ??= this.admin.connect().then(
      () => this.admin,
      (err: unknown) => {
        this.adminConnecting = undefined;
        throw err;
      },
    );
    return this.adminConnecting;
  }

  /** Reads offsets and shared pause state into the gauges. */
  async probeOnce(): Promise<BacklogSnapshot> {
    const { config } = this.options;
    await this.connectAdmin();
    const ids = config.destinations.map((d) => d.id);
    const snapshot = await this.probe.read(ids, config.retryTiers);
    this.backlog = { at: Date.now(), snapshot };
    for (const [destination, b] of snapshot.destinations) {
      this.metrics.lag.set({ destination }, b.lag);
      this.metrics.oldestAge.set({ destination }, b.oldestAgeMs / 1000);
      this.metrics.dlqDepth.set({ destination }, b.dlqDepth);
    }
    for (const [tier, n] of snapshot.retryTiers) this.metrics.retryBacklog.set({ tier }, n);
    const pauses = await Promise.all(ids.map((d) => this.control.state(d)));
    ids.forEach((d, i) => {
      const p = pauses[i];
      this.metrics.setPaused(d, p?.paused ? p.reason : undefined);
    });
    return snapshot;
  }

  /** The status view from shared state, reusing the last backlog read when it is fresh. */
  async status(): Promise<StatusReport> {
    await this.connectAdmin().catch(() => {});
    const fresh =
      this.backlog && Date.now() - this.backlog.at < this.options.config.observability.probeIntervalMs
        ? this.backlog.snapshot
        : undefined;
    return readStatus({
      config: this.options.config,
      redis: this.redis,
      probe: this.probe,
      ...(fresh ? { backlog: fresh } : {}),
    });
  }

  /** One alert evaluation (normally on the interval). */
  async evaluateOnce(): Promise<void> {
    await this.stats.flush();
    const report = await this.status();
    this.metrics.expiries(report);
    await this.alerts.evaluate(report);
  }

  async readiness(): Promise<Readiness> {
    const [redis, kafka, consumers] = await Promise.all([
      check(() => this.redis.ping(), 1000),
      check(() => this.connectAdmin().then((a) => a.describeCluster()), 3000),
      this.options.consumers ? Promise.resolve(this.options.consumers()) : undefined,
    ]);
    const checks: Readiness['checks'] = { redis, kafka, ...(consumers?.checks ?? {}) };
    return { ready: redis.ok && kafka.ok && (consumers?.ready ?? true), checks };
  }
}

/** Readiness of the roles' consumers (CourierApp.health()): all running, and start-up finished. Pure. */
export function consumerReadiness(
  consumers: ReadonlyArray<{ name: string; state: string; error?: string }>,
  started: boolean,
): Readiness {
  const checks: Readiness['checks'] = {};
  for (const c of consumers) {
    checks[c.name] =
      c.state === 'running'
        ? { ok: true }
        : { ok: false, detail: c.error ? `${c.state}: ${c.error}` : c.state };
  }
  if (!started) checks.lifecycle = { ok: false, detail: 'starting or stopping' };
  return { ready: started && consumers.every((c) => c.state === 'running'), checks };
}
