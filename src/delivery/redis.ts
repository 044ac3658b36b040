// The Redis connection and Courier's Lua scripts (one file each in ./lua, named
// `<command>-<numberOfKeys>.lua`), loaded once per client with defineCommand.
import { readdirSync, readFileSync } from 'node:fs';
import { Redis } from 'ioredis';

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

export type CourierRedis = Redis & CourierRedisCommands;

export function createRedis(url: string, options: { lazyConnect?: boolean } = {}): CourierRedis {
  const redis = new Redis(url, {
    maxRetriesPerRequest: 3,
    enableAutoPipelining: true,
    lazyConnect: options.lazyConnect ?? false,
  });
  for (const file of readdirSync(LUA_DIR)) {
    const match = /^(\w+)-(\d+)\.lua$/.exec(file);
    if (!match) continue;
    redis.defineCommand(match[1] as string, {
      numberOfKeys: Number(match[2]),
      lua: readFileSync(new URL(file, LUA_DIR), 'utf8'),
    });
  }
  return redis as CourierRedis;
}

/** Redis key names, all under the topic prefix so that separate deployments never collide. */
export function redisKeys(prefix: string) {
  return {
    rate: (dest: string) => `${prefix}:rate:${dest}`,
    delivered: (dest: string, eventId: string) => `${prefix}:delivered:${dest}:${eventId}`,
    inflight: (dest: string, eventId: string) => `${prefix}:inflight:${dest}:${eventId}`,
    paused: (dest: string) => `${prefix}:paused:${dest}`,
    backoff: (dest: string) => `${prefix}:backoff:${dest}`,
    eventIndex: (eventId: string) => `${prefix}:event:${eventId}`,
  };
}
export type RedisKeys = ReturnType<typeof redisKeys>;
