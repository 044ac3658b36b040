// One destination's expressions can hurt only that destination. `courier run --workers 2` routes a
// steady stream to a healthy destination (no expressions) beside destinations whose expressions
// are hostile: a transform that allocates without end, one that outputs 2 MB, a 1e7-element
// range, headers taken from a 400 KB field, and a filter with a regular expression that
// backtracks in JavaScript. Each hostile case ends on its own destination's DLQ with the class
// naming why (the regex runs in linear time and simply filters); the healthy destination gets
// every event with no gap over a second; no worker exits; no event that breaks no limit is
// dead-lettered. A pattern RE2 refuses is refused by `courier config check`, naming where.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import type { KafkaMessage } from 'kafkajs';
import { topicNames } from '../src/kafka/topics.ts';
import { CourierProcesses, courierCli, type LogLine, writeConfig } from './helpers/cli.ts';
import { openProducer } from './helpers/measure.ts';
import { type Receiver, startReceiver } from './helpers/receiver.ts';
import { provision, readTopic, SECRET, testConfig, waitFor } from './helpers/stack.ts';

const processes = new CourierProcesses();
after(() => processes.killAll());

const EVENTS = 300;
const BLOB_EVERY = 30;
const header = (m: KafkaMessage, name: string) => m.headers?.[name]?.toString();

function event(i: number): string {
  const data: Record<string, unknown> = { n: i, s: i % 2 === 0 ? 'aaaa' : `${'a'.repeat(31)}b` };
  if (i % BLOB_EVERY === 7) data.blob = 'x'.repeat(400_000);
  return JSON.stringify({ specversion: '1.0', id: `e-${i}`, type: 'order.updated', source: 'test', data });
}

test("hostile expressions end on their own destination's DLQ; the healthy destination never waits", async () => {
  const receivers: Record<string, Receiver> = {};
  for (const id of ['healthy', 'bomb', 'output', 'range', 'header', 'regex'])
    receivers[id] = await startReceiver();
  const r = receivers as Record<'healthy' | 'bomb' | 'output' | 'range' | 'header' | 'regex', Receiver>;
  try {
    const config = testConfig(
      [
        { id: 'healthy', url: r.healthy.url },
        {
          id: 'bomb',
          url: r.bomb.url,
          transform:
            '($f := function($x, $n) { $n > 40 ? $x : $f($join([$x, $x]), $n + 1) }; $f("abcdefgh", 0))',
        },
        { id: 'output', url: r.output.url, transform: '$pad("", 2000000, "x")' },
        { id: 'range', url: r.range.url, transform: '[1..10000000]' },
        { id: 'header', url: r.header.url, headers: { 'x-blob': { from: 'data.blob', optional: true } } },
        { id: 'regex', url: r.regex.url, filter: 'data.s.matches("^(a+)+$")' },
      ],
      { kafka: { partitions: { events: 4, destination: 2 } } },
    );
    await provision(config);
    const logs: LogLine[] = [];
    processes.start(writeConfig(config), ['--workers', '2'], { logLevel: 'warn', logs });
    const producer = await openProducer(config);
    try {
      // Both workers are serving once a warm-up event reaches the healthy destination.
      await producer.send([{ key: 'warm', value: event(-1000) }]);
      await waitFor(() => r.healthy.accepted.some((q) => q.json.id === 'e--1000'), {
        message: 'warm-up delivered',
        timeoutMs: 60_000,
      });
      // A steady stream, 50 events a second, hostile ones and ordinary ones mixed.
      for (let i = 0; i < EVENTS; i += 10) {
        await producer.send(
          Array.from({ length: 10 }, (_, j) => ({ key: `k${(i + j) % 17}`, value: event(i + j) })),
        );
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    } finally {
      await producer.close();
    }
    const healthyIds = () => new Set(r.healthy.accepted.map((q) => q.json.id));
    await waitFor(
      () => Array.from({ length: EVENTS }, (_, i) => `e-${i}`).every((id) => healthyIds().has(id)),
      {
        message: () => `every event at the healthy destination (${healthyIds().size - 1} of ${EVENTS})`,
        timeoutMs: 90_000,
      },
    );
    const names = topicNames(config);
    const t0 = Date.now();
    const mark = (what: string) => console.log(`${Date.now() - t0} ms: ${what}`);
    const blobs = Array.from({ length: EVENTS }, (_, i) => i).filter((i) => i % BLOB_EVERY === 7).length;
    mark('healthy complete');
    const [bomb, output, range, headerDlq] = await Promise.all([
      readTopic(config, names.dlq('bomb'), { count: EVENTS + 1, timeoutMs: 90_000 }),
      readTopic(config, names.dlq('output'), { count: EVENTS + 1, timeoutMs: 90_000 }),
      readTopic(config, names.dlq('range'), { count: EVENTS + 1, timeoutMs: 90_000 }),
      readTopic(config, names.dlq('header'), { count: blobs, timeoutMs: 90_000 }),
    ]);
    mark('dlqs read');
    if (process.env.DEBUG_LOGS)
      for (const l of logs)
        if (!/kafkajs|alerts|attempts/.test(String(l.component)) && !/dead-lettered/.test(l.msg))
          console.error(JSON.stringify(l).slice(0, 500));
    await waitFor(() => r.header.accepted.length >= EVENTS - blobs && r.regex.accepted.length >= EVENTS / 2, {
      message: () => `header ${r.header.accepted.length}, regex ${r.regex.accepted.length}`,
      timeoutMs: 60_000,
    });

    // The healthy destination: every event, and no gap over a second while they were produced.
    const arrivals = r.healthy.accepted
      .filter((q) => q.json.id !== 'e--1000')
      .map((q) => q.at)
      .sort((a, b) => a - b);
    const gap = Math.max(...arrivals.slice(1).map((at, i) => at - (arrivals[i] as number)));
    console.log(`healthy destination: ${arrivals.length} deliveries, longest gap ${gap} ms`);
    assert.ok(gap < 1000, `the healthy destination waited ${gap} ms between two events`);

    // Each hostile case on its own DLQ, with the class naming why; nothing sent.
    const classes = (messages: KafkaMessage[]) =>
      new Set(messages.map((m) => header(m, 'courier-error-class')));
    // The warm-up event is everybody's too: counted apart.
    const distinct = (messages: KafkaMessage[]) =>
      new Set(messages.map((m) => header(m, 'courier-event-id')).filter((id) => id !== 'e--1000')).size;
    assert.equal(distinct(bomb), EVENTS, 'every event is the memory bomb destination’s dead letter');
    assert.deepEqual(classes(bomb), new Set(['transform-failed']));
    assert.ok(
      bomb.some((m) => /cpu limit|memory limit/.test(header(m, 'courier-last-error') ?? '')),
      'the error names the limit',
    );
    assert.equal(distinct(output), EVENTS);
    assert.deepEqual(classes(output), new Set(['too-large']));
    assert.match(
      header(output[0] as KafkaMessage, 'courier-last-error') ?? '',
      /OUTPUT_LIMIT: the transform produced 2000002 bytes/,
    );
    assert.equal(distinct(range), EVENTS);
    assert.deepEqual(classes(range), new Set(['transform-failed']));
    assert.equal(distinct(headerDlq), blobs, 'only the events with a 400 KB value');
    assert.deepEqual(classes(headerDlq), new Set(['too-large']));
    assert.match(
      header(headerDlq[0] as KafkaMessage, 'courier-last-error') ?? '',
      /HEADER_LIMIT: header x-blob/,
    );
    for (const id of ['bomb', 'output', 'range'] as const)
      assert.equal(r[id].requests.length, 0, `${id} got nothing`);

    // No innocent event dead-lettered: the header destination got every other event, the regex
    // destination exactly those its filter holds for (RE2: linear time, nothing to stop).
    const got = (x: Receiver) => new Set(x.accepted.map((q) => q.json.id));
    const wantHeader = Array.from({ length: EVENTS }, (_, i) => i).filter((i) => i % BLOB_EVERY !== 7);
    assert.deepEqual(
      [...got(r.header)].filter((id) => id !== 'e--1000').sort(),
      wantHeader.map((i) => `e-${i}`).sort(),
    );
    const wantRegex = Array.from({ length: EVENTS }, (_, i) => i).filter((i) => i % 2 === 0);
    assert.deepEqual(
      [...got(r.regex)].filter((id) => id !== 'e--1000').sort(),
      wantRegex.map((i) => `e-${i}`).sort(),
    );

    // No worker exited or restarted.
    const exits = logs.filter((l) => /worker exited|worker failed/.test(l.msg));
    assert.deepEqual(exits, [], 'no worker exited');
  } finally {
    processes.killAll();
    for (const x of Object.values(receivers)) await x.close();
  }
});

test('a regular expression RE2 refuses is refused at config check, naming the destination and field', async () => {
  const path = writeConfig({
    kafka: { brokers: ['127.0.0.1:9092'] },
    redis: { url: 'redis://127.0.0.1:6379' },
    destinations: [
      { id: 'ok', url: 'https://example.com/a', secrets: [SECRET], filter: 'subject.matches("^eu-[0-9]+$")' },
      {
        id: 'backref',
        url: 'https://example.com/b',
        secrets: [SECRET],
        filter: 'subject.matches("(a)\\\\1")',
      },
      {
        id: 'lookahead',
        url: 'https://example.com/c',
        secrets: [SECRET],
        transform: '$match(subject, /(?=eu)/)',
      },
    ],
  });
  const { code, stderr } = await courierCli(['config', 'check', '--config', path]);
  assert.equal(code, 1);
  assert.match(stderr, /destinations\[1\]\.filter: regular expression "\(a\)\\\\1" is not RE2 syntax/);
  assert.match(stderr, /destinations\[2\]\.transform: regular expression "\(\?=eu\)" is not RE2 syntax/);
  assert.doesNotMatch(stderr, /destinations\[0\]/);
});
