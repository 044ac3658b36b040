// Crash safety: `courier run` is killed with SIGKILL mid-stream and started again. Every event is
// delivered; a receiver sees an event twice only with the same webhook-id, and only for sends
// that were in flight when the process died (their outcome was unknown).
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { CourierProcesses, writeConfig } from './helpers/cli.ts';
import { eventJson } from './helpers/measure.ts';
import { startReceiver } from './helpers/receiver.ts';
import { produceRaw, provision, testConfig, waitFor } from './helpers/stack.ts';

const courier = new CourierProcesses();
after(() => courier.killAll());

test('kill -9 mid-stream and restart: nothing lost, duplicates only for in-flight sends', async () => {
  const N = 600;
  const concurrency = 8;
  // A little latency so that sends are in flight when the process dies.
  const receiver = await startReceiver(() => ({ status: 200, delayMs: 15 }));
  const config = testConfig([{ id: 'crm', url: receiver.url, concurrency }], {
    kafka: {
      brokers: ['127.0.0.1:9092'],
      sessionTimeoutMs: 6000,
      partitions: { events: 3, destination: 3 },
    },
  });
  await provision(config);
  const path = writeConfig(config);
  await produceRaw(
    config,
    Array.from({ length: N }, (_, i) => ({
      key: `k${i % 50}`,
      value: eventJson(`crash-${i}`, 't'),
    })),
  );

  let child = courier.start(path);
  const kills: number[] = [];
  for (const threshold of [N / 4, N / 2]) {
    await waitFor(() => receiver.accepted.length >= threshold, {
      timeoutMs: 60_000,
      message: `${threshold} deliveries`,
    });
    await courier.stop(child, 'SIGKILL');
    kills.push(receiver.requests.length);
    child = courier.start(path);
  }
  await waitFor(() => new Set(receiver.accepted.map((r) => r.json.id)).size === N, {
    timeoutMs: 90_000,
    message: 'every event delivered after the restarts',
  });
  await courier.stop(child, 'SIGTERM');

  const ids = receiver.requests.map((r) => String(r.headers['webhook-id']));
  const duplicates = ids.length - new Set(ids).size;
  console.log(
    `crash test: ${N} events, ${ids.length} requests, ${duplicates} duplicates, killed twice at ${kills.join(' and ')} requests`,
  );
  for (const r of receiver.requests)
    assert.equal(r.json.id, r.headers['webhook-id'], 'a duplicate carries the same webhook-id');
  // Only sends in flight at a kill can repeat: at most the destination's concurrency per kill.
  assert.ok(duplicates <= kills.length * concurrency, `${duplicates} duplicates`);
  await receiver.close();
});
