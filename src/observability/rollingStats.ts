// Per-destination rolling counters in Redis, so that rates, success and latency (which happen in
// whichever process delivered) can be read from any machine: `courier status`, the status page
// and the alert evaluator. A subscriber to the pipeline's events accumulates increments in memory
// and writes them in one pipeline per flush (about every second), never one round trip per event.
// Counters live in time buckets of `bucketMs` (a sixtieth of the success window), each a hash.
import type { Cluster, Redis } from 'ioredis';
import type { RedisKeys } from '../redis/keys.ts';
import type { PipelineEmitter, PipelineEvents } from '../telemetry/events.ts';

/** Upper edges (ms) of the latency buckets kept in Redis; the last one is open. */
export const LATENCY_EDGES_MS = [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 30_000, Infinity];

export interface LastError {
  at: string;
  status?: number;
  errorCode?: string;
  outcome: string;
}

export interface BreakerRecord {
  state: 'open' | 'half-open' | 'closed';
  /** When the breaker last opened after being closed. */
  since: number;
}

export interface WindowStats {
  routed: number;
  attempts: number;
  delivered: number;
  failed: number;
  deadLetters: number;
  /** Deliveries over the last minute (scaled when the window is shorter). */
  deliveredPerMinute: number;
  latency: number[];
  lastError?: LastError;
  lastDeliveredAt?: number;
  /** First event routed since the last delivery (cleared by a delivery). */
  pendingSince?: number;
  breaker?: BreakerRecord;
  /** The adapted timeout (`timeoutMs: auto`), as last reported by any instance. */
  adaptedTimeoutMs?: number;
}

/** A window with nothing counted yet. */
export function emptyWindowStats(): WindowStats {
  return {
    routed: 0,
    attempts: 0,
    delivered: 0,
    failed: 0,
    deadLetters: 0,
    deliveredPerMinute: 0,
    latency: LATENCY_EDGES_MS.map(() => 0),
  };
}

export function latencyBucket(ms: number): number {
  return LATENCY_EDGES_MS.findIndex((edge) => ms <= edge);
}

/** The q-quantile (0–1) from bucket counts, by linear interpolation inside the bucket. */
export function quantileMs(counts: readonly number[], q: number): number | undefined {
  const total = counts.reduce((a, b) => a + b, 0);
  if (total === 0) return undefined;
  const rank = q * total;
  let seen = 0;
  for (let i = 0; i < counts.length; i++) {
    const c = counts[i] ?? 0;
    if (c > 0 && seen + c >= rank) {
      const lower = i === 0 ? 0 : (LATENCY_EDGES_MS[i - 1] as number);
      const upper = LATENCY_EDGES_MS[i] as number;
      if (!Number.isFinite(upper)) return lower;
      return lower + ((upper - lower) * (rank - seen)) / c;
    }
    seen += c;
  }
  return LATENCY_EDGES_MS[LATENCY_EDGES_MS.length - 2];
}

export interface RollingStatsOptions {
  redis: Redis | Cluster;
  keys: RedisKeys;
  bucketMs: number;
  /** How long buckets are kept: at least the longest window read. */
  retainMs: number;
  flushMs?: number;
  now?: () => number;
  onError?: (err: unknown) => void;
}

export class RollingStatsWriter {
  private readonly options: RollingStatsOptions;
  private readonly now: () => number;
  private increments = new Map<string, Map<string, number>>();
  private lastErrors = new Map<string, LastError>();
  private lastDelivered = new Map<string, number>();
  private pending = new Map<string, number>();
  private breakers = new Map<string, BreakerRecord>();
  private timeouts = new Map<string, number>();
  private readonly breakerLocal = new Map<string, BreakerRecord>();
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();
  private unsubscribe: (() => void) | undefined;

  constructor(options: RollingStatsOptions) {
    this.options = options;
    this.now = options.now ?? Date.now;
  }

  subscribe(events: PipelineEmitter): void {
    const offs: Array<() => void> = [];
    const on = <K extends keyof PipelineEvents>(name: K, listener: (...args: PipelineEvents[K]) => void) => {
      events.on(name, listener as never);
      offs.push(() => events.off(name, listener as never));
    };
    on('routed', (r) => {
      for (const d of r.destinations) {
        this.add(d, 'r', 1);
        if (!this.pending.has(d)) this.pending.set(d, this.now());
      }
    });
    on('attempt', (a) => {
      if (a.outcome === 'duplicate-skipped' || a.rebuilt) return;
      const d = a.destination;
      this.add(d, 'a', 1);
      this.add(d, `l${latencyBucket(a.latencyMs)}`, 1);
      if (a.outcome === 'delivered') {
        this.add(d, 'd', 1);
        this.lastDelivered.set(d, Date.parse(a.at) || this.now());
        this.pending.delete(d);
      } else {
        this.add(d, 'f', 1);
        this.lastErrors.set(d, {
          at: a.at,
          outcome: a.outcome,
          ...(a.status === undefined ? {} : { status: a.status }),
          ...(a.errorCode ? { errorCode: a.errorCode } : {}),
        });
      }
    });
    on('dlq', (q) => this.add(q.destination, 'q', 1));
    const breaker = (destination: string, state: BreakerRecord['state']) => {
      const before = this.breakerLocal.get(destination);
      const since = state !== 'closed' && before && before.state !== 'closed' ? before.since : this.now();
      const record = { state, since };
      this.breakerLocal.set(destination, record);
      this.breakers.set(destination, record);
    };
    on('timeout-adapted', (t) => this.timeouts.set(t.destination, t.timeoutMs));
    on('breaker-open', (b) => breaker(b.destination, 'open'));
    on('breaker-half-open', (b) => breaker(b.destination, 'half-open'));
    on('breaker-close', (b) => breaker(b.destination, 'closed'));
    this.unsubscribe = () => {
      for (const off of offs) off();
    };
  }

  start(): void {
    this.timer = setInterval(() => void this.flush(), this.options.flushMs ?? 1000);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.unsubscribe?.();
    await this.flush();
  }

  private add(destination: string, field: string, n: number): void {
    let fields = this.increments.get(destination);
    if (!fields) {
      fields = new Map();
      this.increments.set(destination, fields);
    }
    fields.set(field, (fields.get(field) ?? 0) + n);
  }

  /** Writes everything accumulated since the last flush in one pipeline. */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(() => this.write()).catch((err) => this.options.onError?.(err));
    return this.flushing;
  }

  private async write(): Promise<void> {
    const { increments, lastErrors, lastDelivered, pending, breakers, timeouts } = this;
    if (
      increments.size +
        lastErrors.size +
        lastDelivered.size +
        pending.size +
        breakers.size +
        timeouts.size ===
      0
    )
      return;
    this.timeouts = new Map();
    this.increments = new Map();
    this.lastErrors = new Map();
    this.lastDelivered = new Map();
    this.pending = new Map();
    this.breakers = new Map();
    const { keys, bucketMs, retainMs } = this.options;
    const index = Math.floor(this.now() / bucketMs);
    const keepMs = retainMs + 2 * bucketMs;
    // The last error and delivery outlive the window: `courier status` shows them a day later.
    const keepLastMs = Math.max(keepMs, 86_400_000);
    // One pipeline per destination: its keys share a slot (one node on a Redis Cluster).
    const pipelines = new Map<string, ReturnType<RollingStatsOptions['redis']['pipeline']>>();
    const of = (d: string) => {
      let pipeline = pipelines.get(d);
      if (!pipeline) {
        pipeline = this.options.redis.pipeline();
        pipelines.set(d, pipeline);
      }
      return pipeline;
    };
    for (const [d, fields] of increments) {
      const p = of(d);
      const key = keys.statsBucket(d, index);
      for (const [field, n] of fields) p.hincrby(key, field, n);
      p.pexpire(key, keepMs);
    }
    for (const [d, e] of lastErrors) of(d).set(keys.lastError(d), JSON.stringify(e), 'PX', keepLastMs);
    for (const [d, at] of lastDelivered) {
      of(d).set(keys.lastDelivered(d), String(at), 'PX', keepLastMs);
      of(d).del(keys.pendingSince(d));
    }
    for (const [d, at] of pending) of(d).set(keys.pendingSince(d), String(at), 'PX', keepLastMs, 'NX');
    for (const [d, b] of breakers) of(d).set(keys.breaker(d), JSON.stringify(b), 'PX', keepLastMs);
    for (const [d, ms] of timeouts) of(d).set(keys.adaptedTimeout(d), String(ms), 'PX', keepLastMs);
    await Promise.all([...pipelines.values()].map((p) => p.exec()));
  }
}

/** The rolling counters of each destination over the last `windowMs`. */
export async function readRollingStats(options: {
  redis: Redis | Cluster;
  keys: RedisKeys;
  destinations: readonly string[];
  bucketMs: number;
  windowMs: number;
  now?: number;
}): Promise<Map<string, WindowStats>> {
  const { redis, keys, bucketMs, windowMs } = options;
  const now = options.now ?? Date.now();
  const last = Math.floor(now / bucketMs);
  const count = Math.max(1, Math.ceil(windowMs / bucketMs));
  const minuteBuckets = Math.max(1, Math.min(count, Math.ceil(60_000 / bucketMs)));
  const result = new Map<string, WindowStats>();
  await Promise.all(
    options.destinations.map(async (d) => {
      const p = redis.pipeline();
      for (let i = 0; i < count; i++) p.hgetall(keys.statsBucket(d, last - i));
      p.get(keys.lastError(d));
      p.get(keys.lastDelivered(d));
      p.get(keys.pendingSince(d));
      p.get(keys.breaker(d));
      p.get(keys.adaptedTimeout(d));
      const replies = (await p.exec()) ?? [];
      let at = 0;
      const next = () => {
        const [err, value] = replies[at++] ?? [null, null];
        if (err) throw err;
        return value;
      };
      const stats = emptyWindowStats();
      let deliveredInMinute = 0;
      for (let i = 0; i < count; i++) {
        const h = (next() ?? {}) as Record<string, string>;
        stats.routed += Number(h.r ?? 0);
        stats.attempts += Number(h.a ?? 0);
        stats.delivered += Number(h.d ?? 0);
        stats.failed += Number(h.f ?? 0);
        stats.deadLetters += Number(h.q ?? 0);
        if (i < minuteBuckets) deliveredInMinute += Number(h.d ?? 0);
        stats.latency = stats.latency.map((n, b) => n + Number(h[`l${b}`] ?? 0));
      }
      stats.deliveredPerMinute = (deliveredInMinute * 60_000) / (minuteBuckets * bucketMs);
      const lastError = next() as string | null;
      const lastDelivered = next() as string | null;
      const pendingSince = next() as string | null;
      const breaker = next() as string | null;
      const adapted = next() as string | null;
      if (lastError) stats.lastError = JSON.parse(lastError) as LastError;
      if (lastDelivered) stats.lastDeliveredAt = Number(lastDelivered);
      if (pendingSince) stats.pendingSince = Number(pendingSince);
      if (breaker) stats.breaker = JSON.parse(breaker) as BreakerRecord;
      if (adapted) stats.adaptedTimeoutMs = Number(adapted);
      result.set(d, stats);
    }),
  );
  return result;
}
