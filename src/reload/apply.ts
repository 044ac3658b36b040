// Applying a reloaded configuration (validated, and with no restart-only change: see reloader.ts)
// to the parts of a running app. Added destinations get their topics first; the router switches
// at its next batch (events for an added destination wait in its topic for its actor, a removed
// one gets no new events while its actor finishes); the deliver role's fleet starts, updates or
// stops destinations; the credential monitor, the operator surface and the record of the running
// configuration follow. Nothing else is touched: other destinations' consumers keep their group
// membership and their in-flight sends.
import type { Kafka } from 'kafkajs';
import { type ConfigDiff, configVersion } from '../config/diff.ts';
import type { CourierConfig } from '../config/schema.ts';
import type { CredentialMonitor } from '../credentials/health.ts';
import type { DestinationFleet } from '../delivery/fleet.ts';
import { CourierError } from '../errors.ts';
import { ensureTopicsWith } from '../kafka/admin.ts';
import { topicNames, topicPlan } from '../kafka/topics.ts';
import type { Observability } from '../observability/observability.ts';
import type { ConfigStore } from '../redis/configStore.ts';
import type { Router } from '../router/router.ts';
import type { Logger } from '../telemetry/logger.ts';

/** The running parts a reload reaches; those of roles this process does not run are absent. */
export interface ReloadableParts {
  kafka: Kafka;
  logger: Logger;
  configStore: ConfigStore;
  router?: Router | undefined;
  fleet?: DestinationFleet | undefined;
  monitor?: CredentialMonitor | undefined;
  observability?: Observability | undefined;
}

/** Applies `next`; throws RELOAD_INCOMPLETE naming what failed, after applying the rest. */
export async function applyReload(
  parts: ReloadableParts,
  next: CourierConfig,
  diff: ConfigDiff,
): Promise<void> {
  const { router, fleet } = parts;
  if (diff.added.length > 0 && (router || fleet)) await createDestinationTopics(parts, next, diff.added);
  if (!diff.empty) await router?.setDestinations(next.destinations, configVersion(next));
  const problems = fleet ? await fleet.apply(next, diff) : [];
  if (fleet) parts.monitor?.setDestinations(fleet.watched());
  await parts.observability?.setConfig(next);
  await publishConfig(parts, next);
  if (problems.length > 0) {
    throw new CourierError('RELOAD_INCOMPLETE', `applied, except: ${problems.join('; ')}`);
  }
}

/** Records the running configuration in Redis for `courier config diff`; a failure only warns. */
export async function publishConfig(
  parts: Pick<ReloadableParts, 'configStore' | 'logger'>,
  config: CourierConfig,
): Promise<void> {
  await parts.configStore
    .publish(config)
    .catch((err) => parts.logger.warn({ err }, 'running configuration not recorded in Redis'));
}

/** Creates the topics of added destinations, as `courier topics` would. */
async function createDestinationTopics(parts: ReloadableParts, config: CourierConfig, ids: string[]) {
  const names = topicNames(config);
  const wanted = new Set(ids.flatMap((id) => [names.dest(id), names.dlq(id)]));
  const report = await ensureTopicsWith(
    parts.kafka,
    topicPlan(config).filter((t) => wanted.has(t.topic)),
    { create: true },
  );
  if (report.created.length > 0) parts.logger.info({ topics: report.created }, 'topics created');
}
