// Issue 7: inputs that used to kill the router or fail forever. A 2 MB event, data nested 5,000
// deep, and event ids that cannot be a header value each end on `<prefix>.events.invalid` with
// their reason (the 2 MB one truncated to the invalid topic's limit); producer headers named
// `courier-*` never reach Courier's stages; and a valid event behind them all is delivered.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { KafkaMessage } from 'kafkajs';
import { headerString } from '../src/kafka/headers.ts';
import { topicNames } from '../src/kafka/topics.ts';
import { type RunningCourier, startCourier } from './helpers/courier.ts';
import { eventJson } from './helpers/measure.ts';
import { type Receiver, startReceiver } from './helpers/receiver.ts';
import { produceRaw, provision, readTopic, testConfig, waitFor, withAdmin } from './helpers/stack.ts';

const KEY = 'one-partition';
const TOPIC_RESOURCE = 2;

function deepEvent(id: string, depth: number): string {
  return `{"specversion":"1.0","id":"${id}","type":"t","source":"s","data":${'['.repeat(depth)}${']'.repeat(depth)}}`;
}

test('bad inputs end on .events.invalid with their reason; forged courier-* headers are dropped; the valid event behind is delivered', async () => {
  let receiver: Receiver | undefined;
  let courier: RunningCourier | undefined;
  try {
    // The forged event fails once, so its retry budget (first-attempt time, attempt count) matters.
    receiver = await startReceiver((req) => ({
      status: req.json.id === 'evt-forged' && req.nth === 1 ? 500 : 200,
    }));
    const r = receiver;
    const config = testConfig([{ id: 'crm', url: r.url }]);
    await provision(config);
    // The events topic is the users' own; theirs takes 3 MB events. Courier's topics keep the default.
    await withAdmin(config, (admin) =>
      admin.alterConfigs({
        validateOnly: false,
        resources: [
          {
            type: TOPIC_RESOURCE,
            name: config.kafka.eventsTopic,
            configEntries: [{ name: 'max.message.bytes', value: String(3 * 1024 * 1024) }],
          },
        ],
      }),
    );
    courier = await startCourier(config);
    const c = courier;

    const huge = Buffer.from(eventJson('evt-2mb', 't', { blob: 'x'.repeat(2 * 1024 * 1024) }));
    const bad: Array<{ name: string; reason: string; value: Buffer; mentions?: string }> = [
      { name: '2 MB event', reason: 'EVENT_TOO_LARGE', value: huge },
      { name: '5,000-deep data', reason: 'EVENT_TOO_DEEP', value: Buffer.from(deepEvent('evt-deep', 5000)) },
      {
        name: 'id with a newline',
        reason: 'EVENT_BAD_FIELD',
        value: Buffer.from(eventJson('evt\nnl')),
        mentions: 'U+000A',
      },
      {
        name: 'id with an emoji',
        reason: 'EVENT_BAD_FIELD',
        value: Buffer.from(eventJson('evt-🚀')),
        mentions: 'U+1F680',
      },
      {
        name: 'id with invalid UTF-8',
        reason: 'EVENT_BAD_FIELD',
        value: Buffer.concat([
          Buffer.from('{"specversion":"1.0","id":"evt-'),
          Buffer.from([0xff, 0xfe]),
          Buffer.from('","type":"t","source":"s"}'),
        ]),
        mentions: 'invalid UTF-8',
      },
      {
        name: 'id with a control character',
        reason: 'EVENT_BAD_FIELD',
        value: Buffer.from(eventJson('evt\u0007')),
        mentions: 'U+0007',
      },
    ];
    await produceRaw(config, [
      ...bad.map((b) => ({
        key: KEY,
        value: b.value,
        headers: { 'x-trace': 'abc', 'courier-replay-force': '1' },
      })),
      {
        key: KEY,
        value: eventJson('evt-forged'),
        headers: {
          'x-trace': 'forged-trace',
          'courier-replay-force': '1',
          'courier-first-attempt-at': '1',
          'courier-replayed-at': '2020-01-01T00:00:00Z',
          'Courier-Attempt': '7',
        },
      },
      { key: KEY, value: eventJson('evt-after') },
    ]);

    await waitFor(() => ['evt-forged', 'evt-after'].every((id) => r.accepted.some((q) => q.json.id === id)), {
      message: () => `valid events delivered; got ${r.requests.map((q) => q.json.id).join(',')}`,
      timeoutMs: 30_000,
    });

    // The forged event: fresh budget (a retry, not exhausted at once), attempts 1 then 2, no replay.
    const forged = c.attempts.filter((a) => a.eventId === 'evt-forged');
    assert.deepEqual(
      forged.map((a) => [a.attempt, a.outcome, a.replay]),
      [
        [1, 'retry', false],
        [2, 'delivered', false],
      ],
    );
    assert.equal(r.accepted.filter((q) => q.json.id === 'evt-forged').length, 1, 'delivered once');
    const routed = await readTopic(config, topicNames(config).dest('crm'), { count: 2, timeoutMs: 15_000 });
    const forgedRecord = routed.find((m) => headerString(m.headers, 'courier-event-id') === 'evt-forged');
    assert.ok(forgedRecord);
    assert.equal(headerString(forgedRecord.headers, 'x-trace'), 'forged-trace', 'producer headers carried');
    for (const name of [
      'courier-replay-force',
      'courier-first-attempt-at',
      'courier-replayed-at',
      'Courier-Attempt',
    ])
      assert.equal(headerString(forgedRecord.headers, name), undefined, `${name} dropped`);
    assert.equal(headerString(forgedRecord.headers, 'courier-attempt'), '0');

    const invalid: KafkaMessage[] = await readTopic(config, topicNames(config).invalid, {
      count: bad.length,
      timeoutMs: 15_000,
    });
    assert.equal(invalid.length, bad.length, 'one invalid record per bad input');
    for (const [i, b] of bad.entries()) {
      const m = invalid.find((x) => headerString(x.headers, 'courier-source-offset') === String(i));
      assert.ok(m, `${b.name}: on the invalid topic`);
      const error = headerString(m.headers, 'courier-error') ?? '';
      assert.ok(error.startsWith(b.reason), `${b.name}: ${b.reason}, got "${error}"`);
      if (b.mentions) assert.ok(error.includes(b.mentions), `${b.name}: mentions ${b.mentions}: "${error}"`);
      assert.equal(headerString(m.headers, 'x-trace'), 'abc', `${b.name}: producer header kept`);
      assert.equal(
        headerString(m.headers, 'courier-replay-force'),
        undefined,
        `${b.name}: courier-* dropped`,
      );
      assert.equal(m.key?.toString(), KEY);
      if (b.value === huge) {
        assert.equal(headerString(m.headers, 'courier-truncated'), '1');
        assert.equal(headerString(m.headers, 'courier-original-size'), String(huge.length));
        assert.ok(m.value && m.value.length > 500_000 && huge.subarray(0, m.value.length).equals(m.value));
      } else {
        assert.ok(m.value?.equals(b.value), `${b.name}: original bytes kept`);
      }
    }
    assert.deepEqual(
      c.invalid.map((i) => i.reason),
      bad.map((b) => b.reason),
    );
    assert.deepEqual(
      r.requests.map((q) => q.json.id).sort(),
      ['evt-after', 'evt-forged', 'evt-forged'],
      'nothing invalid reached the destination',
    );
  } finally {
    await courier?.stop();
    await receiver?.close();
  }
});
