// Each configuration problem's exact listed message (issue 8 "Config", issue 7 item 13), the
// duration forms every *Ms field accepts, and the masking `courier config check` applies.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError } from '../errors.ts';
import { parseConfig } from './load.ts';
import { MASK, maskSecrets } from './mask.ts';

const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';

function dest(extra: Record<string, unknown> = {}) {
  return { id: 'crm', url: 'https://hooks.example.com/events', secrets: [SECRET], ...extra };
}

function load(document: Record<string, unknown>) {
  return parseConfig({ kafka: { brokers: ['localhost:9092'] }, ...document }, { source: 'test', env: {} });
}

function problemsOf(document: Record<string, unknown>): string[] {
  try {
    load(document);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    return err.problems;
  }
  assert.fail('expected the configuration to be rejected');
}

const NOT_A_URL = 'must be an absolute http or https URL, e.g. https://hooks.example.com/events';

test('a URL that does not parse is a listed problem, not a TypeError', () => {
  assert.deepEqual(
    problemsOf({
      destinations: [
        dest({ id: 'a', url: 'not a url' }),
        dest({ id: 'b', url: 'hooks.example.com/x' }),
        dest({ id: 'c', url: 'http//x' }),
        dest({ id: 'd', url: 'ftp://example.com/x' }),
        dest({ id: 'e', url: 'https://user:pw@example.com/x' }),
      ],
      schemaRegistry: { url: 'registry:8080' },
    }),
    [
      'schemaRegistry.url: must be an http or https URL',
      `destinations[0].url: ${NOT_A_URL}`,
      `destinations[1].url: ${NOT_A_URL}`,
      `destinations[2].url: ${NOT_A_URL}`,
      'destinations[3].url: must be an http or https URL',
      'destinations[4].url: must not carry credentials; use headers',
    ],
  );
  assert.deepEqual(problemsOf({ redis: { url: 'redis://' } }), [
    'redis.url: must be a redis:// or rediss:// URL, e.g. redis://127.0.0.1:6379',
  ]);
});

test('duplicate ids are reported even when other fields fail', () => {
  assert.deepEqual(
    problemsOf({
      destinations: [dest({ id: 'a', timeoutMs: 'soon' }), dest({ id: 'a', url: 'http//x' })],
      retryTiers: ['30s', 'later'],
    }),
    [
      'retryTiers[1]: must be a duration like 500ms, 30s, 10m, 1h',
      'destinations[0].timeoutMs: must be a number of milliseconds or a duration like 250ms, 10s, 2m, 1h, 7d',
      `destinations[1].url: ${NOT_A_URL}`,
      'destinations[1].id: duplicate id "a" (also destinations[0])',
    ],
  );
});

test('header values and names that undici would refuse are refused at start, by path', () => {
  const headers = {
    'x-injected': 'abc\r\nX-Injected: 1',
    'x-nul': 'a\u0000b',
    'x-tab-ok': 'a\tb',
    'x-accent': 'café',
    'x-emoji': 'ok 🚀',
    'transfer-encoding': 'chunked',
    Expect: '100-continue',
    connection: 'close',
    'keep-alive': 'timeout=5',
    upgrade: 'websocket',
    te: 'trailers',
    trailer: 'x',
    'webhook-id': 'x',
    'x y': 'z',
  };
  assert.deepEqual(problemsOf({ destinations: [dest({ headers })] }), [
    'destinations[0].headers.x-injected: header values may not contain control characters (CR, LF, NUL, …)',
    'destinations[0].headers.x-nul: header values may not contain control characters (CR, LF, NUL, …)',
    'destinations[0].headers.x-accent: header values must be ASCII',
    'destinations[0].headers.x-emoji: header values must be ASCII',
    ...['transfer-encoding', 'Expect', 'connection', 'keep-alive', 'upgrade', 'te', 'trailer'].map(
      (h) => `destinations[0].headers.${h}: this header controls the connection and cannot be configured`,
    ),
    'destinations[0].headers.webhook-id: webhook-* headers are set by Courier (Standard Webhooks)',
    'destinations[0].headers.x y: header names are letters, digits and dashes',
  ]);
});

test('every *Ms field takes a number of milliseconds or a duration label', () => {
  const config = load({
    kafka: { brokers: ['localhost:9092'], retentionMs: '7d', sessionTimeoutMs: '10s' },
    idempotency: { windowMs: '72h' },
    destinations: [
      dest({
        timeoutMs: '10s',
        retry: { maxAgeMs: '1h', baseDelayMs: '250ms', maxDelayMs: '2m' },
        circuitBreaker: { resetTimeoutMs: '30s', rollingWindowMs: 5000 },
      }),
      dest({ id: 'b', timeoutMs: 2500, retry: { baseDelayMs: '100', maxDelayMs: 400 } }),
    ],
  });
  assert.equal(config.kafka.retentionMs, 7 * 86_400_000);
  assert.equal(config.kafka.sessionTimeoutMs, 10_000);
  assert.equal(config.idempotency.windowMs, 72 * 3_600_000);
  const [a, b] = config.destinations;
  assert.equal(a?.timeoutMs, 10_000);
  assert.deepEqual([a?.retry.maxAgeMs, a?.retry.baseDelayMs, a?.retry.maxDelayMs], [3_600_000, 250, 120_000]);
  assert.deepEqual([a?.circuitBreaker.resetTimeoutMs, a?.circuitBreaker.rollingWindowMs], [30_000, 5000]);
  assert.deepEqual([b?.timeoutMs, b?.retry.baseDelayMs, b?.retry.maxDelayMs], [2500, 100, 400]);
});

test('durations out of bounds are listed with the bound', () => {
  assert.deepEqual(
    problemsOf({
      kafka: { brokers: ['localhost:9092'], sessionTimeoutMs: '500ms' },
      idempotency: { windowMs: '1d' },
      destinations: [dest({ timeoutMs: '10m', retry: { baseDelayMs: -5, maxDelayMs: '1.5s' } })],
    }),
    [
      'kafka.sessionTimeoutMs: must be at least 1s',
      'idempotency.windowMs: must be at least 48h (172800000)',
      'destinations[0].timeoutMs: must be at most 5m',
      'destinations[0].retry.baseDelayMs: must be positive',
      'destinations[0].retry.maxDelayMs: must be a number of milliseconds or a duration like 250ms, 10s, 2m, 1h, 7d',
    ],
  );
  assert.deepEqual(problemsOf({ destinations: [dest({ retry: { maxDelayMs: '1s' } })] }), [
    'destinations[0].retry.maxDelayMs: must be at least retry.baseDelayMs',
  ]);
});

test('masking hides signing secrets, header values, auth, passwords and tokens in URLs', () => {
  const masked = maskSecrets({
    kafka: { brokers: ['b:9092'], sasl: { mechanism: 'scram-sha-256', username: 'u', password: 'pw1' } },
    redis: { url: 'redis://courier:redispw@redis:6379/0' },
    schemaRegistry: { url: 'https://reguser:regpw@registry/apis?token=regtok' },
    destinations: [
      {
        id: 'crm',
        url: 'https://hooks.example.com/x',
        secrets: [SECRET],
        headers: { authorization: 'Bearer t0ken' },
        auth: { type: 'oauth2', clientId: 'c', clientSecret: 'oauthpw' },
      },
    ],
    alerts: { url: 'https://ops.example.com/a', secret: 'alertsecret' },
  }) as {
    redis: { url: string };
    kafka: { sasl: { mechanism: string } };
    destinations: Array<{ headers: unknown; auth: unknown; url: string }>;
  };
  const text = JSON.stringify(masked);
  for (const secret of [SECRET, 't0ken', 'oauthpw', 'redispw', 'regpw', 'regtok', 'pw1', 'alertsecret']) {
    assert.ok(!text.includes(secret), `${secret} leaked: ${text}`);
  }
  assert.equal(masked.redis.url, `redis://courier:${MASK}@redis:6379/0`);
  assert.deepEqual(masked.destinations[0]?.headers, { authorization: MASK });
  assert.deepEqual(masked.destinations[0]?.auth, { type: 'oauth2', clientId: MASK, clientSecret: MASK });
  assert.equal(masked.destinations[0]?.url, 'https://hooks.example.com/x');
  assert.equal(masked.kafka.sasl.mechanism, 'scram-sha-256');
});

test('odd shapes anywhere are listed problems, never a crash', () => {
  const odd: unknown[] = [null, 5, 'x', [], [null], {}, true, [1, 'a'], { a: { b: [] } }, `\${X}`, -1, 1.5];
  const places: Array<(v: unknown) => Record<string, unknown>> = [
    (v) => ({ destinations: v }),
    (v) => ({ destinations: [v] }),
    (v) => ({ destinations: [dest({ url: v })] }),
    (v) => ({ destinations: [dest({ id: v })] }),
    (v) => ({ destinations: [dest({ headers: v })] }),
    (v) => ({ destinations: [dest({ headers: { 'x-a': v } })] }),
    (v) => ({ destinations: [dest({ retry: v })] }),
    (v) => ({ destinations: [dest({ retry: { baseDelayMs: v, maxDelayMs: v } })] }),
    (v) => ({ destinations: [dest({ timeoutMs: v })] }),
    (v) => ({ retryTiers: v }),
    (v) => ({ kafka: v }),
    (v) => ({ redis: { url: v } }),
    (v) => ({ schemaRegistry: v }),
    (v) => ({ idempotency: { windowMs: v } }),
  ];
  for (const place of places) {
    for (const value of odd) {
      try {
        load(place(value));
      } catch (err) {
        assert.ok(err instanceof ConfigError, `${JSON.stringify(place(value))}: ${String(err)}`);
        for (const p of err.problems) assert.match(p, /^[\w.[\]()-]+: \S/, p);
      }
    }
  }
});

test('headers Courier sets are refused whole: any webhook-* and user-agent; a bad proxy names why', () => {
  assert.deepEqual(
    problemsOf({
      network: { proxy: 'not a url' },
      destinations: [
        dest({ headers: { 'webhook-foo': 'x', 'User-Agent': 'y', 'x-ok': 'z' }, proxy: 'ftp://x' }),
      ],
    }),
    [
      `network.proxy: ${NOT_A_URL} (or false)`,
      'destinations[0].headers.webhook-foo: webhook-* headers are set by Courier (Standard Webhooks)',
      'destinations[0].headers.User-Agent: this header is set by Courier (courier/<version>): receivers can tell the sender by it',
      'destinations[0].proxy: must be an http or https URL (or false)',
    ],
  );
  // false still means a direct connection.
  assert.equal(
    load({ network: { proxy: false }, destinations: [dest({ proxy: false })] }).destinations[0]?.proxy,
    false,
  );
});
