// The shape of courier.yaml (DESIGN §6) with its defaults. Every object is strict, so a
// misspelt field is reported instead of silently ignored. Duplicate destination ids are checked
// in crossChecks.ts, so that they are reported even when a field fails.
import { z } from 'zod';
import { parseDuration } from './duration.ts';
import { duration, headerName, headerValue, httpUrl, redisUrl } from './fields.ts';
import { tlsSchema } from './tls.ts';

const DAY = 86_400_000;
const HOUR = 3_600_000;

const positiveInt = z.number().int().positive();

const retrySchema = z.strictObject({
  maxAttempts: positiveInt.max(1000).default(12),
  maxAgeMs: duration().default(DAY),
  baseDelayMs: duration().default(30_000),
  /** Unset: 1 h, or the largest retry tier when that is shorter (filled in below). */
  maxDelayMs: duration().optional(),
  jitter: z.number().min(0).max(1).default(0.25),
});

const breakerSchema = z.strictObject({
  errorThresholdPercentage: z.number().min(1).max(100).default(50),
  volumeThreshold: z.number().int().min(1).default(20),
  resetTimeoutMs: duration().default(30_000),
  rollingWindowMs: duration().default(10_000),
});

/**
 * How Courier authenticates to a destination (issue 9). `cert`, `key` and `ca` are PEM text
 * (starting with "-----BEGIN") or a path to a PEM file, read at start.
 */
const authSchema = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('oauth2'),
    tokenUrl: z.url({ protocol: /^https?$/, error: 'must be an http or https URL' }),
    clientId: z.string().min(1),
    clientSecret: z.string().min(1),
    scope: z.string().min(1).optional(),
    audience: z.string().min(1).optional(),
    authMethod: z.enum(['client_secret_basic', 'client_secret_post']).default('client_secret_basic'),
    /** Refresh this long before the token expires (at most half its lifetime). */
    refreshBeforeMs: positiveInt.default(60_000),
    /** Timeout of one token request. */
    timeoutMs: positiveInt.max(60_000).default(10_000),
  }),
  z.strictObject({ type: z.literal('basic'), username: z.string().min(1), password: z.string() }),
  z.strictObject({
    type: z.literal('mtls'),
    cert: z.string().min(1),
    key: z.string().min(1),
    ca: z.string().min(1).optional(),
  }),
]);

const destinationSchema = z
  .strictObject({
    id: z
      .string()
      .max(100)
      .regex(/^[a-z0-9-]+$/, 'must match [a-z0-9-]+ (it names Kafka topics)'),
    url: httpUrl({ credentials: false }),
    eventTypes: z.array(z.string().min(1)).min(1).default(['*']),
    secrets: z
      .array(
        z
          .string()
          .regex(/^whsec_[A-Za-z0-9+/]+={0,2}$/, 'must be a Standard Webhooks secret: whsec_<base64>'),
      )
      .min(1, 'at least one signing secret is required'),
    headers: z.record(headerName, headerValue).default({}),
    timeoutMs: duration({ max: 300_000 }).default(10_000),
    concurrency: positiveInt.max(1024).default(16),
    rateLimit: z
      .strictObject({ perSecond: z.number().positive(), burst: positiveInt.optional() })
      .transform((r) => ({ perSecond: r.perSecond, burst: r.burst ?? Math.max(1, Math.ceil(r.perSecond)) }))
      .optional(),
    retry: retrySchema.default(retrySchema.parse({})),
    circuitBreaker: breakerSchema.default(breakerSchema.parse({})),
    partitions: positiveInt.max(1000).optional(),
    /** This destination owner's operator webhook: its alerts go there (as well as to `alerts.url`). */
    alerts: z.strictObject({ url: httpUrl({ credentials: false }).optional() }).optional(),
    /**
     * Messages (and their bytes) held in memory per destination, in flight or waiting behind a
     * slow key or a pause; a partition whose share is full is paused until half of it is done.
     */
    window: z
      .strictObject({
        messages: positiveInt.max(1_000_000).default(5000),
        bytes: positiveInt.default(16 * 1024 * 1024),
      })
      .default({ messages: 5000, bytes: 16 * 1024 * 1024 }),
    auth: authSchema.optional(),
    /** When a rotating signing secret or static token expires (ISO-8601): warned about ahead. */
    secretsExpireAt: z.iso.datetime({ offset: true }).or(z.iso.date()).optional(),
    /** Warn this many days before a credential of this destination expires. */
    credentialWarningDays: z.number().int().min(0).max(365).default(14),
  })
  // Runs only when every field of this destination is valid (zod skips it otherwise).
  .superRefine((d, ctx) => {
    if (d.auth && Object.keys(d.headers).some((h) => h.toLowerCase() === 'authorization')) {
      ctx.addIssue({
        code: 'custom',
        path: ['headers', 'authorization'],
        message: 'conflicts with auth: Courier sets Authorization from auth; remove one of them',
      });
    }
    if (d.retry.maxDelayMs !== undefined && d.retry.maxDelayMs < d.retry.baseDelayMs) {
      ctx.addIssue({
        code: 'custom',
        path: ['retry', 'maxDelayMs'],
        message: 'must be at least retry.baseDelayMs',
      });
    }
  });

const hostPort = z.string().regex(/^[^\s:]+:\d+$/, 'must be host:port');

/** SASL for managed or secured Kafka; secrets belong in ${ENV} references, not in the file. */
const saslSchema = z.discriminatedUnion('mechanism', [
  z.strictObject({
    mechanism: z.enum(['plain', 'scram-sha-256', 'scram-sha-512']),
    username: z.string().min(1),
    password: z.string().min(1),
  }),
  z
    .strictObject({
      mechanism: z.literal('oauthbearer'),
      /** A token obtained elsewhere (refreshed by restarting); or the client-credentials fields below. */
      token: z.string().min(1).optional(),
      /** OAuth 2.0 token endpoint for the client-credentials grant. */
      tokenUrl: z.url({ protocol: /^https?$/ }).optional(),
      clientId: z.string().min(1).optional(),
      clientSecret: z.string().min(1).optional(),
      scope: z.string().min(1).optional(),
      /** SASL extensions sent with the token (Confluent Cloud: logicalCluster, identityPoolId). */
      extensions: z.record(z.string(), z.string()).optional(),
    })
    .superRefine((o, ctx) => {
      const viaEndpoint =
        o.tokenUrl !== undefined || o.clientId !== undefined || o.clientSecret !== undefined;
      if (o.token !== undefined && viaEndpoint) {
        ctx.addIssue({
          code: 'custom',
          message: 'give either token or tokenUrl/clientId/clientSecret, not both',
        });
      } else if (o.token === undefined) {
        for (const field of ['tokenUrl', 'clientId', 'clientSecret'] as const) {
          if (o[field] === undefined) {
            ctx.addIssue({
              code: 'custom',
              path: [field],
              message: 'required for OAUTHBEARER without a static token',
            });
          }
        }
      }
    }),
]);

const redisSchema = z
  .strictObject({
    /** A standalone server: redis://[user:password@]host:port[/db], rediss:// for TLS. */
    url: redisUrl.default('redis://127.0.0.1:6379'),
    /** ACL user and password; they win over credentials in the URL and apply to every node. */
    username: z.string().min(1).optional(),
    password: z.string().min(1).optional(),
    /** TLS towards Redis (implied by rediss://); here for a private CA or client certificates. */
    tls: tlsSchema.optional(),
    /** Redis Cluster: seed nodes (the rest are discovered). `url` is then ignored. */
    cluster: z.strictObject({ nodes: z.array(hostPort).min(1) }).optional(),
    /** Redis Sentinel: the sentinels and the monitored master's name. `url` is then ignored. */
    sentinel: z
      .strictObject({
        sentinels: z.array(hostPort).min(1),
        name: z.string().min(1),
        username: z.string().min(1).optional(),
        password: z.string().min(1).optional(),
      })
      .optional(),
  })
  .superRefine((r, ctx) => {
    if (r.cluster && r.sentinel) {
      ctx.addIssue({ code: 'custom', path: ['sentinel'], message: 'choose cluster or sentinel, not both' });
    }
  });

export type RedisConfig = z.output<typeof redisSchema>;

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
  probeIntervalMs: duration().default(15_000),
});

const alertThresholdsSchema = z.strictObject({
  /** No delivery for this long while events for the destination wait. */
  stalledMs: duration().default(15 * 60_000),
  /** Success rate (0–1) under which the destination alerts, over `successWindowMs`. */
  successRate: z.number().min(0).max(1).default(0.95),
  successWindowMs: duration().default(HOUR),
  /** Fewer attempts than this in the window never alert on success rate. */
  successMinAttempts: positiveInt.default(20),
  /** Circuit open (without closing in between) for longer than this. */
  circuitOpenMs: duration().default(10 * 60_000),
  /** Dead letters written within this window alert; the alert clears once none was written in it. */
  deadLetterWindowMs: duration().default(15 * 60_000),
  /** Oldest undelivered message older than this (a second alert fires past half the retention). */
  oldestUndeliveredMs: duration().default(HOUR),
});

const alertsSchema = z.strictObject({
  /** The default operator webhook (Standard Webhooks, signed with `secret`). */
  url: httpUrl({ credentials: false }).optional(),
  secret: z
    .string()
    .regex(/^whsec_[A-Za-z0-9+/]+={0,2}$/, 'must be a Standard Webhooks secret: whsec_<base64>')
    .optional(),
  evaluateIntervalMs: duration().default(15_000),
  /** An active alert is sent again at most this often. */
  repeatMs: duration().default(HOUR),
  thresholds: alertThresholdsSchema.default(alertThresholdsSchema.parse({})),
});

export const configSchema = z
  .strictObject({
    kafka: z.strictObject({
      brokers: z.array(hostPort).min(1),
      /** TLS towards the brokers: `true` for the system roots, or CA / client certificate settings. */
      ssl: z.union([z.boolean(), tlsSchema]).optional(),
      sasl: saslSchema.optional(),
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
      retentionMs: duration().default(14 * DAY),
      /** Retention of the attempts topic (the delivery log), separate from the destination topics'. */
      attemptsRetentionMs: duration().default(30 * DAY),
      /** Consumer session timeout: how soon a dead instance's partitions move to the others. */
      sessionTimeoutMs: duration({ min: 1000, max: 300_000 }).default(30_000),
    }),
    redis: redisSchema.default({ url: 'redis://127.0.0.1:6379' }),
    schemaRegistry: z
      .strictObject({
        url: httpUrl({ credentials: true }),
        /** Basic auth (Confluent Cloud: API key and secret). */
        username: z.string().min(1).optional(),
        password: z.string().min(1).optional(),
        tls: tlsSchema.optional(),
      })
      .optional(),
    network: z
      .strictObject({ allowPrivateAddresses: z.boolean().default(false) })
      .default({ allowPrivateAddresses: false }),
    router: z
      .strictObject({ maxEventBytes: positiveInt.default(512 * 1024) })
      .default({ maxEventBytes: 512 * 1024 }),
    idempotency: z
      .strictObject({
        windowMs: duration({ min: 2 * DAY, minMessage: 'must be at least 48h (172800000)' }).default(7 * DAY),
      })
      .default({ windowMs: 7 * DAY }),
    retryTiers: z.array(tierSchema).min(1).default(['30s', '1m', '2m', '5m', '10m', '30m', '1h']),
    destinations: z.array(destinationSchema).default([]),
    observability: observabilitySchema.default(observabilitySchema.parse({})),
    alerts: alertsSchema.default(alertsSchema.parse({})),
  })
  // Skipped by zod when any field fails; duplicate ids are checked in crossChecks.ts instead.
  .superRefine((c, ctx) => {
    if (!c.alerts.secret && (c.alerts.url || c.destinations.some((d) => d.alerts?.url))) {
      ctx.addIssue({
        code: 'custom',
        path: ['alerts', 'secret'],
        message: 'required when an operator webhook (alerts.url or a destination alerts.url) is set',
      });
    }
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
    // A retry delay longer than the largest tier would park at the head of that tier's shared
    // partitions and hold every destination's retries behind it (Courier caps delays there).
    const largest = Math.max(...c.retryTiers.map((t) => parseDuration(t) ?? 0));
    c.destinations.forEach((d, i) => {
      if (d.retry.maxDelayMs !== undefined && d.retry.maxDelayMs > largest) {
        ctx.addIssue({
          code: 'custom',
          path: ['destinations', i, 'retry', 'maxDelayMs'],
          message: `must not exceed the largest retry tier (${largest} ms)`,
        });
      }
    });
  })
  // The default maxDelayMs is 1 h, or the largest tier when that is shorter.
  .transform((c) => {
    const largest = Math.max(...c.retryTiers.map((t) => parseDuration(t) ?? 0));
    return {
      ...c,
      destinations: c.destinations.map((d) => ({
        ...d,
        retry: { ...d.retry, maxDelayMs: d.retry.maxDelayMs ?? Math.min(HOUR, largest) },
      })),
    };
  });

export type CourierConfig = z.output<typeof configSchema>;
export type DestinationConfig = CourierConfig['destinations'][number];
export type RetryPolicy = DestinationConfig['retry'];
export type AuthConfig = NonNullable<DestinationConfig['auth']>;
export type AlertThresholds = CourierConfig['alerts']['thresholds'];
