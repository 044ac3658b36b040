import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ConfigError } from '../errors.ts';
import { loadConfig } from './load.ts';

const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';

function file(text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'courier-config-'));
  const path = join(dir, 'courier.yaml');
  writeFileSync(path, text);
  return path;
}

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    return err.problems;
  }
  assert.fail('expected the configuration to be rejected');
}

test('a valid file loads with defaults filled in', () => {
  const config = loadConfig({
    path: file(`
kafka: { brokers: [localhost:9092] }
destinations:
  - id: crm
    url: https://hooks.example.com/events
    eventTypes: ["contact.*"]
    secrets: ["${SECRET}"]
`),
    env: {},
  });
  assert.equal(config.kafka.eventsTopic, 'events');
  assert.equal(config.kafka.topicPrefix, 'courier');
  const crm = config.destinations[0]!;
  assert.equal(crm.timeoutMs, 10_000);
  assert.equal(crm.retry.maxAttempts, 12);
  assert.equal(crm.retry.baseDelayMs, 30_000);
  assert.equal(crm.circuitBreaker.resetTimeoutMs, 30_000);
  assert.deepEqual(config.retryTiers, ['30s', '1m', '2m', '5m', '10m', '30m', '1h']);
  assert.equal(config.network.allowPrivateAddresses, false);
});

test('every problem is listed with its path', () => {
  const problems = problemsOf(() =>
    loadConfig({
      path: file(`
kafka: { brokers: [] }
retryTiers: [30s, soon]
destinations:
  - id: Bad_Id
    url: ftp://example.com
    secrets: ["nope"]
    timeoutMs: -5
    colour: blue
  - id: ok
    url: https://example.com/x
    secrets: ["${SECRET}"]
    retry: { jitter: 3 }
`),
      env: {},
    }),
  );
  const joined = problems.join('\n');
  for (const path of [
    'kafka.brokers',
    'retryTiers[1]',
    'destinations[0].id',
    'destinations[0].url',
    'destinations[0].secrets[0]',
    'destinations[0].timeoutMs',
    'destinations[0].colour: unknown field',
    'destinations[1].retry.jitter',
  ]) {
    assert.ok(joined.includes(path), `expected a problem at ${path}, got:\n${joined}`);
  }
  assert.ok(problems.length >= 8);
});

test('environment variables are substituted and unset ones are reported', () => {
  const path = file(`
kafka: { brokers: [localhost:9092] }
destinations:
  - id: crm
    url: https://hooks.example.com/\${HOOK_PATH:-events}
    secrets: ["\${CRM_SECRET}"]
    headers: { authorization: "Bearer \${CRM_TOKEN}" }
`);
  const config = loadConfig({ path, env: { CRM_SECRET: SECRET, CRM_TOKEN: 't0ken' } });
  assert.equal(config.destinations[0]?.secrets[0], SECRET);
  assert.equal(config.destinations[0]?.headers.authorization, 'Bearer t0ken');
  assert.equal(config.destinations[0]?.url, 'https://hooks.example.com/events');

  const problems = problemsOf(() => loadConfig({ path, env: {} }));
  assert.ok(
    problems.some((p) =>
      p.startsWith('destinations[0].secrets[0]: environment variable CRM_SECRET is not set'),
    ),
  );
  assert.ok(problems.some((p) => p.includes('CRM_TOKEN')));
});

test('environment overrides win over the file', () => {
  const config = loadConfig({
    path: file('kafka: { brokers: [localhost:9092] }\nredis: { url: redis://file:6379 }\n'),
    env: {
      KAFKA_BROKERS: 'a:1, b:2',
      REDIS_URL: 'redis://env:6379',
      SCHEMA_REGISTRY_URL: 'http://reg:8080/apis/ccompat/v7',
    },
  });
  assert.deepEqual(config.kafka.brokers, ['a:1', 'b:2']);
  assert.equal(config.redis.url, 'redis://env:6379');
  assert.equal(config.schemaRegistry?.url, 'http://reg:8080/apis/ccompat/v7');
});

test('duplicate destination ids, a too-short idempotency window and YAML syntax errors are reported', () => {
  const problems = problemsOf(() =>
    loadConfig({
      path: file(`
kafka: { brokers: [localhost:9092] }
idempotency: { windowMs: 3600000 }
destinations:
  - { id: a, url: "https://x.example/1", secrets: ["${SECRET}"] }
  - { id: a, url: "https://x.example/2", secrets: ["${SECRET}"] }
`),
      env: {},
    }),
  );
  assert.ok(problems.some((p) => p.startsWith('destinations[1].id: duplicate id')));
  assert.ok(problems.some((p) => p.startsWith('idempotency.windowMs')));
  const yaml = problemsOf(() => loadConfig({ path: file('kafka: { brokers: [\n'), env: {} }));
  assert.match(yaml[0] ?? '', /^\(yaml\) line \d+/);
  const missing = problemsOf(() => loadConfig({ path: '/nonexistent/courier.yaml', env: {} }));
  assert.match(missing[0] ?? '', /cannot read: ENOENT/);
});

test('${file:/path} reads a mounted secret at every load; an unreadable one is a problem by path', () => {
  const secretFile = file(`${SECRET}\n`);
  const path = file(`
kafka: { brokers: [localhost:9092] }
destinations:
  - id: crm
    url: https://hooks.example.com/events
    secrets: ["\${file:${secretFile}}"]
    headers: { authorization: "Bearer \${file:${secretFile}}" }
`);
  const config = loadConfig({ path, env: {} });
  assert.equal(config.destinations[0]?.secrets[0], SECRET, 'the final newline is dropped');
  assert.equal(config.destinations[0]?.headers.authorization, `Bearer ${SECRET}`);
  const missing = file(`
kafka: { brokers: [localhost:9092] }
destinations:
  - { id: crm, url: "https://hooks.example.com/events", secrets: ["\${file:/nonexistent/secret}"] }
`);
  assert.ok(
    problemsOf(() => loadConfig({ path: missing, env: {} })).includes(
      'destinations[0].secrets[0]: file /nonexistent/secret cannot be read (ENOENT)',
    ),
  );
});
