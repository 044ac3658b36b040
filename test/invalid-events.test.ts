// Invalid input never crashes the router nor blocks its partition: each bad message lands on
// `<prefix>.events.invalid` with its original key and bytes and a `courier-error` header naming
// the reason, and valid events behind it on the same partition are still delivered.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { KafkaMessage } from 'kafkajs';
import { headerString } from '../src/kafka/headers.ts';
import { topicNames } from '../src/kafka/topics.ts';
import { type RunningCourier, startCourier } from './helpers/courier.ts';
import { eventJson } from './helpers/measure.ts';
import { type Receiver, startReceiver } from './helpers/receiver.ts';
import { produceRaw, provision, readTopic, testConfig, waitFor } from './helpers/stack.ts';

const MAX_EVENT_BYTES = 2048;
const KEY = 'same-partition';

function wireFormat(schemaId: number, payload: Buffer): Buffer {
  const prefix = Buffer.alloc(5);
  prefix.writeUInt8(0, 0);
  prefix.writeInt32BE(schemaId, 1);
  return Buffer.concat([prefix, payload]);
}

test('invalid events go to the invalid topic with the reason; valid ones behind them are delivered', async () => {
  let receiver: Receiver | undefined;
  let courier: RunningCourier | undefined;
  try {
    receiver = await startReceiver();
    const r = receiver;
    const config = testConfig([{ id: 'crm', url: r.url }], { router: { maxEventBytes: MAX_EVENT_BYTES } });
    await provision(config);
    courier = await startCourier(config);
    const c = courier;

    const bad: Array<{ name: string; reason: string; value: Buffer; mentions?: string }> = [
      {
        name: 'garbage bytes',
        reason: 'EVENT_NOT_DECODABLE',
        value: Buffer.from([0xde, 0xad, 0xbe, 0xef, 0xff, 0x01, 0x02, 0x7b]),
      },
      {
        name: 'JSON without id',
        reason: 'EVENT_MISSING_FIELD',
        mentions: '"id"',
        value: Buffer.from(JSON.stringify({ specversion: '1.0', type: 'contact.updated', source: 'test' })),
      },
      {
        name: 'JSON without type',
        reason: 'EVENT_MISSING_FIELD',
        mentions: '"type"',
        value: Buffer.from(JSON.stringify({ specversion: '1.0', id: 'evt-no-type', source: 'test' })),
      },
      {
        name: 'oversize event',
        reason: 'EVENT_TOO_LARGE',
        value: Buffer.from(eventJson('evt-huge', 'contact.updated', { blob: 'x'.repeat(MAX_EVENT_BYTES) })),
      },
      {
        name: 'unknown schema id',
        reason: 'EVENT_UNKNOWN_SCHEMA',
        value: wireFormat(999_999, Buffer.from('some avro-ish payload')),
      },
    ];
    const good = ['evt-valid-1', 'evt-valid-2'];

    // All on one key, hence one partition, in this order: bad ones first, then the valid ones.
    await produceRaw(config, [
      ...bad.map((b) => ({ key: KEY, value: b.value })),
      ...good.map((id) => ({ key: KEY, value: eventJson(id) })),
    ]);

    await waitFor(() => good.every((id) => r.accepted.some((q) => q.json.id === id)), {
      message: 'valid events behind the invalid ones delivered',
      timeoutMs: 20_000,
    });
    assert.deepEqual(
      r.requests.map((q) => q.json.id),
      good,
      'only the valid events reach the destination, in order',
    );

    const invalidTopic = topicNames(config).invalid;
    const messages: KafkaMessage[] = await readTopic(config, invalidTopic, {
      count: bad.length,
      timeoutMs: 15_000,
    });
    assert.equal(messages.length, bad.length, `one message per invalid event on ${invalidTopic}`);

    for (const b of bad) {
      const found = messages.find((m) => m.value !== null && Buffer.compare(m.value, b.value) === 0);
      assert.ok(found, `${b.name}: original bytes are on the invalid topic`);
      const error = headerString(found.headers, 'courier-error');
      assert.ok(error, `${b.name}: has a courier-error header`);
      assert.ok(error.startsWith(b.reason), `${b.name}: courier-error names ${b.reason}, got "${error}"`);
      if (b.mentions)
        assert.ok(error.includes(b.mentions), `${b.name}: courier-error names the field ${b.mentions}`);
      assert.equal(found.key?.toString('utf8'), KEY, `${b.name}: original key kept`);
    }

    assert.deepEqual(
      c.invalid.map((i) => i.reason),
      bad.map((b) => b.reason),
      'the router reported each invalid event, in order',
    );
  } finally {
    await courier?.stop();
    await receiver?.close();
  }
});
