// The partition runner against a scripted consumer and a fake clock: keyed concurrency, commits of
// the highest contiguous finished offset, window limits with pause/resume hysteresis, the gate's
// pause of every partition, a rebalance mid-window (a partition handed on, one kept), a failing
// handler, and a graceful stop.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { EachBatchPayload, KafkaMessage } from 'kafkajs';
import { FakeClock } from '../../test/helpers/fakeClock.ts';
import { createLogger } from '../telemetry/logger.ts';
import type { DeliveryMessage } from './message.ts';
import { fetchSizes, PartitionRunner, type RunnerConsumer, type WindowLimits } from './partitionRunner.ts';

const TOPIC = 'courier.dest.crm';
const GROUP_JOIN = 'consumer.group_join';

/** The consumer calls the runner makes, recorded; batches and rebalances pushed by the test. */
class ScriptedConsumer {
  readonly events = { GROUP_JOIN } as unknown as RunnerConsumer['events'];
  paused = new Set<number>();
  pausedAll = false;
  commits: Array<{ partition: number; offset: number }> = [];
  calls: string[] = [];
  private joinListener:
    | ((e: { payload: { memberAssignment: Record<string, number[]> } }) => void)
    | undefined;
  private eachBatch: ((p: EachBatchPayload) => Promise<void>) | undefined;

  on(event: string, listener: never) {
    if (event === GROUP_JOIN) this.joinListener = listener;
    return () => {};
  }
  async connect() {
    this.calls.push('connect');
  }
  async subscribe() {
    this.calls.push('subscribe');
  }
  async run(o: { eachBatch: (p: EachBatchPayload) => Promise<void> }) {
    this.eachBatch = o.eachBatch;
  }
  async disconnect() {
    this.calls.push('disconnect');
  }
  pause(list: Array<{ topic: string; partitions?: number[] }>) {
    for (const t of list) {
      if (t.partitions) for (const p of t.partitions) this.paused.add(p);
      else this.pausedAll = true;
    }
  }
  resume(list: Array<{ topic: string; partitions?: number[] }>) {
    for (const t of list) for (const p of t.partitions ?? []) this.paused.delete(p);
  }
  async commitOffsets(offsets: Array<{ topic: string; partition: number; offset: string }>) {
    this.calls.push('commit');
    for (const o of offsets) this.commits.push({ partition: o.partition, offset: Number(o.offset) });
  }

  assign(partitions: number[]) {
    this.joinListener?.({ payload: { memberAssignment: { [TOPIC]: partitions } } });
  }
  async batch(partition: number, messages: Array<{ offset: number; key?: string; bytes?: number }>) {
    const kafkaMessages = messages.map(
      (m) =>
        ({
          offset: String(m.offset),
          key: m.key === undefined ? null : Buffer.from(m.key),
          value: Buffer.alloc(m.bytes ?? 10),
          timestamp: String(1_000 + m.offset),
          headers: { 'courier-event-id': `e${partition}-${m.offset}` },
          attributes: 0,
        }) as KafkaMessage,
    );
    await this.eachBatch?.({
      batch: { topic: TOPIC, partition, messages: kafkaMessages },
    } as EachBatchPayload);
  }
  /** The last committed offset of a partition. */
  committed(partition: number): number | undefined {
    return this.commits.filter((c) => c.partition === partition).at(-1)?.offset;
  }
}

/** A handler whose messages the test finishes one by one. */
class Handler {
  started: string[] = [];
  signals = new Map<string, AbortSignal>();
  private pending = new Map<string, { resolve: (v: boolean) => void; reject: (e: unknown) => void }>();
  failNext = 0;
  readonly handle = (message: DeliveryMessage, signal: AbortSignal): Promise<boolean> => {
    const id = `${message.partition}:${message.offset}`;
    this.started.push(id);
    this.signals.set(id, signal);
    if (this.failNext > 0) {
      this.failNext -= 1;
      return Promise.reject(new Error('boom'));
    }
    return new Promise((resolve, reject) => this.pending.set(id, { resolve, reject }));
  };
  finish(id: string, finished = true) {
    const p = this.pending.get(id);
    assert.ok(p, `${id} is in flight`);
    this.pending.delete(id);
    p.resolve(finished);
  }
  get inFlight(): string[] {
    return [...this.pending.keys()];
  }
}

async function setup(options: { concurrency?: number; window?: WindowLimits; partitions?: number[] } = {}) {
  const clock = new FakeClock();
  const consumer = new ScriptedConsumer();
  const handler = new Handler();
  const runner = new PartitionRunner({
    name: 'deliver:crm',
    consumer: consumer as unknown as RunnerConsumer,
    groupId: 'courier-deliver.crm',
    topic: TOPIC,
    concurrency: options.concurrency ?? 16,
    window: options.window ?? { messages: 5000, bytes: 16 * 1024 * 1024 },
    handle: handler.handle,
    logger: createLogger({ level: 'silent' }),
    clock,
  });
  await runner.start();
  consumer.assign(options.partitions ?? [0]);
  return { clock, consumer, handler, runner };
}

describe('partition runner', () => {
  test('commits the highest offset below which every message is finished, off the message path', async () => {
    const { clock, consumer, handler } = await setup();
    await consumer.batch(
      0,
      [0, 1, 2, 3, 4].map((offset) => ({ offset, key: `k${offset}` })),
    );
    await clock.settle();
    assert.deepEqual(
      handler.inFlight,
      ['0:0', '0:1', '0:2', '0:3', '0:4'],
      'different keys run concurrently',
    );
    handler.finish('0:0');
    handler.finish('0:1');
    handler.finish('0:3');
    await clock.settle();
    assert.equal(consumer.commits.length, 0, 'nothing is committed on the message path');
    await clock.advance(250);
    assert.equal(consumer.committed(0), 2, 'offset 2 is unfinished: the commit stops below it');
    handler.finish('0:2');
    handler.finish('0:4');
    await clock.advance(250);
    assert.equal(consumer.committed(0), 5, 'all finished: the next offset to read');
    const before = consumer.commits.length;
    await clock.advance(1000);
    assert.equal(consumer.commits.length, before, 'nothing new, no commit');
  });

  test('the same key runs in order, one at a time; a re-fetched offset is not handled twice', async () => {
    const { clock, consumer, handler } = await setup({ concurrency: 4 });
    await consumer.batch(0, [
      { offset: 0, key: 'a' },
      { offset: 1, key: 'a' },
      { offset: 2, key: 'b' },
    ]);
    await clock.settle();
    assert.deepEqual(handler.inFlight, ['0:0', '0:2']);
    handler.finish('0:0');
    await clock.settle();
    assert.deepEqual(handler.inFlight, ['0:2', '0:1'], 'the second a after the first');
    await consumer.batch(0, [{ offset: 1, key: 'a' }]);
    await clock.settle();
    assert.equal(handler.started.filter((s) => s === '0:1').length, 1);
  });

  test('a full window pauses the partition; it resumes at half, not on every message', async () => {
    const { clock, consumer, handler } = await setup({ concurrency: 1, window: { messages: 4, bytes: 1e9 } });
    await consumer.batch(
      0,
      [0, 1, 2, 3].map((offset) => ({ offset, key: 'k' })),
    );
    await clock.settle();
    assert.ok(consumer.paused.has(0), '4 of 4: paused');
    handler.finish('0:0');
    await clock.settle();
    assert.ok(consumer.paused.has(0), '3 left: still paused (hysteresis)');
    handler.finish('0:1');
    await clock.settle();
    assert.ok(!consumer.paused.has(0), 'half: resumed');
  });

  test('the window counts bytes too, shared between the assigned partitions', async () => {
    const { clock, consumer } = await setup({ window: { messages: 5000, bytes: 2000 }, partitions: [0, 1] });
    // Each partition's share is 1000 bytes; a message holds its value plus headers and overhead.
    await consumer.batch(0, [{ offset: 0, key: 'a', bytes: 900 }]);
    await clock.settle();
    assert.ok(consumer.paused.has(0), 'over its share');
    assert.ok(!consumer.paused.has(1));
  });

  test('a shut gate pauses each partition once its window holds a message; open again resumes them', async () => {
    // Fetching until a message is held is what lets the actor see how old the oldest held event
    // is (rescued to the DLQ before retention deletes it); one message a partition costs nothing.
    const { clock, consumer, runner } = await setup({ partitions: [0, 1, 2] });
    runner.setFlowing(false);
    assert.equal(consumer.paused.size, 0, 'an empty window still fetches');
    await consumer.batch(0, [{ offset: 0, key: 'a' }]);
    await consumer.batch(2, [{ offset: 0, key: 'c' }]);
    await clock.settle();
    assert.deepEqual([...consumer.paused].sort(), [0, 2]);
    runner.setFlowing(true);
    await clock.settle();
    assert.equal(consumer.paused.size, 0);
  });

  test('a rebalance mid-window: a partition handed on is aborted and never committed; one kept goes on', async () => {
    // One message per partition fills its share of the window.
    const { clock, consumer, handler } = await setup({
      concurrency: 1,
      window: { messages: 2, bytes: 1e9 },
      partitions: [0, 1],
    });
    await consumer.batch(0, [
      { offset: 0, key: 'a' },
      { offset: 1, key: 'b' },
    ]);
    await consumer.batch(1, [{ offset: 6, key: 'z' }]);
    await clock.settle();
    assert.ok(consumer.paused.has(0) && consumer.paused.has(1));
    consumer.assign([1]);
    assert.equal(
      handler.signals.get('0:0')?.aborted,
      true,
      'in-flight work of a partition handed on learns it',
    );
    assert.equal(consumer.paused.size, 0, 'pauses of the old generation are lifted');
    handler.finish('0:0');
    await clock.advance(500);
    assert.deepEqual(handler.started, ['0:0', '1:6'], 'the kept partition goes on; the one handed on stops');
    assert.equal(consumer.committed(0), undefined, 'another member owns partition 0 now');
    // kafkajs reads the kept partition again from its committed offset: not handled twice.
    await consumer.batch(1, [{ offset: 6, key: 'z' }]);
    await clock.settle();
    assert.deepEqual(handler.started, ['0:0', '1:6']);
    handler.finish('1:6');
    await clock.advance(250);
    assert.equal(consumer.committed(1), 7, 'committed in the new generation');
  });

  test('a handler that throws is tried again after a second; the offset waits for it', async () => {
    const { clock, consumer, handler } = await setup();
    handler.failNext = 1;
    await consumer.batch(0, [{ offset: 0, key: 'a' }]);
    await clock.advance(999);
    assert.deepEqual(handler.started, ['0:0']);
    await clock.advance(1);
    assert.deepEqual(handler.started, ['0:0', '0:0'], 'tried again');
    await clock.advance(250);
    assert.equal(consumer.committed(0) ?? 0, 0, 'never past the unfinished message');
    handler.finish('0:0');
    await clock.advance(250);
    assert.equal(consumer.committed(0), 1);
  });

  test('a held message (handler returns false) is not committed', async () => {
    const { clock, consumer, handler } = await setup();
    await consumer.batch(0, [
      { offset: 0, key: 'a' },
      { offset: 1, key: 'b' },
    ]);
    await clock.settle();
    handler.finish('0:0', false);
    handler.finish('0:1');
    await clock.advance(250);
    assert.equal(consumer.committed(0) ?? 0, 0, 'offset 0 was abandoned, not finished: never passed');
  });

  test('stop: in-flight work finishes and is committed before leaving the group', async () => {
    const { clock, consumer, handler, runner } = await setup({ concurrency: 1 });
    await consumer.batch(0, [
      { offset: 0, key: 'a' },
      { offset: 1, key: 'a' },
    ]);
    await clock.settle();
    const stopping = runner.stop();
    await clock.settle();
    assert.ok(consumer.pausedAll, 'no new messages');
    assert.equal(handler.signals.get('0:0')?.aborted, true, 'told to abandon what it can');
    assert.ok(!consumer.calls.includes('disconnect'), 'still waiting for the send in flight');
    handler.finish('0:0');
    await stopping;
    assert.equal(consumer.committed(0), 1, 'the finished one is committed, the abandoned one is not');
    assert.deepEqual(consumer.calls.slice(-2), ['commit', 'disconnect']);
    assert.deepEqual(handler.started, ['0:0'], 'the message behind it was never started');
  });
});

test("a fetch brings what the destination's window can take, not a fixed 512 KiB a partition", () => {
  // The default window (5,000 messages, 16 MiB) over 6 partitions: 833 messages each, capped.
  assert.deepEqual(fetchSizes({ messages: 5000, bytes: 16 * 2 ** 20 }, 6), {
    maxBytesPerPartition: 512 * 1024,
    maxBytes: 6 * 512 * 1024,
  });
  // A small window: its messages at ~2 KiB each.
  assert.equal(fetchSizes({ messages: 600, bytes: 16 * 2 ** 20 }, 6).maxBytesPerPartition, 100 * 2048);
  // The byte limit wins when it is the smaller share; never below 16 KiB.
  assert.equal(fetchSizes({ messages: 5000, bytes: 600 * 1024 }, 6).maxBytesPerPartition, 100 * 1024);
  assert.equal(fetchSizes({ messages: 10, bytes: 16 * 2 ** 20 }, 12).maxBytesPerPartition, 16 * 1024);
  // The whole fetch is never under 1 MiB (a response holds at least one batch per partition).
  assert.equal(fetchSizes({ messages: 10, bytes: 16 * 2 ** 20 }, 12).maxBytes, 2 ** 20);
});
