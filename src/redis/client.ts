// The Redis ground every stage stands on: the connection (a standalone server, a Sentinel-managed
// master or a Cluster) and Courier's Lua scripts; the key names are in keys.ts. Scripts live one
// per file in ./lua, named `<command>-<numberOfKeys>.lua`, or `<command>.lua` when the number of
// keys varies per call (batches); each is loaded once per client. A line `-- uses _<name>.lua`
// puts that shared file's functions in its place (files named `_*` are not commands).
import { readdirSync, readFileSync } from 'node:fs';
import { Cluster, type ClusterNode, Redis, type RedisOptions } from 'ioredis';
import type { RedisConfig } from '../config/schema.ts';
import { tlsOptions } from '../config/tls.ts';
import type { Logger } from '../telemetry/logger.ts';

const LUA_DIR = new URL('./lua/', import.meta.url);

export interface CourierRedisCommands {
  /** Per event: 0 claimed, < 0 delivered already (see admit.lua), n > 0 locked for n ms, 'c<k>' a crash loop. */
  admit(
    numberOfKeys: number,
    ...keysThenArgs: Array<string | number | Buffer>
  ): Promise<Array<number | string>>;
  complete(numberOfKeys: number, ...keysThenArgs: Array<string | number | Buffer>): Promise<number>;
  /** Confirms delivered marks whose attempt records are written ('d' → 'D'). */
  confirm(numberOfKeys: number, ...keysThenArgs: Array<string | Buffer>): Promise<number>;
  /** One event's delivered mark in the given delivery days, or null. */
  marked(numberOfKeys: number, ...keysThenArgs: Array<string | Buffer>): Promise<string | null>;
  takePermits(key: string, intervalMs: number, burst: number, wanted: number): Promise<[number, number]>;
  pauseUntil(key: string, untilMs: number): Promise<number>;
  releaseTokenLock(lockKey: string, owner: string): Promise<number>;
  /** Writes a holder's work mark on a partition (see redis/workMarks.ts). */
  markWork(key: string, partition: number, mark: string, ttlMs: number): Promise<number>;
  /** Writes graceful hand-overs of partitions: `<owner>|<next>|<at>` per partition. */
  handOver(key: string, ttlMs: number, ...partitionsAndValues: Array<string | number>): Promise<number>;
  /** Takes a holder's work marks away from these partitions (only its own). */
  releaseWork(key: string, owner: string, ...partitions: number[]): Promise<number>;
  /** Room for `count` ids in the attempt log's newest filter of a partition: [its start, its bits]. */
  claimFilter(
    filters: string,
    sizes: string,
    bitsPrefix: string,
    now: number,
    rotateMs: number,
    keepMs: number,
    count: number,
  ): Promise<[number, number]>;
  /** One alert's transition, decided once for every instance: [fire|repeat|resolve|none, since]. */
  alertTransition(
    key: string,
    active: '0' | '1',
    now: number,
    repeatMs: number,
    keepMs: number,
    observedAt: number,
    resolveAfterMs: number,
  ): Promise<[string, number]>;
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
    // A Redis that accepts a command and never answers must not hold a delivery, or a stop,
    // forever: the command fails and the message is handled again after a pause.
    commandTimeout: 10_000,
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
    const { lazyConnect: _l, enableAutoPipelining: _a, maxRetriesPerRequest, ...redisOptions } = options;
    return new Cluster(config.cluster.nodes.map(node) satisfies ClusterNode[], {
      lazyConnect,
      // ioredis' cluster auto-pipeline groups a turn's commands per node and refuses a group whose
      // keys span slots, which two destinations' scripts in one turn do; Courier batches its own
      // Redis work (one script call per batch), so it does without.
      enableAutoPipelining: false,
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
    const match = /^([a-zA-Z]\w*)(?:-(\d+))?\.lua$/.exec(file);
    if (!match) continue;
    const lua = readFileSync(new URL(file, LUA_DIR), 'utf8').replace(/^-- uses (_\w+\.lua)$/m, (_, shared) =>
      readFileSync(new URL(shared, LUA_DIR), 'utf8'),
    );
    // Without a fixed number of keys, ioredis takes it as the first argument of each call.
    redis.defineCommand(
      match[1] as string,
      match[2] === undefined ? { lua } : { numberOfKeys: Number(match[2]), lua },
    );
  }
  // One line per outage and one when it is over, instead of ioredis' "Unhandled error event".
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
