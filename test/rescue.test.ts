// Nothing held reaches Kafka's deletion: a paused destination's backlog (produced before and after
// Courier starts, more than its window holds) is moved to its DLQ as `held-too-long` once it is
// `rescueAtRetentionShare` of a short retention old (the destination's own share, not the
// instance's), with why and since when; its group commits past it; and after a resume, a replay
// delivers every event once.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { stringHeaders } from '../src/kafka/headers.ts';
import { consumerGroups, topicNames } from '../src/kafka/topics.ts';
import { courierCli, writeConfig } from './helpers/cli.ts';
import { type RunningCourier, startCourier } from './helpers/courier.ts';
import { destinationControl, readDlq } from './helpers/dlq.ts';
import { eventJson } from './helpers/measure.ts';
import { startReceiver } from './helpers/receiver.ts';
import { createKafkaForTest, produceRaw, provision, testConfig, waitFor } from './helpers/stack.ts';

let courier: RunningCourier | undefined;
after(async () => {
  await courier?.stop();
});

test('a paused backlog moves to the DLQ before a short retention, then replays and delivers', async () => {
  const receiver = await startReceiver();
  const N = 60;
  // The destination's own share (0.3: 4.8 s) wins over the instance's (0.95: 15.2 s).
  const config = testConfig(
    [{ id: 'held', url: receiver.url, window: { messages: 20 }, rescueAtRetentionShare: 0.3 }],
    { kafka: { retentionMs: 16_000, rescueAtRetentionShare: 0.95 } },
  );
  await provision(config);
  const { control, redis } = destinationControl(config);
  try {
    await control.pause('held', 'operator', 'test');
    const startedAt = Date.now();
    await produceRaw(
      config,
      Array.from({ length: N / 2 }, (_, i) => ({ key: `k${i % 7}`, value: eventJson(`held-${i}`) })),
    );
    courier = await startCourier(config);
    await produceRaw(
      config,
      Array.from({ length: N / 2 }, (_, i) => ({ key: `k${i % 7}`, value: eventJson(`held-${N / 2 + i}`) })),
    );
    // Held 4.8 s (0.3 of the retention): every one moves to the DLQ, none was sent.
    const dlq = await readDlq(config, 'held', N, 60_000);
    assert.equal(dlq.length, N);
    assert.equal(receiver.requests.length, 0, 'nothing was sent while paused');
    for (const m of dlq) {
      const h = stringHeaders(m.headers);
      assert.equal(h['courier-error-class'], 'held-too-long');
      assert.match(h['courier-last-error'] ?? '', /^HELD_TOO_LONG: held since .* \(operator/);
      assert.ok(Date.now() - Number(m.timestamp) < 16_000, 'moved before the retention');
      // Moved by the destination's share: long before the instance's 15.2 s.
      assert.ok(
        Number(m.timestamp) - startedAt < 15_200,
        'moved at the destination share, not the instance one',
      );
    }
    assert.ok(Date.now() - startedAt >= 4_800, 'not before the rescue age');
    // The group committed past every one of them: nothing is left to Kafka's deletion.
    const kafka = createKafkaForTest(config);
    const admin = kafka.admin();
    await admin.connect();
    const topic = topicNames(config).dest('held');
    await waitFor(
      async () => {
        const [ends, [committed]] = await Promise.all([
          admin.fetchTopicOffsets(topic),
          admin.fetchOffsets({ groupId: consumerGroups(config).deliver('held'), topics: [topic] }),
        ]);
        const at = new Map((committed?.partitions ?? []).map((p) => [p.partition, Number(p.offset)]));
        return ends.every((p) => Number(p.high) === 0 || at.get(p.partition) === Number(p.high));
      },
      { message: 'committed past the held messages' },
    );
    await admin.disconnect();
    assert.ok(
      courier.attempts.filter((a) => a.errorClass === 'held-too-long').length === N,
      'each has its attempt record',
    );

    // The owner fixed it: resume, and replay the DLQ.
    await control.resume('held');
    const replay = await courierCli([
      'replay',
      '--destination',
      'held',
      '--from',
      new Date(startedAt - 1000).toISOString(),
      '--rate',
      '1000',
      '--config',
      writeConfig(config),
    ]);
    assert.equal(replay.code, 0, replay.stdout + replay.stderr);
    await waitFor(() => new Set(receiver.accepted.map((r) => r.json.id)).size === N, {
      message: () => `every held event delivered (${receiver.accepted.length})`,
      timeoutMs: 60_000,
    });
    assert.equal(receiver.accepted.length, N, 'each once');
  } finally {
    redis.disconnect();
    await receiver.close();
  }
});
