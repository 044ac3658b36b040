// `courier config diff`: what a reload of the configuration file would do to the running Courier
// — per destination added, removed, changed in place or rebuilt, and the fields only a restart can
// change — so that a CI pipeline can check a change before it ships. It compares with the
// configuration the running instances last applied (kept in Redis, secrets as fingerprints), or
// with another file (`--against`, connecting to nothing). Exit 0: a reload applies it (or nothing
// changes) · 4: only a restart can · 1: the file is invalid.
import { type ConfigDiff, configVersion, diffConfigs } from '../../config/diff.ts';
import { loadConfig } from '../../config/load.ts';
import { fingerprintSecrets } from '../../config/mask.ts';
import type { CourierConfig } from '../../config/schema.ts';
import { CourierError } from '../../errors.ts';
import { topicNames } from '../../kafka/topics.ts';
import { ConfigStore, type InstanceVersion } from '../../redis/configStore.ts';
import { redisKeys } from '../../redis/keys.ts';
import type { Logger } from '../../telemetry/logger.ts';
import { commandRedis } from '../flags.ts';

export const RESTART_NEEDED_EXIT = 4;

export interface ConfigDiffOptions {
  /** The file to check (already loaded and validated). */
  config: CourierConfig;
  source: string;
  /** Compare with this file instead of the running configuration. */
  against?: string;
  json: boolean;
  logger: Logger;
}

interface Baseline {
  config: CourierConfig;
  description: string;
  version: string;
  instances?: InstanceVersion[];
}

async function runningBaseline(config: CourierConfig, logger: Logger): Promise<Baseline> {
  const redis = commandRedis(config, logger);
  try {
    const store = new ConfigStore(redis, redisKeys(config.kafka.topicPrefix));
    const active = await store.active();
    if (!active) {
      throw new CourierError(
        'NO_RUNNING_CONFIG',
        `no running configuration is recorded in Redis under ${config.kafka.topicPrefix}: start courier run first, or compare two files with --against FILE`,
      );
    }
    return {
      config: active.config,
      version: active.version,
      description: `the running configuration (version ${active.version}, applied ${active.appliedAt} by ${active.instance})`,
      instances: await store.instances(),
    };
  } finally {
    redis.disconnect();
  }
}

/** The report's lines (pure). */
export function describeConfigDiff(
  diff: ConfigDiff,
  next: CourierConfig,
  baseline: { description: string; instances?: InstanceVersion[] },
  source: string,
): string[] {
  const names = topicNames(next);
  const lines = [`${source} (version ${configVersion(next)}) against ${baseline.description}`];
  if (baseline.instances && baseline.instances.length > 0) {
    const byVersion = new Map<string, number>();
    for (const i of baseline.instances) byVersion.set(i.version, (byVersion.get(i.version) ?? 0) + 1);
    lines.push(`instances running: ${[...byVersion].map(([v, n]) => `${n} on ${v}`).join(', ')}`);
  }
  for (const id of diff.added)
    lines.push(`  + ${id}: added (creates ${names.dest(id)} and ${names.dlq(id)}, then starts consuming)`);
  for (const id of diff.removed)
    lines.push(`  - ${id}: removed (stops after its in-flight work; its topics and DLQ stay)`);
  for (const c of diff.changed) {
    lines.push(
      `  ~ ${c.id}: ${c.fields.join(', ')} — ${c.inPlace ? 'in place' : 'its actor is rebuilt (its consumer group alone rejoins)'}`,
    );
  }
  for (const section of diff.live) lines.push(`  ~ ${section}: in place`);
  for (const field of diff.restartNeeded) lines.push(`  ! ${field}: only a restart can change this`);
  lines.push(
    diff.restartNeeded.length > 0
      ? 'a reload would be refused, and nothing of it applied: restart every instance to change these fields'
      : diff.empty
        ? 'nothing to reload'
        : 'a reload applies this live',
  );
  return lines;
}

export async function configDiff(o: ConfigDiffOptions): Promise<number> {
  // Secrets are compared by fingerprint: the running configuration is kept with those only.
  const baseline: Baseline = o.against
    ? (() => {
        const config = loadConfig({ path: o.against });
        return { config: fingerprintSecrets(config), version: configVersion(config), description: o.against };
      })()
    : await runningBaseline(o.config, o.logger);
  const diff = diffConfigs(baseline.config, fingerprintSecrets(o.config));
  const code = diff.restartNeeded.length > 0 ? RESTART_NEEDED_EXIT : 0;
  if (o.json) {
    console.log(
      JSON.stringify(
        {
          source: o.source,
          version: configVersion(o.config),
          against: { description: baseline.description, version: baseline.version },
          ...(baseline.instances ? { instances: baseline.instances } : {}),
          reload: diff.restartNeeded.length > 0 ? 'refused' : diff.empty ? 'nothing' : 'applies',
          ...diff,
        },
        null,
        2,
      ),
    );
  } else {
    for (const line of describeConfigDiff(diff, o.config, baseline, o.source)) console.log(line);
  }
  return code;
}
