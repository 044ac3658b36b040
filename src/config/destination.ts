// What a destination's configuration means for the code that uses it, derived from its fields (the
// parsed configuration stays what was written, with defaults filled in, so it can be written back
// and read again). Pure.
import type { StatusRules } from '../policy/statusRules.ts';
import { DEFAULT_EXPRESSION_LIMITS, statusRules } from './destinationSchema.ts';
import type { DestinationConfig } from './schema.ts';

/** `timeoutMs: auto` without `autoTimeout`. */
export const DEFAULT_AUTO_TIMEOUT = { minMs: 1000, maxMs: 30_000 };

/**
 * The request timeout: fixed, or adaptive within bounds. `timeoutMs` is the upper bound either
 * way, what in-flight locks and stops are sized for.
 */
export function requestTimeout(d: DestinationConfig): {
  timeoutMs: number;
  auto?: { minMs: number; maxMs: number };
} {
  if (d.timeoutMs !== 'auto') return { timeoutMs: d.timeoutMs };
  const auto = d.autoTimeout ?? DEFAULT_AUTO_TIMEOUT;
  return { timeoutMs: auto.maxMs, auto };
}

/** The headers with a fixed value. */
export function fixedHeaders(d: DestinationConfig): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(d.headers)) if (typeof value === 'string') out[name] = value;
  return out;
}

/** The headers taken from each event (lower-case names). */
export function eventHeaders(
  d: DestinationConfig,
): Array<{ name: string; from: string; optional: boolean; secret: boolean }> {
  return Object.entries(d.headers).flatMap(([name, value]) =>
    typeof value === 'string' ? [] : [{ name: name.toLowerCase(), ...value }],
  );
}

export function statusRulesOf(d: DestinationConfig): StatusRules {
  return statusRules(d);
}

/** What one event's expressions may use at this destination (`transformTimeoutMs` is cpuMs's former name). */
export function expressionLimitsOf(d: DestinationConfig): {
  cpuMs: number;
  outputBytes: number;
  headerBytes: number;
} {
  return {
    cpuMs: d.expressionLimits.cpuMs ?? d.transformTimeoutMs ?? DEFAULT_EXPRESSION_LIMITS.cpuMs,
    outputBytes: d.expressionLimits.outputBytes,
    headerBytes: d.expressionLimits.headerBytes,
  };
}
