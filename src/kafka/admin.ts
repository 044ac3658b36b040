// Creates or checks the topics of the plan, idempotently: missing topics are created; existing
// ones are compared (partitions, retention) and every mismatch is reported.
import type { Admin, Kafka } from 'kafkajs';
import { TopicsMissingError } from '../errors.ts';
import type { Logger } from '../telemetry/logger.ts';
import type { TopicSpec } from './topics.ts';

export interface TopicReport {
  created: string[];
  /** Topics of the plan that do not exist and were not created (`create: false`). */
  missing: string[];
  verified: string[];
  problems: string[];
}

const TOPIC_RESOURCE = 2; // kafkajs ConfigResourceTypes.TOPIC

/** Fails with TopicsMissingError naming every topic of `plan` that does not exist; warns of mismatches. */
export async function requireTopics(kafka: Kafka, plan: TopicSpec[], logger: Logger): Promise<void> {
  const report = await ensureTopicsWith(kafka, plan, { create: false });
  if (report.missing.length > 0) throw new TopicsMissingError(report.missing);
  for (const problem of report.problems) logger.warn({ problem }, 'topic does not match the configuration');
}

/**
 * `ensureTopics` through an admin client of its own, connected for the call: what `courier
 * topics`, `ensureTopics()` of the package, the start's check and a reload's new destinations use.
 */
export async function ensureTopicsWith(
  kafka: Kafka,
  plan: TopicSpec[],
  options: { create?: boolean } = {},
): Promise<TopicReport> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    return await ensureTopics(admin, plan, options);
  } finally {
    await admin.disconnect().catch(() => {});
  }
}

export async function ensureTopics(
  admin: Admin,
  plan: TopicSpec[],
  options: { create?: boolean } = {},
): Promise<TopicReport> {
  const create = options.create ?? true;
  const existing = new Set(await admin.listTopics());
  const missing = plan.filter((t) => !existing.has(t.topic));
  const present = plan.filter((t) => existing.has(t.topic));
  const report: TopicReport = { created: [], missing: [], verified: [], problems: [] };

  if (missing.length > 0) {
    if (create) {
      await admin.createTopics({
        // kafkajs only waits out LEADER_NOT_AVAILABLE; a topic the broker does not list yet
        // answers UNKNOWN_TOPIC_OR_PARTITION, so leaders are awaited below instead.
        waitForLeaders: false,
        topics: missing.map((t) => ({
          topic: t.topic,
          numPartitions: t.partitions,
          replicationFactor: t.replicationFactor,
          configEntries: Object.entries(t.configs).map(([name, value]) => ({ name, value })),
        })),
      });
      await waitForLeaders(
        admin,
        missing.map((t) => t.topic),
      );
      report.created.push(...missing.map((t) => t.topic));
    } else {
      report.missing.push(...missing.map((t) => t.topic));
      report.problems.push(...missing.map((t) => `${t.topic}: missing`));
    }
  }

  if (present.length > 0) {
    const metadata = await admin.fetchTopicMetadata({ topics: present.map((t) => t.topic) });
    const partitionCount = new Map(metadata.topics.map((t) => [t.name, t.partitions.length]));
    const described = await admin.describeConfigs({
      includeSynonyms: false,
      resources: present.map((t) => ({
        type: TOPIC_RESOURCE,
        name: t.topic,
        configNames: Object.keys(t.configs),
      })),
    });
    const configsOf = new Map(
      described.resources.map((r) => [
        r.resourceName,
        new Map(r.configEntries.map((e) => [e.configName, e.configValue])),
      ]),
    );
    for (const spec of present) {
      const before = report.problems.length;
      const count = partitionCount.get(spec.topic) ?? 0;
      if (count < spec.partitions) {
        report.problems.push(
          `${spec.topic}: has ${count} partitions, configuration wants ${spec.partitions}`,
        );
      }
      const actual = configsOf.get(spec.topic);
      for (const [name, want] of Object.entries(spec.configs)) {
        const have = actual?.get(name);
        if (have !== want)
          report.problems.push(`${spec.topic}: ${name} is ${have ?? 'unset'}, configuration wants ${want}`);
      }
      if (report.problems.length === before) report.verified.push(spec.topic);
    }
  }
  return report;
}

async function waitForLeaders(admin: Admin, topics: string[], deadlineMs = 30_000): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    try {
      const { topics: found } = await admin.fetchTopicMetadata({ topics });
      if (
        found.length === topics.length &&
        found.every((t) => t.partitions.length > 0 && t.partitions.every((p) => p.leader >= 0))
      ) {
        return;
      }
    } catch (err) {
      if (Date.now() >= deadline) throw err;
    }
    if (Date.now() >= deadline)
      throw new Error(`topics without a leader after ${deadlineMs} ms: ${topics.join(', ')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
