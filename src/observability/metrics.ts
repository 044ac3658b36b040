// Prometheus metrics of one Courier process. Every series a destination owns carries a
// `destination` label. The counters and histograms subscribe to the pipeline's typed events (no
// counter is threaded through delivery logic); the gauges of shared state (lag, oldest undelivered
// age, DLQ depth, retry backlog, pause) are set from periodic probes. The registry is per process:
// with several cluster workers, the primary aggregates them (see `clusterWorkerRegistries`), and
// every gauge of shared state aggregates by `max`, not by sum, since each worker reads the same
// Kafka offsets and Redis keys.
import { AggregatorRegistry, Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { statusClass } from '../policy/failures.ts';
import type { AttemptRecord, PipelineEmitter, PipelineEvents } from '../telemetry/events.ts';
import { VERSION } from '../version.ts';
import type { StatusReport } from './destinationStatus.ts';

/** Request latency buckets in seconds: fast receivers to the longest timeout. */
const REQUEST_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
/** Produce→delivered buckets in seconds: the happy path to the end of a day-long retry budget. */
const END_TO_END_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 21_600, 86_400];

export const BREAKER_STATE = { closed: 0, 'half-open': 1, open: 2 } as const;

export interface MetricsOptions {
  /** Adds Node's process metrics (CPU, memory, event loop lag); on by default. */
  processMetrics?: boolean;
  now?: () => number;
}

export class CourierMetrics {
  readonly registry: Registry;
  private readonly now: () => number;
  private readonly unsubscribers: Array<() => void> = [];

  readonly attempts: Counter<'destination' | 'outcome' | 'status_class'>;
  readonly requestDuration: Histogram<'destination'>;
  readonly endToEnd: Histogram<'destination'>;
  readonly retries: Counter<'destination'>;
  readonly deadLetters: Counter<'destination' | 'error_class'>;
  readonly firstAttempts: Counter<'destination' | 'event_type' | 'result'>;
  readonly lag: Gauge<'destination'>;
  readonly oldestAge: Gauge<'destination'>;
  readonly dlqDepth: Gauge<'destination'>;
  readonly paused: Gauge<'destination' | 'reason'>;
  readonly breaker: Gauge<'destination'>;
  readonly rateLimitWaits: Counter<'destination'>;
  readonly rateLimitWaitSeconds: Counter<'destination'>;
  readonly routed: Counter<'destination'>;
  readonly filtered: Counter<'destination'>;
  readonly filterErrors: Counter<'destination' | 'reason'>;
  readonly unmatched: Counter;
  readonly invalid: Counter<'reason'>;
  readonly retryBacklog: Gauge<'tier'>;
  readonly forwarded: Counter<'destination'>;
  readonly alertActive: Gauge<'destination' | 'alert'>;
  readonly timeout: Gauge<'destination'>;
  readonly credentialExpiry: Gauge<'destination' | 'kind'>;
  readonly tlsNotAfter: Gauge<'destination'>;
  readonly redisStateLost: Counter;
  readonly reloadSuccessful: Gauge;
  readonly reloadSuccessAt: Gauge;
  readonly configInfo: Gauge<'version'>;
  private configVersion: string | undefined;
  private readonly pausedReason = new Map<string, string>();

  constructor(options: MetricsOptions = {}) {
    this.now = options.now ?? Date.now;
    this.registry = new Registry();
    const registers = [this.registry];
    this.attempts = new Counter({
      name: 'courier_attempts_total',
      help: 'Delivery attempts by outcome (delivered, retry, dlq, paused, duplicate-skipped) and HTTP status class (2xx…5xx, none when no response)',
      labelNames: ['destination', 'outcome', 'status_class'],
      registers,
    });
    this.requestDuration = new Histogram({
      name: 'courier_request_duration_seconds',
      help: 'HTTP request latency of delivery attempts (request sent to response or error)',
      labelNames: ['destination'],
      buckets: REQUEST_BUCKETS,
      registers,
    });
    this.endToEnd = new Histogram({
      name: 'courier_delivery_latency_seconds',
      help: "Produce→delivered latency: from the event's Kafka timestamp to the successful attempt",
      labelNames: ['destination'],
      buckets: END_TO_END_BUCKETS,
      registers,
    });
    this.retries = new Counter({
      name: 'courier_retries_scheduled_total',
      help: 'Retries scheduled onto a delay tier',
      labelNames: ['destination'],
      registers,
    });
    this.deadLetters = new Counter({
      name: 'courier_dead_letters_total',
      help: 'Messages written to the destination DLQ, by error class (permanent, exhausted, redirect, too-large…)',
      labelNames: ['destination', 'error_class'],
      registers,
    });
    this.firstAttempts = new Counter({
      name: 'courier_first_attempts_total',
      help: 'First delivery attempts by event type and result (success, failure); first-attempt success ratio = success / all',
      labelNames: ['destination', 'event_type', 'result'],
      registers,
    });
    this.lag = new Gauge({
      name: 'courier_consumer_lag_messages',
      help: "Messages on the destination topic not yet committed by the destination's consumer group",
      labelNames: ['destination'],
      aggregator: 'max',
      registers,
    });
    this.oldestAge = new Gauge({
      name: 'courier_oldest_undelivered_age_seconds',
      help: 'Age of the oldest message on the destination topic not yet committed (0 when caught up)',
      labelNames: ['destination'],
      aggregator: 'max',
      registers,
    });
    this.dlqDepth = new Gauge({
      name: 'courier_dlq_depth_messages',
      help: 'Dead letters not yet replayed (DLQ end offset minus the replay group committed offset)',
      labelNames: ['destination'],
      aggregator: 'max',
      registers,
    });
    this.paused = new Gauge({
      name: 'courier_destination_paused',
      help: 'Whether the destination is paused (1), labelled with the reason (operator, auth-rejected, forbidden, auth-revoked, gone, retry-after)',
      labelNames: ['destination', 'reason'],
      aggregator: 'max',
      registers,
    });
    this.breaker = new Gauge({
      name: 'courier_circuit_breaker_state',
      help: 'Circuit breaker state of the destination in this process: 0 closed, 1 half-open, 2 open',
      labelNames: ['destination'],
      aggregator: 'max',
      registers,
    });
    this.rateLimitWaits = new Counter({
      name: 'courier_rate_limit_waits_total',
      help: "Times a delivery waited for the destination's rate limit",
      labelNames: ['destination'],
      registers,
    });
    this.rateLimitWaitSeconds = new Counter({
      name: 'courier_rate_limit_wait_seconds_total',
      help: "Time spent waiting for the destination's rate limit",
      labelNames: ['destination'],
      registers,
    });
    this.routed = new Counter({
      name: 'courier_router_routed_total',
      help: 'Events the router fanned out to the destination',
      labelNames: ['destination'],
      registers,
    });
    this.filtered = new Counter({
      name: 'courier_router_filtered_total',
      help: "Events of a destination's types that its filter turned away",
      labelNames: ['destination'],
      registers,
    });
    this.filterErrors = new Counter({
      name: 'courier_router_filter_errors_total',
      help: "Events a destination's filter could not evaluate (not routed there), by reason (no_such_key, no_such_overload…)",
      labelNames: ['destination', 'reason'],
      registers,
    });
    this.unmatched = new Counter({
      name: 'courier_router_unmatched_total',
      help: 'Valid events no destination subscribes to',
      registers,
    });
    this.invalid = new Counter({
      name: 'courier_router_invalid_total',
      help: 'Events sent to the invalid-events topic, by reason',
      labelNames: ['reason'],
      registers,
    });
    this.retryBacklog = new Gauge({
      name: 'courier_retry_backlog_messages',
      help: 'Messages waiting on a retry delay tier (tier topic end offset minus the delay consumer committed offset)',
      labelNames: ['tier'],
      aggregator: 'max',
      registers,
    });
    this.forwarded = new Counter({
      name: 'courier_retry_forwarded_total',
      help: 'Retries the delay consumer forwarded back to the destination topic when due',
      labelNames: ['destination'],
      registers,
    });
    this.alertActive = new Gauge({
      name: 'courier_alert_active',
      help: 'Alerts Courier evaluates itself: 1 while active',
      labelNames: ['destination', 'alert'],
      aggregator: 'max',
      registers,
    });
    this.timeout = new Gauge({
      name: 'courier_destination_timeout_seconds',
      help: 'The request timeout a destination gets now: its timeoutMs, or with timeoutMs: auto the adapted value',
      labelNames: ['destination'],
      aggregator: 'max',
      registers,
    });
    this.credentialExpiry = new Gauge({
      name: 'courier_credential_expiry_timestamp_seconds',
      help: 'When a credential of the destination expires (Unix seconds), by kind: client-certificate, secret (secretsExpireAt), oauth2-token (replaced automatically)',
      labelNames: ['destination', 'kind'],
      aggregator: 'max',
      registers,
    });
    this.tlsNotAfter = new Gauge({
      name: 'courier_destination_tls_not_after_seconds',
      help: "When the destination's own HTTPS certificate expires (Unix seconds), as last seen in a handshake",
      labelNames: ['destination'],
      aggregator: 'max',
      registers,
    });
    this.redisStateLost = new Counter({
      name: 'courier_redis_state_lost_total',
      help: "Times this process noticed that Redis lost Courier's state (duplicates of earlier deliveries possible)",
      registers,
    });
    // Prometheus' own names for its reloads; with workers, one failed worker makes the machine 0.
    this.reloadSuccessful = new Gauge({
      name: 'courier_config_last_reload_successful',
      help: 'Whether the last configuration reload (or the start) succeeded: 1, or 0 after a failed or refused reload',
      aggregator: 'min',
      registers,
    });
    this.reloadSuccessAt = new Gauge({
      name: 'courier_config_last_reload_success_timestamp_seconds',
      help: 'When the running configuration was last applied (start or successful reload), Unix seconds',
      aggregator: 'max',
      registers,
    });
    this.configInfo = new Gauge({
      name: 'courier_config_info',
      help: 'The configuration version running (a hash of the destinations); with workers, the count of workers running it',
      labelNames: ['version'],
      aggregator: 'sum',
      registers,
    });
    new Gauge({
      name: 'courier_build_info',
      help: 'Courier version',
      labelNames: ['version'],
      aggregator: 'max',
      registers,
    }).set({ version: VERSION }, 1);
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });
  }

  /** Starts every series of the destination at zero, so dashboards and rules see it before traffic. */
  registerDestination(destination: string, timeoutMs?: number): void {
    if (timeoutMs !== undefined) this.timeout.set({ destination }, timeoutMs / 1000);
    for (const outcome of ['delivered', 'retry', 'dlq'])
      for (const cls of ['2xx', '4xx', '5xx', 'none']) {
        if ((outcome === 'delivered') !== (cls === '2xx')) continue;
        this.attempts.inc({ destination, outcome, status_class: cls }, 0);
      }
    this.requestDuration.zero({ destination });
    this.endToEnd.zero({ destination });
    this.retries.inc({ destination }, 0);
    this.routed.inc({ destination }, 0);
    this.filtered.inc({ destination }, 0);
    this.rateLimitWaits.inc({ destination }, 0);
    this.rateLimitWaitSeconds.inc({ destination }, 0);
    this.lag.set({ destination }, 0);
    this.oldestAge.set({ destination }, 0);
    this.dlqDepth.set({ destination }, 0);
    this.breaker.set({ destination }, BREAKER_STATE.closed);
    this.setPaused(destination, undefined);
  }

  /** Subscribes to the pipeline's events; returns the unsubscribe function. */
  subscribe(events: PipelineEmitter): () => void {
    const on = <K extends keyof PipelineEvents>(name: K, listener: (...args: PipelineEvents[K]) => void) => {
      // Node's typed EventEmitter cannot relate a generic key to its listener; the helper's own
      // signature keeps each call site typed.
      events.on(name, listener as never);
      this.unsubscribers.push(() => events.off(name, listener as never));
    };
    on('attempt', (a) => this.onAttempt(a));
    on('dlq', (d) => this.deadLetters.inc({ destination: d.destination, error_class: d.errorClass }));
    on('routed', (r) => {
      if (r.destinations.length === 0) this.unmatched.inc();
      for (const destination of r.destinations) this.routed.inc({ destination });
      for (const destination of r.filtered ?? []) this.filtered.inc({ destination });
    });
    on('filter-failed', (f) => this.filterErrors.inc({ destination: f.destination, reason: f.reason }));
    on('timeout-adapted', (t) => this.timeout.set({ destination: t.destination }, t.timeoutMs / 1000));
    on('invalid', (i) => this.invalid.inc({ reason: i.reason }));
    on('config-applied', (c) => this.configApplied(c.version, c.at));
    on('redis-state-lost', () => this.redisStateLost.inc());
    on('config-rejected', () => this.reloadSuccessful.set(0));
    on('breaker-open', (b) => this.breaker.set({ destination: b.destination }, BREAKER_STATE.open));
    on('breaker-half-open', (b) =>
      this.breaker.set({ destination: b.destination }, BREAKER_STATE['half-open']),
    );
    on('breaker-close', (b) => this.breaker.set({ destination: b.destination }, BREAKER_STATE.closed));
    on('paused', (p) => this.setPaused(p.destination, p.reason));
    on('resumed', (p) => this.setPaused(p.destination, undefined));
    on('forwarded', (f) => this.forwarded.inc({ destination: f.destination }, f.count));
    on('rate-limited', (r) => {
      this.rateLimitWaits.inc({ destination: r.destination });
      this.rateLimitWaitSeconds.inc({ destination: r.destination }, r.waitedMs / 1000);
    });
    return () => {
      for (const off of this.unsubscribers.splice(0)) off();
    };
  }

  private onAttempt(a: AttemptRecord): void {
    // A record rebuilt after a crash was counted by the process that made the attempt.
    if (a.rebuilt) return;
    const destination = a.destination;
    this.attempts.inc({ destination, outcome: a.outcome, status_class: statusClass(a.status) });
    if (a.outcome === 'duplicate-skipped') return;
    this.requestDuration.observe({ destination }, a.latencyMs / 1000);
    if (a.outcome === 'retry') this.retries.inc({ destination });
    if (a.outcome === 'delivered' && a.producedAt !== undefined) {
      const produced = Date.parse(a.producedAt);
      if (Number.isFinite(produced))
        this.endToEnd.observe({ destination }, Math.max(0, this.now() - produced) / 1000);
    }
    if (a.attempt === 1 && !a.replay) {
      this.firstAttempts.inc({
        destination,
        event_type: a.eventType ?? 'unknown',
        result: a.outcome === 'delivered' ? 'success' : 'failure',
      });
    }
  }

  /** The expiry gauges from a status view (credentials, and each destination's HTTPS certificate). */
  expiries(report: StatusReport): void {
    for (const row of report.destinations) {
      for (const c of row.credentials ?? [])
        this.credentialExpiry.set(
          { destination: row.destination, kind: c.kind },
          Math.floor(c.expiresAt / 1000),
        );
      if (row.tlsCertificate)
        this.tlsNotAfter.set(
          { destination: row.destination },
          Math.floor(row.tlsCertificate.notAfter / 1000),
        );
    }
  }

  /** A configuration version now runs (at start, or after a reload). */
  configApplied(version: string, at: number): void {
    this.reloadSuccessful.set(1);
    this.reloadSuccessAt.set(Math.floor(at / 1000));
    if (this.configVersion !== undefined && this.configVersion !== version)
      this.configInfo.remove({ version: this.configVersion });
    this.configVersion = version;
    this.configInfo.set({ version }, 1);
  }

  /** Drops every series of a destination a reload removed (they would report its last values forever). */
  async forgetDestination(destination: string): Promise<void> {
    for (const metric of this.registry.getMetricsAsArray()) {
      const labelled = metric as unknown as {
        get(): Promise<{ values: Array<{ labels: Record<string, string | number> }> }>;
        remove(labels: Record<string, string | number>): void;
      };
      const { values } = await labelled.get();
      for (const { labels } of values) {
        if (labels.destination !== destination) continue;
        const { le: _bucket, ...own } = labels;
        labelled.remove(own);
      }
    }
    this.pausedReason.delete(destination);
  }

  /** One paused series per destination: the current reason at 1, or reason="" at 0 when running. */
  setPaused(destination: string, reason: string | undefined): void {
    const before = this.pausedReason.get(destination);
    if (before !== undefined) this.paused.remove({ destination, reason: before });
    this.pausedReason.set(destination, reason ?? '');
    this.paused.set({ destination, reason: reason ?? '' }, reason === undefined ? 0 : 1);
  }

  async scrape(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}

/**
 * In a `node:cluster` worker: answer the primary's aggregation requests with these registries
 * (prom-client's AggregatorRegistry otherwise reads only its global registry).
 */
export function clusterWorkerRegistries(registries: Registry[]): void {
  // Constructing one installs prom-client's worker-side listener (once per process).
  new AggregatorRegistry();
  AggregatorRegistry.setRegistries(registries);
}

/**
 * In the cluster primary: one scrape of every worker's registry, counters and histograms summed,
 * gauges of shared state taken at their maximum.
 */
export function clusterScraper(): () => Promise<{ contentType: string; body: string }> {
  const aggregator = new AggregatorRegistry();
  return async () => ({ contentType: aggregator.contentType, body: await aggregator.clusterMetrics() });
}
