// Durations as written in configuration ("250ms", "30s", "10m", "1h", "1d") and back.

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const PATTERN = /^(\d+)(ms|s|m|h|d)$/;

/** Milliseconds for a duration label, or undefined when the label is not a duration. */
export function parseDuration(label: string): number | undefined {
  const match = PATTERN.exec(label.trim());
  if (!match) return undefined;
  const [, amount, unit] = match;
  const ms = Number(amount) * (UNITS[unit as string] as number);
  return ms > 0 ? ms : undefined;
}

/**
 * Milliseconds for any value a `*Ms` field accepts: a whole number of milliseconds (also as a
 * string of digits, which is what `${ENV}` substitution yields) or a label such as "10s".
 * Undefined when the value is neither; zero and negative amounts are left to the caller's bounds.
 */
export function durationMs(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isSafeInteger(value) ? value : undefined;
  if (typeof value !== 'string') return undefined;
  const text = value.trim();
  if (/^-?\d+$/.test(text)) return Number(text);
  return parseDuration(text);
}

/** The shortest exact label for a duration in milliseconds: 30000 → "30s", 90000 → "90s". */
export function formatDuration(ms: number): string {
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    const size = UNITS[unit] as number;
    if (ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}
