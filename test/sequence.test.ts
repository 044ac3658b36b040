// `courier-sequence` on every request: the event's offset in its events-topic partition. For each
// key it increases in the order the events were produced; a retry carries its first attempt's
// value, and so does a replay of the event's dead letter.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { courierCli, writeConfig } from './helpers/cli.ts';
import { type RunningCourier, startCourier } from './helpers/courier.ts';
import { readDlq } from './helpers/dlq.ts';
import { eventJson } from './helpers/measure.ts';
import { type ReceivedRequest, startReceiver } from './helpers/receiver.ts';
import { produceRaw, provision, testConfig, waitFor } from './helpers/stack.ts';

let courier: RunningCourier | undefined;
after(async () => {
  await courier?.stop();
});

test('courier-sequence increases per key, and is the same on every retry and on a replay', async () => {
  const keys = ['k1', 'k2', 'k3'];
  const events = Array.from({ length: 30 }, (_, i) => ({ id: `seq-${i}`, key: keys[i % 3] as string }));
  const flaky = new Set(['seq-4', 'seq-11', 'seq-17']); // answered 503 once: retried
  const rejectedOnce = 'seq-20'; // answered 422 once: dead-lettered, then replayed
  let rejected = false;
  const receiver = await startReceiver((r: ReceivedRequest) => {
    if (flaky.has(r.json.id) && r.nth === 1) return { status: 503 };
    if (r.json.id === rejectedOnce && !rejected) {
      rejected = true;
      return { status: 422 };
    }
    return { status: 200 };
  });
  const config = testConfig([{ id: 'seq', url: receiver.url }]);
  await provision(config);
  courier = await startCourier(config);
  await produceRaw(
    config,
    events.map((e) => ({ key: e.key, value: eventJson(e.id) })),
  );
  await waitFor(() => new Set(receiver.accepted.map((r) => r.json.id)).size === events.length - 1, {
    message: 'all but the rejected one delivered',
    timeoutMs: 30_000,
  });
  await readDlq(config, 'seq', 1, 20_000);

  const sequenceOf = (r: ReceivedRequest) => String(r.headers['courier-sequence']);
  for (const r of receiver.requests) assert.match(sequenceOf(r), /^\d+$/, `${r.json.id}: a decimal integer`);
  const first = new Map<string, string>();
  for (const r of receiver.requests) if (r.nth === 1) first.set(r.json.id, sequenceOf(r));
  for (const key of keys) {
    const sequences = events.filter((e) => e.key === key).map((e) => Number(first.get(e.id)));
    assert.deepEqual(
      sequences,
      [...sequences].sort((a, b) => a - b),
      `${key}: increasing in produced order (${sequences.join(', ')})`,
    );
    assert.equal(new Set(sequences).size, sequences.length, `${key}: distinct`);
  }
  for (const id of flaky) {
    const attempts = receiver.requests.filter((r) => r.json.id === id);
    assert.equal(attempts.length, 2, `${id}: retried once`);
    assert.equal(
      sequenceOf(attempts[1] as ReceivedRequest),
      first.get(id),
      `${id}: the retry has the same sequence`,
    );
  }

  const replay = await courierCli([
    'replay',
    '--destination',
    'seq',
    '--event',
    rejectedOnce,
    '--config',
    writeConfig(config),
  ]);
  assert.equal(replay.code, 0, replay.stdout + replay.stderr);
  await waitFor(() => receiver.accepted.some((r) => r.json.id === rejectedOnce), {
    message: 'the replay delivered',
  });
  const replayed = receiver.accepted.find((r) => r.json.id === rejectedOnce) as ReceivedRequest;
  assert.equal(sequenceOf(replayed), first.get(rejectedOnce), 'the replay has the same sequence');
  await receiver.close();
});

test("a router dead letter's replay carries the event's courier-sequence too", async () => {
  const receiver = await startReceiver();
  // The transform cannot handle the event: the router dead-letters it unshaped (transform-failed).
  const broken = testConfig([
    { id: 'shaped', url: receiver.url, transform: 'data.ok ? { "id": id } : $error("not ok")' },
  ]);
  await provision(broken);
  const app = await startCourier(broken);
  try {
    await produceRaw(broken, [
      { key: 'k', value: eventJson('shaped-0', 'order.created', { ok: true }) },
      { key: 'k', value: eventJson('shaped-1', 'order.created', { ok: false }) },
    ]);
    await readDlq(broken, 'shaped', 1, 20_000);
    await waitFor(() => receiver.accepted.some((r) => r.json.id === 'shaped-0'), {
      message: 'the first delivered',
    });
  } finally {
    await app.stop();
  }
  // Fixed, and replayed: routed again under the new transform, with its original sequence.
  const fixed = {
    ...broken,
    destinations: broken.destinations.map((d) => ({ ...d, transform: '{ "id": id }' })),
  };
  const path = writeConfig(fixed);
  const running = await startCourier(fixed);
  try {
    const replay = await courierCli([
      'replay',
      '--destination',
      'shaped',
      '--event',
      'shaped-1',
      '--config',
      path,
    ]);
    assert.equal(replay.code, 0, replay.stdout + replay.stderr);
    await waitFor(() => receiver.accepted.some((r) => r.json.id === 'shaped-1'), {
      message: 'the replay delivered',
    });
    const sequenceOf = (id: string) =>
      Number(receiver.accepted.find((r) => r.json.id === id)?.headers['courier-sequence']);
    assert.equal(sequenceOf('shaped-1'), sequenceOf('shaped-0') + 1, 'the next offset of its partition');
  } finally {
    await running.stop();
  }
  await receiver.close();
});
