// The schema registry behind HTTPS with a private CA and basic auth, as managed registries are
// (Confluent Cloud: API key and secret): a real TLS proxy on loopback, using the stack's
// certificates, checks the credentials and forwards to the real Apicurio registry. An Avro event
// is registered, encoded and decoded through it; without credentials the registry refuses.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { parseConfig } from '../src/config/load.ts';
import { EventCodec, registryOptions } from '../src/kafka/codec.ts';
import { ensureCerts, SECURE_KAFKA } from './helpers/optionalStack.ts';
import { REGISTRY_URL, uniqueName } from './helpers/stack.ts';

const BASIC = `Basic ${Buffer.from('sr-key:sr-secret').toString('base64')}`;
let url = '';
let seen: Array<string | undefined> = [];
let server: ReturnType<typeof createServer> | undefined;

before(async () => {
  await ensureCerts();
  const upstream = new URL(REGISTRY_URL);
  server = createServer(
    {
      cert: readFileSync(`${SECURE_KAFKA.certDir}/broker.pem`),
      key: readFileSync(`${SECURE_KAFKA.certDir}/broker.key`),
    },
    async (req, res) => {
      seen.push(req.headers.authorization);
      if (req.headers.authorization !== BASIC) {
        res.writeHead(401, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error_code: 401, message: 'Unauthorized' }));
        return;
      }
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      const body = Buffer.concat(chunks);
      const answer = await fetch(`${upstream.origin}${req.url}`, {
        method: req.method as string,
        headers: { 'content-type': String(req.headers['content-type'] ?? 'application/json') },
        ...(body.length > 0 ? { body } : {}),
      });
      res.writeHead(answer.status, {
        'content-type': answer.headers.get('content-type') ?? 'application/json',
      });
      res.end(Buffer.from(await answer.arrayBuffer()));
    },
  );
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  url = `https://127.0.0.1:${(server.address() as AddressInfo).port}${upstream.pathname}`;
});
after(async () => {
  server?.close();
});

test('an https registry with a private CA and basic auth, configured like a managed one', async () => {
  seen = [];
  const config = parseConfig(
    {
      kafka: { brokers: ['127.0.0.1:9092'] },
      schemaRegistry: {
        url,
        username: 'sr-key',
        password: '${SR_SECRET}',
        tls: { ca: `${SECURE_KAFKA.certDir}/ca.pem` },
      },
    },
    { source: 'test', env: { SR_SECRET: 'sr-secret' } },
  );
  const subject = `${uniqueName('events')}-value`;
  const codec = new EventCodec({
    ...registryOptions(config.schemaRegistry),
    maxEventBytes: 64 * 1024,
    subject,
  });
  const event = { specversion: '1.0', id: 'evt-sr', type: 'contact.created', source: 'crm', data: { n: 1 } };
  const avro = await codec.encodeAvro(event);
  assert.equal(avro[0], 0, 'wire format');
  // A fresh codec has no cached schema: decoding asks the registry again.
  const reader = new EventCodec({
    ...registryOptions(config.schemaRegistry),
    maxEventBytes: 64 * 1024,
    subject,
  });
  assert.deepEqual(await reader.decode(avro), event);
  assert.ok(seen.length >= 2 && seen.every((a) => a === BASIC), 'every request carried the credentials');
});

test('without credentials the registry refuses, and the codec says so', async () => {
  const codec = new EventCodec({
    registryUrl: url,
    registryTls: { ca: `${SECURE_KAFKA.certDir}/ca.pem`, rejectUnauthorized: true },
    maxEventBytes: 64 * 1024,
    subject: `${uniqueName('events')}-value`,
  });
  await assert.rejects(
    codec.encodeAvro({ specversion: '1.0', id: 'e', type: 't', source: 's' }),
    (err: Error & { status?: number }) => err.status === 401 || /401|Unauthorized/.test(String(err.message)),
  );
});
