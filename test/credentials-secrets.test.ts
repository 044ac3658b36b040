// No secret anywhere (issue 9): a run where every kind of credential fails in its own way — a
// dead-lettered OAuth2 destination, one refused after a refresh, a revoked client, Basic auth
// answered 403, an mTLS key the receiver refuses, an expired configured secret — and then the
// CLI (inspect, pause, resume) must not write one client secret, access token, password, key or
// signing secret into the captured debug logs, the attempt records (in memory and on the attempts
// topic), the dead letters (headers and values) or the CLI output — even though the receivers echo
// the credentials they were sent back in their error bodies.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import type { KafkaMessage } from 'kafkajs';
import type { CourierConfig } from '../src/config/schema.ts';
import { topicNames } from '../src/kafka/topics.ts';
import { courierCli, writeConfig } from './helpers/cli.ts';
import { capturingLogger, type RunningCourier, startCourier } from './helpers/courier.ts';
import { readDlq } from './helpers/dlq.ts';
import { eventJson } from './helpers/measure.ts';
import { type Receiver, startReceiver } from './helpers/receiver.ts';
import {
  produceRaw,
  provision,
  readTopic,
  SECRET,
  testConfig,
  uniqueName,
  waitFor,
} from './helpers/stack.ts';
import { makePki, startTlsReceiver, type TlsReceiver } from './helpers/tls.ts';
import { startTokenServer, type TokenServer } from './helpers/tokenServer.ts';

const S1 = 'cs_first_5d8e1f2a9b3c';
const S2 = 'cs_second_7a1b2c3d4e5f';
const S3 = 'cs_third_0f9e8d7c6b5a';
const PASSWORD = 'pw_basic_93kd82jd71';

let tokens: TokenServer[] = [];
let receivers: Array<Receiver | TlsReceiver> = [];
let config: CourierConfig;
let courier: RunningCourier;
let lines: string[];
let keyLine: string;
const ids = Array.from({ length: 3 }, () => uniqueName('evt-'));

before(async () => {
  const ts1 = await startTokenServer({ clientId: 'one', clientSecret: S1 });
  const ts2 = await startTokenServer({ clientId: 'two', clientSecret: S2 });
  const ts3 = await startTokenServer({ clientId: 'three', clientSecret: S3 });
  ts3.setRevoked(true);
  tokens = [ts1, ts2, ts3];
  // Receivers that echo the request's credentials back in their error bodies (debug endpoints and
  // some proxies do): Courier must not store what they say.
  const echo = (req: { headers: Record<string, unknown> }) => {
    const auth = String(req.headers.authorization ?? '');
    const basic = auth.startsWith('Basic ') ? Buffer.from(auth.slice(6), 'base64').toString('utf8') : '';
    return `bad request; you sent authorization=${auth} (${basic}) token=${auth.replace(/^Bearer /, '')}`;
  };
  const r400 = await startReceiver((req) => ({ status: 400, body: echo(req) }));
  const r401 = await startReceiver((req) => ({ status: 401, body: echo(req) }));
  const r403 = await startReceiver((req) => ({ status: 403, body: echo(req) }));
  const pki = makePki();
  const tls = await startTlsReceiver(pki);
  receivers = [r400, r401, r403, tls];
  const wrong = pki.client('wrong', 30, pki.otherCa);
  const key = readFileSync(wrong.key, 'utf8');
  keyLine = key.split('\n').find((l) => l.length > 40 && !l.startsWith('-----')) as string;
  const oauth = (ts: TokenServer, clientId: string, clientSecret: string, authMethod: string) => ({
    type: 'oauth2',
    tokenUrl: ts.url,
    clientId,
    clientSecret,
    authMethod,
  });
  config = testConfig([
    { id: 'o-dlq', url: r400.url, auth: oauth(ts1, 'one', S1, 'client_secret_post') },
    { id: 'o-rejected', url: r401.url, auth: oauth(ts2, 'two', S2, 'client_secret_basic') },
    { id: 'o-revoked', url: r401.url, auth: oauth(ts3, 'three', S3, 'client_secret_post') },
    { id: 'b-forbidden', url: r403.url, auth: { type: 'basic', username: 'courier', password: PASSWORD } },
    {
      id: 'm-wrong',
      url: tls.url,
      retry: { baseDelayMs: 50, maxDelayMs: 200, maxAttempts: 3, jitter: 0.25 },
      auth: {
        type: 'mtls',
        cert: readFileSync(wrong.cert, 'utf8'),
        key,
        ca: readFileSync(pki.ca.cert, 'utf8'),
      },
      secretsExpireAt: '2020-01-01T00:00:00Z',
    },
  ]);
  await provision(config);
  const captured = capturingLogger();
  lines = captured.lines;
  courier = await startCourier(config, { logger: captured.logger });
  await produceRaw(
    config,
    ids.map((id) => ({ key: id, value: eventJson(id, 'user.created') })),
  );
});

after(async () => {
  await courier?.stop();
  for (const r of receivers) await r.close();
  for (const t of tokens) await t.close();
});

test('a failing run writes no secret into logs, attempt records, dead letters or CLI output', async () => {
  const by = (d: string, outcome: string) =>
    courier.attempts.filter((a) => a.destination === d && a.outcome === outcome).length;
  await waitFor(
    () =>
      by('o-dlq', 'dlq') >= ids.length &&
      by('o-rejected', 'paused') >= 1 &&
      by('o-revoked', 'paused') >= 1 &&
      by('b-forbidden', 'paused') >= 1 &&
      by('m-wrong', 'dlq') >= ids.length,
    {
      message: () => JSON.stringify(courier.attempts.map((a) => [a.destination, a.outcome])),
      timeoutMs: 30_000,
    },
  );
  const dlq = [
    ...(await readDlq(config, 'o-dlq', ids.length)),
    ...(await readDlq(config, 'm-wrong', ids.length)),
  ];
  assert.equal(dlq.length, 2 * ids.length);
  assert.ok(
    courier.attempts.some((a) => a.responseSnippet?.includes('authorization=[redacted]')),
    'the echoed credentials reached Courier, and were redacted',
  );
  const recorded = courier.attempts.length;
  await courier.stop();
  const attemptsTopic = await readTopic(config, topicNames(config).attempts, { count: recorded });
  assert.ok(attemptsTopic.length >= recorded, 'every attempt record on the attempts topic');

  const path = writeConfig(config);
  const cli = [
    await courierCli(['inspect', ids[0] as string, '--config', path]),
    await courierCli(['inspect', ids[1] as string, '--json', '--config', path]),
    await courierCli(['pause', '--destination', 'o-dlq', '--config', path]),
    await courierCli(['resume', '--destination', 'o-revoked', '--config', path]),
    await courierCli(['resume', '--destination', 'o-dlq', '--config', path]),
  ];
  assert.ok(cli[0]?.stdout.includes('o-revoked'), `inspect shows the destinations: ${cli[0]?.stdout}`);
  assert.match(
    cli[0]?.stdout ?? '',
    /credential: secret expired 2020-01-01/,
    'inspect shows credential health',
  );
  assert.match(cli[3]?.stdout ?? '', /was paused: auth-revoked/);

  const issued = [...(tokens[0]?.issued ?? []), ...(tokens[1]?.issued ?? [])];
  assert.ok(issued.length >= 2, 'tokens were issued and used');
  assert.ok(
    lines.some((l) => JSON.parse(l).level === 20),
    `debug lines were captured (${lines.length} lines)`,
  );
  assert.ok(
    lines.some((l) => l.includes('CREDENTIAL_EXPIRING')),
    'the expired secret was warned about',
  );
  const secrets = {
    S1,
    S2,
    S3,
    PASSWORD,
    basicHeader: Buffer.from(`courier:${PASSWORD}`).toString('base64'),
    keyLine,
    SECRET,
    signingKey: SECRET.slice('whsec_'.length),
    ...Object.fromEntries(issued.map((t, i) => [`token${i}`, t])),
  };
  const dump = (m: KafkaMessage) =>
    JSON.stringify({
      value: m.value?.toString('utf8'),
      headers: Object.fromEntries(Object.entries(m.headers ?? {}).map(([k, v]) => [k, String(v)])),
    });
  const written: Record<string, string> = {
    logs: lines.join('\n'),
    attempts: JSON.stringify(courier.attempts),
    attemptsTopic: attemptsTopic.map(dump).join('\n'),
    dlq: dlq.map(dump).join('\n'),
    cli: cli.map((c) => c.stdout + c.stderr).join('\n'),
  };
  for (const [where, text] of Object.entries(written)) {
    for (const [name, value] of Object.entries(secrets)) {
      assert.ok(!text.includes(value), `${name} appears in ${where}`);
    }
  }
});
