// The Redis ground every stage stands on: the connection, Courier's Lua scripts and the key names.
// Scripts live one per file in ./lua, named `<command>-<numberOfKeys>.lua`, or `<command>.lua`
// when the number of keys varies per call (batches); each is loaded once per client.
import { readdirSync, readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import type { Logger } from '../observability/logger.ts';

const LUA_DIR = new URL('./lua/', import.meta.url);

export interface CourierRedisCommands {
  /** Per event: 0 claimed, -1 delivered already, n > 0 locked by another sender for n ms. */
  admit(numberOfKeys: number, ...keysThenArgs: Array<string | number>): Promise<number[]>;
  complete(numberOfKeys: number, ...keysThenArgs: Array<string | number>): Promise<number>;
  indexAttempts(numberOfKeys: number, ...keysThenArgs: Array<string | number>): Promise<number>;
  takePermits(key: string, intervalMs: number, burst: number, wanted: number): Promise<[number, number]>;
  pauseUntil(key: string, untilMs: number): Promise<number>;
}

export type CourierRedis = Redis & CourierRedisCommands;

export function createRedis(
  url: string,
  options: { lazyConnect?: boolean; logger?: Logger } = {},
): CourierRedis {
  const redis = new Redis(url, {
    maxRetriesPerRequest: 3,
    enableAutoPipelining: true,
    lazyConnect: options.lazyConnect ?? false,
  });
  // One line per outage and one when it is over, instead of ioredis' "Unhandled error event".
  let down = false;
  redis.on('error', (err: Error) => {
    if (down) return;
    down = true;
    options.logger?.error({ component: 'redis', error: err.message }, 'redis unreachable; reconnecting');
  });
  redis.on('ready', () => {
    if (!down) return;
    down = false;
    options.logger?.info({ component: 'redis' }, 'redis reachable again');
  });
  for (const file of readdirSync(LUA_DIR)) {
    const match = /^(\w+)(?:-(\d+))?\.lua$/.exec(file);
    if (!match) continue;
    const lua = readFileSync(new URL(file, LUA_DIR), 'utf8');
    // Without a fixed number of keys, ioredis takes it as the first argument of each call.
    redis.defineCommand(
      match[1] as string,
      match[2] === undefined ? { lua } : { numberOfKeys: Number(match[2]), lua },
    );
  }
  return redis as CourierRedis;
}

/**
 * Redis key names, all under the topic prefix so that separate deployments never collide. Every
 * key of one destination carries the hash tag `{<prefix>:<destination>}`, so each script's or
 * transaction's keys share a slot on a Redis Cluster.
 */
export function redisKeys(prefix: string) {
  const dest = (d: string) => `${prefix}:{${prefix}:${d}}`;
  return {
    rate: (d: string) => `${dest(d)}:rate`,
    /** One UTC day's delivery bucket of a destination (see buckets.ts). */
    deliveries: (d: string, day: number) => `${dest(d)}:e:${day}`,
    inflight: (d: string, eventId: string) => `${dest(d)}:l:${eventId}`,
    paused: (d: string) => `${dest(d)}:paused`,
    backoff: (d: string) => `${dest(d)}:backoff`,
  };
}
export type RedisKeys = ReturnType<typeof redisKeys>;
