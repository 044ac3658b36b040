// `courier status [--json]`: one table of every destination, read from shared state only (Redis
// pause state and rolling counters, Kafka offsets), so it works from any machine with the config.
// Exit code 0 when every destination is healthy, 1 otherwise, 3 when Redis or Kafka is unreachable
// (the table is still printed when only Kafka is: without backlog figures).
import { configVersion } from '../../config/diff.ts';
import type { CourierConfig } from '../../config/schema.ts';
import { createKafka } from '../../kafka/client.ts';
import { consumerGroups, topicNames } from '../../kafka/topics.ts';
import { BacklogProbe } from '../../observability/backlog.ts';
import { readStatus, type StatusReport, type StatusRow } from '../../observability/destinationStatus.ts';
import { lastErrorText, stateText } from '../../observability/statusPage.ts';
import { createRedis } from '../../redis/client.ts';
import { ConfigStore, type InstanceVersion } from '../../redis/configStore.ts';
import { redisKeys } from '../../redis/keys.ts';
import { createLogger } from '../../telemetry/logger.ts';
import { table } from '../table.ts';

export async function status(
  config: CourierConfig,
  options: { json: boolean; print?: (line: string) => void },
): Promise<number> {
  const print = options.print ?? ((line: string) => console.log(line));
  const redis = createRedis(config.redis, { lazyConnect: true });
  redis.on('error', () => {});
  const admin = createKafka(config, createLogger({ level: 'silent' })).admin();
  try {
    try {
      await redis.connect();
    } catch (err) {
      print(`redis unreachable: ${(err as Error).message}`);
      return 3;
    }
    await admin.connect().catch(() => {});
    const probe = new BacklogProbe({ admin, topics: topicNames(config), groups: consumerGroups(config) });
    const report = await readStatus({ config, redis, probe });
    const instances = await new ConfigStore(redis, redisKeys(config.kafka.topicPrefix)).instances();
    if (options.json) print(JSON.stringify({ ...report, configVersions: instances }, null, 2));
    else {
      for (const line of formatStatus(report)) print(line);
      const versions = configVersionsLine(instances, configVersion(config));
      if (versions) print(versions);
    }
    if (report.backlogError) return 3;
    return report.destinations.every((d) => d.state === 'healthy') ? 0 : 1;
  } finally {
    await admin.disconnect().catch(() => {});
    redis.disconnect();
  }
}

const COLUMNS: Array<[string, (r: StatusRow) => string]> = [
  ['DESTINATION', (r) => r.destination],
  ['STATE', stateText],
  ['DELIV/MIN', (r) => String(r.deliveriesPerMinute)],
  ['SUCCESS', (r) => (r.successRate === undefined ? '-' : `${(r.successRate * 100).toFixed(1)}%`)],
  ['P50', (r) => (r.p50Ms === undefined ? '-' : `${r.p50Ms}ms`)],
  ['P99', (r) => (r.p99Ms === undefined ? '-' : `${r.p99Ms}ms`)],
  ['P99.9', (r) => (r.p999Ms === undefined ? '-' : `${r.p999Ms}ms`)],
  [
    'TIMEOUT NOW/SUGGESTED',
    (r) =>
      `${r.timeoutMs === undefined ? '-' : ms(r.timeoutMs)}/${r.suggestedTimeoutMs === undefined ? '-' : ms(r.suggestedTimeoutMs)}`,
  ],
  ['BACKLOG', (r) => String(r.backlog)],
  ['OLDEST', (r) => age(r.oldestUndeliveredMs)],
  ['DLQ', (r) => String(r.dlqDepth)],
  ['CREDENTIALS', (r) => credentialsText(r)],
  ['TLS CERT', (r) => (r.tlsCertificate ? `${r.tlsCertificate.daysLeft}d` : '-')],
  ['LAST ERROR', (r) => lastErrorText(r) || '-'],
];

/** The credential that expires first (OAuth2 tokens are replaced automatically: not shown). Pure. */
export function credentialsText(r: StatusRow): string {
  const soonest = (r.credentials ?? [])
    .filter((c) => c.kind !== 'oauth2-token')
    .sort((a, b) => a.expiresAt - b.expiresAt)[0];
  if (!soonest) return '-';
  return `${soonest.kind === 'client-certificate' ? 'cert' : soonest.kind} ${soonest.daysLeft}d`;
}

/** Which configuration versions the running instances run, and whether this file is one of them. Pure. */
export function configVersionsLine(instances: InstanceVersion[], fileVersion: string): string | undefined {
  if (instances.length === 0) return undefined;
  const byVersion = new Map<string, number>();
  for (const i of instances) byVersion.set(i.version, (byVersion.get(i.version) ?? 0) + 1);
  const running = [...byVersion].map(([v, n]) => `${v} on ${n} instance(s)`).join(', ');
  const note = byVersion.has(fileVersion) ? '' : ` (this file is ${fileVersion}: not applied yet)`;
  return `config: ${running}${note}`;
}

/** The table, one line per destination, columns padded. Pure. */
export function formatStatus(report: StatusReport): string[] {
  const lines = table(
    COLUMNS.map(([h]) => h),
    report.destinations.map((r) => COLUMNS.map(([, f]) => f(r))),
  );
  const tiers = Object.entries(report.retryBacklog);
  if (tiers.length > 0) lines.push('', `retry backlog: ${tiers.map(([t, n]) => `${t}=${n}`).join(' ')}`);
  if (report.backlogError) lines.push(`kafka offsets unreadable: ${report.backlogError}`);
  if (report.redisStateLostAt)
    lines.push(
      `redis lost Courier's state at ${report.redisStateLostAt}: events delivered before may be delivered again within the idempotency window`,
    );
  return lines;
}

function ms(n: number): string {
  return n >= 1000 && n % 100 === 0 ? `${n / 1000}s` : `${n}ms`;
}

function age(ms: number): string {
  if (ms <= 0) return '-';
  if (ms >= 3_600_000) return `${(ms / 3_600_000).toFixed(1)}h`;
  if (ms >= 60_000) return `${(ms / 60_000).toFixed(1)}m`;
  return `${(ms / 1000).toFixed(1)}s`;
}
