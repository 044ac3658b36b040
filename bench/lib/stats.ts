// Pure figures from what the receiver recorded: steady throughput between arrival marks, the
// busiest one-second window, percentiles.

export interface Steady {
  /** Deliveries per second between the two marks. */
  perSecond: number;
  /** Seconds between the marks. */
  seconds: number;
  /** Deliveries between the marks. */
  deliveries: number;
}

/**
 * Throughput between the `from` and `to` fractions of the arrivals (e.g. 10 % and 90 %), which
 * leaves out start-up (consumer group joins, connection set-up) and the tail.
 */
export function steadyRate(arrivals: readonly number[], from = 0.1, to = 0.9): Steady {
  const n = arrivals.length;
  if (n < 2) return { perSecond: 0, seconds: 0, deliveries: 0 };
  const i = Math.min(n - 1, Math.floor(n * from));
  const j = Math.max(i, Math.min(n - 1, Math.ceil(n * to) - 1));
  const seconds = ((arrivals[j] as number) - (arrivals[i] as number)) / 1000;
  const deliveries = j - i;
  return { perSecond: seconds > 0 ? deliveries / seconds : 0, seconds, deliveries };
}

/** The largest number of arrivals in any window of `windowMs` (sliding, not calendar seconds). */
export function busiestWindow(arrivals: readonly number[], windowMs = 1000): number {
  const sorted = [...arrivals].sort((a, b) => a - b);
  let best = 0;
  let start = 0;
  for (let end = 0; end < sorted.length; end++) {
    while ((sorted[end] as number) - (sorted[start] as number) >= windowMs) start++;
    best = Math.max(best, end - start + 1);
  }
  return best;
}

/** The largest number of arrivals within one calendar second (epoch-aligned). */
export function busiestCalendarSecond(arrivals: readonly number[]): number {
  const perSecond = new Map<number, number>();
  for (const at of arrivals) {
    const second = Math.floor(at / 1000);
    perSecond.set(second, (perSecond.get(second) ?? 0) + 1);
  }
  return Math.max(0, ...perSecond.values());
}

/** Nearest-rank percentile (p in 0..100); NaN when there are no values. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1] as number;
}

export function round(value: number, digits = 0): number {
  if (!Number.isFinite(value)) return value;
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/** Least-squares slope of y over x (e.g. MiB over minutes); NaN with fewer than two points. */
export function slope(points: ReadonlyArray<readonly [number, number]>): number {
  const n = points.length;
  if (n < 2) return Number.NaN;
  const mx = points.reduce((a, [x]) => a + x, 0) / n;
  const my = points.reduce((a, [, y]) => a + y, 0) / n;
  let num = 0;
  let den = 0;
  for (const [x, y] of points) {
    num += (x - mx) * (y - my);
    den += (x - mx) ** 2;
  }
  return den === 0 ? Number.NaN : num / den;
}
