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
    auth: authSchema.optional(),
    /** When a rotating signing secret or static token expires (ISO-8601): warned about ahead. */
    secretsExpireAt: z.iso.datetime({ offset: true }).or(z.iso.date()).optional(),
    /** Warn this many days before a credential of this destination expires. */
    credentialWarningDays: z.number().int().min(0).max(365).default(14),
  })
  .superRefine((d, ctx) => {
    if (d.auth && Object.keys(d.headers).some((h) => h.toLowerCase() === 'authorization')) {
      ctx.addIssue({
        code: 'custom',
        path: ['headers', 'authorization'],
        message: 'conflicts with auth: Courier sets Authorization from auth; remove one of them',
      });
    }
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
  })
  .superRefine((c, ctx) => {
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
export type AuthConfig = NonNullable<DestinationConfig['auth']>;
