// A poison event cannot crash-loop a process. An event that kills whoever handles it (here a
// preloaded hook SIGKILLs the process on it: a stand-in for whatever nobody foresaw) kills its
// router, or its deliverer, three times; then it is moved aside — to the invalid topic as
// CRASH_LOOP from the router, to the destination's DLQ as `crash-loop` from a deliverer — and
// everything behind it is delivered. `courier run --workers 2`: the supervisor restarts the dead.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { topicNames } from '../src/kafka/topics.ts';
import { CourierProcesses, type LogLine, writeConfig } from './helpers/cli.ts';
import { eventJson } from './helpers/measure.ts';
import { startReceiver } from './helpers/receiver.ts';
import { produceRaw, provision, readTopic, testConfig, waitFor } from './helpers/stack.ts';

const processes = new CourierProcesses();
after(() => processes.killAll());

const PRELOAD = new URL('./helpers/poison.mjs', import.meta.url).pathname;

for (const at of ['route', 'send'] as const) {
  test(`an event that kills its ${at === 'route' ? 'router' : 'deliverer'} three times is moved aside; the rest is delivered`, async () => {
    const receiver = await startReceiver();
    try {
      const config = testConfig([{ id: 'dest', url: receiver.url, timeoutMs: 1000 }], {
        // A SIGKILLed member holds its partitions until its session expires.
        kafka: { partitions: { events: 2, destination: 2 }, sessionTimeoutMs: 6000 },
      });
      await provision(config);
      // One key: the poison event sits in the middle of one partition's backlog.
      const events = Array.from({ length: 40 }, (_, i) => (i === 15 ? 'poison-1' : `ok-${i}`));
      await produceRaw(
        config,
        events.map((id) => ({ key: 'one-key', value: eventJson(id) })),
      );
      const logs: LogLine[] = [];
      processes.start(writeConfig(config), ['--workers', '2'], {
        logLevel: 'warn',
        logs,
        env: {
          NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import=${PRELOAD}`.trim(),
          COURIER_TEST_POISON: 'poison-1',
          COURIER_TEST_POISON_AT: at,
        },
      });
      const delivered = () => new Set(receiver.accepted.map((r) => r.json.id));
      if (process.env.DEBUG_LOGS)
        process.on('exit', () => {
          for (const l of logs)
            if (!/kafkajs/.test(String(l.component))) console.error(JSON.stringify(l).slice(0, 400));
        });
      const others = events.filter((id) => id !== 'poison-1');
      await waitFor(() => others.every((id) => delivered().has(id)), {
        message: () => `every other event delivered (${delivered().size} of ${others.length})`,
        timeoutMs: 150_000,
      });
      assert.equal(delivered().has('poison-1'), false, 'the poison event was never delivered');
      const deaths = logs.filter((l) => l.msg === 'worker exited; restarting it').length;
      assert.ok(deaths >= 3, `the poison event killed ${deaths} worker(s)`);
      const names = topicNames(config);
      if (at === 'route') {
        const [invalid] = await readTopic(config, names.invalid, { count: 1, timeoutMs: 30_000 });
        assert.ok(invalid, 'the poison event is on the invalid topic');
        assert.match(
          String(invalid.headers?.['courier-error']),
          /^CRASH_LOOP: the router's process died 3 times/,
        );
        assert.match(String(invalid.value), /poison-1/);
      } else {
        const [dead] = await readTopic(config, names.dlq('dest'), { count: 1, timeoutMs: 30_000 });
        assert.ok(dead, 'the poison event is in the DLQ');
        assert.equal(String(dead.headers?.['courier-error-class']), 'crash-loop');
        assert.equal(String(dead.headers?.['courier-event-id']), 'poison-1');
        assert.match(String(dead.headers?.['courier-last-error']), /died 3 times/);
      }
      // Order behind it held for the one key: the events after it arrived after those before it.
      const order = receiver.accepted.filter((r) => r.nth === 1).map((r) => Number(r.json.id.slice(3)));
      assert.deepEqual(
        order,
        [...order].sort((a, b) => a - b),
        'one key, in order',
      );
    } finally {
      processes.killAll();
      await receiver.close();
    }
  });
}
