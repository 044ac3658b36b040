// The Redis connection (a standalone server, a Sentinel-managed master or a Cluster) and
// Courier's Lua scripts (one file each in ./lua, named `<command>-<numberOfKeys>.lua`), loaded
// once per client with defineCommand. Key names are hash-tagged so that every script's and every
// MULTI's keys fall in one Cluster slot.
import { readdirSync, readFileSync } from 'node:fs';
import { Cluster, type ClusterNode, Redis, type RedisOptions } from 'ioredis';
import type { RedisConfig } from '../config/schema.ts';
import { tlsOptions } from '../config/tls.ts';
import type { Logger } from '../observability/logger.ts';

const LUA_DIR = new URL('./lua/', import.meta.url);

export interface CourierRedisCommands {
  rateLimit(key: string, intervalMs: number, burst: number): Promise<number>;
  claim(
    deliveredKey: string,
    lockKey: string,
    owner: string,
    lockMs: number,
    force: '0' | '1',
  ): Promise<[string, number]>;
  markDelivered(
    deliveredKey: string,
    lockKey: string,
    owner: string,
    ttlMs: number,
    value: string,
  ): Promise<number>;
  release(lockKey: string, owner: string): Promise<number>;
  pauseUntil(key: string, untilMs: number): Promise<number>;
}

export type CourierRedis = (Redis | Cluster) & CourierRedisCommands;

export interface CreateRedisOptions {
  /** Told once when Redis becomes unreachable and once when it is back (never per retry). */
  logger?: Logger;
  lazyConnect?: boolean;
}

function node(hostPort: string): { host: string; port: number } {
  const at = hostPort.lastIndexOf(':');
  return { host: hostPort.slice(0, at), port: Number(hostPort.slice(at + 1)) };
}

/** Where a config points, for log lines: never the credentials. */
export function describeRedis(config: RedisConfig): string {
  if (config.cluster) return `cluster ${config.cluster.nodes.join(',')}`;
  if (config.sentinel) return `sentinel ${config.sentinel.name}@${config.sentinel.sentinels.join(',')}`;
  const url = new URL(config.url);
  return `${url.protocol}//${url.host}`;
}

/** ioredis options for every connection (each cluster node, or the one server/master). */
function connectionOptions(config: RedisConfig, lazyConnect: boolean): RedisOptions {
  const tls = config.tls ? tlsOptions(config.tls) : undefined;
  return {
    maxRetriesPerRequest: 3,
    enableAutoPipelining: true,
    lazyConnect,
    ...(config.username ? { username: config.username } : {}),
    ...(config.password ? { password: config.password } : {}),
    ...(tls ? { tls } : {}),
  };
}

function connect(config: RedisConfig, lazyConnect: boolean): Redis | Cluster {
  const options = connectionOptions(config, lazyConnect);
  if (config.cluster) {
    const { lazyConnect: _l, enableAutoPipelining, maxRetriesPerRequest, ...redisOptions } = options;
    return new Cluster(config.cluster.nodes.map(node) satisfies ClusterNode[], {
      lazyConnect,
      enableAutoPipelining,
      maxRedirections: 16,
      // With TLS, connect by host name so the certificate check sees the name it was issued for
      // (managed clusters such as ElastiCache sign names, not the addresses they resolve to).
      ...(redisOptions.tls ? { dnsLookup: (address, done) => done(null, address) } : {}),
      redisOptions: { ...redisOptions, maxRetriesPerRequest },
    });
  }
  if (config.sentinel) {
    const s = config.sentinel;
    return new Redis({
      ...options,
      sentinels: s.sentinels.map(node),
      name: s.name,
      ...(s.username ? { sentinelUsername: s.username } : {}),
      ...(s.password ? { sentinelPassword: s.password } : {}),
      ...(options.tls ? { enableTLSForSentinelMode: true, sentinelTLS: options.tls } : {}),
    });
  }
  const url = new URL(config.url);
  // rediss:// alone means TLS with the system roots; a `tls` section refines it.
  const tls = options.tls ?? (url.protocol === 'rediss:' ? {} : undefined);
  return new Redis(config.url, { ...options, ...(tls ? { tls } : {}) });
}

export function createRedis(config: RedisConfig, options: CreateRedisOptions = {}): CourierRedis {
  const redis = connect(config, options.lazyConnect ?? false);
  for (const file of readdirSync(LUA_DIR)) {
    const match = /^(\w+)-(\d+)\.lua$/.exec(file);
    if (!match) continue;
    redis.defineCommand(match[1] as string, {
      numberOfKeys: Number(match[2]),
      lua: readFileSync(new URL(file, LUA_DIR), 'utf8'),
    });
  }
  // Without an 'error' listener ioredis prints "Unhandled error event" on every reconnect attempt.
  const where = describeRedis(config);
  let down = false;
  redis.on('error', (err: Error) => {
    if (down) return;
    down = true;
    options.logger?.warn({ redis: where, err: err.message }, 'redis unreachable; retrying');
  });
  redis.on('ready', () => {
    if (!down) return;
    down = false;
    options.logger?.info({ redis: where }, 'redis reachable again');
  });
  return redis as CourierRedis;
}

/**
 * Redis key names, all under the topic prefix so that separate deployments never collide. Every
 * key of one destination carries the hash tag `{<prefix>:<destination>}`, and an event's index
 * keys the tag `{<prefix>:e:<eventId>}`, so each Lua script, MULTI, DEL or MGET touches one slot
 * (destination ids cannot contain ':', so the two families never meet).
 */
export function redisKeys(prefix: string) {
  const dest = (d: string) => `{${prefix}:${d}}`;
  const event = (eventId: string) => `{${prefix}:e:${eventId}}`;
  return {
    rate: (d: string) => `${dest(d)}:rate`,
    delivered: (d: string, eventId: string) => `${dest(d)}:d:${eventId}`,
    inflight: (d: string, eventId: string) => `${dest(d)}:i:${eventId}`,
    paused: (d: string) => `${dest(d)}:paused`,
    backoff: (d: string) => `${dest(d)}:backoff`,
    eventIndex: event,
    eventAttempts: (eventId: string) => `${event(eventId)}:a`,
  };
}
export type RedisKeys = ReturnType<typeof redisKeys>;
