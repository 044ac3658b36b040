// One row per destination — state, rate, success, latency, backlog, DLQ depth, last error — built
// only from shared state (Redis pause and rolling counters, Kafka offsets), so `courier status`,
// the status page and the alert evaluator see the same thing from any machine. `statusRow` is the
// pure part.
import type { Cluster, Redis } from 'ioredis';
import { requestTimeout } from '../config/destination.ts';
import type { CourierConfig } from '../config/schema.ts';
import { type CredentialHealthEntry, daysLeft } from '../credentials/expiry.ts';
import { credentialHealth } from '../credentials/health.ts';
import { suggestedTimeout } from '../policy/timeouts.ts';
import type { CourierRedis } from '../redis/client.ts';
import { DestinationControl, type PauseState } from '../redis/destinationControl.ts';
import { redisKeys } from '../redis/keys.ts';
import { StateMarker } from '../redis/stateMarker.ts';
import { type SeenCertificate, TlsCertificates } from '../redis/tlsCertificates.ts';
import type { BacklogProbe, BacklogSnapshot, DestinationBacklog } from './backlog.ts';
import { type LastError, quantileMs, readRollingStats, type WindowStats } from './rollingStats.ts';

export type DestinationHealth = 'healthy' | 'degraded' | 'paused' | 'circuit-open';

export interface StatusRow {
  destination: string;
  state: DestinationHealth;
  /** Why it is paused or degraded. */
  reason?: string;
  deliveriesPerMinute: number;
  /** Delivered / (delivered + failed) over the success window; undefined without attempts. */
  successRate?: number;
  attempts: number;
  p50Ms?: number;
  p99Ms?: number;
  p999Ms?: number;
  /** The request timeout now: the configured one, or the adapted one with `timeoutMs: auto`. */
  timeoutMs?: number;
  /** What the observed tail suggests (3 × p99, 1.5 × p99.9, at least p99.9 + 100 ms; 1 s to 5 min). */
  suggestedTimeoutMs?: number;
  backlog: number;
  oldestUndeliveredMs: number;
  dlqDepth: number;
  deadLettersInWindow: number;
  lastError?: LastError;
  lastDeliveredAt?: string;
  /** Events routed since the last delivery, the first of them at this time. */
  pendingSince?: string;
  circuit?: { state: string; since: string };
  pause?: { reason: string; detail?: string; until?: string };
  /** Every known credential expiry (client certificate, `secretsExpireAt`, the OAuth2 token). */
  credentials?: CredentialHealthEntry[];
  credentialWarningDays?: number;
  /** The destination's HTTPS certificate as last seen in a handshake. */
  tlsCertificate?: SeenCertificate & { daysLeft: number };
  tlsWarningDays?: number;
}

export interface StatusInputs {
  destination: string;
  /** The configured timeout and its bounds when adaptive. */
  timeout?: { timeoutMs: number; autoTimeout?: { minMs: number; maxMs: number } };
  pause: PauseState;
  stats: WindowStats;
  backlog?: DestinationBacklog;
  successThreshold: number;
  stalledMs: number;
  now: number;
}

/** The row of one destination from its shared state. Pure. */
export function statusRow(i: StatusInputs): StatusRow {
  const { stats, backlog, pause, now } = i;
  const judged = stats.delivered + stats.failed;
  const successRate = judged > 0 ? stats.delivered / judged : undefined;
  const p50 = quantileMs(stats.latency, 0.5);
  const p99 = quantileMs(stats.latency, 0.99);
  const p999 = quantileMs(stats.latency, 0.999);
  const bounds = i.timeout?.autoTimeout ?? { minMs: 1000, maxMs: 300_000 };
  const timeoutNow = i.timeout
    ? i.timeout.autoTimeout
      ? (stats.adaptedTimeoutMs ?? i.timeout.timeoutMs)
      : i.timeout.timeoutMs
    : undefined;
  const row: StatusRow = {
    destination: i.destination,
    state: 'healthy',
    deliveriesPerMinute: round(stats.deliveredPerMinute, 1),
    ...(successRate === undefined ? {} : { successRate: round(successRate, 4) }),
    attempts: stats.attempts,
    ...(p50 === undefined ? {} : { p50Ms: Math.round(p50) }),
    ...(p99 === undefined ? {} : { p99Ms: Math.round(p99) }),
    ...(p999 === undefined ? {} : { p999Ms: Math.round(p999) }),
    ...(timeoutNow === undefined ? {} : { timeoutMs: timeoutNow }),
    ...(p99 === undefined || p999 === undefined
      ? {}
      : { suggestedTimeoutMs: suggestedTimeout(p99, p999, bounds) }),
    backlog: backlog?.lag ?? 0,
    oldestUndeliveredMs: backlog?.oldestAgeMs ?? 0,
    dlqDepth: backlog?.dlqDepth ?? 0,
    deadLettersInWindow: stats.deadLetters,
    ...(stats.lastError ? { lastError: stats.lastError } : {}),
    ...(stats.lastDeliveredAt ? { lastDeliveredAt: new Date(stats.lastDeliveredAt).toISOString() } : {}),
    ...(isPending(stats) ? { pendingSince: new Date(stats.pendingSince as number).toISOString() } : {}),
  };
  if (stats.breaker && stats.breaker.state !== 'closed') {
    row.circuit = { state: stats.breaker.state, since: new Date(stats.breaker.since).toISOString() };
  }
  if (pause.paused) {
    row.pause = {
      reason: pause.reason,
      ...(pause.detail ? { detail: pause.detail } : {}),
      ...(pause.until ? { until: new Date(pause.until).toISOString() } : {}),
    };
    row.state = 'paused';
    row.reason = pause.detail ? `${pause.reason} (${pause.detail})` : pause.reason;
  } else if (row.circuit?.state === 'open') {
    row.state = 'circuit-open';
    row.reason = `circuit open since ${row.circuit.since}`;
  } else if (successRate !== undefined && successRate < i.successThreshold) {
    row.state = 'degraded';
    row.reason = `success ${(successRate * 100).toFixed(1)} %`;
  } else if (isPending(stats) && now - (stats.pendingSince as number) >= i.stalledMs) {
    row.state = 'degraded';
    row.reason = 'no delivery while events wait';
  }
  return row;
}

function timeoutOf(config: CourierConfig, id: string): StatusInputs['timeout'] {
  const d = config.destinations.find((x) => x.id === id);
  if (!d) return undefined;
  const t = requestTimeout(d);
  return { timeoutMs: t.timeoutMs, ...(t.auto ? { autoTimeout: t.auto } : {}) };
}

/** Events were routed after the last delivery (a late router flush is not mistaken for one). */
export function isPending(stats: WindowStats): boolean {
  return stats.pendingSince !== undefined && stats.pendingSince > (stats.lastDeliveredAt ?? 0);
}

function round(n: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

/** Bucket size of the rolling counters: a sixtieth of the success window (1 min by default). */
export function statsBucketMs(config: Pick<CourierConfig, 'alerts'>): number {
  return Math.max(100, Math.floor(config.alerts.thresholds.successWindowMs / 60));
}

export interface StatusReport {
  at: string;
  /** When Courier last noticed that Redis lost its state (ISO-8601), if it ever did. */
  redisStateLostAt?: string;
  /** The moment (ms) the oldest part of this view was read: alert state ignores older views. */
  observedAt: number;
  destinations: StatusRow[];
  retryBacklog: Record<string, number>;
  /** Set when Kafka offsets could not be read: backlog figures are missing. */
  backlogError?: string;
}

/** Reads every destination's row from Redis and Kafka offsets. */
export async function readStatus(options: {
  config: CourierConfig;
  redis: Redis | Cluster;
  probe: BacklogProbe;
  now?: number;
  /** A backlog read moments ago (the metrics probe's), instead of reading offsets again. */
  backlog?: BacklogSnapshot;
}): Promise<StatusReport> {
  const { config, redis } = options;
  const now = options.now ?? Date.now();
  const ids = config.destinations.map((d) => d.id);
  const control = new DestinationControl({
    redis: redis as CourierRedis,
    keys: redisKeys(config.kafka.topicPrefix),
  });
  let backlogError: string | undefined;
  const keys = redisKeys(config.kafka.topicPrefix);
  const certificates = new TlsCertificates(redis as CourierRedis, keys);
  const [pauses, stats, backlog, credentials, tls, lostAt] = await Promise.all([
    Promise.all(ids.map((d) => control.state(d, now))),
    readRollingStats({
      redis,
      keys: redisKeys(config.kafka.topicPrefix),
      destinations: ids,
      bucketMs: statsBucketMs(config),
      windowMs: config.alerts.thresholds.successWindowMs,
      now,
    }),
    options.backlog ??
      options.probe.read(ids, config.retryTiers).catch((err: Error) => {
        backlogError = err.message;
        return undefined;
      }),
    credentialHealth(config, redis as CourierRedis, now),
    Promise.all(ids.map((d) => certificates.read(d))),
    new StateMarker(redis as CourierRedis, keys).lostAt(),
  ]);
  const t = config.alerts.thresholds;
  const extra = (destination: string, i: number): Partial<StatusRow> => {
    const d = config.destinations.find((x) => x.id === destination);
    const cert = tls[i];
    return {
      ...(credentials[destination]?.length ? { credentials: credentials[destination] } : {}),
      ...(d ? { credentialWarningDays: d.credentialWarningDays, tlsWarningDays: d.tlsWarningDays } : {}),
      ...(cert ? { tlsCertificate: { ...cert, daysLeft: daysLeft(cert.notAfter, now) } } : {}),
    };
  };
  return {
    at: new Date(now).toISOString(),
    ...(lostAt === undefined ? {} : { redisStateLostAt: new Date(lostAt).toISOString() }),
    observedAt: Math.min(now, backlog?.at ?? now),
    destinations: ids.map((destination, i) => ({
      ...statusRow({
        destination,
        timeout: timeoutOf(config, destination),
        pause: pauses[i] as PauseState,
        stats: stats.get(destination) as WindowStats,
        ...(backlog?.destinations.get(destination) ? { backlog: backlog.destinations.get(destination) } : {}),
        successThreshold: t.successRate,
        stalledMs: t.stalledMs,
        now,
      }),
      ...extra(destination, i),
    })),
    retryBacklog: Object.fromEntries(backlog?.retryTiers ?? []),
    ...(backlogError ? { backlogError } : {}),
  };
}
