// What reloading a configuration would change: per destination, added, removed or changed (and
// whether the change applies in place or rebuilds that destination's actor), and the fields of
// sections that only a restart can change — when there are any, the reload is refused whole.
// Also the version of a configuration: a short hash of what the router routes by, the same on
// every instance given the same file. Pure.
import { createHash } from 'node:crypto';
import type { CourierConfig } from './schema.ts';

/** Top-level sections a running instance can take over. */
const LIVE_SECTIONS = new Set(['destinations', 'alerts', 'shutdownTimeoutMs']);

/** Fields of live sections that size what is already running (timers, counter buckets). */
const RESTART_PATHS = new Set([
  'alerts.evaluateIntervalMs',
  'alerts.thresholds.successWindowMs',
  'alerts.thresholds.deadLetterWindowMs',
]);

/**
 * Destination fields a running actor takes over without restarting its consumer, and what of it a
 * change rebuilds: its sender (URL, timeout, proxy), its rate limiter, its circuit breaker, or
 * nothing (`settings`: read from the destination's configuration at each event). A field not
 * here rebuilds the destination's actor (its consumer group alone rejoins), which is always right.
 * The one table: the diff, the deliver role's fleet and `courier config diff` read it.
 */
export const RUNNING_PARTS = {
  url: 'sender',
  timeoutMs: 'sender',
  autoTimeout: 'sender',
  proxy: 'sender',
  rateLimit: 'rateLimiter',
  circuitBreaker: 'breaker',
  secrets: 'settings',
  headers: 'settings',
  retry: 'settings',
  retryOn: 'settings',
  deadLetterOn: 'settings',
  eventTypes: 'settings',
  filter: 'settings',
  transform: 'settings',
  transformTimeoutMs: 'settings',
  expressionLimits: 'settings',
  alerts: 'settings',
  healthCheck: 'settings',
  secretsExpireAt: 'settings',
  credentialWarningDays: 'settings',
  tlsWarningDays: 'settings',
  rescueAtRetentionShare: 'settings',
  ordering: 'settings',
} as const satisfies Record<string, 'sender' | 'rateLimiter' | 'breaker' | 'settings'>;

export type RunningPart = (typeof RUNNING_PARTS)[keyof typeof RUNNING_PARTS];

export const IN_PLACE_FIELDS: ReadonlySet<string> = new Set(Object.keys(RUNNING_PARTS));

/** The parts of a running destination that changed fields (`url`, `retry.maxAttempts`…) rebuild. */
export function partsToRebuild(fields: readonly string[]): Set<RunningPart> {
  const parts = new Set<RunningPart>();
  for (const f of fields) {
    const part = (RUNNING_PARTS as Record<string, RunningPart>)[f.split('.')[0] as string];
    if (part && part !== 'settings') parts.add(part);
  }
  return parts;
}

/** Destination fields a reload cannot change at all: they are fixed by the topic Courier created. */
const FIXED_FIELDS = new Set(['partitions']);

export interface DestinationChange {
  id: string;
  /** The fields that differ, e.g. `url`, `retry.maxAttempts`. */
  fields: string[];
  /** True when every changed field applies in place; false rebuilds the actor (its group rejoins). */
  inPlace: boolean;
}

export interface ConfigDiff {
  added: string[];
  removed: string[];
  changed: DestinationChange[];
  /** Other live sections that changed (`alerts`). */
  live: string[];
  /** Fields only a restart can change; a reload with any of them is refused whole. */
  restartNeeded: string[];
  /** Nothing to do. */
  empty: boolean;
}

function stable(value: unknown): string {
  return JSON.stringify(value, (_k, v) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => a.localeCompare(b)))
      : v,
  );
}

/** The dotted paths at which two values differ (objects are compared field by field). */
export function changedPaths(a: unknown, b: unknown, prefix = ''): string[] {
  const isObject = (v: unknown): v is Record<string, unknown> =>
    v !== null && typeof v === 'object' && !Array.isArray(v);
  if (isObject(a) && isObject(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
    return keys.flatMap((k) => changedPaths(a[k], b[k], prefix ? `${prefix}.${k}` : k));
  }
  return stable(a) === stable(b) ? [] : [prefix || '(root)'];
}

export function diffConfigs(current: CourierConfig, next: CourierConfig): ConfigDiff {
  const restartNeeded: string[] = [];
  const live: string[] = [];
  const sections = [...new Set([...Object.keys(current), ...Object.keys(next)])].sort();
  for (const section of sections) {
    if (section === 'destinations') continue;
    const paths = changedPaths(
      (current as Record<string, unknown>)[section],
      (next as Record<string, unknown>)[section],
      section,
    );
    if (paths.length === 0) continue;
    if (!LIVE_SECTIONS.has(section)) {
      restartNeeded.push(...paths);
      continue;
    }
    const fixed = paths.filter((p) => RESTART_PATHS.has(p));
    restartNeeded.push(...fixed);
    if (fixed.length < paths.length) live.push(section);
  }
  const before = new Map(current.destinations.map((d) => [d.id, d]));
  const after = new Map(next.destinations.map((d) => [d.id, d]));
  const added = [...after.keys()].filter((id) => !before.has(id));
  const removed = [...before.keys()].filter((id) => !after.has(id));
  const changed: DestinationChange[] = [];
  for (const [id, d] of after) {
    const old = before.get(id);
    if (!old) continue;
    const fields = changedPaths(old, d);
    if (fields.length === 0) continue;
    const top = new Set(fields.map((f) => f.split('.')[0] as string));
    for (const f of top) {
      if (FIXED_FIELDS.has(f))
        restartNeeded.push(`destinations.${id}.${f} (its topic exists; partitions never change)`);
    }
    changed.push({ id, fields, inPlace: [...top].every((f) => IN_PLACE_FIELDS.has(f)) });
  }
  return {
    added,
    removed,
    changed,
    live,
    restartNeeded,
    empty: added.length + removed.length + changed.length + live.length + restartNeeded.length === 0,
  };
}

/** The version the router routes under: a hash of the destinations as configured. */
export function configVersion(config: Pick<CourierConfig, 'destinations'>): string {
  const byId = [...config.destinations].sort((a, b) => a.id.localeCompare(b.id));
  return createHash('sha256').update(stable(byId)).digest('hex').slice(0, 12);
}
