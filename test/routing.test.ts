// Routing and shaping per destination, against the real stack: a CEL filter on `data` routes
// exactly the matching events and one that fails on some events routes the others; a JSONata
// transform reshapes the body (the signature covers it), dead-letters what it cannot handle as
// transform-failed while the next event is delivered, and a replay after fixing it works; an
// Idempotency-Key taken from the event id is the same on every retry; deliveries go through a
// loopback forward proxy (token requests too) unless exempted, and a forbidden address is refused
// before the proxy is asked; retryOn and deadLetterOn override the defaults; timeoutMs: auto
// settles near the receiver's latency within its bounds.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { connect, type Socket } from 'node:net';
import { after, describe, test } from 'node:test';
import { Webhook } from 'standardwebhooks';
import { parse, stringify } from 'yaml';
import { courierCli, writeConfig } from './helpers/cli.ts';
import { type RunningCourier, startCourier } from './helpers/courier.ts';
import { eventJson } from './helpers/measure.ts';
import { type Receiver, startReceiver } from './helpers/receiver.ts';
import { produceRaw, provision, SECRET, testConfig, uniqueName, waitFor } from './helpers/stack.ts';
import { startTokenServer } from './helpers/tokenServer.ts';

const running: RunningCourier[] = [];
const closers: Array<() => Promise<void>> = [];
after(async () => {
  for (const c of running) await c.stop();
  for (const close of closers) await close();
});

async function receiver(behaviour?: Parameters<typeof startReceiver>[0]): Promise<Receiver> {
  const r = await startReceiver(behaviour);
  closers.push(() => r.close());
  return r;
}

async function run(config: Parameters<typeof startCourier>[0]): Promise<RunningCourier> {
  await provision(config);
  const c = await startCourier(config);
  running.push(c);
  return c;
}

const finalFor = (c: RunningCourier, destination: string) =>
  c.attempts.filter((a) => a.destination === destination && a.outcome !== 'retry');

describe('filters', () => {
  test('a filter on data routes exactly the matching events; one failing on some routes the others', async () => {
    const big = await receiver();
    const all = await receiver();
    const config = testConfig([
      {
        id: 'big',
        url: big.url,
        filter: 'type == "order.created" && data.total > 1000 && subject.startsWith("eu-")',
      },
      { id: 'all', url: all.url },
    ]);
    const courier = await run(config);
    const failures: string[] = [];
    courier.app.events.on('filter-failed', (f) => failures.push(`${f.destination}:${f.reason}`));
    const events = [
      { id: 'f-match', type: 'order.created', subject: 'eu-1', data: { total: 1500 } },
      { id: 'f-small', type: 'order.created', subject: 'eu-2', data: { total: 10 } },
      { id: 'f-us', type: 'order.created', subject: 'us-1', data: { total: 5000 } },
      { id: 'f-paid', type: 'order.paid', subject: 'eu-3', data: { total: 5000 } },
      { id: 'f-no-total', type: 'order.created', subject: 'eu-4', data: { other: 1 } },
      { id: 'f-text-total', type: 'order.created', subject: 'eu-5', data: { total: 'lots' } },
      { id: 'f-match-2', type: 'order.created', subject: 'eu-6', data: { total: 1001 } },
    ].map((e) => ({
      key: e.id,
      value: JSON.stringify({ specversion: '1.0', source: 'shop', ...e }),
    }));
    await produceRaw(config, events);
    await waitFor(() => finalFor(courier, 'all').length >= events.length, {
      timeoutMs: 30_000,
      message: 'every event delivered to the unfiltered destination',
    });
    await waitFor(() => finalFor(courier, 'big').length >= 2, {
      timeoutMs: 10_000,
      message: 'the two matches',
    });
    assert.deepEqual(
      new Set(big.accepted.map((r) => r.json.id)),
      new Set(['f-match', 'f-match-2']),
      'exactly the matching events',
    );
    assert.equal(all.accepted.length, events.length, 'the others are unaffected');
    assert.deepEqual(failures.sort(), ['big:no_such_key', 'big:no_such_overload']);
    const metrics = await (await fetch(`http://127.0.0.1:${courier.app.observability?.port}/metrics`)).text();
    assert.match(metrics, /courier_router_filter_errors_total\{destination="big",reason="no_such_key"\} 1/);
    assert.match(metrics, /courier_router_filtered_total\{destination="big"\} 3/);
  });
});

describe('a backfill routes like the router', () => {
  test("replay --source events holds the destination's limits: a too-large output is named and not sent", async () => {
    const target = await receiver();
    const config = testConfig([
      {
        id: 'big',
        url: target.url,
        transform: 'data.big ? $pad("", 2000000, "x") : { "id": id }',
        filter: 'data.n != 3',
      },
    ]);
    await provision(config);
    const from = new Date(Date.now() - 1000).toISOString();
    await produceRaw(
      config,
      [1, 2, 3, 4].map((n) => ({
        key: `k${n}`,
        value: eventJson(`bf-${n}`, 'order.created', { n, big: n === 4 }),
      })),
    );
    const path = writeConfig(config);
    const result = await courierCli([
      'replay',
      '--config',
      path,
      '--destination',
      'big',
      '--source',
      'events',
      '--from',
      from,
      '--force',
    ]);
    assert.equal(result.code, 1, 'a failed event makes the backfill exit 1');
    assert.match(result.stdout, /cannot shape bf-4 .*too-large: the transform produced 2000002 bytes/);
    assert.match(result.stdout, /read 4, sent 2, skipped 0 \(already delivered\), 1 not for it/);
  });
});

describe('transforms and headers from the event', () => {
  test('the body is reshaped and signed as sent; what the transform cannot handle is dead-lettered and replayable', async () => {
    const crm = await receiver();
    const config = testConfig([
      {
        id: 'crm',
        url: crm.url,
        transform: '{ "id": id, "email": data.contact.email, "amount": $number(data.amount) }',
        headers: {
          'idempotency-key': { from: 'id' },
          'x-tenant': { from: 'extensions.tenant', optional: true },
        },
      },
    ]);
    const courier = await run(config);
    const produce = (id: string, data: unknown, extra: Record<string, unknown> = {}) => ({
      key: id,
      value: JSON.stringify({
        specversion: '1.0',
        id,
        type: 'contact.updated',
        source: 'crm',
        data,
        ...extra,
      }),
    });
    await produceRaw(config, [
      produce('t-1', { contact: { email: 'a@example.com' }, amount: '12.5' }, { tenant: 'acme' }),
      produce('t-bad', { contact: { email: 'b@example.com' }, amount: 'twelve' }),
      produce('t-2', { contact: { email: 'c@example.com' }, amount: '3' }),
    ]);
    await waitFor(() => finalFor(courier, 'crm').length >= 3, {
      timeoutMs: 30_000,
      message: 'three final attempts',
    });
    const byId = new Map(crm.accepted.map((r) => [String(r.headers['webhook-id']), r]));
    assert.deepEqual(JSON.parse(byId.get('t-1')?.body ?? ''), {
      id: 't-1',
      email: 'a@example.com',
      amount: 12.5,
    });
    assert.equal(byId.get('t-1')?.headers['x-tenant'], 'acme');
    assert.equal(byId.get('t-2')?.headers['x-tenant'], undefined, 'optional: no header without a value');
    for (const [id, r] of byId) {
      const verified = new Webhook(SECRET).verify(r.body, r.headers as Record<string, string>);
      assert.ok(verified, `${id}: the signature covers the transformed body`);
      assert.equal(r.headers['idempotency-key'], id);
    }
    assert.ok(!byId.has('t-bad'));
    const bad = courier.attempts.find((a) => a.eventId === 't-bad');
    assert.deepEqual([bad?.outcome, bad?.errorClass, bad?.attempt], ['dlq', 'transform-failed', 0]);
    assert.match(bad?.error ?? '', /number/i);
    assert.equal(
      courier.attempts.find((a) => a.eventId === 't-1' && a.outcome === 'delivered')?.transformed,
      true,
    );

    // Fix the expression (the receiver now takes amounts as text), and replay the dead letter.
    const fixed = parse(stringify(config)) as typeof config;
    const crmConfig = fixed.destinations[0] as unknown as Record<string, unknown>;
    crmConfig.transform = '{ "id": id, "email": data.contact.email, "amount": data.amount }';
    crmConfig.headers = { 'idempotency-key': { from: 'id' } };
    const path = writeConfig(fixed);
    const replayed = await courierCli([
      'replay',
      '--destination',
      'crm',
      '--event',
      't-bad',
      '--config',
      path,
    ]);
    assert.equal(replayed.code, 0, replayed.stderr);
    await waitFor(() => crm.accepted.some((r) => r.headers['webhook-id'] === 't-bad'), {
      timeoutMs: 20_000,
      message: 'the replayed event delivered',
    });
    const again = crm.accepted.find((r) => r.headers['webhook-id'] === 't-bad');
    assert.deepEqual(JSON.parse(again?.body ?? ''), {
      id: 't-bad',
      email: 'b@example.com',
      amount: 'twelve',
    });
    assert.equal(again?.headers['idempotency-key'], 't-bad');
  });

  test('an Idempotency-Key from the event id arrives unchanged on every retry', async () => {
    const flaky = await receiver((req) => ({ status: req.nth < 3 ? 503 : 200 }));
    const config = testConfig([
      { id: 'flaky', url: flaky.url, headers: { 'Idempotency-Key': { from: 'id' } } },
    ]);
    const courier = await run(config);
    await produceRaw(config, [{ key: 'k', value: eventJson('idem-1', 'order.created') }]);
    await waitFor(() => finalFor(courier, 'flaky').length >= 1, {
      timeoutMs: 20_000,
      message: 'delivered after retries',
    });
    const keys = flaky.requests.map((r) => r.headers['idempotency-key']);
    assert.deepEqual(keys, ['idem-1', 'idem-1', 'idem-1']);
  });
});

/** A forward proxy on loopback: CONNECT tunnels, counted by target. */
async function forwardProxy(): Promise<{ url: string; tunnels: string[] }> {
  const tunnels: string[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((_req, res) => {
    res.writeHead(405);
    res.end();
  });
  server.on('connect', (req, client: Socket) => {
    tunnels.push(String(req.url));
    const [host, port] = String(req.url).split(':');
    const upstream = connect(Number(port), host as string, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      upstream.pipe(client);
      client.pipe(upstream);
    });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => {});
      s.on('close', () => sockets.delete(s));
    }
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  closers.push(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  });
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}`, tunnels };
}

describe('egress proxy', () => {
  test('deliveries and token requests go through the proxy; a destination set to direct and a NO_PROXY host do not', async () => {
    const proxy = await forwardProxy();
    const viaProxy = await receiver();
    const direct = await receiver();
    const exempt = await receiver();
    const tokens = await startTokenServer({ clientId: 'courier', clientSecret: 'oauth-secret' });
    closers.push(() => tokens.close());
    const config = testConfig(
      [
        {
          id: 'proxied',
          url: viaProxy.url,
          auth: { type: 'oauth2', tokenUrl: tokens.url, clientId: 'courier', clientSecret: 'oauth-secret' },
        },
        { id: 'direct', url: direct.url, proxy: false },
        { id: 'exempt', url: exempt.url.replace('127.0.0.1', 'localhost') },
      ],
      { network: { allowPrivateAddresses: true, proxy: proxy.url, noProxy: ['localhost'] } },
    );
    const courier = await run(config);
    await produceRaw(config, [{ key: 'k', value: eventJson('px-1', 'order.created') }]);
    await waitFor(() => ['proxied', 'direct', 'exempt'].every((d) => finalFor(courier, d).length >= 1), {
      timeoutMs: 30_000,
      message: 'delivered to all three',
    });
    assert.equal(viaProxy.accepted.length, 1);
    assert.equal(direct.accepted.length, 1);
    assert.equal(exempt.accepted.length, 1);
    assert.ok(proxy.tunnels.includes(`127.0.0.1:${viaProxy.port}`), `tunnels: ${proxy.tunnels.join(', ')}`);
    assert.ok(proxy.tunnels.includes(new URL(tokens.url).host), 'the token request used the same egress');
    assert.ok(!proxy.tunnels.some((t) => t.endsWith(`:${direct.port}`) || t.endsWith(`:${exempt.port}`)));
  });

  test('behind a proxy, the SSRF guard refuses a private destination before the proxy is asked', async () => {
    const proxy = await forwardProxy();
    const target = await receiver();
    const config = testConfig([{ id: 'private', url: target.url, retry: { maxAttempts: 1 } }], {
      network: { allowPrivateAddresses: false, proxy: proxy.url },
    });
    const courier = await run(config);
    await produceRaw(config, [{ key: 'k', value: eventJson('px-2', 'order.created') }]);
    await waitFor(() => finalFor(courier, 'private').length >= 1, {
      timeoutMs: 20_000,
      message: 'dead-lettered',
    });
    const a = finalFor(courier, 'private')[0];
    assert.deepEqual([a?.outcome, a?.errorClass, a?.errorCode], ['dlq', 'forbidden', 'FORBIDDEN_ADDRESS']);
    assert.deepEqual(proxy.tunnels, [], 'the proxy was never asked');
    assert.equal(target.requests.length, 0);
  });
});

/** A proxy that takes connections and either never answers CONNECT or refuses it with 502. */
async function refusingProxy(answer: 'never' | 502): Promise<{ url: string; connects: () => number }> {
  let connects = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer();
  server.on('connect', (_req, client: Socket) => {
    connects += 1;
    sockets.add(client);
    client.on('error', () => {});
    client.on('close', () => sockets.delete(client));
    if (answer === 502) client.end('HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  closers.push(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  });
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}`, connects: () => connects };
}

describe('a proxy that does not open the tunnel', () => {
  test('a CONNECT never answered is cut within timeoutMs; a 502 to CONNECT is PROXY_502; both known outcomes, retried', async () => {
    const silent = await refusingProxy('never');
    const refusing = await refusingProxy(502);
    const target = await receiver();
    const retry = { maxAttempts: 2, baseDelayMs: 50, maxDelayMs: 100, jitter: 0 };
    const config = testConfig([
      { id: 'silent', url: target.url, proxy: silent.url, timeoutMs: 1000, retry },
      { id: 'refused', url: target.url, proxy: refusing.url, timeoutMs: 1000, retry },
    ]);
    const courier = await run(config);
    await produceRaw(config, [{ key: 'k', value: eventJson('px-3', 'order.created') }]);
    await waitFor(() => ['silent', 'refused'].every((d) => finalFor(courier, d).length >= 1), {
      timeoutMs: 30_000,
      message: 'both dead-lettered after their two attempts',
    });
    const attempts = (d: string) => courier.attempts.filter((a) => a.destination === d);
    for (const [d, code] of [
      ['silent', 'PROXY_TIMEOUT'],
      ['refused', 'PROXY_502'],
    ] as const) {
      const all = attempts(d);
      assert.deepEqual(
        all.map((a) => [a.outcome, a.errorCode]),
        [
          ['retry', code],
          ['dlq', code],
        ],
        `${d}: ${JSON.stringify(all)}`,
      );
      assert.ok(
        all.every((a) => a.unknownOutcome === undefined),
        `${d}: nothing reached the destination, so the outcome is known`,
      );
    }
    // Cut by the destination's 1 s timeout (the first phase that had none used to hold it 20 s).
    for (const a of attempts('silent')) assert.ok(a.latencyMs < 3000, `cut at ${a.latencyMs} ms`);
    assert.equal(target.requests.length, 0, 'nothing reached the destination');
    assert.ok(silent.connects() >= 1 && refusing.connects() >= 1);
  });
});

describe('status rules and adaptive timeouts', () => {
  test('retryOn: [409] retries a 409; deadLetterOn: [503] dead-letters a 503 at once', async () => {
    const conflict = await receiver((req) => ({ status: req.nth === 1 ? 409 : 200 }));
    const never = await receiver(() => ({ status: 503 }));
    const config = testConfig([
      { id: 'conflict', url: conflict.url, retryOn: [409] },
      { id: 'never', url: never.url, deadLetterOn: ['503'] },
    ]);
    const courier = await run(config);
    await produceRaw(config, [{ key: 'k', value: eventJson('sr-1', 'order.created') }]);
    await waitFor(() => finalFor(courier, 'conflict').length >= 1 && finalFor(courier, 'never').length >= 1, {
      timeoutMs: 20_000,
      message: 'both final',
    });
    assert.deepEqual(
      courier.attempts.filter((a) => a.destination === 'conflict').map((a) => [a.outcome, a.status]),
      [
        ['retry', 409],
        ['delivered', 200],
      ],
    );
    assert.deepEqual(
      courier.attempts
        .filter((a) => a.destination === 'never')
        .map((a) => [a.outcome, a.status, a.errorClass]),
      [['dlq', 503, 'permanent']],
    );
    assert.equal(never.requests.length, 1, 'no retry');
  });

  test('timeoutMs: auto settles near the observed latency, within its bounds', async () => {
    const slowish = await receiver(() => ({ status: 200, delayMs: 60 }));
    const config = testConfig([
      {
        id: 'auto',
        url: slowish.url,
        timeoutMs: 'auto',
        autoTimeout: { minMs: 200, maxMs: 5000 },
        concurrency: 4,
      },
    ]);
    const courier = await run(config);
    const adapted: number[] = [];
    courier.app.events.on('timeout-adapted', (t) => adapted.push(t.timeoutMs));
    const n = 200;
    await produceRaw(
      config,
      Array.from({ length: n }, (_, i) => ({
        key: `k${i}`,
        value: eventJson(`auto-${uniqueName('')}-${i}`, 'order.created'),
      })),
    );
    await waitFor(() => finalFor(courier, 'auto').length >= n, {
      timeoutMs: 60_000,
      message: `${n} delivered`,
    });
    const last = adapted.at(-1);
    assert.ok(last !== undefined, 'the timeout adapted');
    assert.ok(last >= 200 && last <= 1000, `settled at ${last} ms for a receiver answering in about 60 ms`);
    assert.ok(
      adapted.every((t) => t >= 200 && t <= 5000),
      'always within the bounds',
    );
    const metrics = await (await fetch(`http://127.0.0.1:${courier.app.observability?.port}/metrics`)).text();
    assert.match(
      metrics,
      new RegExp(`courier_destination_timeout_seconds\\{destination="auto"\\} ${last / 1000}\\b`),
    );
    // courier status shows, from shared state, the tail, the timeout now and the suggestion.
    const path = writeConfig(config);
    let row: Record<string, number> | undefined;
    await waitFor(
      async () => {
        const status = await courierCli(['status', '--json', '--config', path]);
        row = (JSON.parse(status.stdout) as { destinations: Array<Record<string, number>> }).destinations[0];
        return row?.timeoutMs === last;
      },
      {
        timeoutMs: 20_000,
        message: () => `courier status showing the adapted timeout: ${JSON.stringify(row)}`,
      },
    );
    assert.ok(row?.p999Ms !== undefined && row.suggestedTimeoutMs !== undefined);
    assert.ok((row?.suggestedTimeoutMs ?? 0) <= 5000);
  });
});
