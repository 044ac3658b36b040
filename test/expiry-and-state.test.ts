// Silent failures that now alert. A client certificate about to expire fires `credential-expiring`
// at the operator webhook (signature verified) and resolves once a reload renews it; the
// destination's own HTTPS certificate, seen in the handshakes deliveries make, fires
// `tls-certificate-expiring` and shows its date in `courier status --json` and in a metric; and
// Redis losing Courier's state (its keys deleted mid-stream) raises `redis-state-lost` while
// delivering goes on.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { diffConfigs } from '../src/config/diff.ts';
import { parseConfig } from '../src/config/load.ts';
import type { CourierConfig } from '../src/config/schema.ts';
import { sign } from '../src/net/signer.ts';
import type { AlertNotice } from '../src/observability/alerts.ts';
import { createRedis } from '../src/redis/client.ts';
import { courierCli, writeConfig } from './helpers/cli.ts';
import { capturingLogger, type RunningCourier, startCourier } from './helpers/courier.ts';
import { eventJson } from './helpers/measure.ts';
import { type Receiver, startReceiver } from './helpers/receiver.ts';
import { produceRaw, provision, SECRET, testConfig, waitFor } from './helpers/stack.ts';
import { makePki, type Pki, startTlsReceiver, type TlsReceiver } from './helpers/tls.ts';

const ALERT_SECRET = `whsec_${Buffer.from('the operator webhook secret, 32b').toString('base64')}`;

let pki: Pki;
let tls: TlsReceiver;
let operator: Receiver;
let courier: RunningCourier | undefined;
let lines: string[];
let config: CourierConfig;

/** The verified notices the operator receiver got. */
function notices(): AlertNotice[] {
  return operator.accepted
    .filter((r) => {
      const expected = sign({
        id: String(r.headers['webhook-id']),
        timestampSeconds: Number(r.headers['webhook-timestamp']),
        body: r.body,
        secrets: [ALERT_SECRET],
      });
      return String(r.headers['webhook-signature']) === expected;
    })
    .map((r) => JSON.parse(r.body) as AlertNotice);
}
const noticed = (alert: string, type: string) =>
  notices().filter((n) => n.alert === alert && n.type === type);

function withClientCert(base: CourierConfig, cert: { cert: string; key: string }): CourierConfig {
  const raw = JSON.parse(JSON.stringify(base)) as { destinations: Array<Record<string, unknown>> };
  for (const d of raw.destinations) {
    if (d.id === 'partner') d.auth = { type: 'mtls', cert: cert.cert, key: cert.key, ca: pki.ca.cert };
  }
  return parseConfig(raw, { source: 'test', env: {} });
}

before(async () => {
  pki = makePki();
  // The partner's own certificate expires in 3 days; so does the client certificate Courier uses.
  tls = await startTlsReceiver(pki, { server: pki.serverFor('partner-server', 3) });
  operator = await startReceiver();
  const soon = pki.client('courier-soon', 3);
  config = testConfig(
    [
      {
        id: 'partner',
        url: tls.url,
        auth: { type: 'mtls', cert: soon.cert, key: soon.key, ca: pki.ca.cert },
      },
      { id: 'plain', url: (await plainReceiver()).url },
    ],
    {
      alerts: {
        url: operator.url,
        secret: ALERT_SECRET,
        evaluateIntervalMs: 500,
        repeatMs: 3_600_000,
      },
      observability: { probeIntervalMs: 500 },
    },
  );
  await provision(config);
  const captured = capturingLogger();
  lines = captured.lines;
  courier = await startCourier(config, { logger: captured.logger, stateCheckMs: 200 });
});

let plain: Receiver;
async function plainReceiver(): Promise<Receiver> {
  plain = await startReceiver();
  return plain;
}

after(async () => {
  await courier?.stop();
  await tls?.close();
  await operator?.close();
  await plain?.close();
});

test('a client certificate 3 days from expiry fires credential-expiring; a reload that renews it resolves it', async () => {
  await waitFor(() => noticed('credential-expiring', 'courier.alert.firing').length === 1, {
    message: () => `credential-expiring fired: ${JSON.stringify(notices().map((n) => [n.alert, n.type]))}`,
    timeoutMs: 30_000,
  });
  const fired = noticed('credential-expiring', 'courier.alert.firing')[0] as AlertNotice;
  assert.equal(fired.destination, 'partner');
  assert.match(fired.summary, /client-certificate expires .* \(\d day\(s\) left\)/);
  // Renewed: the destination's actor is rebuilt with the new certificate; the alert resolves.
  const next = withClientCert(config, pki.client('courier-renewed', 90));
  await courier?.app.apply(next, diffConfigs(config, next));
  config = next;
  await waitFor(() => noticed('credential-expiring', 'courier.alert.resolved').length === 1, {
    message: 'credential-expiring resolved',
    timeoutMs: 30_000,
  });
  // Deliveries over the renewed certificate go on.
  await produceRaw(config, [{ key: 'k', value: eventJson('after-renewal') }]);
  await waitFor(() => tls.accepted.some((a) => a.id === 'after-renewal' && a.client === 'courier-renewed'), {
    message: 'delivered with the renewed certificate',
  });
});

test("the destination's own HTTPS certificate, seen in real handshakes: alert, status --json, metric", async () => {
  await produceRaw(config, [{ key: 'k', value: eventJson('to-partner') }]);
  await waitFor(() => noticed('tls-certificate-expiring', 'courier.alert.firing').length === 1, {
    message: () =>
      `tls-certificate-expiring fired: ${JSON.stringify(notices().map((n) => [n.alert, n.type]))}`,
    timeoutMs: 30_000,
  });
  const fired = noticed('tls-certificate-expiring', 'courier.alert.firing')[0] as AlertNotice;
  assert.equal(fired.destination, 'partner');
  assert.match(fired.summary, /CN=partner-server; issuer CN=test-ca/);
  const status = await courierCli(['status', '--json', '--config', writeConfig(config)]);
  const rows = (JSON.parse(status.stdout) as { destinations: Array<Record<string, unknown>> }).destinations;
  const partner = rows.find((r) => r.destination === 'partner') as {
    tlsCertificate?: { notAfter: number; daysLeft: number };
  };
  assert.ok(partner.tlsCertificate, status.stdout);
  assert.ok(partner.tlsCertificate.daysLeft >= 2 && partner.tlsCertificate.daysLeft <= 3);
  assert.equal(
    (rows.find((r) => r.destination === 'plain') as { tlsCertificate?: unknown }).tlsCertificate,
    undefined,
    'a plain-HTTP destination has no certificate',
  );
  const text = await courierCli(['status', '--config', writeConfig(config)]);
  assert.match(text.stdout, /TLS CERT/);
  const scrape = await courier?.app.observability?.metrics.scrape();
  const line = scrape?.body
    .split('\n')
    .find((l) => l.startsWith('courier_destination_tls_not_after_seconds{destination="partner"}'));
  assert.equal(Number(line?.split(' ')[1]), Math.floor(partner.tlsCertificate.notAfter / 1000));
});

test("Redis losing Courier's state mid-stream raises redis-state-lost; delivering goes on", async () => {
  await produceRaw(config, [{ key: 'k', value: eventJson('before-loss') }]);
  await waitFor(() => plain.accepted.some((r) => r.json.id === 'before-loss'), {
    message: 'delivered before',
  });
  // Everything Courier keeps in Redis under its prefix, gone (as FLUSHALL or an empty replica would).
  const redis = createRedis(config.redis);
  try {
    const prefix = config.kafka.topicPrefix;
    for (const pattern of [`*${prefix}*`]) {
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
        cursor = next;
        if (keys.length > 0) await redis.del(...keys);
      } while (cursor !== '0');
    }
  } finally {
    redis.disconnect();
  }
  await waitFor(() => lines.some((l) => l.includes('"code":"REDIS_STATE_LOST"')), {
    message: 'the loss logged',
    timeoutMs: 20_000,
  });
  await waitFor(() => noticed('redis-state-lost', 'courier.alert.firing').length === 1, {
    message: 'redis-state-lost fired',
    timeoutMs: 30_000,
  });
  const fired = noticed('redis-state-lost', 'courier.alert.firing')[0] as AlertNotice;
  assert.equal(fired.destination, undefined, 'about Courier, not one destination');
  assert.match(fired.summary, /may be delivered again/);
  await produceRaw(config, [{ key: 'k', value: eventJson('after-loss') }]);
  await waitFor(() => plain.accepted.some((r) => r.json.id === 'after-loss'), { message: 'delivered after' });
  const scrape = await courier?.app.observability?.metrics.scrape();
  assert.match(scrape?.body ?? '', /^courier_redis_state_lost_total 1$/m);
  assert.ok(!JSON.stringify(notices()).includes(SECRET));
});
