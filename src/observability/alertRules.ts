// Which alerts hold for a destination, from its status row and the thresholds. Pure: the alert
// evaluator decides, Redis deduplicates across instances, the notifier delivers.
import type { AlertThresholds } from '../config/schema.ts';
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
  ];
}

function seconds(ms: number): string {
  if (ms >= 3_600_000) return `${(ms / 3_600_000).toFixed(1)} h`;
  if (ms >= 60_000) return `${(ms / 60_000).toFixed(1)} min`;
  return `${(ms / 1000).toFixed(1)} s`;
}
