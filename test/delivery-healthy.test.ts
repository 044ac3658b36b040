// A healthy destination: every event arrives exactly once, signed so that the official
// standardwebhooks library verifies it, and same-key events arrive in production order.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Webhook } from 'standardwebhooks';
import { type RunningCourier, startCourier } from './helpers/courier.ts';
import { type Receiver, startReceiver } from './helpers/receiver.ts';
import { produceRaw, provision, SECRET, testConfig, waitFor } from './helpers/stack.ts';

let receiver: Receiver;
let courier: RunningCourier | undefined;

before(async () => {
  receiver = await startReceiver();
});
after(async () => {
  await courier?.stop();
  await receiver.close();
});

test('delivers every event once, verifiably signed, in order per key', async () => {
  const config = testConfig([{ id: 'crm', url: receiver.url, concurrency: 8 }]);
  await provision(config);
  courier = await startCourier(config);

  const keys = ['alice', 'bob', 'carol', 'dave'];
  const events = Array.from({ length: 120 }, (_, i) => ({
    key: keys[i % keys.length] as string,
    event: { specversion: '1.0', id: `evt-${i}`, type: 'contact.updated', source: 'test', data: { seq: i } },
  }));
  await produceRaw(
    config,
    events.map((e) => ({ key: e.key, value: JSON.stringify(e.event) })),
  );

  await waitFor(() => receiver.accepted.length >= events.length, {
    message: 'all deliveries',
    timeoutMs: 30_000,
  });

  const ids = receiver.requests.map((r) => r.headers['webhook-id']);
  assert.equal(new Set(ids).size, events.length, 'every event arrived');
  assert.equal(ids.length, events.length, 'no event arrived twice');

  const wh = new Webhook(SECRET);
  for (const r of receiver.requests) {
    const verified = wh.verify(r.body, {
      'webhook-id': String(r.headers['webhook-id']),
      'webhook-timestamp': String(r.headers['webhook-timestamp']),
      'webhook-signature': String(r.headers['webhook-signature']),
    }) as { id: string };
    assert.equal(verified.id, r.headers['webhook-id']);
    assert.equal(r.headers['content-type'], 'application/json');
    assert.match(String(r.headers['user-agent']), /^courier\//);
  }

  for (const key of keys) {
    const expected = events.filter((e) => e.key === key).map((e) => e.event.id);
    const seen = receiver.requests.filter((r) => expected.includes(r.json.id)).map((r) => r.json.id);
    assert.deepEqual(seen, expected, `events of key ${key} arrived in order`);
  }

  await waitFor(() => courier!.attempts.filter((a) => a.outcome === 'delivered').length >= events.length, {
    message: 'attempt records',
  });
});
