// The status pages the observability endpoint serves (`observability.statusPage`): the overview
// of every destination with its newest dead letters, the same as JSON, and one event's history
// (inspect) with the pauses of its destinations. Dead letters are read at most once per probe
// interval: each read is a short-lived consumer group.
import type { Admin, Kafka } from 'kafkajs';
import type { AttemptFilters } from '../attempts/attemptFilters.ts';
import { AttemptReader } from '../attempts/attemptReader.ts';
import { inspectEvent } from '../attempts/inspect.ts';
import type { CourierConfig } from '../config/schema.ts';
import { type DeadLetterEntry, latestDeadLetters } from '../dlq/deadLetters.ts';
import { topicNames } from '../kafka/topics.ts';
import type { DestinationControl } from '../redis/destinationControl.ts';
import type { StatusReport } from './destinationStatus.ts';
import type { ObservabilityServerOptions } from './server.ts';
import { renderEventPage, renderStatusPage } from './statusPage.ts';

export interface StatusPagesOptions {
  /** The configuration now (a reload changes it). */
  config: () => CourierConfig;
  kafka: Kafka;
  /** The endpoint's admin client, connected (one connection attempt at a time). */
  admin: () => Promise<Admin>;
  filters: AttemptFilters;
  control: DestinationControl;
  status: () => Promise<StatusReport>;
}

export function statusPages(options: StatusPagesOptions): NonNullable<ObservabilityServerOptions['pages']> {
  const deadLetters = new NewestDeadLetters(options);
  let reader: AttemptReader | undefined;
  return {
    overview: async () => {
      const config = options.config();
      const refreshSeconds = Math.max(2, Math.round(config.observability.probeIntervalMs / 1000));
      const report = await options.status();
      const withDeadLetters = report.destinations.filter((r) => r.dlqDepth > 0).map((r) => r.destination);
      return renderStatusPage(report, {
        refreshSeconds,
        successWindowMs: config.alerts.thresholds.successWindowMs,
        deadLetters: await deadLetters.of(withDeadLetters, 5),
      });
    },
    json: () => options.status(),
    event: async (eventId: string) => {
      const admin = eventId ? await options.admin() : undefined;
      const config = options.config();
      if (admin) {
        reader ??= new AttemptReader({
          kafka: options.kafka,
          admin,
          topic: topicNames(config).attempts,
          partitions: config.kafka.partitions.attempts,
          filters: options.filters,
          groupPrefix: `${config.kafka.topicPrefix}-status-page`,
        });
      }
      const found =
        reader && eventId ? await inspectEvent({ eventId, reader }) : { destinations: {}, attempts: [] };
      const paused: Record<string, string> = {};
      for (const d of Object.keys(found.destinations)) {
        const s = await options.control.state(d);
        if (s.paused) paused[d] = s.reason;
      }
      return renderEventPage(eventId, found, paused);
    },
  };
}

/** The newest dead letters of destinations, cached for a probe interval. */
class NewestDeadLetters {
  private readonly options: StatusPagesOptions;
  private cache: { key: string; at: number; value: Record<string, DeadLetterEntry[]> } | undefined;

  constructor(options: StatusPagesOptions) {
    this.options = options;
  }

  /** The newest `n` of each destination's dead letters (none when Kafka cannot be read). */
  async of(destinations: string[], n: number): Promise<Record<string, DeadLetterEntry[]>> {
    const config = this.options.config();
    const key = destinations.join(',');
    const cached = this.cache;
    if (cached && cached.key === key && Date.now() - cached.at < config.observability.probeIntervalMs) {
      return cached.value;
    }
    const names = topicNames(config);
    const admin = await this.options.admin().catch(() => undefined);
    if (!admin) return {};
    const entries = await Promise.all(
      destinations.map((d) =>
        latestDeadLetters({
          kafka: this.options.kafka,
          admin,
          topic: names.dlq(d),
          groupPrefix: `${config.kafka.topicPrefix}-status-page`,
          n,
        }).catch(() => []),
      ),
    );
    const value = Object.fromEntries(destinations.map((d, i) => [d, entries[i] ?? []]));
    this.cache = { key, at: Date.now(), value };
    return value;
  }
}
