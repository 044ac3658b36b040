// Alerts evaluated by Courier: every interval, each destination's status row is checked against
// the thresholds (alertRules.ts); the state of each alert lives in Redis, changed by one Lua
// script, so several instances send one notice, not one each. A notice goes to the log (an
// error-level line with a stable `alert` code) and to the operator webhooks — the global one and
// the destination's own — signed like deliveries (Standard Webhooks).
import { randomUUID } from 'node:crypto';
import type { CourierConfig } from '../config/schema.ts';
import { sign } from '../net/signer.ts';
import type { CourierRedis } from '../redis/client.ts';
import type { RedisKeys } from '../redis/keys.ts';
import type { Logger } from '../telemetry/logger.ts';
import { VERSION } from '../version.ts';
import { type AlertCode, type AlertCondition, evaluateAlerts, evaluateGlobalAlerts } from './alertRules.ts';

/** The key under which alerts about Courier itself (not one destination) keep their state. */
const GLOBAL = '_courier';

import type { StatusReport, StatusRow } from './destinationStatus.ts';

export interface AlertNotice {
  /** Unique per notice; also the `webhook-id` of the operator webhook. */
  id: string;
  type: 'courier.alert.firing' | 'courier.alert.repeat' | 'courier.alert.resolved';
  alert: AlertCode;
  /** The destination it is about; absent for an alert about Courier itself (`redis-state-lost`). */
  destination?: string;
  summary: string;
  /** When the alert fired (ISO-8601). */
  since: string;
  at: string;
  status?: Pick<
    StatusRow,
    | 'state'
    | 'reason'
    | 'successRate'
    | 'backlog'
    | 'oldestUndeliveredMs'
    | 'dlqDepth'
    | 'deadLettersInWindow'
  >;
}

export interface AlertEvaluatorOptions {
  config: CourierConfig;
  redis: CourierRedis;
  keys: RedisKeys;
  logger: Logger;
  /** Sets the active-alert gauge. */
  onState?: (destination: string, code: AlertCode, active: boolean) => void;
  now?: () => number;
  fetch?: typeof fetch;
}

const ACTION_TYPE = {
  fire: 'courier.alert.firing',
  repeat: 'courier.alert.repeat',
  resolve: 'courier.alert.resolved',
} as const;

export class AlertEvaluator {
  private readonly options: AlertEvaluatorOptions;
  private readonly redis: CourierRedis;
  private readonly log: Logger;
  private readonly now: () => number;

  constructor(options: AlertEvaluatorOptions) {
    this.options = options;
    this.redis = options.redis;
    this.log = options.logger.child({ component: 'alerts' });
    this.now = options.now ?? Date.now;
  }

  /** Alerts by a reloaded configuration (thresholds, operator webhooks) from the next evaluation on. */
  setConfig(next: CourierConfig): void {
    this.options.config = next;
  }

  /** Evaluates every destination of the report; returns the notices this instance sent. */
  async evaluate(report: StatusReport): Promise<AlertNotice[]> {
    const { config } = this.options;
    const thresholds = { ...config.alerts.thresholds, retentionMs: config.kafka.retentionMs };
    const now = this.now();
    const sent: AlertNotice[] = [];
    for (const row of report.destinations) {
      const conditions = evaluateAlerts(row, thresholds, now);
      // Offsets unreadable: say nothing about backlog alerts rather than resolve them falsely.
      const judged = report.backlogError
        ? conditions.filter((c) => c.code !== 'backlog-old' && c.code !== 'retention-risk')
        : conditions;
      for (const condition of judged) {
        this.options.onState?.(row.destination, condition.code, condition.active);
        const [action, since] = await this.redis.alertTransition(
          this.options.keys.alert(row.destination, condition.code),
          condition.active ? '1' : '0',
          now,
          config.alerts.repeatMs,
          86_400_000,
          report.observedAt,
          // Two evaluations in a row must see it clear before it resolves.
          2 * config.alerts.evaluateIntervalMs,
        );
        if (action === 'none') continue;
        const notice = this.notice(row, condition, action as keyof typeof ACTION_TYPE, since, now);
        await this.send(notice);
        sent.push(notice);
      }
    }
    for (const condition of evaluateGlobalAlerts(report, config.idempotency.windowMs, now)) {
      this.options.onState?.('', condition.code, condition.active);
      const [action, since] = await this.redis.alertTransition(
        this.options.keys.alert(GLOBAL, condition.code),
        condition.active ? '1' : '0',
        now,
        config.alerts.repeatMs,
        86_400_000,
        report.observedAt,
        2 * config.alerts.evaluateIntervalMs,
      );
      if (action === 'none') continue;
      const notice: AlertNotice = {
        id: `alert_${randomUUID()}`,
        type: ACTION_TYPE[action as keyof typeof ACTION_TYPE],
        alert: condition.code,
        summary: condition.summary,
        since: new Date(since).toISOString(),
        at: new Date(now).toISOString(),
      };
      await this.send(notice);
      sent.push(notice);
    }
    return sent;
  }

  private notice(
    row: StatusRow,
    condition: AlertCondition,
    action: keyof typeof ACTION_TYPE,
    since: number,
    now: number,
  ): AlertNotice {
    return {
      id: `alert_${randomUUID()}`,
      type: ACTION_TYPE[action],
      alert: condition.code,
      destination: row.destination,
      summary: condition.summary,
      since: new Date(since).toISOString(),
      at: new Date(now).toISOString(),
      status: {
        state: row.state,
        ...(row.reason ? { reason: row.reason } : {}),
        ...(row.successRate === undefined ? {} : { successRate: row.successRate }),
        backlog: row.backlog,
        oldestUndeliveredMs: row.oldestUndeliveredMs,
        dlqDepth: row.dlqDepth,
        deadLettersInWindow: row.deadLettersInWindow,
      },
    };
  }

  private async send(notice: AlertNotice): Promise<void> {
    const fields: Record<string, string> = {
      alert: notice.alert,
      ...(notice.destination ? { destination: notice.destination } : {}),
      type: notice.type,
      since: notice.since,
    };
    if (notice.type === 'courier.alert.resolved') this.log.warn(fields, `ALERT resolved: ${notice.summary}`);
    else this.log.error(fields, `ALERT ${notice.alert}: ${notice.summary}`);
    const { config } = this.options;
    const urls = new Set<string>();
    if (config.alerts.url) urls.add(config.alerts.url);
    const own = config.destinations.find((d) => d.id === notice.destination)?.alerts?.url;
    if (own) urls.add(own);
    if (urls.size === 0 || !config.alerts.secret) return;
    const body = JSON.stringify(notice);
    await Promise.all(
      [...urls].map((url) => this.post(url, body, notice.id, config.alerts.secret as string, fields)),
    );
  }

  private async post(
    url: string,
    body: string,
    id: string,
    secret: string,
    fields: Record<string, string>,
  ): Promise<void> {
    const doFetch = this.options.fetch ?? fetch;
    for (let attempt = 1; attempt <= 3; attempt++) {
      const timestampSeconds = Math.floor(this.now() / 1000);
      try {
        const response = await doFetch(url, {
          method: 'POST',
          redirect: 'manual',
          signal: AbortSignal.timeout(5000),
          headers: {
            'content-type': 'application/json',
            'user-agent': `courier/${VERSION}`,
            'webhook-id': id,
            'webhook-timestamp': String(timestampSeconds),
            'webhook-signature': sign({ id, timestampSeconds, body, secrets: [secret] }),
          },
          body,
        });
        await response.body?.cancel();
        if (response.ok) return;
        this.log.warn({ ...fields, status: response.status, attempt }, 'operator webhook refused the alert');
      } catch (err) {
        this.log.warn({ ...fields, errorCode: (err as Error).name, attempt }, 'operator webhook unreachable');
      }
      if (attempt < 3) await new Promise((r) => setTimeout(r, 500 * attempt));
    }
  }
}
