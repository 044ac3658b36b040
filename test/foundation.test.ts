// The foundation against the real stack: topic provisioning, the event codec through the
// registry, and the stack scripts' idempotence.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { InvalidEventError } from '../src/errors.ts';
import { EventCodec } from '../src/kafka/codec.ts';
import { topicNames } from '../src/kafka/topics.ts';
import { courierCli, writeConfig } from './helpers/cli.ts';
import { REGISTRY_URL, testConfig, uniqueName, withAdmin } from './helpers/stack.ts';

const run = promisify(execFile);

test('courier topics creates every topic, then verifies them', async () => {
  const config = testConfig([
    { id: 'crm', url: 'https://crm.example.com/hook' },
    { id: 'billing', url: 'https://billing.example.com/hook', partitions: 4 },
  ]);
  const path = writeConfig(config);
  const first = await courierCli(['topics', '--config', path]);
  assert.equal(first.code, 0, first.stderr);
  const names = topicNames(config);
  const expected = [
    config.kafka.eventsTopic,
    names.invalid,
    names.attempts,
    ...config.retryTiers.map(names.retry),
    names.dest('crm'),
    names.dlq('crm'),
    names.dest('billing'),
    names.dlq('billing'),
  ];
  for (const t of expected)
    assert.match(first.stdout, new RegExp(`created\\s+${t.replaceAll('.', '\\.')}\\n`));
  assert.match(first.stdout, new RegExp(`${expected.length} created, 0 ok, 0 problems`));

  const second = await courierCli(['topics', '--config', path]);
  assert.equal(second.code, 0, second.stderr);
  assert.match(second.stdout, new RegExp(`0 created, ${expected.length} ok, 0 problems`));

  await withAdmin(config, async (admin) => {
    const meta = await admin.fetchTopicMetadata({ topics: [names.dest('billing'), names.dlq('crm')] });
    const count = new Map(meta.topics.map((t) => [t.name, t.partitions.length]));
    assert.equal(count.get(names.dest('billing')), 4);
    const configs = await admin.describeConfigs({
      includeSynonyms: false,
      resources: [{ type: 2, name: names.dlq('crm'), configNames: ['retention.ms'] }],
    });
    assert.equal(configs.resources[0]?.configEntries[0]?.configValue, '-1', 'DLQ topics keep data forever');
  });
});

test('courier topics reports a topic with fewer partitions than configured', async () => {
  const config = testConfig([{ id: 'crm', url: 'https://crm.example.com/hook', partitions: 2 }]);
  const names = topicNames(config);
  await withAdmin(config, (admin) =>
    admin.createTopics({
      topics: [
        {
          topic: names.dest('crm'),
          numPartitions: 1,
          configEntries: [{ name: 'retention.ms', value: String(config.kafka.retentionMs) }],
        },
      ],
    }),
  );
  const result = await courierCli(['topics', '--config', writeConfig(config)]);
  assert.equal(result.code, 1);
  assert.match(
    result.stdout,
    new RegExp(
      `MISMATCH\\s+${names.dest('crm').replaceAll('.', '\\.')}: has 1 partitions, configuration wants 2`,
    ),
  );
  assert.match(result.stdout, /, 1 problems\n/);
});

test('an Avro event through the registry and the same event as JSON decode to the same CloudEvent', async () => {
  const subject = `${uniqueName('events')}-value`;
  const codec = new EventCodec({ registryUrl: REGISTRY_URL, maxEventBytes: 64 * 1024, subject });
  const event = {
    specversion: '1.0',
    id: 'evt-42',
    type: 'contact.created',
    source: 'crm',
    time: '2026-11-23T10:00:00Z',
    subject: 'contact/7',
    data: { name: 'Ada', tags: ['a', 'b'], n: 3 },
  };
  const avro = await codec.encodeAvro(event);
  assert.equal(avro[0], 0, 'Confluent wire format starts with magic byte 0');
  const schemaId = avro.readInt32BE(1);
  const registered = (await (await fetch(`${REGISTRY_URL}/subjects/${subject}/versions/latest`)).json()) as {
    id: number;
  };
  assert.equal(registered.id, schemaId, 'schema registered under <eventsTopic>-value');

  const fromAvro = await codec.decode(avro);
  const fromJson = await codec.decode(codec.encodeJson(event));
  assert.deepEqual(fromAvro, fromJson);
  assert.deepEqual(fromJson, event);
  assert.equal(await codec.registerAvroSchema(), schemaId, 'registration is idempotent');
});

test('bytes that are neither wire format nor JSON are invalid, with a reason', async () => {
  const codec = new EventCodec({ registryUrl: REGISTRY_URL, maxEventBytes: 100, subject: 'x-value' });
  const reasons = async (value: Buffer | null) => {
    try {
      await codec.decode(value);
    } catch (err) {
      assert.ok(err instanceof InvalidEventError, String(err));
      return err.code;
    }
    assert.fail('expected the event to be invalid');
  };
  assert.equal(await reasons(Buffer.from([0xde, 0xad, 0xbe, 0xef])), 'EVENT_NOT_DECODABLE');
  assert.equal(await reasons(Buffer.from('{"id": "x", "type": "t"')), 'EVENT_NOT_DECODABLE');
  assert.equal(await reasons(Buffer.from('{"type": "t", "source": "s"}')), 'EVENT_MISSING_FIELD');
  assert.equal(await reasons(Buffer.alloc(200, 0x7b)), 'EVENT_TOO_LARGE');
  assert.equal(await reasons(null), 'EVENT_EMPTY');
  const unknownSchema = Buffer.concat([Buffer.from([0, 0x0f, 0x42, 0x3f, 0x00]), Buffer.from('payload')]);
  assert.equal(await reasons(unknownSchema), 'EVENT_UNKNOWN_SCHEMA');
});

test('starting an already running stack succeeds and changes nothing', async () => {
  const script = new URL('../stack/stack.sh', import.meta.url).pathname;
  const pidsDir = `${process.env.COURIER_STACK_DIR ?? new URL('../.stack', import.meta.url).pathname}/pids/`;
  const pids = () =>
    ['kafka', 'registry'].map((n) => {
      try {
        return readFileSync(`${pidsDir}${n}.pid`, 'utf8').trim();
      } catch {
        return 'external';
      }
    });
  const before = pids();
  const { stdout } = await run('bash', [script, 'up']);
  assert.match(stdout, /kafka: already running/);
  assert.match(stdout, /redis: already running/);
  assert.match(stdout, /registry: already running/);
  assert.doesNotMatch(stdout, /starting|formatting|resolving/);
  assert.deepEqual(pids(), before);
});
