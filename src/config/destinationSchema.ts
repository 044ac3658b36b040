// The shape of one destination in courier.yaml, with its defaults and what every field does (the
// descriptions feed the generated configuration reference and JSON Schema). Every object is
// strict, so a misspelt field is reported instead of silently ignored.
import { z } from 'zod';
import { compileFilter, compileHeaderValue, compileTransform } from '../cloudevents/expressions.ts';
import { parseStatusRule, type StatusRange, statusRuleProblems } from '../policy/statusRules.ts';
import { duration, durationOr, headerName, headerValue, httpUrl, proxySetting } from './fields.ts';

/** A string that must compile; the compile problem is the field's listed problem. */
function expression(compile: (source: string) => { ok: true } | { ok: false; problem: string }) {
  return z
    .string()
    .min(1)
    .check((ctx) => {
      const compiled = compile(ctx.value);
      if (!compiled.ok) ctx.issues.push({ code: 'custom', input: ctx.value, message: compiled.problem });
    });
}

/** A status rule: a status (409), a range ("500-504") or a class ("5xx"). */
const statusRule = z.union([z.number().int(), z.string()]).check((ctx) => {
  const parsed = parseStatusRule(ctx.value);
  if (typeof parsed === 'string') ctx.issues.push({ code: 'custom', input: ctx.value, message: parsed });
});

/** What one event's expressions may use, per destination, unless `expressionLimits` says otherwise. */
export const DEFAULT_EXPRESSION_LIMITS = { cpuMs: 100, outputBytes: 1_000_000, headerBytes: 8192 } as const;

const positiveInt = z.number().int().positive();

/**
 * A Standard Webhooks signing secret: `whsec_<base64>` (HMAC-SHA256, signatures `v1`) or
 * `whsk_<base64>` (an Ed25519 secret key, 32 or 64 bytes; signatures `v1a`).
 */
export const webhookSecret = z
  .string()
  .regex(
    /^(whsec|whsk)_[A-Za-z0-9+/]+={0,2}$/,
    'must be a Standard Webhooks secret: whsec_<base64> (HMAC) or whsk_<base64> (Ed25519)',
  )
  .refine(
    (s) => !s.startsWith('whsk_') || [32, 64].includes(Buffer.from(s.slice(5), 'base64').length),
    'an Ed25519 secret (whsk_) is 32 bytes (a seed) or 64 (seed and public key), base64',
  );

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
        'Standard Webhooks signing secrets: `whsec_<base64>` signs with HMAC-SHA256 (`v1,…`), `whsk_<base64>` with Ed25519 (`v1a,…`; receivers verify with the public key `courier keys public` prints). Every one signs each request, mixed freely (rotation: add the new one, later remove the old).',
      ),
    headers: z
      .record(
        headerName,
        z.union([
          headerValue,
          z
            .strictObject({
              from: expression(compileHeaderValue).describe(
                'A CEL expression over the event giving the value, e.g. `id` (an idempotency key) or `data.tenant`.',
              ),
              optional: z
                .boolean()
                .default(false)
                .describe(
                  'When the event has no valid value for it (missing, an error, not a valid header value), send no header (else the event is dead-lettered as `invalid-request`).',
                ),
              secret: z
                .boolean()
                .default(false)
                .describe('Never show the value: logs, attempt records and CLI output mask it.'),
            })
            .describe('A value taken from each event.'),
        ]),
      )
      .default({})
      .describe(
        'Extra request headers: a fixed value (printable ASCII), or `{ from: <CEL> }` to take it from each event. `webhook-*`, `user-agent`, `content-type`, `content-length`, `host` and connection headers cannot be set.',
      ),
    filter: expression(compileFilter)
      .optional()
      .describe(
        'A CEL condition over the event (`type`, `source`, `subject`, `id`, `time`, `data`, `extensions`), e.g. `type == "order.created" && data.total > 1000`; only events it holds for go to this destination. An event it cannot evaluate (a missing field, a wrong type) is not routed here and is counted.',
      ),
    transform: expression((source) => compileTransform(source))
      .optional()
      .describe(
        'A JSONata expression over the event producing the body sent (and signed) instead of the CloudEvent, e.g. `{ "id": id, "email": data.contact.email }`. An event it cannot handle is dead-lettered as `transform-failed`.',
      ),
    expressionLimits: z
      .strictObject({
        cpuMs: duration({ max: 10_000 })
          .optional()
          .describe(
            `CPU time one event's filter, header values and transform may use together, measured on the thread that evaluates them (not wall clock shared with other events). Past it the evaluation is stopped and the event is this destination's \`transform-failed\` dead letter. Default ${DEFAULT_EXPRESSION_LIMITS.cpuMs} ms (or \`transformTimeoutMs\`).`,
          ),
        outputBytes: positiveInt
          .default(DEFAULT_EXPRESSION_LIMITS.outputBytes)
          .describe(
            "The largest body the transform may produce (bytes of JSON); a larger one is this destination's `too-large` dead letter.",
          ),
        headerBytes: positiveInt
          .max(65_536)
          .default(DEFAULT_EXPRESSION_LIMITS.headerBytes)
          .describe(
            "The largest value a header taken from the event may have; a larger one is this destination's `too-large` dead letter.",
          ),
      })
      .default({
        outputBytes: DEFAULT_EXPRESSION_LIMITS.outputBytes,
        headerBytes: DEFAULT_EXPRESSION_LIMITS.headerBytes,
      })
      .describe(
        "What this destination's expressions (filter, headers from the event, transform) may use per event. Memory is bounded per expression host (`router.expressions.memoryMb`).",
      ),
    transformTimeoutMs: duration({ max: 10_000 })
      .optional()
      .describe('Former name of `expressionLimits.cpuMs` (still read; set only one of them).'),
    retryOn: z
      .array(statusRule)
      .default([])
      .describe('Statuses (409), ranges ("500-504") or classes ("4xx") retried, whatever the default says.'),
    deadLetterOn: z
      .array(statusRule)
      .default([])
      .describe(
        'Statuses, ranges or classes dead-lettered at once as `permanent` (e.g. a 503 that means "never").',
      ),
    proxy: proxySetting()
      .optional()
      .describe(
        'An egress proxy URL for this destination, or false to connect directly; default `network.proxy`.',
      ),
    timeoutMs: durationOr('auto', { max: 300_000 })
      .default(10_000)
      .describe(
        'Timeout of one request: connect (at most 10 s), response headers and body. `auto`: adapted to the latency observed, within `autoTimeout`.',
      ),
    autoTimeout: z
      .strictObject({
        minMs: duration({ max: 300_000 }).default(1000).describe('Never shorter.'),
        maxMs: duration({ max: 300_000 })
          .default(30_000)
          .describe('Never longer (also the timeout until enough answers were seen).'),
      })
      .optional()
      .describe('The bounds of `timeoutMs: auto`.'),
    concurrency: positiveInt
      .max(1024)
      .default(16)
      .describe('Requests in flight at once per instance (different keys; one key is always in order).'),
    ordering: z
      .enum(['relaxed', 'strict'])
      .default('relaxed')
      .describe(
        "`relaxed`: a key's events are sent in order while they succeed; one being retried waits on a retry topic while later events of its key go on. `strict`: a retried event is retried in place, and later events of its key wait until it is delivered or dead-lettered (other keys go on); a dead letter releases the key, and the next event's attempt record names it (`afterGap`). Costs: docs/guarantees.md.",
      ),
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
      .describe(
        'Alert (`credential-expiring`) this many days before a credential of this destination (client certificate, `secretsExpireAt`) expires.',
      ),
    tlsWarningDays: z
      .number()
      .int()
      .min(0)
      .max(365)
      .default(14)
      .describe(
        "Alert (`tls-certificate-expiring`) this many days before the destination's own HTTPS certificate expires, as seen in real handshakes (or a handshake-only probe when no delivery flows).",
      ),
    rescueAtRetentionShare: z
      .number()
      .min(0.1)
      .max(0.95)
      .optional()
      .describe(
        "This destination's own `kafka.rescueAtRetentionShare`: a message of it held (paused, circuit open) this share of `kafka.retentionMs` moves to its DLQ as `held-too-long`. Lower it for an owner who would rather have held events dead-lettered (and replayed later) sooner. Applies live.",
      ),
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
    for (const p of statusRuleProblems(statusRules(d))) {
      ctx.addIssue({ code: 'custom', path: [p.list, p.index], message: p.problem });
    }
    if (d.transformTimeoutMs !== undefined && d.expressionLimits.cpuMs !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['transformTimeoutMs'],
        message: 'is the former name of expressionLimits.cpuMs: set only expressionLimits.cpuMs',
      });
    }
    if (d.autoTimeout && d.timeoutMs !== 'auto') {
      ctx.addIssue({ code: 'custom', path: ['autoTimeout'], message: 'only with timeoutMs: auto' });
    }
    if (d.autoTimeout && d.autoTimeout.minMs > d.autoTimeout.maxMs) {
      ctx.addIssue({
        code: 'custom',
        path: ['autoTimeout', 'minMs'],
        message: 'must not exceed autoTimeout.maxMs',
      });
    }
  })
  .describe('One webhook destination: where events go, which ones, and how failures are handled.');

/** A destination's status rules as ranges (the entries were checked by the schema). */
export function statusRules(d: { retryOn: Array<number | string>; deadLetterOn: Array<number | string> }) {
  const ranges = (list: Array<number | string>) =>
    list.map(parseStatusRule).filter((r): r is StatusRange => typeof r !== 'string');
  return { retryOn: ranges(d.retryOn), deadLetterOn: ranges(d.deadLetterOn) };
}
