// Reprocessing with Kafka's own tool (issue 7 item 16): an operator resets the replay group
// `<prefix>-replay.<id>` on `<prefix>.dlq.<id>` with ConsumerGroupCommand (kafka-consumer-groups
// --reset-offsets), then `courier replay --destination ID` without --from re-sends from the
// offsets the tool left, up to the end captured at its start. Uses the stack's Kafka jars (see
// helpers/kafkaTools.ts: the stack must be up; a worktree sets COURIER_STACK_DIR).
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { replay } from '../src/dlq/replay.ts';
import { COURIER_HEADER, headerString } from '../src/kafka/headers.ts';
import { consumerGroups, topicNames } from '../src/kafka/topics.ts';
import { startCourier } from './helpers/courier.ts';
import { kafkaTool } from './helpers/kafkaTools.ts';
import { eventJson } from './helpers/measure.ts';
import { startReceiver } from './helpers/receiver.ts';
import {
  BROKERS,
  produceRaw,
  provision,
  readTopic,
  testConfig,
  testLogger,
  waitFor,
  withAdmin,
} from './helpers/stack.ts';

const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
});

const CONSUMER_GROUP_COMMAND = 'org.apache.kafka.tools.consumer.group.ConsumerGroupCommand';

test("courier replay without --from continues from the offsets Kafka's ConsumerGroupCommand set", async () => {
  let rejecting = true;
  const receiver = await startReceiver(() => ({ status: rejecting ? 422 : 200 }));
  cleanups.push(() => receiver.close());
  const config = testConfig([{ id: 'orders', url: receiver.url }]);
  await provision(config);
  const courier = await startCourier(config);
  cleanups.push(() => courier.stop());
  const ids = ['a', 'b', 'c'].map((k) => `kt-${k}`);
  await produceRaw(
    config,
    ids.map((id) => ({ key: id, value: eventJson(id, 'order.created', {}) })),
  );
  await waitFor(() => courier.attempts.filter((a) => a.outcome === 'dlq').length === 3, {
    message: '3 dead letters',
  });
  rejecting = false;

  const group = consumerGroups(config).replay('orders');
  const dlqTopic = topicNames(config).dlq('orders');
  const lines: string[] = [];
  const replayNow = () =>
    replay({
      config,
      logger: testLogger(),
      destination: 'orders',
      rate: 50,
      dryRun: false,
      source: 'dlq',
      print: (line) => lines.push(line),
    });

  // Before any reset the group has no committed offsets: nothing to replay, and it says so.
  assert.equal(await replayNow(), 0);
  assert.match(lines.join('\n'), /has no committed offset; starting at the end/);
  assert.match(lines.join('\n'), /found 0, re-sent 0, skipped 0/);
  assert.equal(receiver.accepted.length, 0);

  // The operator's reset, with Kafka's own tool.
  const reset = await kafkaTool(CONSUMER_GROUP_COMMAND, [
    '--bootstrap-server',
    BROKERS.join(','),
    '--group',
    group,
    '--topic',
    dlqTopic,
    '--reset-offsets',
    '--to-earliest',
    '--execute',
  ]);
  assert.equal(reset.code, 0, `ConsumerGroupCommand failed:\n${reset.stdout}\n${reset.stderr}`);
  const committed = await withAdmin(config, (admin) =>
    admin.fetchOffsets({ groupId: group, topics: [dlqTopic] }),
  );
  assert.deepEqual(
    committed[0]?.partitions.map((p) => p.offset),
    committed[0]?.partitions.map(() => '0'),
    'the tool reset every DLQ partition to its start',
  );

  lines.length = 0;
  assert.equal(await replayNow(), 0);
  assert.match(lines.join('\n'), /found 3, re-sent 3, skipped 0/);
  await waitFor(() => receiver.accepted.length === 3, { message: 'replayed deliveries' });
  assert.deepEqual(receiver.accepted.map((r) => r.headers['webhook-id']).sort(), ids, 'same webhook-ids');
  await waitFor(() => courier.attempts.filter((a) => a.replay && a.outcome === 'delivered').length === 3, {
    message: 'replay marked in attempts',
  });

  // The re-sent records carry the Courier headers replay writes, none copied from the DLQ but the
  // event's own place in its events partition (courier-sequence, the same on every attempt).
  const onTopic = await readTopic(config, topicNames(config).dest('orders'), { count: 6 });
  const replayed = onTopic.filter((m) => headerString(m.headers, COURIER_HEADER.replayedAt) !== undefined);
  assert.equal(replayed.length, 3);
  for (const m of replayed) {
    const courierHeaders = Object.keys(m.headers ?? {})
      .filter((h) => h.startsWith('courier-'))
      .sort();
    assert.deepEqual(courierHeaders, [
      COURIER_HEADER.attempt,
      COURIER_HEADER.destination,
      COURIER_HEADER.eventId,
      COURIER_HEADER.eventType,
      COURIER_HEADER.replayOffset,
      COURIER_HEADER.replaySource,
      COURIER_HEADER.replayedAt,
      COURIER_HEADER.sequence,
    ]);
    assert.equal(headerString(m.headers, COURIER_HEADER.attempt), '0');
    assert.equal(headerString(m.headers, COURIER_HEADER.replaySource), 'dlq');
  }

  // The replay committed as it went: the group is now at the end, so a second run finds nothing.
  lines.length = 0;
  assert.equal(await replayNow(), 0);
  assert.match(lines.join('\n'), /nothing to replay: group .* is at the end/);
  assert.match(lines.join('\n'), /found 0, re-sent 0, skipped 0/);
  assert.equal(receiver.accepted.length, 3);
});
