// Checks that compare several fields of courier.yaml: duplicate destination ids, duplicate retry
// tiers, a retry delay cap below its base. They read the raw document, not zod's output, because
// zod skips object-level refinements as soon as any field inside fails, and a duplicate id must
// be reported together with every other problem.
import { durationMs, parseDuration } from './duration.ts';
import { formatPath } from './path.ts';
import { RETRY_DEFAULTS } from './schema.ts';

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** One "path: message" line per problem found; problems of single fields are zod's. */
export function crossFieldProblems(input: unknown): string[] {
  if (!isObject(input)) return [];
  const problems: string[] = [];
  if (Array.isArray(input.destinations)) {
    const seen = new Map<string, number>();
    input.destinations.forEach((d, i) => {
      if (!isObject(d)) return;
      if (typeof d.id === 'string') {
        const first = seen.get(d.id);
        if (first !== undefined) {
          problems.push(
            `${formatPath(['destinations', i, 'id'])}: duplicate id "${d.id}" (also destinations[${first}])`,
          );
        } else {
          seen.set(d.id, i);
        }
      }
      if (isObject(d.retry)) {
        const base =
          d.retry.baseDelayMs === undefined ? RETRY_DEFAULTS.baseDelayMs : durationMs(d.retry.baseDelayMs);
        const max =
          d.retry.maxDelayMs === undefined ? RETRY_DEFAULTS.maxDelayMs : durationMs(d.retry.maxDelayMs);
        if (base !== undefined && max !== undefined && max > 0 && max < base) {
          problems.push(
            `${formatPath(['destinations', i, 'retry', 'maxDelayMs'])}: must be at least retry.baseDelayMs`,
          );
        }
      }
    });
  }
  if (Array.isArray(input.retryTiers)) {
    const tiers = new Map<number, string>();
    input.retryTiers.forEach((t, i) => {
      const ms = typeof t === 'string' ? parseDuration(t) : undefined;
      if (ms === undefined) return;
      const same = tiers.get(ms);
      if (same !== undefined) {
        problems.push(`${formatPath(['retryTiers', i])}: duplicate tier (same as ${same})`);
      }
      tiers.set(ms, t as string);
    });
  }
  return problems;
}
