// The package's public entry (`import { CourierApp } from 'kafka-courier'`): run Courier inside
// your own process from a config object or file, provision its topics, and subscribe to its
// pipeline events. Everything not exported here is internal and may change between versions.

import type { CourierConfig } from './config/schema.ts';
import { ensureTopicsWith, type TopicReport } from './kafka/admin.ts';
import { createKafka } from './kafka/client.ts';
import { topicPlan } from './kafka/topics.ts';
import { createLogger, type Logger } from './telemetry/logger.ts';

export { CourierApp, type CourierAppOptions, groupIds, ROLES, type Role } from './app.ts';
export { type LoadOptions, loadConfig, parseConfig } from './config/load.ts';
export type { CourierConfig, DestinationConfig, RedisConfig, RetryPolicy } from './config/schema.ts';
export type { TlsConfig } from './config/tls.ts';
export {
  ConfigError,
  CourierError,
  InvalidEventError,
  type InvalidEventReason,
} from './errors.ts';
export type { TopicReport } from './kafka/admin.ts';
export type { AlertNotice } from './observability/alerts.ts';
export type { StatusReport, StatusRow } from './observability/destinationStatus.ts';
export { CourierMetrics, clusterScraper, clusterWorkerRegistries } from './observability/metrics.ts';
export type { Readiness } from './observability/server.ts';
export {
  type AttemptOutcome,
  type AttemptRecord,
  PipelineEmitter,
  type PipelineEvents,
} from './telemetry/events.ts';
export { createLogger, type Logger, type LoggerOptions } from './telemetry/logger.ts';
export { VERSION } from './version.ts';

/**
 * Creates the topics the config needs (what `courier topics` does), or with `create: false`
 * only checks them. Existing topics are compared, never altered; mismatches are in `problems`.
 */
export async function provisionTopics(
  config: CourierConfig,
  options: { logger?: Logger; create?: boolean } = {},
): Promise<TopicReport> {
  const kafka = createKafka(config, options.logger ?? createLogger({ level: 'warn' }));
  return ensureTopicsWith(kafka, topicPlan(config), { create: options.create ?? true });
}
