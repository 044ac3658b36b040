// Crash safety: `courier run` is killed with SIGKILL mid-stream and started again. Every event is
// delivered; a receiver sees an event twice only with the same webhook-id, and only for sends
// that were in flight when the process died (their outcome was unknown).
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { after, test } from 'node:test';
import { CLI, writeConfig } from './helpers/cli.ts';
import { startReceiver } from './helpers/receiver.ts';
import { produceRaw, provision, testConfig, waitFor } from './helpers/stack.ts';

const children: ChildProcess[] = [];
after(() => {
  for (const c of children) c.kill('SIGKILL');
});

function runCourier(configPath: string): ChildProcess {
  const child = spawn(
    process.execPath,
    ['--disable-warning=TimeoutNegativeWarning', CLI, 'run', '--config', configPath],
    {
      stdio: ['ignore', 'ignore', 'inherit'],
      env: { ...process.env, LOG_LEVEL: 'error' },
    },
  );
  children.push(child);
  return child;
}

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
      value: JSON.stringify({ specversion: '1.0', id: `crash-${i}`, type: 't', source: 'test' }),
    })),
  );

  let child = runCourier(path);
  const kills: number[] = [];
  for (const threshold of [N / 4, N / 2]) {
    await waitFor(() => receiver.accepted.length >= threshold, {
      timeoutMs: 60_000,
      message: `${threshold} deliveries`,
    });
    child.kill('SIGKILL');
    await once(child, 'exit');
    kills.push(receiver.requests.length);
    child = runCourier(path);
  }
  await waitFor(() => new Set(receiver.accepted.map((r) => r.json.id)).size === N, {
    timeoutMs: 90_000,
    message: 'every event delivered after the restarts',
  });
  child.kill('SIGTERM');
  await once(child, 'exit');

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
