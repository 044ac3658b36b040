// The configuration running instances applied, kept in Redis for `courier config diff` (what would
// a reload of this file change?) and for rollouts (which instance runs which version?). Secrets
// are stored as fingerprints only: a diff sees that a secret changed, nobody can read one back.
import { hostname } from 'node:os';
import { settledBy } from '../clock.ts';
import { configVersion } from '../config/diff.ts';
import { fingerprintSecrets } from '../config/mask.ts';
import type { CourierConfig } from '../config/schema.ts';
import type { RedisKeys } from './keys.ts';

/** What the store needs of Redis. */
export interface ConfigRedis {
  set(key: string, value: string): Promise<unknown>;
  get(key: string): Promise<string | null>;
  hset(key: string, field: string, value: string): Promise<unknown>;
  hgetall(key: string): Promise<Record<string, string>>;
  hdel(key: string, ...fields: string[]): Promise<unknown>;
}

export interface ActiveConfig {
  version: string;
  appliedAt: string;
  /** `host:pid` of the instance that applied it. */
  instance: string;
  /** The configuration with every secret replaced by its fingerprint. */
  config: CourierConfig;
}

export interface InstanceVersion {
  instance: string;
  version: string;
  /** When the instance last said so (it refreshes every minute while it runs). */
  at: string;
}

/** An instance that has not refreshed its entry for this long is gone. */
export const INSTANCE_STALE_MS = 3 * 60_000;

export const thisInstance = (): string => `${hostname()}:${process.pid}`;

export class ConfigStore {
  private readonly redis: ConfigRedis;
  private readonly keys: RedisKeys;

  constructor(redis: ConfigRedis, keys: RedisKeys) {
    this.redis = redis;
    this.keys = keys;
  }

  /** Records `config` as the one applied last, and this instance as running it. */
  async publish(config: CourierConfig, instance = thisInstance(), now = Date.now()): Promise<void> {
    const version = configVersion(config);
    const active: ActiveConfig = {
      version,
      appliedAt: new Date(now).toISOString(),
      instance,
      config: fingerprintSecrets(config),
    };
    await this.redis.set(this.keys.activeConfig, JSON.stringify(active));
    await this.heartbeat(version, instance, now);
  }

  /** Refreshes this instance's entry (and drops entries of instances gone quiet). */
  async heartbeat(version: string, instance = thisInstance(), now = Date.now()): Promise<void> {
    const at = new Date(now).toISOString();
    await this.redis.hset(this.keys.configVersions, instance, JSON.stringify({ version, at }));
    const stale = (await this.instances(now, true)).filter((i) => now - Date.parse(i.at) > INSTANCE_STALE_MS);
    if (stale.length > 0) await this.redis.hdel(this.keys.configVersions, ...stale.map((i) => i.instance));
  }

  /**
   * Refreshes this instance's entry every minute with the version `version()` names; the returned
   * stop ends that and removes the entry (it runs no version any more), waiting until `deadline`.
   */
  beat(version: () => string): (deadline?: number) => Promise<void> {
    const timer = setInterval(() => {
      this.heartbeat(version()).catch(() => {});
    }, 60_000);
    timer.unref();
    return async (deadline = Number.POSITIVE_INFINITY) => {
      clearInterval(timer);
      await settledBy(this.leave(), deadline);
    };
  }

  /** This instance stopped: it runs no version any more. */
  async leave(instance = thisInstance()): Promise<void> {
    await this.redis.hdel(this.keys.configVersions, instance);
  }

  async active(): Promise<ActiveConfig | undefined> {
    const raw = await this.redis.get(this.keys.activeConfig);
    return raw ? (JSON.parse(raw) as ActiveConfig) : undefined;
  }

  /** The instances running now and their versions (stale entries left out unless asked for). */
  async instances(now = Date.now(), includeStale = false): Promise<InstanceVersion[]> {
    const all = await this.redis.hgetall(this.keys.configVersions);
    return Object.entries(all)
      .map(([instance, raw]) => {
        try {
          const { version, at } = JSON.parse(raw) as { version: string; at: string };
          return { instance, version, at };
        } catch {
          return { instance, version: '?', at: new Date(0).toISOString() };
        }
      })
      .filter((i) => includeStale || now - Date.parse(i.at) <= INSTANCE_STALE_MS)
      .sort((a, b) => a.instance.localeCompare(b.instance));
  }
}
