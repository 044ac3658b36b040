// What Courier reports is what happened, while instances come and go gracefully (no kill): 3,000
// events to each of two healthy destinations while a second `courier run` joins and the first
// leaves on SIGTERM. Afterwards, per destination, the delivery log holds exactly one `delivered`
// record per event — as many as the receiver got requests, none rebuilt — and `courier
// attempts` says the same. (A rebuilt record stands in for one a dead process lost: nobody died.)
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { topicNames } from '../src/kafka/topics.ts';
import { CourierProcesses, courierCli, writeConfig } from './helpers/cli.ts';
import { topicMessageCount } from './helpers/dlq.ts';
import { eventJson, openProducer } from './helpers/measure.ts';
import { type Receiver, startReceiver } from './helpers/receiver.ts';
import { provision, testConfig, waitFor } from './helpers/stack.ts';

const N = Number(process.env.LEDGER_EVENTS ?? 3000);

const courier = new CourierProcesses();
const receivers: Receiver[] = [];
after(async () => {
  courier.killAll();
  for (const r of receivers) await r.close();
});

test(`a join and a graceful leave mid-stream: one delivered record per event, as many as requests (${N} events, 2 destinations)`, async () => {
  const a = await startReceiver();
  const b = await startReceiver();
  receivers.push(a, b);
  const config = testConfig(
    [
      { id: 'one', url: a.url },
      { id: 'two', url: b.url },
    ],
    { kafka: { partitions: { events: 4, destination: 4 }, sessionTimeoutMs: 10_000 } },
  );
  await provision(config);
  const path = writeConfig(config);
  const first = courier.start(path, ['--workers', '2']);
  const distinct = (r: Receiver) => new Set(r.accepted.map((q) => q.json.id)).size;
  const producer = await openProducer(config);
  let second: ReturnType<typeof courier.start> | undefined;
  try {
    // A steady stream over about ten seconds; the second instance joins a third of the way in,
    // the first leaves gracefully two thirds of the way.
    const perSend = 50;
    for (let i = 0; i < N; i += perSend) {
      await producer.send(
        Array.from({ length: Math.min(perSend, N - i) }, (_, j) => ({
          key: `k${(i + j) % 97}`,
          value: eventJson(`g-${i + j}`),
        })),
      );
      if (i === Math.floor(N / 3 / perSend) * perSend) second = courier.start(path, ['--workers', '2']);
      if (i === Math.floor((2 * N) / 3 / perSend) * perSend) await courier.stop(first, 'SIGTERM');
      await new Promise((r) => setTimeout(r, 150));
    }
  } finally {
    await producer.close();
  }
  await waitFor(() => distinct(a) === N && distinct(b) === N, {
    message: () => `every event at both receivers (${distinct(a)}, ${distinct(b)} of ${N})`,
    timeoutMs: 180_000,
  });
  // Every record is written once the last instance has stopped gracefully.
  if (second) await courier.stop(second, 'SIGTERM');

  for (const [id, receiver] of [
    ['one', a],
    ['two', b],
  ] as const) {
    const listed = await courierCli([
      'attempts',
      '--config',
      path,
      '--destination',
      id,
      '--outcome',
      'delivered',
      '--since',
      '1h',
      '--limit',
      String(N * 3),
      '--json',
    ]);
    assert.equal(listed.code, 0, `${listed.stderr}${listed.stdout.slice(0, 500)}`);
    const items = (JSON.parse(listed.stdout) as { items: Array<{ eventId: string; rebuilt?: boolean }> })
      .items;
    const rebuilt = items.filter((i) => i.rebuilt).length;
    const events = new Set(items.map((i) => i.eventId)).size;
    // What the rebalances cost (figures, not asserted): copies routed twice, copies read twice.
    const skipped = await courierCli([
      ...['attempts', '--config', path, '--destination', id, '--outcome', 'duplicate-skipped'],
      ...['--since', '1h', '--limit', String(N * 3), '--json'],
    ]);
    const reread = (JSON.parse(skipped.stdout) as { matched: number }).matched;
    const routed = await topicMessageCount(config, [topicNames(config).dest(id)]);
    console.log(
      `${id}: ${receiver.requests.length} requests, ${distinct(receiver)} events received, ${items.length} delivered records (${rebuilt} rebuilt) for ${events} events; ${routed - N} routed twice, ${reread} read twice (duplicate-skipped)`,
    );
    assert.equal(rebuilt, 0, `${id}: no rebuilt record (no process died)`);
    assert.equal(events, N, `${id}: every event has its delivered record`);
    assert.equal(items.length, N, `${id}: one delivered record per event`);
    assert.equal(receiver.requests.length, N, `${id}: one request per event`);
  }
});
