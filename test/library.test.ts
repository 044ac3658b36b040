// The README's "Use as a library" example, run as written against the real stack through the
// package's public entry (src/index.ts, published as dist/index.js): a config object with a
// ${ENV} secret, topics provisioned, Courier started in-process, its events subscribed to, one
// event delivered and verified, then a clean stop.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { Webhook } from 'standardwebhooks';
import {
  type AttemptRecord,
  CourierApp,
  createLogger,
  parseConfig,
  provisionTopics,
  type RedisConfig,
} from '../src/index.ts';
import { eventJson } from './helpers/measure.ts';
import { startReceiver } from './helpers/receiver.ts';
import { BROKERS, produceRaw, REDIS_URL, SECRET, uniqueName, waitFor } from './helpers/stack.ts';

test('start Courier in-process from a config object and watch it deliver', async () => {
  const receiver = await startReceiver();
  after(() => receiver.close());
  const prefix = uniqueName('lib');
  const redis: RedisConfig = { url: REDIS_URL };

  // --- the README example, with the test's receiver, stack and topic prefix ---
  const config = parseConfig(
    {
      kafka: { brokers: BROKERS, topicPrefix: prefix, eventsTopic: `${prefix}-events` },
      redis,
      network: { allowPrivateAddresses: true }, // the receiver is on 127.0.0.1
      destinations: [{ id: 'crm', url: receiver.url, eventTypes: ['contact.*'], secrets: ['${CRM_SECRET}'] }],
    },
    { source: 'embedded', env: { CRM_SECRET: SECRET } },
  );
  await provisionTopics(config);
  const app = new CourierApp({ config, logger: createLogger({ level: 'silent' }) });
  const attempts: AttemptRecord[] = [];
  app.events.on('attempt', (a) => attempts.push(a));
  app.events.on('dlq', (d) => assert.fail(`unexpected dead letter for ${d.eventId}`));
  await app.start();
  after(() => app.stop());
  // --- end of the example ---

  await produceRaw(config, [{ key: 'c-1', value: eventJson('evt-lib-1') }]);
  await waitFor(() => attempts.some((a) => a.eventId === 'evt-lib-1' && a.outcome === 'delivered'), {
    timeoutMs: 30_000,
    message: 'the delivered attempt event',
  });
  const [request] = receiver.accepted;
  assert.ok(request, 'the receiver got the event');
  new Webhook(SECRET).verify(request.body, {
    'webhook-id': String(request.headers['webhook-id']),
    'webhook-timestamp': String(request.headers['webhook-timestamp']),
    'webhook-signature': String(request.headers['webhook-signature']),
  });
  const delivered = attempts.find((a) => a.outcome === 'delivered');
  assert.equal(delivered?.destination, 'crm');
  assert.equal(delivered?.status, 200);
  await app.stop();
});
