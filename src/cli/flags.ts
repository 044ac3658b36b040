// What every verb's code shares: the context a verb runs with, reading its flag values (each bad
// value a one-line UsageError), and printing a JSON result. Pure but for printJson.
import { ROLES, type Role } from '../app.ts';
import type { CourierConfig } from '../config/schema.ts';
import { parseDuration } from '../duration.ts';
import { UsageError } from '../errors.ts';
import { createRedis } from '../redis/client.ts';
import type { Logger } from '../telemetry/logger.ts';
import type { Flags } from './args.ts';

export interface CommandContext {
  flags: Flags;
  args: string[];
  config: CourierConfig;
  logger: Logger;
  json: boolean;
}

export function str(flags: Flags, name: string): string | undefined {
  const v = flags[name];
  return typeof v === 'string' ? v : undefined;
}

/** Every value of a flag that may be given several times, in order. */
export function strs(flags: Flags, name: string): string[] {
  const v = flags[name];
  return Array.isArray(v) ? v : typeof v === 'string' ? [v] : [];
}

export function required(flags: Flags, name: string, command: string): string {
  const v = str(flags, name);
  if (!v) throw new UsageError(`${command} needs --${name}`);
  return v;
}

/** The flag as a positive whole number; `fallback` when absent. */
export function positiveInt(flags: Flags, name: string, fallback: number): number;
export function positiveInt(flags: Flags, name: string, fallback?: number): number | undefined;
export function positiveInt(flags: Flags, name: string, fallback?: number): number | undefined {
  const raw = str(flags, name);
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(n) || n <= 0)
    throw new UsageError(`--${name} must be a positive whole number, got "${raw}"`);
  return n;
}

/** The flag as an ISO-8601 time (kept as written); undefined when absent. */
export function isoTime(flags: Flags, name: string): string | undefined {
  const raw = str(flags, name);
  if (raw !== undefined && Number.isNaN(Date.parse(raw)))
    throw new UsageError(`--${name} must be an ISO-8601 time, got "${raw}"`);
  return raw;
}

/**
 * The flag as a moment (epoch ms): an ISO-8601 time, or a duration meaning that long ago
 * (`--since 1h`); undefined when absent.
 */
export function timeFlag(flags: Flags, name: string, now = Date.now()): number | undefined {
  const raw = str(flags, name);
  if (raw === undefined) return undefined;
  const ago = parseDuration(raw);
  if (ago !== undefined) return now - ago;
  const at = Date.parse(raw);
  if (Number.isNaN(at)) {
    throw new UsageError(`--${name} must be an ISO-8601 time or a duration ago (30m, 2h, 7d), got "${raw}"`);
  }
  return at;
}

/** The --since/--until window; --until after --since. */
export function windowFlags(flags: Flags, now = Date.now()): { sinceMs?: number; untilMs?: number } {
  const sinceMs = timeFlag(flags, 'since', now);
  const untilMs = timeFlag(flags, 'until', now);
  if (sinceMs !== undefined && untilMs !== undefined && untilMs <= sinceMs) {
    throw new UsageError('--until must be after --since');
  }
  return { ...(sinceMs === undefined ? {} : { sinceMs }), ...(untilMs === undefined ? {} : { untilMs }) };
}

export function oneOf<T extends string>(flags: Flags, name: string, allowed: readonly T[], fallback: T): T {
  const raw = str(flags, name) ?? fallback;
  if (!(allowed as readonly string[]).includes(raw))
    throw new UsageError(`--${name} is ${allowed.join(' or ')}, got "${raw}"`);
  return raw as T;
}

export function destinationOf(config: CourierConfig, flags: Flags, command: string): string {
  const id = required(flags, 'destination', command);
  if (!config.destinations.some((d) => d.id === id)) {
    throw new UsageError(
      `unknown destination "${id}"; configured: ${config.destinations.map((d) => d.id).join(', ') || 'none'}`,
    );
  }
  return id;
}

/** The --roles flag as a list of roles. */
export function rolesOf(flags: Flags): Role[] {
  const roles = (str(flags, 'roles') ?? ROLES.join(','))
    .split(',')
    .map((r) => r.trim())
    .filter(Boolean);
  const unknown = roles.filter((r) => !(ROLES as readonly string[]).includes(r));
  if (unknown.length > 0 || roles.length === 0) {
    throw new UsageError(
      `--roles takes a comma-separated subset of ${ROLES.join(',')}; got "${unknown.join(',')}"`,
    );
  }
  return roles as Role[];
}

export function printJson(value: unknown): void {
  console.log(JSON.stringify(value, null, 2));
}

/**
 * A Redis client for a one-shot command. The preflight has just reached Redis; should it go
 * away now, the command fails with ioredis' MaxRetriesPerRequestError (exit 3), and this listener
 * keeps ioredis from printing "[ioredis] Unhandled error event" stacks meanwhile.
 */
export function commandRedis(config: CourierConfig, logger: Logger) {
  return createRedis(config.redis, { logger });
}
