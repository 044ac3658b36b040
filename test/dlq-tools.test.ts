// Dead letters and the delivery log as an operator's tool, against the real stack and the real
// CLI: a DLQ of mixed classes listed and filtered; one dead letter shown in full; the failing
// attempts of a run found by `courier attempts`; an event found by `inspect` once its delivered
// mark is gone from Redis; the request as signed, verified with the standardwebhooks library; one
// event out of fifty replayed and only it arriving, marked as a replay; replays refused by a
// readiness check that means ready; and the status page showing what is held and dead.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Webhook } from 'standardwebhooks';
import type { CourierConfig } from '../src/config/schema.ts';
import { createRedis } from '../src/redis/client.ts';
import type { AttemptRecord } from '../src/telemetry/events.ts';
import { launchBrowser } from './helpers/browser.ts';
import { courierCli, writeConfig } from './helpers/cli.ts';
import { type RunningCourier, startCourier } from './helpers/courier.ts';
import { destinationControl } from './helpers/dlq.ts';
import { eventJson } from './helpers/measure.ts';
import { type Receiver, startReceiver } from './helpers/receiver.ts';
import { produceRaw, provision, SECRET, testConfig, uniqueName, waitFor } from './helpers/stack.ts';

type Kind = 'reject' | 'fail' | 'redirect' | 'ok';
const KINDS: Array<[Kind, number]> = [
  ['reject', 20],
  ['fail', 20],
  ['redirect', 5],
  ['ok', 5],
];

describe('dead letters and the delivery log, from the CLI', () => {
  let receiver: Receiver;
  let config: CourierConfig;
  let path: string;
  let courier: RunningCourier;
  let startedAt: number;
  const ids: Record<Kind, string[]> = { reject: [], fail: [], redirect: [], ok: [] };
  const final = () => courier.attempts.filter((a) => a.destination === 'orders' && a.outcome !== 'retry');

  before(async () => {
    receiver = await startReceiver((req) => {
      const kind = (req.json.data as { kind?: Kind } | undefined)?.kind;
      if (kind === 'reject') return { status: 422, body: 'invalid field: amount' };
      if (kind === 'fail') return { status: 503, body: 'down for maintenance' };
      if (kind === 'redirect') return { status: 302, headers: { location: 'https://elsewhere.example' } };
      return { status: 200 };
    });
    config = testConfig(
      [
        {
          id: 'orders',
          url: receiver.url,
          retry: { baseDelayMs: 50, maxDelayMs: 200, maxAttempts: 2, jitter: 0 },
          // 40 failed attempts of 50 would open the circuit for 30 s; this suite is about what
          // ends in the DLQ, not about the breaker (which has its own tests).
          circuitBreaker: { volumeThreshold: 1000 },
        },
        {
          id: 'guarded',
          url: receiver.url,
          eventTypes: ['guarded.*'],
          healthCheck: { url: `http://127.0.0.1:${receiver.port}/health`, method: 'GET', expectStatus: 204 },
        },
        { id: 'held', url: receiver.url, eventTypes: ['held.*'] },
      ],
      { observability: { statusPage: true } },
    );
    await provision(config);
    path = writeConfig(config);
    const { control, redis } = destinationControl(config);
    await control.pause('held', 'operator');
    redis.disconnect();
    startedAt = Date.now();
    courier = await startCourier(config);
    let n = 0;
    const events = KINDS.flatMap(([kind, count]) =>
      Array.from({ length: count }, () => {
        const id = `${kind}-${uniqueName('')}-${n++}`;
        ids[kind].push(id);
        return { key: id, value: eventJson(id, 'order.created', { kind }) };
      }),
    );
    await produceRaw(config, [
      ...events,
      ...Array.from({ length: 3 }, (_, i) => ({
        key: `h${i}`,
        value: eventJson(`held-${i}`, 'held.created'),
      })),
    ]);
    await waitFor(() => final().length >= 50, {
      timeoutMs: 60_000,
      message: () => `every orders event delivered or dead-lettered (${final().length} of 50)`,
    });
  });

  after(async () => {
    await courier?.stop();
    await receiver?.close();
  });

  const cli = (...args: string[]) => courierCli([...args, '--config', path]);
  const json = async <T>(...args: string[]): Promise<T> => {
    const r = await cli(...args, '--json');
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    return JSON.parse(r.stdout) as T;
  };

  test('dlq list shows every dead letter with its class, status and error; counts per class', async () => {
    type Listing = {
      items: Array<{
        eventId: string;
        class: string;
        status?: number;
        error?: string;
        at: string;
        attempt: number;
      }>;
      matched: number;
      byClass: Record<string, number>;
    };
    const all = await json<Listing>('dlq', 'list', '--destination', 'orders');
    assert.equal(all.items.length, 45);
    assert.deepEqual(all.byClass, { permanent: 20, exhausted: 20, redirect: 5 });
    const byId = new Map(all.items.map((i) => [i.eventId, i]));
    for (const id of ids.reject)
      assert.deepEqual([byId.get(id)?.class, byId.get(id)?.status], ['permanent', 422]);
    for (const id of ids.fail) {
      assert.deepEqual(
        [byId.get(id)?.class, byId.get(id)?.status, byId.get(id)?.attempt],
        ['exhausted', 503, 2],
      );
    }
    for (const id of ids.ok) assert.ok(!byId.has(id), 'delivered events are not dead letters');
    const sorted = [...all.items].sort((a, b) => a.at.localeCompare(b.at));
    assert.deepEqual(
      all.items.map((i) => i.at),
      sorted.map((i) => i.at),
      'newest last',
    );

    const permanent = await json<Listing>('dlq', 'list', '--destination', 'orders', '--class', 'permanent');
    assert.deepEqual(new Set(permanent.items.map((i) => i.eventId)), new Set(ids.reject));
    assert.deepEqual(permanent.byClass, all.byClass, 'the counts are of the whole window');
    const failing = await json<Listing>('dlq', 'list', '--destination', 'orders', '--status', '5xx');
    assert.deepEqual(new Set(failing.items.map((i) => i.eventId)), new Set(ids.fail));
    const newest = await json<Listing>('dlq', 'list', '--destination', 'orders', '--limit', '3');
    assert.deepEqual(
      newest.items.map((i) => i.eventId),
      all.items.slice(-3).map((i) => i.eventId),
      'the newest three',
    );
    assert.equal(newest.matched, 45);

    const text = await cli('dlq', 'list', '--destination', 'orders', '--class', 'permanent', '--limit', '5');
    assert.equal(text.code, 0, text.stderr);
    assert.match(
      text.stdout,
      /^EVENT ID\s+TYPE\s+DEAD-LETTERED AT\s+ATTEMPTS\s+CLASS\s+STATUS\s+LAST ERROR\s+RESPONSE/m,
    );
    assert.match(text.stdout, /invalid field: amount/);
    assert.match(
      text.stdout,
      /5 shown of 20 matching; 45 dead letter\(s\) in the window \(.*permanent 20.*\)/,
    );

    const since = await json<Listing>(
      'dlq',
      'list',
      '--destination',
      'orders',
      '--since',
      new Date().toISOString(),
    );
    assert.equal(since.items.length, 0, 'a window after the run holds nothing');
  });

  test('dlq show prints the payload, the DLQ headers and every attempt of the event', async () => {
    const id = ids.fail[0] as string;
    const shown = await json<{
      found: boolean;
      payload: string;
      headers: Record<string, string>;
      attempts: AttemptRecord[];
    }>('dlq', 'show', id, '--destination', 'orders');
    assert.equal(shown.found, true);
    assert.equal((JSON.parse(shown.payload) as { id: string }).id, id);
    assert.equal(shown.headers['courier-error-class'], 'exhausted');
    assert.equal(shown.headers['courier-last-status'], '503');
    assert.equal(shown.headers['courier-response-snippet'], 'down for maintenance');
    assert.deepEqual(
      shown.attempts.map((a) => [a.attempt, a.outcome, a.status]),
      [
        [1, 'retry', 503],
        [2, 'dlq', 503],
      ],
    );
    const text = await cli('dlq', 'show', id, '--destination', 'orders');
    assert.match(text.stdout, /payload:\n\{.*"id":/);
    const missing = await cli('dlq', 'show', ids.ok[0] as string, '--destination', 'orders');
    assert.equal(missing.code, 1);
    assert.match(missing.stdout, /is not in .*dlq\.orders/);
  });

  test('courier attempts --status 5xx --since finds exactly the failing attempts of the run', async () => {
    const found = await json<{ items: AttemptRecord[]; matched: number }>(
      'attempts',
      '--status',
      '5xx',
      '--since',
      new Date(startedAt - 1000).toISOString(),
      '--limit',
      '1000',
    );
    const expected = receiver.requests.filter(
      (r) => r.json.data && (r.json.data as { kind?: Kind }).kind === 'fail',
    );
    assert.equal(found.items.length, expected.length);
    assert.deepEqual(
      new Set(found.items.map((a) => `${a.eventId}#${a.attempt}`)),
      new Set(ids.fail.flatMap((id) => [`${id}#1`, `${id}#2`])),
    );
    assert.ok(found.items.every((a) => a.status === 503 && a.destination === 'orders'));
    const dlq = await json<{ matched: number }>(
      'attempts',
      '--destination',
      'orders',
      '--outcome',
      'dlq',
      '--since',
      '1h',
    );
    assert.equal(dlq.matched, 45);
    const later = await json<{ matched: number }>(
      'attempts',
      '--since',
      new Date(Date.now() + 60_000).toISOString(),
    );
    assert.equal(later.matched, 0);
  });

  test('inspect finds an event whose delivered mark is gone from Redis (past the idempotency window)', async () => {
    const id = ids.ok[0] as string;
    // What the window's end does to an event: its day bucket expires. Here, by hand.
    const redis = createRedis(config.redis);
    const buckets = await redis.keys(`{${config.kafka.topicPrefix}:orders}:e:*`);
    assert.ok(buckets.length > 0);
    await redis.del(...buckets);
    redis.disconnect();
    const report = await json<{ destinations: Record<string, { state: string }>; attempts: AttemptRecord[] }>(
      'inspect',
      id,
    );
    assert.equal(report.destinations.orders?.state, 'delivered');
    assert.deepEqual(
      report.attempts.map((a) => [a.destination, a.outcome, a.status]),
      [['orders', 'delivered', 200]],
    );
  });

  test('inspect --body prints the request as signed, and it verifies with standardwebhooks', async () => {
    const id = ids.ok[1] as string;
    const report = await json<{ requests: Array<{ headers: Record<string, string>; body: string }> }>(
      'inspect',
      id,
      '--body',
    );
    const request = report.requests[0];
    assert.ok(request?.body, 'the body was read back from the destination topic');
    const received = receiver.accepted.find((r) => r.headers['webhook-id'] === id);
    assert.equal(request.body, received?.body, 'byte for byte what the receiver got');
    const verified = new Webhook(SECRET).verify(request.body, request.headers) as { id: string };
    assert.equal(verified.id, id);
    const text = await cli('inspect', id, '--body');
    assert.match(
      text.stdout,
      /request to orders \(attempt 1, .*\), as signed:\ncontent-type: application\/json\nwebhook-id: /,
    );
  });

  test('replay --event re-sends exactly that one of fifty, marked as a replay', async () => {
    receiver.setBehaviour(() => ({ status: 200 }));
    const chosen = ids.reject[3] as string;
    const before = receiver.requests.length;
    const r = await cli('replay', '--destination', 'orders', '--event', chosen, '--rate', '100');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /found 1, re-sent 1, skipped 0/);
    await waitFor(() => courier.attempts.some((a) => a.eventId === chosen && a.outcome === 'delivered'), {
      timeoutMs: 20_000,
      message: `the replay of ${chosen} delivered`,
    });
    const after = receiver.requests.slice(before);
    assert.deepEqual(
      after.map((q) => q.headers['webhook-id']),
      [chosen],
      'only that event reached the receiver',
    );
    const delivered = courier.attempts.find((a) => a.eventId === chosen && a.outcome === 'delivered');
    assert.equal(delivered?.replay, true);
  });

  test('replay --ids-file refuses ids it cannot find, naming them, and sends nothing', async () => {
    const file = join(tmpdir(), `${uniqueName('ids')}.txt`);
    writeFileSync(
      file,
      `# two real ones and one that never was\n${ids.reject[0]}\n${ids.reject[1]}\nnever-was-1\n`,
    );
    const before = receiver.requests.length;
    const r = await cli('replay', '--destination', 'orders', '--ids-file', file);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /^courier: 1 of 3 event\(s\) are not in .*dlq\.orders: never-was-1; nothing was replayed\n$/,
    );
    const dry = await cli(
      'replay',
      '--destination',
      'orders',
      '--event',
      `${ids.reject[0]},${ids.reject[1]}`,
      '--dry-run',
    );
    assert.equal(dry.code, 0, dry.stderr);
    assert.equal((dry.stdout.match(/^would re-send /gm) ?? []).length, 2);
    assert.equal(receiver.requests.length, before, 'nothing was sent');
  });

  test('a replay into a destination that answers its readiness check with 503 is refused; when it recovers it proceeds', async () => {
    receiver.setProbeStatus(503);
    const before = receiver.requests.length;
    const refused = await cli('replay', '--destination', 'orders', '--event', ids.reject[5] as string);
    assert.equal(refused.code, 1);
    assert.equal(refused.stderr.split('\n').filter(Boolean).length, 1, 'one line');
    assert.match(refused.stderr, /destination orders is not ready \(its readiness check answered 503\)/);
    assert.equal(receiver.requests.length, before);

    receiver.setProbeStatus(405); // a server that does not take HEAD is up
    const ok = await cli('replay', '--destination', 'orders', '--event', ids.reject[5] as string);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /re-sent 1/);
    assert.ok(receiver.probes.some((p) => p.startsWith('HEAD /hook')));
  });

  test("a destination's healthCheck says which answer means ready; --force skips it", async () => {
    receiver.setProbeStatus(200);
    const refused = await cli(
      'replay',
      '--destination',
      'guarded',
      '--from',
      new Date(startedAt).toISOString(),
    );
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /destination guarded is not ready \(its readiness check answered 200\)/);
    assert.ok(receiver.probes.includes('GET /health'));
    const forced = await cli(
      'replay',
      '--destination',
      'guarded',
      '--from',
      new Date(startedAt).toISOString(),
      '--force',
    );
    assert.equal(forced.code, 0, forced.stderr);
  });

  test('the status page shows what is held and why, and the latest dead letters with their lookup', async () => {
    const port = courier.app.observability?.port;
    assert.ok(port);
    await waitFor(
      async () => {
        const r = await fetch(`http://127.0.0.1:${port}/status.json`);
        const report = (await r.json()) as { destinations: Array<{ destination: string; backlog: number }> };
        return (report.destinations.find((d) => d.destination === 'held')?.backlog ?? 0) >= 3;
      },
      { timeoutMs: 30_000, message: 'the held backlog in the status view' },
    );
    const { context, close } = await launchBrowser();
    try {
      const page = await context.newPage();
      await page.goto(`http://127.0.0.1:${port}/`);
      const held = page.locator('#held tr[data-destination="held"]');
      assert.equal(await held.locator('.held-count').innerText(), '3');
      assert.match(await held.locator('.held-why').innerText(), /paused: operator/);
      const dead = page.locator(`#dead-letters tr[data-destination="orders"]`);
      assert.ok((await dead.count()) >= 1, 'dead letters of orders are listed');
      const html = await page.content();
      assert.ok(!html.includes(receiver.url) && !html.includes(SECRET), 'no URL or secret on the page');
      const first = dead.first();
      const eventId = (await first.getAttribute('data-event')) as string;
      await Promise.all([page.waitForURL(/\/events\//), first.locator('a').click()]);
      assert.match(await page.locator('h1').innerText(), new RegExp(eventId));
      assert.ok((await page.locator('#attempts tbody tr').count()) >= 1);
    } finally {
      await close();
    }
  });
});
