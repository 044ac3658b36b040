// Timeouts from observed latency: a suggested timeout from a destination's p99 and p99.9 response
// times (shown by `courier status`), and the adaptive timeout of `timeoutMs: auto`, which follows
// the latency of answered requests within its bounds — so a destination that answers in 80 ms is
// not given 10 s to hang, and one that slowly got slower is not cut off: the timeout rises as
// soon as answers get slower, jumps by half after a timeout, and falls only gradually. Pure.

/** Headroom over the observed tail: 3 × p99, 1.5 × p99.9, and at least 100 ms above p99.9. */
export function suggestedTimeout(
  p99Ms: number,
  p999Ms: number,
  bounds: { minMs: number; maxMs: number },
): number {
  const wanted = Math.max(3 * p99Ms, 1.5 * p999Ms, p999Ms + 100);
  return Math.min(bounds.maxMs, Math.max(bounds.minMs, Math.ceil(wanted / 10) * 10));
}

/** The q-quantile (0–1) of samples, nearest rank. */
export function quantile(sorted: Float64Array | number[], q: number): number {
  if (sorted.length === 0) return 0;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i] as number;
}

export interface TimeoutChange {
  from: number;
  to: number;
  p99Ms: number;
  p999Ms: number;
  /** Why: the tail of answered requests moved, or a request timed out. */
  cause: 'latency' | 'timeout';
}

export interface AdaptiveTimeoutOptions {
  minMs: number;
  maxMs: number;
  /** Latencies kept (the newest). */
  window?: number;
  /** Answers needed before the timeout leaves `maxMs`. */
  minSamples?: number;
  /** Recomputed every this many answers. */
  every?: number;
}

export class AdaptiveTimeout {
  private readonly options: Required<AdaptiveTimeoutOptions>;
  private readonly samples: Float64Array;
  private count = 0;
  private sinceUpdate = 0;
  /** Answers to see after a timeout before the timeout may fall again. */
  private hold = 0;
  private value: number;

  constructor(options: AdaptiveTimeoutOptions) {
    this.options = { window: 500, minSamples: 50, every: 25, ...options };
    this.samples = new Float64Array(this.options.window);
    this.value = options.maxMs;
  }

  /** The timeout to use now (ms). */
  current(): number {
    return this.value;
  }

  /** The observed tail so far. */
  tail(): { p99Ms: number; p999Ms: number; samples: number } {
    const n = Math.min(this.count, this.options.window);
    const sorted = this.samples.slice(0, n).sort();
    return { p99Ms: quantile(sorted, 0.99), p999Ms: quantile(sorted, 0.999), samples: n };
  }

  /** An answered request took `latencyMs`; returns the change when the timeout moved. */
  observe(latencyMs: number): TimeoutChange | undefined {
    this.samples[this.count % this.options.window] = latencyMs;
    this.count += 1;
    this.sinceUpdate += 1;
    if (this.hold > 0) this.hold -= 1;
    if (this.count < this.options.minSamples || this.sinceUpdate < this.options.every) return undefined;
    this.sinceUpdate = 0;
    const { p99Ms, p999Ms } = this.tail();
    const target = suggestedTimeout(p99Ms, p999Ms, this.options);
    let next = this.value;
    if (target > this.value) next = target;
    else if (target < this.value && this.hold === 0) next = Math.max(target, Math.ceil(this.value / 2));
    return this.set(next, p99Ms, p999Ms, 'latency');
  }

  /** A request timed out at the current value: allow half as much again, and hold it a while. */
  timedOut(): TimeoutChange | undefined {
    this.hold = this.options.minSamples;
    const { p99Ms, p999Ms } = this.tail();
    return this.set(Math.min(this.options.maxMs, Math.ceil(this.value * 1.5)), p99Ms, p999Ms, 'timeout');
  }

  private set(
    next: number,
    p99Ms: number,
    p999Ms: number,
    cause: TimeoutChange['cause'],
  ): TimeoutChange | undefined {
    if (next === this.value) return undefined;
    const change = { from: this.value, to: next, p99Ms, p999Ms, cause };
    this.value = next;
    return change;
  }
}

/**
 * How long a claim on an event in flight lives (the delivered-key set's lock): the request, and
 * when the destination uses OAuth2 a token request and a second send after a 401, and 5 s more.
 */
export function claimLockMs(requestTimeoutMs: number, oauth2TokenTimeoutMs?: number): number {
  return oauth2TokenTimeoutMs === undefined
    ? requestTimeoutMs + 5_000
    : 2 * requestTimeoutMs + oauth2TokenTimeoutMs + 5_000;
}
