// The shape of one destination in courier.yaml, with its defaults and what every field does (the
// descriptions feed the generated configuration reference and JSON Schema). Every object is
// strict, so a misspelt field is reported instead of silently ignored.
import { z } from 'zod';
import { duration, headerName, headerValue, httpUrl } from './fields.ts';

const positiveInt = z.number().int().positive();

/** A Standard Webhooks signing secret. */
export const webhookSecret = z
  .string()
  .regex(/^whsec_[A-Za-z0-9+/]+={0,2}$/, 'must be a Standard Webhooks secret: whsec_<base64>');

export const retrySchema = z
  .strictObject({
    maxAttempts: positiveInt
      .max(1000)
      .default(12)
      .describe('Attempts in all (the first one included) before the event is dead-lettered as `exhausted`.'),
    maxAgeMs: duration()
      .default(86_400_000)
      .describe(
        'No attempt is scheduled later than this after the first one; past it the event is dead-lettered as `exhausted`.',
      ),
    baseDelayMs: duration()
      .default(30_000)
      .describe('Delay before the first retry; each later one doubles it (exponential backoff).'),
    maxDelayMs: duration()
      .optional()
      .describe(
        'Longest delay between two attempts, and the longest `Retry-After` honoured. Default: 1 h, or the largest retry tier when that is shorter; may not exceed the largest tier.',
      ),
    jitter: z
      .number()
      .min(0)
      .max(1)
      .default(0.25)
      .describe('Random spread of each delay, as a share of it (0.25: ±25 %).'),
  })
  .describe(
    'The retry budget and backoff of transient failures (408, 425, 429, 5xx, timeouts, network errors).',
  );

export const breakerSchema = z
  .strictObject({
    errorThresholdPercentage: z
      .number()
      .min(1)
      .max(100)
      .default(50)
      .describe(
        'The circuit opens when this share (%) of the attempts in the rolling window failed transiently.',
      ),
    volumeThreshold: z
      .number()
      .int()
      .min(1)
      .default(20)
      .describe('Fewer attempts than this in the rolling window never open the circuit.'),
    resetTimeoutMs: duration()
      .default(30_000)
      .describe('How long an open circuit waits before one probe is let through (half-open).'),
    rollingWindowMs: duration().default(10_000).describe('The window over which failures are counted.'),
  })
  .describe(
    'The circuit breaker: while open, nothing is sent or fetched for the destination and no attempt or retry budget is spent.',
  );

/**
 * How Courier authenticates to a destination. `cert`, `key` and `ca` are PEM text (starting with
 * "-----BEGIN") or a path to a PEM file, read at start.
 */
export const authSchema = z
  .discriminatedUnion('type', [
    z.strictObject({
      type: z.literal('oauth2').describe('OAuth 2.0 client credentials grant (RFC 6749 §4.4).'),
      tokenUrl: z
        .url({ protocol: /^https?$/, error: 'must be an http or https URL' })
        .describe('The token endpoint (called through the same SSRF guard as deliveries).'),
      clientId: z.string().min(1).describe('The client id.'),
      clientSecret: z.string().min(1).describe('The client secret; put it in a `${ENV}` reference.'),
      scope: z.string().min(1).optional().describe('Sent as the `scope` form field.'),
      audience: z.string().min(1).optional().describe('Sent as the `audience` form field (Auth0 style).'),
      authMethod: z
        .enum(['client_secret_basic', 'client_secret_post'])
        .default('client_secret_basic')
        .describe('How the client authenticates to the token endpoint: HTTP Basic, or in the form body.'),
      refreshBeforeMs: positiveInt
        .default(60_000)
        .describe(
          'Fetch a new token this long before the current one expires (never before half its lifetime).',
        ),
      timeoutMs: positiveInt.max(60_000).default(10_000).describe('Timeout of one token request (ms).'),
    }),
    z.strictObject({
      type: z.literal('basic').describe('HTTP Basic authentication on every request.'),
      username: z.string().min(1).describe('The user name.'),
      password: z.string().describe('The password; put it in a `${ENV}` reference.'),
    }),
    z.strictObject({
      type: z.literal('mtls').describe('A client certificate (mutual TLS).'),
      cert: z.string().min(1).describe('The client certificate: PEM text or the path of a PEM file.'),
      key: z.string().min(1).describe('Its private key: PEM text or the path of a PEM file.'),
      ca: z
        .string()
        .min(1)
        .optional()
        .describe("A CA bundle (PEM or path) that replaces the default roots for this destination's server."),
    }),
  ])
  .describe(
    'How Courier authenticates to the destination, besides signing; Courier sets `Authorization` from it.',
  );

const DEFAULT_WINDOW = { messages: 5000, bytes: 16 * 1024 * 1024 };

export const destinationSchema = z
  .strictObject({
    id: z
      .string()
      .max(100)
      .regex(/^[a-z0-9-]+$/, 'must match [a-z0-9-]+ (it names Kafka topics)')
      .describe(
        'The destination id: names its topics (`<prefix>.dest.<id>`, `<prefix>.dlq.<id>`) and consumer group.',
      ),
    url: httpUrl({ credentials: false }).describe(
      'Where events are POSTed (http or https; no credentials in the URL: use `headers` or `auth`).',
    ),
    eventTypes: z
      .array(z.string().min(1))
      .min(1)
      .default(['*'])
      .describe(
        'Glob patterns of the event types this destination receives: `*` any run of characters, `?` one.',
      ),
    secrets: z
      .array(webhookSecret)
      .min(1, 'at least one signing secret is required')
      .describe(
        'Standard Webhooks signing secrets (`whsec_<base64>`); every one signs each request (rotation: add the new one, later remove the old).',
      ),
    headers: z
      .record(headerName, headerValue)
      .default({})
      .describe(
        'Extra request headers (printable ASCII values). `webhook-*`, `content-type`, `content-length`, `host` and connection headers cannot be set.',
      ),
    timeoutMs: duration({ max: 300_000 })
      .default(10_000)
      .describe('Timeout of one request: connect (at most 10 s), response headers and body.'),
    concurrency: positiveInt
      .max(1024)
      .default(16)
      .describe('Requests in flight at once per instance (different keys; one key is always in order).'),
    rateLimit: z
      .strictObject({
        perSecond: z.number().positive().describe('Requests per second, across every instance.'),
        burst: positiveInt
          .optional()
          .describe('Requests that may go at once after a quiet spell. Default: perSecond, rounded up.'),
      })
      .transform((r) => ({ perSecond: r.perSecond, burst: r.burst ?? Math.max(1, Math.ceil(r.perSecond)) }))
      .optional()
      .describe('A rate limit shared by every instance (GCRA in Redis). Unset: no limit.'),
    retry: retrySchema.default(retrySchema.parse({})),
    circuitBreaker: breakerSchema.default(breakerSchema.parse({})),
    partitions: positiveInt
      .max(1000)
      .optional()
      .describe('Partitions of this destination topic; default `kafka.partitions.destination`.'),
    alerts: z
      .strictObject({
        url: httpUrl({ credentials: false })
          .optional()
          .describe(
            "This destination owner's operator webhook: its alerts go there as well as to `alerts.url`.",
          ),
      })
      .optional()
      .describe("This destination's own alert receiver."),
    window: z
      .strictObject({
        messages: positiveInt
          .max(1_000_000)
          .default(DEFAULT_WINDOW.messages)
          .describe('Messages held in memory (in flight, or waiting behind a slow key or a pause).'),
        bytes: positiveInt.default(DEFAULT_WINDOW.bytes).describe('Their bytes (values, keys, headers).'),
      })
      .default(DEFAULT_WINDOW)
      .describe(
        'What one instance holds in memory for this destination, split between its partitions; a partition whose share is full stops fetching until half of it is done.',
      ),
    auth: authSchema.optional(),
    healthCheck: z
      .strictObject({
        url: httpUrl({ credentials: false })
          .optional()
          .describe("What to ask; default the destination's url."),
        method: z.enum(['HEAD', 'GET', 'OPTIONS']).default('HEAD').describe('The request method.'),
        expectStatus: z
          .union([z.number().int().min(100).max(599), z.array(z.number().int().min(100).max(599)).min(1)])
          .optional()
          .describe(
            'The status (or statuses) that mean ready. Unset: any answer but a 5xx or a 429 (a 405 to a HEAD is a server that is up).',
          ),
        timeoutMs: duration({ max: 60_000 })
          .optional()
          .describe("The check's timeout; default the destination's timeoutMs."),
      })
      .optional()
      .describe(
        'The readiness check before a replay: a replay is refused (exit 1, naming the answer) unless it answers as expected; `courier replay --force` skips it.',
      ),
    secretsExpireAt: z.iso
      .datetime({ offset: true })
      .or(z.iso.date())
      .optional()
      .describe(
        'When the signing secret or a static token expires (ISO-8601): warned about `credentialWarningDays` ahead.',
      ),
    credentialWarningDays: z
      .number()
      .int()
      .min(0)
      .max(365)
      .default(14)
      .describe('Warn this many days before a credential of this destination (certificate, secret) expires.'),
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
  })
  .describe('One webhook destination: where events go, which ones, and how failures are handled.');
