// The shape of courier.yaml with its defaults and what every field does (the descriptions feed
// the generated configuration reference and JSON Schema, see reference.ts). Every object is
// strict, so a misspelt field is reported instead of silently ignored. Duplicate destination ids
// are checked in crossChecks.ts, so that they are reported even when a field fails. The
// destination's own fields are in destinationSchema.ts.
import { z } from 'zod';
import { parseDuration } from '../duration.ts';
import { destinationSchema, webhookSecret } from './destinationSchema.ts';
import { duration, httpUrl, proxySetting, redisUrl, retention } from './fields.ts';
import { tlsSchema } from './tls.ts';

const DAY = 86_400_000;
const HOUR = 3_600_000;

const positiveInt = z.number().int().positive();

const hostPort = z.string().regex(/^[^\s:]+:\d+$/, 'must be host:port');

/** SASL for managed or secured Kafka; secrets belong in ${ENV} references, not in the file. */
const saslSchema = z
  .discriminatedUnion('mechanism', [
    z.strictObject({
      mechanism: z.enum(['plain', 'scram-sha-256', 'scram-sha-512']).describe('The SASL mechanism.'),
      username: z.string().min(1).describe('The SASL user (Confluent Cloud: the API key).'),
      password: z.string().min(1).describe('Its password (Confluent Cloud: the API secret).'),
    }),
    z
      .strictObject({
        mechanism: z.literal('oauthbearer').describe('SASL/OAUTHBEARER.'),
        token: z
          .string()
          .min(1)
          .optional()
          .describe(
            'A token obtained elsewhere, sent as is (restart to change it); or the client-credentials fields.',
          ),
        tokenUrl: z
          .url({ protocol: /^https?$/ })
          .optional()
          .describe('OAuth 2.0 token endpoint for the client-credentials grant.'),
        clientId: z.string().min(1).optional().describe('The client id (with tokenUrl).'),
        clientSecret: z.string().min(1).optional().describe('The client secret (with tokenUrl).'),
        scope: z.string().min(1).optional().describe('The scope asked for.'),
        extensions: z
          .record(z.string(), z.string())
          .optional()
          .describe('SASL extensions sent with the token (Confluent Cloud: logicalCluster, identityPoolId).'),
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
  ])
  .describe('SASL authentication towards the brokers (without `ssl` it is SASL_PLAINTEXT).');

const redisSchema = z
  .strictObject({
    url: redisUrl
      .default('redis://127.0.0.1:6379')
      .describe('A standalone server: `redis://[user:password@]host:port[/db]`, `rediss://` for TLS.'),
    username: z
      .string()
      .min(1)
      .optional()
      .describe('ACL user; wins over credentials in the URL and applies to every node.'),
    password: z.string().min(1).optional().describe('Its password.'),
    tls: tlsSchema
      .optional()
      .describe('TLS towards Redis (implied by `rediss://`): a private CA or client certificates.'),
    cluster: z
      .strictObject({
        nodes: z.array(hostPort).min(1).describe('Seed nodes, `host:port`; the rest are discovered.'),
      })
      .optional()
      .describe('A Redis Cluster; `url` is then not used.'),
    sentinel: z
      .strictObject({
        sentinels: z.array(hostPort).min(1).describe('The sentinels, `host:port`.'),
        name: z.string().min(1).describe("The monitored master's name."),
        username: z.string().min(1).optional().describe('ACL user of the sentinels themselves.'),
        password: z.string().min(1).optional().describe('Its password.'),
      })
      .optional()
      .describe('Redis Sentinel; `url` is then not used.'),
  })
  .superRefine((r, ctx) => {
    if (r.cluster && r.sentinel) {
      ctx.addIssue({ code: 'custom', path: ['sentinel'], message: 'choose cluster or sentinel, not both' });
    }
  })
  .describe(
    'Redis: delivered marks, in-flight locks, rate limits, pauses, shared tokens, rolling counters and alert state.',
  );

export type RedisConfig = z.output<typeof redisSchema>;

const tierSchema = z
  .string()
  .refine((t) => parseDuration(t) !== undefined, 'must be a duration like 500ms, 30s, 10m, 1h');

const observabilitySchema = z
  .strictObject({
    enabled: z.boolean().default(true).describe('Serve /metrics, /healthz and /readyz from `courier run`.'),
    port: z.number().int().min(0).max(65_535).default(9464).describe('The port (0 picks a free one).'),
    host: z
      .string()
      .min(1)
      .default('127.0.0.1')
      .describe('The address to bind; `0.0.0.0` to be scraped from other machines.'),
    statusPage: z
      .boolean()
      .default(false)
      .describe(
        'The read-only status page at `/` and per-event lookup at `/events/<id>` (put it behind your own authentication).',
      ),
    probeIntervalMs: duration()
      .default(15_000)
      .describe('How often consumer lag, oldest undelivered age, DLQ depth and retry backlog are read.'),
    reloadEndpoint: z
      .boolean()
      .default(false)
      .describe(
        '`POST /-/reload` reloads the configuration file, as SIGHUP does, and answers what changed or why nothing did (anyone who reaches the port can trigger a reload of the file; not its content).',
      ),
    tracing: z
      .strictObject({
        endpoint: httpUrl({ credentials: false }).describe(
          'The OTLP/HTTP collector, e.g. `http://otel-collector:4318`: spans are exported (JSON) to `<endpoint>/v1/traces`.',
        ),
        sampleRatio: z
          .number()
          .min(0)
          .max(1)
          .default(1)
          .describe(
            "Share of traces recorded when the event's producer did not decide (a `traceparent` from the producer keeps its sampled flag).",
          ),
        serviceName: z.string().min(1).default('courier').describe('`service.name` of the spans.'),
      })
      .optional()
      .describe(
        "OpenTelemetry tracing, off unless set: a span for routing each event and one per delivery attempt, under the producer's trace (its `traceparent` Kafka header or CloudEvents extension); the webhook request carries a `traceparent` of the same trace.",
      ),
  })
  .describe('The observability endpoint of `courier run`.');

const alertThresholdsSchema = z
  .strictObject({
    stalledMs: duration()
      .default(15 * 60_000)
      .describe('`delivery-stalled`: no delivery for this long while events for the destination wait.'),
    successRate: z
      .number()
      .min(0)
      .max(1)
      .default(0.95)
      .describe(
        '`success-rate-low`: the share of attempts that delivered, over `successWindowMs`, below which it alerts.',
      ),
    successWindowMs: duration()
      .default(HOUR)
      .describe('The window of the success rate (and of `courier status`).'),
    successMinAttempts: positiveInt
      .default(20)
      .describe('Fewer attempts than this in the window never alert on the success rate.'),
    circuitOpenMs: duration()
      .default(10 * 60_000)
      .describe('`circuit-open`: the circuit has stayed open (or half-open) this long.'),
    deadLetterWindowMs: duration()
      .default(15 * 60_000)
      .describe('`dead-letters`: a dead letter was written within this window; it clears once none was.'),
    oldestUndeliveredMs: duration()
      .default(HOUR)
      .describe(
        '`backlog-old`: the oldest undelivered message is older than this (`retention-risk` fires past half the retention).',
      ),
  })
  .describe('When each alert fires.');

const alertsSchema = z
  .strictObject({
    url: httpUrl({ credentials: false })
      .optional()
      .describe(
        'The default operator webhook (Standard Webhooks, signed with `secret`); alerts also go to the log.',
      ),
    secret: webhookSecret
      .optional()
      .describe('`whsec_…` secret signing every alert; required with `url` or any destination `alerts.url`.'),
    evaluateIntervalMs: duration().default(15_000).describe('How often alerts are evaluated.'),
    repeatMs: duration().default(HOUR).describe('An active alert is sent again at most this often.'),
    thresholds: alertThresholdsSchema.default(alertThresholdsSchema.parse({})),
  })
  .describe('Alerts Courier evaluates itself, once across all instances, to the log and operator webhooks.');

const DEFAULT_PARTITIONS = { events: 6, destination: 6, retry: 3, dlq: 3, attempts: 6, invalid: 3 };

const kafkaSchema = z
  .strictObject({
    brokers: z
      .array(hostPort)
      .min(1)
      .describe('Bootstrap brokers, `host:port` (env `KAFKA_BROKERS`, comma-separated, wins).'),
    ssl: z
      .union([z.boolean(), tlsSchema])
      .optional()
      .describe('TLS towards the brokers: `true` for the system roots, or CA / client certificate settings.'),
    sasl: saslSchema.optional(),
    eventsTopic: z
      .string()
      .regex(/^[A-Za-z0-9._-]+$/)
      .default('events')
      .describe('The topic producers write events to; its Avro subject is `<eventsTopic>-value`.'),
    topicPrefix: z
      .string()
      .regex(/^[A-Za-z0-9_-]+$/)
      .default('courier')
      .describe("Prefix of Courier's topics, consumer groups and Redis keys, so deployments never collide."),
    clientId: z.string().default('courier').describe('The Kafka client id.'),
    replicationFactor: positiveInt
      .default(1)
      .describe(
        'Replication of the topics `courier topics` creates: 1 only for a single local broker; 3 in production.',
      ),
    partitions: z
      .strictObject({
        events: positiveInt.default(DEFAULT_PARTITIONS.events).describe('Partitions of the events topic.'),
        destination: positiveInt
          .default(DEFAULT_PARTITIONS.destination)
          .describe('Of each destination topic (caps the instances sharing a destination).'),
        retry: positiveInt.default(DEFAULT_PARTITIONS.retry).describe('Of each retry tier topic.'),
        dlq: positiveInt.default(DEFAULT_PARTITIONS.dlq).describe('Of each DLQ topic.'),
        attempts: positiveInt.default(DEFAULT_PARTITIONS.attempts).describe('Of the attempt log.'),
        invalid: positiveInt.default(DEFAULT_PARTITIONS.invalid).describe('Of the invalid-events topic.'),
      })
      .default(DEFAULT_PARTITIONS)
      .describe(
        'Partition counts of the topics `courier topics` creates (existing topics are only checked).',
      ),
    retentionMs: duration()
      .default(14 * DAY)
      .describe(
        'Retention of destination and retry topics: how long a held backlog could wait before Kafka deletes it (Courier moves it to the DLQ first: `rescueAtRetentionShare`).',
      ),
    rescueAtRetentionShare: z
      .number()
      .min(0.1)
      .max(0.95)
      .default(0.75)
      .describe(
        "A message held (its destination paused, its circuit open) this share of `retentionMs` is moved to the destination's DLQ as `held-too-long` (a warning and the `retention-risk` alert come at half), so nothing reaches Kafka's deletion while Courier runs.",
      ),
    attemptsRetentionMs: duration()
      .default(30 * DAY)
      .describe(
        'Retention of the attempt log (`<prefix>.attempts`, the delivery log: statuses, errors and response snippets, never bodies).',
      ),
    dlqRetentionMs: retention()
      .default(-1)
      .describe(
        'Retention of each DLQ topic, which holds the payloads of dead letters: `forever` (the default) keeps them until a human decides.',
      ),
    invalidRetentionMs: retention()
      .default(-1)
      .describe(
        'Retention of `<prefix>.events.invalid` (the original bytes of events that could not be routed): `forever` by default.',
      ),
    sessionTimeoutMs: duration({ min: 1000, max: 300_000 })
      .default(30_000)
      .describe("Consumer session timeout: how soon a dead instance's partitions move to the others."),
  })
  .describe('The Kafka cluster and the topics Courier creates.');

export const configSchema = z
  .strictObject({
    kafka: kafkaSchema,
    redis: redisSchema.default({ url: 'redis://127.0.0.1:6379' }),
    schemaRegistry: z
      .strictObject({
        url: httpUrl({ credentials: true }).describe(
          'A Confluent-compatible registry (Apicurio: `…/apis/ccompat/v7`); env `SCHEMA_REGISTRY_URL` wins.',
        ),
        username: z.string().min(1).optional().describe('Basic auth user (Confluent Cloud: the API key).'),
        password: z.string().min(1).optional().describe('Its password (Confluent Cloud: the API secret).'),
        tls: tlsSchema.optional().describe('TLS towards the registry (a private CA).'),
      })
      .optional()
      .describe(
        'The schema registry that decodes Confluent wire-format events. Unset: events are plain JSON only.',
      ),
    network: z
      .strictObject({
        allowPrivateAddresses: z
          .boolean()
          .default(false)
          .describe(
            'The SSRF guard: false refuses destinations (and token URLs) that resolve to loopback, private, link-local, CGNAT or reserved addresses. `true` only for local development and tests.',
          ),
        proxy: proxySetting()
          .optional()
          .describe(
            'The egress proxy for deliveries, token requests and readiness checks (http://host:port, credentials allowed); false ignores HTTPS_PROXY/HTTP_PROXY. Unset: those environment variables, if any.',
          ),
        noProxy: z
          .array(z.string().min(1))
          .default([])
          .describe(
            'Hosts reached directly, as NO_PROXY (added to it): `example.com` (and its subdomains), `.example.com`, an IP, `host:port`, or `*`.',
          ),
      })
      .default({ allowPrivateAddresses: false, noProxy: [] })
      .describe('Outbound network rules.'),
    router: z
      .strictObject({
        maxEventBytes: positiveInt
          .default(512 * 1024)
          .describe('Larger input events go to `<prefix>.events.invalid` as EVENT_TOO_LARGE.'),
        expressions: z
          .strictObject({
            hosts: z
              .number()
              .int()
              .min(2)
              .max(32)
              .default(2)
              .describe(
                "Child processes that evaluate destinations' filters, headers from the event and transforms (started only when some destination has one): the first evaluates the destinations that stay within their limits, the others each destination whose expressions broke a limit or ran slow, in a lane of its own.",
              ),
            memoryMb: z
              .number()
              .int()
              .min(16)
              .max(4096)
              .default(128)
              .describe(
                "Heap of each host's evaluating thread (MiB). An evaluation that needs more ends that thread or host, never Courier's process: the event is that destination's `transform-failed` dead letter and a new one takes over.",
              ),
          })
          .default({ hosts: 2, memoryMb: 128 })
          .describe('Where operator-written expressions run: apart from Courier, bounded.'),
      })
      .default({ maxEventBytes: 512 * 1024, expressions: { hosts: 2, memoryMb: 128 } })
      .describe('The router (events topic → destination topics).'),
    idempotency: z
      .strictObject({
        windowMs: duration({ min: 2 * DAY, minMessage: 'must be at least 48h (172800000)' })
          .default(7 * DAY)
          .describe(
            'How long a delivered mark is kept: a replay or redelivery within it is not sent twice (at least 48 h).',
          ),
      })
      .default({ windowMs: 7 * DAY })
      .describe('The delivered-key set in Redis.'),
    retryTiers: z
      .array(tierSchema)
      .min(1)
      .default(['30s', '1m', '2m', '5m', '10m', '30m', '1h'])
      .describe(
        'Delay tiers, one topic each (`<prefix>.retry.<tier>`): a retry goes to the shortest tier at least as long as its delay.',
      ),
    destinations: z.array(destinationSchema).default([]).describe('The webhook destinations.'),
    shutdownTimeoutMs: duration({ min: 1000, minMessage: 'must be at least 1s (1000)' })
      .default(30_000)
      .describe(
        "How long a stop (SIGTERM, SIGINT) waits for in-flight sends, whatever the destinations' timeouts: then what is left is abandoned uncommitted (redelivered by the next owner, never lost) and the process exits. Keep it under the orchestrator's grace period (Kubernetes: 30 s).",
      ),
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
