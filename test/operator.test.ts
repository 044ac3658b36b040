// Operator commands against the real stack: replay from the DLQ (dry run and real), forced
// re-delivery of delivered events, pause/resume through the CLI, and inspect.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { createRedis } from '../src/redis/client.ts';
import { DestinationControl } from '../src/redis/destinationControl.ts';
import { redisKeys } from '../src/redis/keys.ts';
import { courierCli, writeConfig } from './helpers/cli.ts';
import { startCourier } from './helpers/courier.ts';
import { eventJson } from './helpers/measure.ts';
import { type Behaviour, startReceiver } from './helpers/receiver.ts';
import { produceRaw, provision, testConfig, waitFor } from './helpers/stack.ts';

const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
});

const event = (id: string) => eventJson(id, 'order.created', {});

/** A receiver, a destination `id` pointing at it, its topics, a running Courier and a config file. */
async function deployment(id: string, behaviour?: Behaviour) {
  const receiver = await startReceiver(behaviour);
  cleanups.push(() => receiver.close());
  const config = testConfig([{ id, url: receiver.url }]);
  await provision(config);
  const courier = await startCourier(config);
  cleanups.push(() => courier.stop());
  return { receiver, config, courier, path: writeConfig(config) };
}

test('replay re-sends a DLQ window once the receiver is fixed; dry run changes nothing', async () => {
  let rejecting = true;
  const { receiver, config, courier, path } = await deployment('orders', () => ({
    status: rejecting ? 422 : 200,
  }));
  const from = new Date(Date.now() - 1000).toISOString();
  await produceRaw(
    config,
    ['a', 'b', 'c'].map((id) => ({ key: id, value: event(`rp-${id}`) })),
  );
  await waitFor(() => courier.attempts.filter((a) => a.outcome === 'dlq').length === 3, {
    message: '3 dead letters',
  });

  const dry = await courierCli([
    'replay',
    '--destination',
    'orders',
    '--from',
    from,
    '--dry-run',
    '--config',
    path,
  ]);
  assert.equal(dry.code, 0, dry.stderr);
  assert.match(dry.stdout, /found 3, re-sent 0, skipped 0/);
  assert.equal((dry.stdout.match(/would re-send rp-/g) ?? []).length, 3);

  rejecting = false;
  const real = await courierCli([
    'replay',
    '--destination',
    'orders',
    '--from',
    from,
    '--rate',
    '20',
    '--config',
    path,
  ]);
  assert.equal(real.code, 0, real.stderr);
  assert.match(real.stdout, /found 3, re-sent 3, skipped 0/);
  await waitFor(() => receiver.accepted.length === 3, { message: 'replayed deliveries' });
  const webhookIds = receiver.accepted.map((r) => r.headers['webhook-id']).sort();
  assert.deepEqual(webhookIds, ['rp-a', 'rp-b', 'rp-c'], 'same webhook-id as the original');
  await waitFor(() => courier.attempts.filter((a) => a.replay && a.outcome === 'delivered').length === 3, {
    message: 'replay marked in attempts',
  });

  const again = await courierCli(['replay', '--destination', 'orders', '--from', from, '--config', path]);
  assert.match(again.stdout, /found 3, re-sent 0, skipped 3/, 'already delivered events are skipped');

  const inspected = await courierCli(['inspect', 'rp-a', '--json', '--config', path]);
  assert.equal(inspected.code, 0, inspected.stderr);
  const report = JSON.parse(inspected.stdout) as {
    destinations: Record<string, { state: string }>;
    attempts: Array<{ outcome: string; status?: number }>;
  };
  assert.equal(report.destinations.orders?.state, 'delivered');
  assert.deepEqual(
    report.attempts.map((a) => [a.outcome, a.status]),
    [
      ['dlq', 422],
      ['delivered', 200],
    ],
  );
});

test('replay refuses a paused or unreachable destination', async () => {
  const config = testConfig([{ id: 'down', url: 'http://127.0.0.1:9/hook' }]);
  await provision(config);
  const path = writeConfig(config);
  const from = new Date(Date.now() - 60_000).toISOString();
  const unreachable = await courierCli(['replay', '--destination', 'down', '--from', from, '--config', path]);
  assert.equal(unreachable.code, 1);
  assert.match(unreachable.stderr, /not reachable \(CONNECTION_REFUSED\)/);

  const paused = await courierCli(['pause', '--destination', 'down', '--config', path]);
  assert.equal(paused.code, 0, paused.stderr);
  const refused = await courierCli(['replay', '--destination', 'down', '--from', from, '--config', path]);
  assert.match(refused.stderr, /is paused \(operator\)/);
  const unknown = await courierCli(['replay', '--destination', 'nope', '--from', from, '--config', path]);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /unknown destination "nope"/);
});

test('forced re-delivery sends delivered events again, marked as replays', async () => {
  const { receiver, config, path } = await deployment('crm');
  const from = new Date(Date.now() - 1000).toISOString();
  await produceRaw(
    config,
    [1, 2].map((i) => ({ key: `k${i}`, value: event(`fd-${i}`) })),
  );
  await waitFor(() => receiver.accepted.length === 2, { message: 'first deliveries' });
  const to = new Date(Date.now() + 1000).toISOString();
  const result = await courierCli([
    'replay',
    '--destination',
    'crm',
    '--source',
    'delivered',
    '--from',
    from,
    '--to',
    to,
    '--config',
    path,
  ]);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /found 2, re-sent 2/);
  await waitFor(() => receiver.accepted.length === 4, { message: 'forced re-deliveries' });
  assert.deepEqual(receiver.accepted.map((r) => r.nth).sort(), [1, 1, 2, 2]);
});

test('pause through the CLI stops delivery on the running instance; resume delivers the rest', async () => {
  const { receiver, config, courier, path } = await deployment('crm');
  const redis = createRedis(config.redis);
  cleanups.push(async () => redis.disconnect());
  const control = new DestinationControl({ redis, keys: redisKeys(config.kafka.topicPrefix) });

  let pausedSeen = false;
  courier.app.events.on('paused', (p) => {
    if (p.destination === 'crm' && p.reason === 'operator') pausedSeen = true;
  });
  assert.equal((await courierCli(['pause', '--destination', 'crm', '--config', path])).code, 0);
  assert.deepEqual(await control.state('crm'), { paused: true, reason: 'operator' });
  await waitFor(() => pausedSeen, { message: 'the running instance to see the pause' });
  await produceRaw(
    config,
    [1, 2, 3].map((i) => ({ key: `p${i}`, value: event(`pause-${i}`) })),
  );
  await waitFor(() => receiver.requests.length > 0, { timeoutMs: 2000, soft: true });
  assert.equal(receiver.requests.length, 0, 'nothing delivered while paused');

  const resumed = await courierCli(['resume', '--destination', 'crm', '--config', path]);
  assert.match(resumed.stdout, /resumed crm \(was paused: operator\)/);
  await waitFor(() => receiver.accepted.length === 3, { message: 'deliveries after resume' });
});
