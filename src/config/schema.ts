// The shape of courier.yaml (DESIGN §6) with its defaults. Every object is strict, so a
// misspelt field is reported instead of silently ignored.
import { z } from 'zod';
import { parseDuration } from './duration.ts';

const DAY = 86_400_000;
const HOUR = 3_600_000;

const positiveInt = z.number().int().positive();

const retrySchema = z.strictObject({
  maxAttempts: positiveInt.max(1000).default(12),
  maxAgeMs: positiveInt.default(DAY),
  baseDelayMs: positiveInt.default(30_000),
  maxDelayMs: positiveInt.default(HOUR),
  jitter: z.number().min(0).max(1).default(0.25),
});

const breakerSchema = z.strictObject({
  errorThresholdPercentage: z.number().min(1).max(100).default(50),
  volumeThreshold: z.number().int().min(1).default(20),
  resetTimeoutMs: positiveInt.default(30_000),
  rollingWindowMs: positiveInt.default(10_000),
});

const RESERVED_HEADERS = new Set([
  'webhook-id',
  'webhook-timestamp',
  'webhook-signature',
  'content-type',
  'content-length',
  'host',
]);

const destinationSchema = z
  .strictObject({
    id: z
      .string()
      .max(100)
      .regex(/^[a-z0-9-]+$/, 'must match [a-z0-9-]+ (it names Kafka topics)'),
    url: z
      .url({ protocol: /^https?$/, error: 'must be an http or https URL' })
      .refine((u) => !new URL(u).username && !new URL(u).password, 'must not carry credentials; use headers'),
    eventTypes: z.array(z.string().min(1)).min(1).default(['*']),
    secrets: z
      .array(
        z
          .string()
          .regex(/^whsec_[A-Za-z0-9+/]+={0,2}$/, 'must be a Standard Webhooks secret: whsec_<base64>'),
      )
      .min(1, 'at least one signing secret is required'),
    headers: z
      .record(
        z
          .string()
          .regex(/^[A-Za-z0-9-]+$/, 'header names are letters, digits and dashes')
          .refine((name) => !RESERVED_HEADERS.has(name.toLowerCase()), 'this header is set by Courier'),
        z.string(),
      )
      .default({}),
    timeoutMs: positiveInt.max(300_000).default(10_000),
    concurrency: positiveInt.max(1024).default(16),
    rateLimit: z
      .strictObject({ perSecond: z.number().positive(), burst: positiveInt.optional() })
      .transform((r) => ({ perSecond: r.perSecond, burst: r.burst ?? Math.max(1, Math.ceil(r.perSecond)) }))
      .optional(),
    retry: retrySchema.default(retrySchema.parse({})),
    circuitBreaker: breakerSchema.default(breakerSchema.parse({})),
    partitions: positiveInt.max(1000).optional(),
    /** This destination owner's operator webhook: its alerts go there (as well as to `alerts.url`). */
    alerts: z.strictObject({ url: z.url({ protocol: /^https?$/ }).optional() }).optional(),
  })
  .superRefine((d, ctx) => {
    if (d.retry.maxDelayMs < d.retry.baseDelayMs) {
      ctx.addIssue({
        code: 'custom',
        path: ['retry', 'maxDelayMs'],
        message: 'must be at least retry.baseDelayMs',
      });
    }
  });

const tierSchema = z
  .string()
  .refine((t) => parseDuration(t) !== undefined, 'must be a duration like 500ms, 30s, 10m, 1h');

const observabilitySchema = z.strictObject({
  /** Serve /metrics, /healthz and /readyz from `courier run`. */
  enabled: z.boolean().default(true),
  port: z.number().int().min(0).max(65_535).default(9464),
  host: z.string().min(1).default('127.0.0.1'),
  /** The read-only status page at `/` (and per-event lookup at `/events/<id>`). */
  statusPage: z.boolean().default(false),
  /** How often consumer lag, oldest undelivered age, DLQ depth and retry backlog are read. */
  probeIntervalMs: positiveInt.default(15_000),
});

const alertThresholdsSchema = z.strictObject({
  /** No delivery for this long while events for the destination wait. */
  stalledMs: positiveInt.default(15 * 60_000),
  /** Success rate (0–1) under which the destination alerts, over `successWindowMs`. */
  successRate: z.number().min(0).max(1).default(0.95),
  successWindowMs: positiveInt.default(HOUR),
  /** Fewer attempts than this in the window never alert on success rate. */
  successMinAttempts: positiveInt.default(20),
  /** Circuit open (without closing in between) for longer than this. */
  circuitOpenMs: positiveInt.default(10 * 60_000),
  /** Dead letters written within this window alert; the alert clears once none was written in it. */
  deadLetterWindowMs: positiveInt.default(15 * 60_000),
  /** Oldest undelivered message older than this (a second alert fires past half the retention). */
  oldestUndeliveredMs: positiveInt.default(HOUR),
});

const alertsSchema = z.strictObject({
  /** The default operator webhook (Standard Webhooks, signed with `secret`). */
  url: z.url({ protocol: /^https?$/ }).optional(),
  secret: z
    .string()
    .regex(/^whsec_[A-Za-z0-9+/]+={0,2}$/, 'must be a Standard Webhooks secret: whsec_<base64>')
    .optional(),
  evaluateIntervalMs: positiveInt.default(15_000),
  /** An active alert is sent again at most this often. */
  repeatMs: positiveInt.default(HOUR),
  thresholds: alertThresholdsSchema.default(alertThresholdsSchema.parse({})),
});

export const configSchema = z
  .strictObject({
    kafka: z.strictObject({
      brokers: z.array(z.string().regex(/^[^\s:]+:\d+$/, 'must be host:port')).min(1),
      eventsTopic: z
        .string()
        .regex(/^[A-Za-z0-9._-]+$/)
        .default('events'),
      topicPrefix: z
        .string()
        .regex(/^[A-Za-z0-9_-]+$/)
        .default('courier'),
      clientId: z.string().default('courier'),
      replicationFactor: positiveInt.default(1),
      partitions: z
        .strictObject({
          events: positiveInt.default(6),
          destination: positiveInt.default(6),
          retry: positiveInt.default(3),
          dlq: positiveInt.default(3),
          attempts: positiveInt.default(6),
          invalid: positiveInt.default(3),
        })
        .default({ events: 6, destination: 6, retry: 3, dlq: 3, attempts: 6, invalid: 3 }),
      retentionMs: positiveInt.default(14 * DAY),
      /** Retention of the attempts topic (the delivery log), separate from the destination topics'. */
      attemptsRetentionMs: positiveInt.default(30 * DAY),
      /** Consumer session timeout: how soon a dead instance's partitions move to the others. */
      sessionTimeoutMs: z.number().int().min(1000).max(300_000).default(30_000),
    }),
    redis: z
      .strictObject({ url: z.string().regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL') })
      .default({
        url: 'redis://127.0.0.1:6379',
      }),
    schemaRegistry: z.strictObject({ url: z.url({ protocol: /^https?$/ }) }).optional(),
    network: z
      .strictObject({ allowPrivateAddresses: z.boolean().default(false) })
      .default({ allowPrivateAddresses: false }),
    router: z
      .strictObject({ maxEventBytes: positiveInt.default(512 * 1024) })
      .default({ maxEventBytes: 512 * 1024 }),
    idempotency: z
      .strictObject({
        windowMs: z
          .number()
          .int()
          .min(2 * DAY, 'must be at least 48h (172800000)')
          .default(7 * DAY),
      })
      .default({ windowMs: 7 * DAY }),
    retryTiers: z.array(tierSchema).min(1).default(['30s', '1m', '2m', '5m', '10m', '30m', '1h']),
    destinations: z.array(destinationSchema).default([]),
    observability: observabilitySchema.default(observabilitySchema.parse({})),
    alerts: alertsSchema.default(alertsSchema.parse({})),
  })
  .superRefine((c, ctx) => {
    if (!c.alerts.secret && (c.alerts.url || c.destinations.some((d) => d.alerts?.url))) {
      ctx.addIssue({
        code: 'custom',
        path: ['alerts', 'secret'],
        message: 'required when an operator webhook (alerts.url or a destination alerts.url) is set',
      });
    }
    const seen = new Map<string, number>();
    c.destinations.forEach((d, i) => {
      const first = seen.get(d.id);
      if (first !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['destinations', i, 'id'],
          message: `duplicate id "${d.id}" (also destinations[${first}])`,
        });
      } else {
        seen.set(d.id, i);
      }
    });
    const tiers = new Map<number, string>();
    c.retryTiers.forEach((t, i) => {
      const ms = parseDuration(t);
      if (ms === undefined) return;
      if (tiers.has(ms)) {
        ctx.addIssue({
          code: 'custom',
          path: ['retryTiers', i],
          message: `duplicate tier (same as ${tiers.get(ms)})`,
        });
      }
      tiers.set(ms, t);
    });
  });

export type CourierConfig = z.output<typeof configSchema>;
export type DestinationConfig = CourierConfig['destinations'][number];
export type RetryPolicy = DestinationConfig['retry'];
export type AlertThresholds = CourierConfig['alerts']['thresholds'];
