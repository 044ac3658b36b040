// mTLS destinations (issue 9) against a real HTTPS receiver that requires a client certificate
// (certificates made with openssl into a temp dir): the right certificate is accepted, a wrong one
// fails the connection and is retried like any transient failure (no pause) — the receiver
// closing the handshake shows as CONNECTION_RESET (Node gives no TLS-specific code for it), a
// receiver certificate the destination's CA does not vouch for as TLS_FAILURE, and a certificate expiring in 3 days
// raises the CREDENTIAL_EXPIRING warning (log line + `credential-expiring` event) and shows in
// credentialHealth().
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import type { CourierConfig } from '../src/config/schema.ts';
import { destinationTls } from '../src/credentials/credentials.ts';
import { credentialHealth } from '../src/credentials/health.ts';
import { checkReadiness } from '../src/dlq/readiness.ts';
import type { CourierRedis } from '../src/redis/client.ts';
import type { DestinationControl } from '../src/redis/destinationControl.ts';
import { PipelineEmitter, type PipelineEvents } from '../src/telemetry/events.ts';
import { capturingLogger, type RunningCourier, startCourier } from './helpers/courier.ts';
import { destinationControl } from './helpers/dlq.ts';
import { eventJson } from './helpers/measure.ts';
import { produceRaw, provision, testConfig, uniqueName, waitFor } from './helpers/stack.ts';
import { makePki, type Pki, startTlsReceiver, type TlsReceiver } from './helpers/tls.ts';

describe('mTLS destinations', () => {
  let pki: Pki;
  let receiver: TlsReceiver;
  let config: CourierConfig;
  let courier: RunningCourier;
  let redis: CourierRedis;
  let control: DestinationControl;
  let lines: string[];
  const expiring: Array<PipelineEvents['credential-expiring'][0]> = [];
  const good = Array.from({ length: 5 }, () => uniqueName('evt-'));
  const wrong = Array.from({ length: 2 }, () => uniqueName('evt-'));

  before(async () => {
    pki = makePki();
    receiver = await startTlsReceiver(pki);
    const goodClient = pki.client('good-client', 30);
    const wrongClient = pki.client('wrong-client', 30, pki.otherCa);
    const soonClient = pki.client('soon-client', 3);
    config = testConfig([
      // File paths.
      {
        id: 'good',
        url: receiver.url,
        eventTypes: ['good.*'],
        auth: { type: 'mtls', cert: goodClient.cert, key: goodClient.key, ca: pki.ca.cert },
      },
      {
        id: 'wrong',
        url: receiver.url,
        eventTypes: ['wrong.*'],
        retry: { baseDelayMs: 50, maxDelayMs: 200, maxAttempts: 100, jitter: 0.25 },
        auth: { type: 'mtls', cert: wrongClient.cert, key: wrongClient.key, ca: pki.ca.cert },
      },
      // The right client certificate, but a CA that did not sign the receiver's certificate.
      {
        id: 'wrong-ca',
        url: receiver.url,
        eventTypes: ['wrong.*'],
        retry: { baseDelayMs: 50, maxDelayMs: 200, maxAttempts: 100, jitter: 0.25 },
        auth: { type: 'mtls', cert: goodClient.cert, key: goodClient.key, ca: pki.otherCa.cert },
      },
      // PEM text.
      {
        id: 'soon',
        url: receiver.url,
        eventTypes: ['soon.*'],
        auth: {
          type: 'mtls',
          cert: readFileSync(soonClient.cert, 'utf8'),
          key: readFileSync(soonClient.key, 'utf8'),
          ca: readFileSync(pki.ca.cert, 'utf8'),
        },
      },
    ]);
    await provision(config);
    ({ redis, control } = destinationControl(config));
    const captured = capturingLogger();
    lines = captured.lines;
    const events = new PipelineEmitter();
    events.on('credential-expiring', (e) => expiring.push(e));
    courier = await startCourier(config, { logger: captured.logger, events });
    await produceRaw(config, [
      ...good.map((id) => ({ key: id, value: eventJson(id, 'good.thing') })),
      ...wrong.map((id) => ({ key: id, value: eventJson(id, 'wrong.thing') })),
    ]);
  });
  after(async () => {
    await courier?.stop();
    await receiver?.close();
    redis?.disconnect();
  });

  test('the right client certificate is accepted', async () => {
    await waitFor(() => receiver.accepted.filter((a) => good.includes(a.id)).length >= good.length, {
      message: 'good deliveries',
    });
    assert.ok(receiver.accepted.every((a) => a.client === 'good-client'));
    assert.deepEqual(receiver.accepted.map((a) => a.id).sort(), [...good].sort());
  });

  test('a wrong client certificate is a transient failure (and so is a receiver certificate the CA does not sign), never paused', async () => {
    const failures = (d: string) => courier.attempts.filter((a) => a.destination === d);
    for (const d of ['wrong', 'wrong-ca']) {
      await waitFor(() => failures(d).length >= 2 * wrong.length, { message: `failed attempts of ${d}` });
      assert.ok(failures(d).every((a) => a.outcome === 'retry'));
      assert.equal((await control.state(d)).paused, false);
    }
    assert.ok(
      failures('wrong-ca').every((a) => a.errorCode === 'TLS_FAILURE'),
      failures('wrong-ca')
        .map((a) => a.errorCode)
        .join(),
    );
    assert.ok(
      failures('wrong').every((a) => a.errorCode === 'TLS_FAILURE' || a.errorCode === 'CONNECTION_RESET'),
      failures('wrong')
        .map((a) => a.errorCode)
        .join(),
    );
    assert.equal(receiver.accepted.filter((a) => wrong.includes(a.id)).length, 0);
  });

  test("replay's reachability probe uses the destination's client certificate", async () => {
    const destination = config.destinations.find((d) => d.id === 'good')!;
    const probe = (tls: ReturnType<typeof destinationTls>) =>
      checkReadiness({
        url: destination.url,
        method: 'HEAD',
        timeoutMs: 2000,
        allowPrivateAddresses: true,
        userAgent: 'courier/test',
        ...(tls ? { tls } : {}),
      });
    assert.equal((await probe(destinationTls(destination))).status, 200);
    assert.equal((await probe(undefined)).status, undefined, 'without it the receiver refuses');
  });

  test('a certificate expiring in 3 days raises CREDENTIAL_EXPIRING; health shows every expiry', async () => {
    assert.deepEqual(
      expiring.map((e) => [e.destination, e.kind]),
      [['soon', 'client-certificate']],
      'one credential-expiring event for the alert engine',
    );
    const warnings = lines.map((l) => JSON.parse(l)).filter((l) => l.code === 'CREDENTIAL_EXPIRING');
    assert.equal(warnings.length, 1, 'one warning: only the 3-day certificate');
    assert.equal(warnings[0].destination, 'soon');
    assert.equal(warnings[0].kind, 'client-certificate');
    assert.ok(warnings[0].daysLeft === 2 || warnings[0].daysLeft === 3, `days left ${warnings[0].daysLeft}`);
    assert.equal(warnings[0].level, 40, 'a warning');
    const health = await credentialHealth(config, redis);
    assert.equal(health.soon?.[0]?.kind, 'client-certificate');
    assert.ok((health.soon?.[0]?.daysLeft ?? 99) <= 3);
    assert.ok((health.good?.[0]?.daysLeft ?? 0) >= 28);
  });
});
