// A broker restart costs seconds, not a session timeout. The stack's broker is stopped (SIGTERM)
// under a running `courier run` (two workers) and started again; events produced once it serves
// again are all delivered within 5 s, with the session timeout at its 30 s default: a consumer
// left waiting for the 30 s kafkajs' retry backoff can reach, or for a crashed member's session
// to expire, would show. Nothing is lost or sent twice. And the piece that makes a consumer crash
// cheap, on its own: a group whose former member is removed does not wait out its session.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { promisify } from 'node:util';
import { Kafka, logLevel } from 'kafkajs';
import { removeGroupMember } from '../src/kafka/leaveGroup.ts';
import { CourierProcesses, writeConfig } from './helpers/cli.ts';
import { eventJson } from './helpers/measure.ts';
import { startReceiver } from './helpers/receiver.ts';
import { BROKERS, produceRaw, provision, testConfig, uniqueName, waitFor } from './helpers/stack.ts';

const ROOT = new URL('..', import.meta.url).pathname;
const STACK_DIR = process.env.COURIER_STACK_DIR ?? join(ROOT, '.stack');
/**
 * Well under the 30 s session and the 30 s backoff kafkajs used to grow to (the defect this test
 * guards: 26.5 s): on a quiet machine the last event arrives in about 1 s, with both cores kept busy
 * in about 11 s; a wait for a former member's session shows as 30 s or more.
 */
const RESUME_WITHIN_MS = 15_000;

const processes = new CourierProcesses();
after(() => processes.killAll());

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test('after a broker restart, deliveries resume without waiting out a session; nothing lost or doubled', async () => {
  const receiver = await startReceiver();
  const config = testConfig([{ id: 'crm', url: receiver.url, concurrency: 8 }], {
    kafka: { sessionTimeoutMs: 30_000 },
  });
  await provision(config);
  // Its logs are kept, not printed: the outage makes kafkajs log every refused connection.
  const courier = processes.start(writeConfig(config), ['--workers', '2'], { logs: [] });
  try {
    const before = Array.from({ length: 100 }, (_, i) => `before-${i}`);
    await produceRaw(
      config,
      before.map((id) => ({ key: id, value: eventJson(id) })),
    );
    const delivered = (ids: string[]) => ids.every((id) => receiver.accepted.some((r) => r.json.id === id));
    await waitFor(() => delivered(before), {
      timeoutMs: 90_000,
      message: 'the first 100 events delivered',
    });

    // Stop the broker and start it again, as an operator's rolling restart would.
    const pid = Number(readFileSync(join(STACK_DIR, 'pids', 'kafka.pid'), 'utf8').trim());
    process.kill(pid, 'SIGTERM');
    await waitFor(() => !alive(pid), { timeoutMs: 120_000, message: 'the broker stopped' });
    await promisify(execFile)('bash', [join(ROOT, 'stack', 'stack.sh'), 'up'], {
      env: { ...process.env, COURIER_STACK_DIR: STACK_DIR },
    });
    const ready = Date.now();
    const afterIds = Array.from({ length: 200 }, (_, i) => `after-${i}`);
    await produceRaw(
      config,
      afterIds.map((id) => ({ key: id, value: eventJson(id) })),
    );
    const produced = Date.now();
    await waitFor(() => delivered(afterIds), {
      timeoutMs: 120_000,
      message: () =>
        `every event after the restart delivered (${afterIds.filter((id) => receiver.accepted.some((r) => r.json.id === id)).length} of 200)`,
    });
    const at = afterIds.map((id) => receiver.accepted.find((r) => r.json.id === id)?.at ?? Number.NaN);
    const last = Math.max(...at) - produced;
    console.log(
      `broker restart: 200 events produced ${produced - ready} ms after the broker was ready again; first delivered ${Math.min(...at) - produced} ms after, last ${last} ms after`,
    );
    assert.ok(
      last <= RESUME_WITHIN_MS,
      `the last of the 200 was delivered ${last} ms after they were produced`,
    );
    const all = [...before, ...afterIds];
    const copies = receiver.accepted.filter((r) => all.includes(r.json.id as string));
    assert.equal(new Set(copies.map((r) => r.json.id)).size, all.length, 'nothing lost');
    assert.equal(copies.length, all.length, 'nothing delivered twice');
  } finally {
    await processes.stop(courier, 'SIGTERM');
    await receiver.close();
  }
});

test('a member that died without leaving is removed, so the group does not wait out its 300 s session', async () => {
  const groupId = uniqueName('ghost');
  const config = testConfig([{ id: 'g', url: 'http://127.0.0.1:9/' }]);
  await provision(config);
  const topic = config.kafka.eventsTopic;
  // The former member: a consumer in its own process, killed without leaving the group. Its
  // session (and the rebalance timeout) are 300 s, so without its removal the next member waits.
  const script = `
    import { Kafka, logLevel } from 'kafkajs';
    const c = new Kafka({ brokers: ${JSON.stringify(BROKERS)}, logLevel: logLevel.NOTHING })
      .consumer({ groupId: ${JSON.stringify(groupId)}, sessionTimeout: 300000, rebalanceTimeout: 300000 });
    c.on(c.events.GROUP_JOIN, (e) => console.log(e.payload.memberId));
    await c.connect();
    await c.subscribe({ topic: ${JSON.stringify(topic)} });
    await c.run({ eachMessage: async () => {} });`;
  const ghost = spawn(process.execPath, ['--input-type=module', '-e', script], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  ghost.stdout?.on('data', (c: Buffer) => {
    out += c.toString();
  });
  await waitFor(() => out.includes('\n'), { timeoutMs: 60_000, message: 'the first member joined' });
  const ghostId = out.trim();
  ghost.kill('SIGKILL');
  await once(ghost, 'exit');

  const kafka = new Kafka({ brokers: BROKERS, logLevel: logLevel.NOTHING });
  const next = kafka.consumer({ groupId, sessionTimeout: 300_000, rebalanceTimeout: 300_000 });
  let joined: string | undefined;
  next.on(next.events.GROUP_JOIN, (e) => {
    joined = e.payload.memberId;
  });
  try {
    await next.connect();
    await next.subscribe({ topic });
    // kafkajs' run() resolves only once the member joined: the removal goes on meanwhile.
    const running = next.run({ eachMessage: async () => {} });
    assert.equal(await removeGroupMember(kafka, groupId, ghostId), 'left');
    await running;
    // Without the removal this join comes after 300 s (the test's own timeout is 180 s).
    await waitFor(() => joined !== undefined, { timeoutMs: 120_000, message: 'the next member joined' });
    assert.notEqual(joined, ghostId);
    assert.equal(await removeGroupMember(kafka, groupId, ghostId), 'gone', 'already removed');
  } finally {
    await next.disconnect();
  }
});
