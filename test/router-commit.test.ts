// The router commits acknowledged offsets on a timer, not after every batch (a commit per batch
// was a round trip on every event's path). These tests pin what must still hold: offsets reach
// Kafka while Courier runs, and a graceful stop commits what was routed before leaving the group,
// so a restart routes nothing a second time.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { CourierConfig } from '../src/config/schema.ts';
import { topicNames } from '../src/kafka/topics.ts';
import { startCourier } from './helpers/courier.ts';
import { eventJson } from './helpers/measure.ts';
import { startReceiver } from './helpers/receiver.ts';
import { produceRaw, provision, testConfig, waitFor, withAdmin } from './helpers/stack.ts';

/** Sum over partitions of the router group's committed offsets and of the events topic's end offsets. */
async function routerProgress(config: CourierConfig): Promise<{ committed: number; end: number }> {
  return withAdmin(config, async (admin) => {
    const topic = config.kafka.eventsTopic;
    const [committed] = await admin.fetchOffsets({
      groupId: `${config.kafka.topicPrefix}-router`,
      topics: [topic],
    });
    const ends = await admin.fetchTopicOffsets(topic);
    return {
      committed: (committed?.partitions ?? []).reduce((n, p) => n + Math.max(0, Number(p.offset)), 0),
      end: ends.reduce((n, p) => n + Number(p.high), 0),
    };
  });
}

async function routedCount(config: CourierConfig, destination: string): Promise<number> {
  return withAdmin(config, async (admin) => {
    const ends = await admin.fetchTopicOffsets(topicNames(config).dest(destination));
    return ends.reduce((n, p) => n + Number(p.high), 0);
  });
}

const events = (from: number, count: number) =>
  Array.from({ length: count }, (_, i) => ({
    key: `k${(from + i) % 7}`,
    value: eventJson(`rc-${from + i}`),
  }));

test('while Courier runs, the router commits the offsets it routed, within its commit interval', async () => {
  const receiver = await startReceiver();
  const config = testConfig([{ id: 'crm', url: receiver.url }]);
  await provision(config);
  const courier = await startCourier(config);
  try {
    await produceRaw(config, events(0, 30));
    await waitFor(() => new Set(receiver.requests.map((r) => r.json.id)).size === 30, {
      message: 'all 30 delivered',
    });
    let progress = { committed: -1, end: 0 };
    await waitFor(
      async () => {
        progress = await routerProgress(config);
        return progress.end === 30 && progress.committed === 30;
      },
      { message: () => `router commits reach the end offsets: ${JSON.stringify(progress)}` },
    );
  } finally {
    await courier.stop();
    await receiver.close();
  }
});

test('a graceful stop commits what the router routed, so a restart routes nothing twice', async () => {
  const receiver = await startReceiver();
  try {
    const config = testConfig([{ id: 'crm', url: receiver.url }]);
    await provision(config);
    // A commit interval far longer than the test: only the stop can commit.
    const first = await startCourier(config, { routerCommitIntervalMs: 3_600_000 });
    try {
      await produceRaw(config, events(0, 40));
      await waitFor(() => new Set(receiver.requests.map((r) => r.json.id)).size === 40, {
        message: 'all 40 delivered',
      });
      assert.equal((await routerProgress(config)).committed, 0, 'nothing committed before the stop');
    } finally {
      await first.stop();
    }
    assert.deepEqual(await routerProgress(config), { committed: 40, end: 40 });

    const second = await startCourier(config);
    try {
      await produceRaw(config, events(40, 1));
      await waitFor(() => receiver.requests.some((r) => r.json.id === 'rc-40'), { message: 'the new event' });
      assert.equal(
        await routedCount(config, 'crm'),
        41,
        'the 40 routed before the stop were not routed again',
      );
    } finally {
      await second.stop();
    }
  } finally {
    await receiver.close();
  }
});
