// Which alerts hold for a destination, from its status row and the thresholds. Pure: the alert
// evaluator decides, Redis deduplicates across instances, the notifier delivers.
import type { AlertThresholds } from '../config/schema.ts';
import { shouldWarn } from '../credentials/expiry.ts';
import { pauseNeedsOwner } from '../policy/failures.ts';
import { atRetentionRisk } from '../policy/retention.ts';
import type { StatusRow } from './destinationStatus.ts';

/** Stable alert codes: the `alert` field of the log line and of the operator webhook. */
export const ALERT_CODES = [
  'destination-paused',
  'circuit-open',
  'dead-letters',
  'success-rate-low',
  'delivery-stalled',
  'backlog-old',
  'retention-risk',
  'credential-expiring',
  'tls-certificate-expiring',
  'redis-state-lost',
] as const;
export type AlertCode = (typeof ALERT_CODES)[number];

export interface AlertCondition {
  code: AlertCode;
  active: boolean;
  /** One line for humans; no secret or header value. */
  summary: string;
}

export function evaluateAlerts(
  row: StatusRow,
  t: AlertThresholds & { retentionMs: number },
  now: number,
): AlertCondition[] {
  // A pause that waits for the destination's owner (credentials, an endpoint gone), not patience.
  const paused = row.pause !== undefined && pauseNeedsOwner(row.pause.reason);
  const circuitFor =
    row.circuit?.state === 'open' || row.circuit?.state === 'half-open'
      ? now - Date.parse(row.circuit.since)
      : 0;
  const pendingFor = row.pendingSince ? now - Date.parse(row.pendingSince) : 0;
  const judged = row.successRate !== undefined ? row.attempts : 0;
  const percent = row.successRate === undefined ? '' : `${(row.successRate * 100).toFixed(1)} %`;
  const expiring = (row.credentials ?? []).filter((c) => shouldWarn(c, now, row.credentialWarningDays ?? 14));
  const cert = row.tlsCertificate;
  const certDue = cert !== undefined && cert.notAfter - now <= (row.tlsWarningDays ?? 14) * 86_400_000;
  return [
    {
      code: 'destination-paused',
      active: paused,
      summary: `${row.destination} is paused: ${row.reason ?? row.pause?.reason ?? ''}; fix the credentials or endpoint, then resume it`,
    },
    {
      code: 'circuit-open',
      active: circuitFor > t.circuitOpenMs,
      summary: `${row.destination}: circuit open for ${seconds(circuitFor)}`,
    },
    {
      code: 'dead-letters',
      active: row.deadLettersInWindow > 0,
      summary: `${row.destination}: ${row.deadLettersInWindow} dead letter(s) in the last ${seconds(t.deadLetterWindowMs)}; DLQ depth ${row.dlqDepth}`,
    },
    {
      code: 'success-rate-low',
      active:
        row.successRate !== undefined && judged >= t.successMinAttempts && row.successRate < t.successRate,
      summary: `${row.destination}: success ${percent} over ${seconds(t.successWindowMs)} (threshold ${(t.successRate * 100).toFixed(1)} %)`,
    },
    {
      code: 'delivery-stalled',
      active: !paused && pendingFor >= t.stalledMs,
      summary: `${row.destination}: nothing delivered for ${seconds(pendingFor)} while events wait`,
    },
    {
      code: 'backlog-old',
      active: row.oldestUndeliveredMs > t.oldestUndeliveredMs,
      summary: `${row.destination}: oldest undelivered message is ${seconds(row.oldestUndeliveredMs)} old`,
    },
    {
      code: 'retention-risk',
      active: row.oldestUndeliveredMs > 0 && atRetentionRisk(row.oldestUndeliveredMs, t.retentionMs),
      summary: `${row.destination}: oldest undelivered message (${seconds(row.oldestUndeliveredMs)}) is past half the topic retention; Kafka deletes it at ${seconds(t.retentionMs)}`,
    },
    {
      code: 'credential-expiring',
      active: expiring.length > 0,
      summary: `${row.destination}: ${expiring
        .map(
          (c) =>
            `${c.kind} ${c.expiresAt > now ? 'expires' : 'expired'} ${new Date(c.expiresAt).toISOString()} (${c.daysLeft} day(s) left)`,
        )
        .join('; ')}: renew it before deliveries fail`,
    },
    {
      code: 'tls-certificate-expiring',
      active: certDue,
      summary: cert
        ? `${row.destination}: its HTTPS certificate (${cert.subject}; issuer ${cert.issuer}) ${cert.notAfter > now ? 'expires' : 'expired'} ${new Date(cert.notAfter).toISOString()} (${cert.daysLeft} day(s) left): every delivery fails from then on until its owner renews it`
        : '',
    },
  ];
}

/** How long `redis-state-lost` stays active after the loss was noticed (then it resolves). */
export const STATE_LOST_ALERT_MS = 3_600_000;

/** Alerts about Courier itself rather than one destination. Pure. */
export function evaluateGlobalAlerts(
  report: { redisStateLostAt?: string },
  idempotencyWindowMs: number,
  now: number,
): AlertCondition[] {
  const lostAt = report.redisStateLostAt ? Date.parse(report.redisStateLostAt) : undefined;
  return [
    {
      code: 'redis-state-lost',
      active: lostAt !== undefined && now - lostAt < STATE_LOST_ALERT_MS,
      summary: `Courier's Redis lost its data at ${report.redisStateLostAt ?? '?'} (an empty replica after a failover, FLUSHALL, eviction): events delivered before then may be delivered again if they are read again within the idempotency window (${seconds(idempotencyWindowMs)}); pauses, Retry-After waits and cached tokens were reset, and inspect does not find events recorded before. Deliveries go on.`,
    },
  ];
}

function seconds(ms: number): string {
  if (ms >= 3_600_000) return `${(ms / 3_600_000).toFixed(1)} h`;
  if (ms >= 60_000) return `${(ms / 60_000).toFixed(1)} min`;
  return `${(ms / 1000).toFixed(1)} s`;
}
