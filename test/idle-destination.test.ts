// What an idle destination costs, against the real broker: its consumer long-polls while nothing
// is paused (a fetch every IDLE_FETCH_WAIT_MS, not ten a second), its connections do not spin
// kafkajs' 1 ms request-queue timer, and a long poll never delays a resumed partition or a message
// that arrives during it.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import {
  BUSY_FETCH_WAIT_MS,
  destinationConsumer,
  IDLE_FETCH_WAIT_MS,
  PartitionRunner,
} from '../src/delivery/partitionRunner.ts';
import { patchKafkajs } from '../src/kafka/kafkajsPatches.ts';
import { createLogger } from '../src/telemetry/logger.ts';
import { openProducer } from './helpers/measure.ts';
import { createKafkaForTest, testConfig, waitFor, withAdmin } from './helpers/stack.ts';

test('an idle destination long-polls, its connections do not spin, and a message or a resume is fetched at once', async () => {
  assert.deepEqual(patchKafkajs(), { requestQueue: true, fetchWait: true });
  const config = testConfig([]);
  const topic = `${config.kafka.topicPrefix}.dest.idle`;
  await withAdmin(config, (admin) =>
    admin.createTopics({ topics: [{ topic, numPartitions: 2 }], waitForLeaders: true }),
  );
  // Counts every pass of kafkajs' request-queue check, on every connection of this process.
  const RequestQueue = createRequire(import.meta.url)('kafkajs/src/network/requestQueue/index.js') as {
    prototype: { checkPendingRequests: (this: unknown) => void };
  };
  const check = RequestQueue.prototype.checkPendingRequests;
  let checks = 0;
  RequestQueue.prototype.checkPendingRequests = function counted(this: unknown) {
    checks += 1;
    return check.call(this);
  };
  const consumer = destinationConsumer(createKafkaForTest(config), {
    groupId: `${config.kafka.topicPrefix}-deliver.idle`,
    window: { messages: 100, bytes: 1024 * 1024 },
    partitions: 2,
  });
  let fetches = 0;
  consumer.on(consumer.events.FETCH_START, () => {
    fetches += 1;
  });
  let joined = false;
  consumer.on(consumer.events.GROUP_JOIN, () => {
    joined = true;
  });
  const handled: string[] = [];
  // The actor's gate, as the runner sees it: a shut gate holds every message at its handler.
  let gate: { opened: Promise<void>; open: () => void } | undefined;
  let waiting = 0;
  const runner = new PartitionRunner({
    name: 'deliver:idle',
    consumer,
    groupId: `${config.kafka.topicPrefix}-deliver.idle`,
    topic,
    concurrency: 4,
    window: { messages: 100, bytes: 1024 * 1024 },
    handle: async (message) => {
      if (gate) {
        waiting += 1;
        await gate.opened;
        waiting -= 1;
      }
      handled.push(message.value?.toString() ?? '');
      return true;
    },
    logger: createLogger({ level: 'silent' }),
  });
  const producer = await openProducer(config);
  try {
    await runner.start();
    await waitFor(() => joined, { message: 'the group join', timeoutMs: 30_000 });
    // Idle for three long polls: a fixed 100 ms wait would have fetched ~60 times.
    const f0 = fetches;
    const c0 = checks;
    const window = 3 * IDLE_FETCH_WAIT_MS;
    await new Promise((r) => setTimeout(r, window));
    const idleFetches = fetches - f0;
    assert.ok(
      idleFetches <= 2 * (window / IDLE_FETCH_WAIT_MS) + 2,
      `${idleFetches} fetches in ${window} ms idle`,
    );
    assert.ok(idleFetches < window / BUSY_FETCH_WAIT_MS / 3, `${idleFetches} fetches: not long-polling`);
    // Unrepaired, each connection runs the check every millisecond (thousands here).
    assert.ok(checks - c0 < 200, `${checks - c0} request-queue checks in ${window} ms idle`);

    // A message produced during a long poll is delivered (the broker answers the poll at once).
    await producer.send([{ key: 'a', value: 'during-poll' }], topic);
    await waitFor(() => handled.includes('during-poll'), {
      message: 'the message sent during a long poll',
      timeoutMs: 30_000,
    });

    // Gate shut: each partition is fetched until it holds a message, then paused (and polled
    // short). What is produced while paused is fetched after the resume.
    let open = () => {};
    gate = { opened: new Promise<void>((r) => (open = r)), open: () => open() };
    runner.setFlowing(false);
    await producer.send([{ key: 'first', value: 'held-first' }], topic);
    await waitFor(() => waiting >= 1, {
      message: 'the first held message at its handler',
      timeoutMs: 30_000,
    });
    await producer.send(
      Array.from({ length: 20 }, (_, i) => ({ key: `k${i}`, value: `held-${i}` })),
      topic,
    );
    const g = gate;
    gate = undefined;
    g.open();
    runner.setFlowing(true);
    await waitFor(() => handled.filter((h) => h.startsWith('held-')).length === 21, {
      message: 'every held message after the resume',
      timeoutMs: 30_000,
    });
  } finally {
    RequestQueue.prototype.checkPendingRequests = check;
    await producer.close();
    await runner.stop(Date.now() + 10_000);
    await withAdmin(config, (admin) => admin.deleteTopics({ topics: [topic] })).catch(() => {});
  }
});
