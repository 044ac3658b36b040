// Issue 7 items 4 and 5, with a real `courier run` child process: it never lingers doing nothing.
// Missing topics: it names each one, says to run `courier topics`, and exits non-zero.
// A consumer crash kafkajs will not restart: one clear line, the other parts stop, exit non-zero.
// The crash is a real one: the destination topic's max.message.bytes is lowered while Courier
// runs (Courier reads limits once, at start), so the router's next produce is refused with the
// non-retriable MESSAGE_TOO_LARGE and kafkajs gives its consumer up (CRASH, restart: false).
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { after, test } from 'node:test';
import { topicNames, topicPlan } from '../src/kafka/topics.ts';
import { CLI, courierCli, writeConfig } from './helpers/cli.ts';
import { startCourier } from './helpers/courier.ts';
import { eventJson } from './helpers/measure.ts';
import { startReceiver } from './helpers/receiver.ts';
import { produceRaw, provision, testConfig, waitFor, withAdmin } from './helpers/stack.ts';

const TOPIC_RESOURCE = 2;
const children = new Set<ChildProcess>();
after(() => {
  for (const c of children) c.kill('SIGKILL');
});

/**
 * `courier run` with stdout and stderr captured, as one process: its exit is what an outside
 * supervisor (systemd, Kubernetes) acts on. Under `--workers N` Courier's own supervisor restarts
 * a worker that exits after a crash instead (test/workers.test.ts).
 */
function run(configPath: string) {
  const child = spawn(
    process.execPath,
    ['--disable-warning=TimeoutNegativeWarning', CLI, 'run', '--config', configPath, '--workers', '1'],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LOG_LEVEL: 'error' } },
  );
  children.add(child);
  const out = { stdout: '', stderr: '' };
  child.stdout?.on('data', (d: Buffer) => {
    out.stdout += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    out.stderr += d.toString();
  });
  const exited = once(child, 'exit').then(([code, signal]) => {
    children.delete(child);
    return { code: code as number | null, signal: signal as NodeJS.Signals | null };
  });
  return { child, out, exited };
}

async function exitWithin<T>(exited: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: courier run still running after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([exited, late]);
  } finally {
    clearTimeout(timer);
  }
}

test('courier run with missing topics names each one, says to run `courier topics`, and exits non-zero', async () => {
  const config = testConfig([{ id: 'crm', url: 'http://127.0.0.1:9/hook' }]);
  // Only the events topic exists, as when a user starts Courier before `courier topics`.
  await withAdmin(config, (admin) =>
    admin.createTopics({ topics: [{ topic: config.kafka.eventsTopic, numPartitions: 1 }] }),
  );
  const p = run(writeConfig(config));
  const { code } = await exitWithin(p.exited, 60_000, 'missing topics');
  assert.notEqual(code, 0, 'non-zero exit');
  const missing = topicPlan(config)
    .map((t) => t.topic)
    .filter((t) => t !== config.kafka.eventsTopic);
  for (const t of missing) assert.ok(p.out.stderr.includes(t), `stderr names ${t}: ${p.out.stderr}`);
  assert.ok(!p.out.stderr.includes(`${config.kafka.eventsTopic},`), 'the existing topic is not listed');
  assert.match(p.out.stderr, /courier topics/);
  assert.doesNotMatch(p.out.stderr, /at .*node_modules/, 'one clear error, no stack');
});

test('a consumer crash kafkajs will not restart stops courier run with a clear error and a non-zero exit', async () => {
  const receiver = await startReceiver();
  try {
    const config = testConfig([{ id: 'crm', url: receiver.url }]);
    await provision(config);
    const p = run(writeConfig(config));
    await produceRaw(config, [{ key: 'k', value: eventJson('evt-before') }]);
    await waitFor(() => receiver.accepted.some((q) => q.json.id === 'evt-before'), {
      timeoutMs: 60_000,
      message: () => `first delivery; stderr: ${p.out.stderr}`,
    });

    await withAdmin(config, (admin) =>
      admin.alterConfigs({
        validateOnly: false,
        resources: [
          {
            type: TOPIC_RESOURCE,
            name: topicNames(config).dest('crm'),
            configEntries: [{ name: 'max.message.bytes', value: '1024' }],
          },
        ],
      }),
    );
    await produceRaw(config, [{ key: 'k', value: eventJson('evt-big', 't', { pad: 'x'.repeat(8_000) }) }]);

    const { code } = await exitWithin(p.exited, 90_000, 'router consumer crashed');
    assert.equal(code, 1, `exit code; stderr: ${p.out.stderr}`);
    assert.match(p.out.stderr, /consumer router \(group \S+-router\) crashed and will not restart/);
    assert.match(p.out.stderr, /larger than the max message size/);
  } finally {
    await receiver.close();
  }
});

test('app.health() lists each role consumer with its state', async () => {
  const receiver = await startReceiver();
  const config = testConfig([{ id: 'crm', url: receiver.url }]);
  await provision(config);
  const courier = await startCourier(config);
  try {
    await waitFor(() => courier.app.health().every((h) => h.state === 'running'), {
      timeoutMs: 30_000,
      message: () => `every consumer running: ${JSON.stringify(courier.app.health())}`,
    });
    const prefix = config.kafka.topicPrefix;
    assert.deepEqual(
      courier.app
        .health()
        .map((h) => [h.name, h.groupId])
        .sort(),
      [
        ['deliver:crm', `${prefix}-deliver.crm`],
        ['retry', `${prefix}-retry`],
        ['router', `${prefix}-router`],
      ],
    );
  } finally {
    await courier.stop();
    await receiver.close();
  }
  assert.deepEqual(
    courier.app.health().map((h) => h.state),
    ['stopped', 'stopped', 'stopped'],
  );
});

test('the issue as reported: `courier produce --key hot --count 5000`, then `courier run` delivers all of it', async () => {
  const receiver = await startReceiver();
  try {
    const config = testConfig([{ id: 'orders', url: receiver.url, concurrency: 32 }]);
    const path = writeConfig(config);
    const topics = await courierCli(['topics', '--config', path]);
    assert.equal(topics.code, 0, topics.stderr);
    const produced = await courierCli(
      [
        'produce',
        '--config',
        path,
        '--type',
        'order.created',
        '--key',
        'hot',
        '--count',
        '5000',
        '--format',
        'json',
        '--data',
        '{"a":1}',
      ],
      { timeoutMs: 120_000 },
    );
    assert.equal(produced.code, 0, produced.stderr);
    const p = run(path);
    const ids = new Set<string>();
    await waitFor(
      () => {
        for (const q of receiver.accepted) ids.add(q.json.id);
        return ids.size >= 5000;
      },
      {
        timeoutMs: 120_000,
        intervalMs: 250,
        message: () => `5000 delivered, got ${ids.size}; stderr: ${p.out.stderr}`,
      },
    );
    p.child.kill('SIGTERM');
    const { code } = await exitWithin(p.exited, 60_000, 'SIGTERM');
    assert.equal(code, 0, p.out.stderr);
  } finally {
    await receiver.close();
  }
});
