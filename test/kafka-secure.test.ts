// Courier against a secured Kafka (stack.sh kafka-secure: a second single-node broker with its
// own CA): SASL_SSL with SCRAM-SHA-512, SSL with a client certificate (mutual TLS), and
// SASL_SSL with OAUTHBEARER through the client-credentials grant of a local token endpoint
// (the broker validates unsecured JWTs, Kafka's built-in test validator). Each delivers an event
// end to end; a wrong SCRAM password is refused.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { type RunningCourier, startCourier } from './helpers/courier.ts';
import { eventJson } from './helpers/measure.ts';
import { ensureSecureKafka, SECURE_KAFKA } from './helpers/optionalStack.ts';
import { type Receiver, startReceiver } from './helpers/receiver.ts';
import { produceRaw, provision, testConfig, waitFor, withAdmin } from './helpers/stack.ts';

const CA = `${SECURE_KAFKA.certDir}/ca.pem`;
let stopBroker: () => Promise<void> = async () => {};
let receiver: Receiver;
const running: RunningCourier[] = [];

before(async () => {
  stopBroker = await ensureSecureKafka();
  receiver = await startReceiver();
});
after(async () => {
  for (const c of running) await c.stop();
  await receiver.close();
  await stopBroker();
});

async function deliversOneEvent(kafka: Record<string, unknown>, id: string): Promise<void> {
  const config = testConfig([{ id: 'crm', url: receiver.url }], { kafka });
  await provision(config);
  const courier = await startCourier(config);
  running.push(courier);
  await produceRaw(config, [{ key: id, value: eventJson(id) }]);
  await waitFor(() => receiver.accepted.some((r) => r.json.id === id), {
    timeoutMs: 30_000,
    message: `${id} delivered`,
  });
  await waitFor(() => courier.attempts.some((a) => a.eventId === id && a.outcome === 'delivered'), {
    message: `${id} attempt record (written through the secured producer)`,
  });
  await courier.stop();
}

test('SASL_SSL with SCRAM-SHA-512: delivers an event end to end', async () => {
  await deliversOneEvent(
    {
      brokers: [SECURE_KAFKA.saslSsl],
      ssl: { ca: CA },
      sasl: { mechanism: 'scram-sha-512', username: SECURE_KAFKA.username, password: SECURE_KAFKA.password },
    },
    'evt-scram',
  );
});

test('SASL_SSL with a wrong SCRAM password is refused', async () => {
  const config = testConfig([], {
    kafka: {
      brokers: [SECURE_KAFKA.saslSsl],
      ssl: { ca: CA },
      sasl: { mechanism: 'scram-sha-512', username: SECURE_KAFKA.username, password: 'wrong' },
    },
  });
  await assert.rejects(
    withAdmin(config, (admin) => admin.listTopics()),
    (err: Error) => /SASL SCRAM SHA512 authentication failed/.test(err.message),
  );
});

test('SSL with a client certificate (mutual TLS): delivers an event end to end', async () => {
  await deliversOneEvent(
    {
      brokers: [SECURE_KAFKA.ssl],
      ssl: { ca: CA, cert: `${SECURE_KAFKA.certDir}/client.pem`, key: `${SECURE_KAFKA.certDir}/client.key` },
    },
    'evt-mtls',
  );
});

test('SASL_SSL with OAUTHBEARER (client credentials): delivers an event end to end', async () => {
  const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const grants: Array<{ authorization?: string; body: string }> = [];
  const tokenServer = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => {
      body += c.toString();
    });
    req.on('end', () => {
      grants.push({
        ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
        body,
      });
      const now = Math.floor(Date.now() / 1000);
      const token = `${b64({ alg: 'none' })}.${b64({ sub: 'courier', iat: now, exp: now + 3600 })}.`;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ access_token: token, token_type: 'bearer', expires_in: 3600 }));
    });
  });
  tokenServer.listen(0, '127.0.0.1');
  await once(tokenServer, 'listening');
  after(() => tokenServer.close());
  const { port } = tokenServer.address() as AddressInfo;
  await deliversOneEvent(
    {
      brokers: [SECURE_KAFKA.saslSsl],
      ssl: { ca: CA },
      sasl: {
        mechanism: 'oauthbearer',
        tokenUrl: `http://127.0.0.1:${port}/token`,
        clientId: 'courier-app',
        clientSecret: 's3cret',
        scope: 'kafka',
      },
    },
    'evt-oauth',
  );
  assert.ok(grants.length >= 1, 'the token endpoint was asked');
  const grant = grants[0];
  assert.equal(grant?.authorization, `Basic ${Buffer.from('courier-app:s3cret').toString('base64')}`);
  assert.equal(grant?.body, 'grant_type=client_credentials&scope=kafka');
});
