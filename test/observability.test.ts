// Operating Courier (issue 11) against the real stack: three destinations — one healthy, one
// refusing connections (retries, then dead letters), one answering 401 (paused) — and two Courier
// instances evaluating alerts. Checks /metrics against what the receivers counted, /healthz and
// /readyz, each alert firing once to a loopback operator webhook that verifies its signature with
// the standardwebhooks library (and the failing destination's own owner webhook), `courier status`,
// and every alert resolving once the destinations recover.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Webhook } from 'standardwebhooks';
import { CourierApp, groupIds } from '../src/app.ts';
import type { CourierConfig } from '../src/config/schema.ts';
import type { AlertNotice } from '../src/observability/alerts.ts';
import type { StatusReport } from '../src/observability/destinationStatus.ts';
import { Observability } from '../src/observability/observability.ts';
import type { CourierRedis } from '../src/redis/client.ts';
import type { DestinationControl } from '../src/redis/destinationControl.ts';
import { PipelineEmitter } from '../src/telemetry/events.ts';
import { launchBrowser } from './helpers/browser.ts';
import { courierCli, writeConfig } from './helpers/cli.ts';
import { type RunningCourier, startCourier } from './helpers/courier.ts';
import { destinationControl } from './helpers/dlq.ts';
import { eventJson, freePort } from './helpers/measure.ts';
import { type Receiver, startReceiver } from './helpers/receiver.ts';
import {
  createKafkaForTest,
  produceRaw,
  provision,
  SECRET,
  testConfig,
  testLogger,
  waitFor,
} from './helpers/stack.ts';

const OPERATOR_SECRET = 'whsec_b3BlcmF0b3Itc2VjcmV0LWZvci10ZXN0cw==';
const TOKEN = 'Bearer never-shown-token-5e1f';
const N = 6;

/** Parses the Prometheus text format into `name{labels}` → value. */
function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})? (\S+)$/.exec(line);
    if (m) out.set(`${m[1]}${m[2] ?? ''}`, Number(m[3]));
  }
  return out;
}

async function get(port: number, path: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: res.status, body: await res.text() };
}

interface VerifiedNotice extends AlertNotice {
  to: 'operator' | 'owner';
}

/** The (destination, alert) pairs the scenario fires, and later resolves. */
const ALERTS: ReadonlyArray<[string, string]> = [
  ['locked', 'destination-paused'],
  ['locked', 'backlog-old'],
  ['failing', 'dead-letters'],
  ['failing', 'success-rate-low'],
  ['failing', 'delivery-stalled'],
  ['flaky', 'success-rate-low'],
  ['tripped', 'circuit-open'],
];

describe('operating Courier: metrics, health, alerts, status', () => {
  let healthy: Receiver;
  let flaky: Receiver;
  let locked: Receiver;
  let failingRecovered: Receiver | undefined;
  let operator: Receiver;
  let owner: Receiver;
  let failingPort: number;
  let trippedPort: number;
  let trippedRecovered: Receiver | undefined;
  let config: CourierConfig;
  let courier: RunningCourier;
  let second: CourierApp;
  /** Both instances evaluate the alerts `rounds` times, at once each round (sends awaited). */
  const evaluateBoth = async (rounds: number) => {
    for (let i = 0; i < rounds; i++) {
      await Promise.all([courier.app.observability?.evaluateOnce(), second.observability?.evaluateOnce()]);
    }
  };
  let control: DestinationControl;
  let redis: CourierRedis;
  let port: number;
  const ids = Array.from({ length: N }, (_, i) => `obs-${i}`);
  const notices: VerifiedNotice[] = [];

  const verified = (to: VerifiedNotice['to']) => (r: Receiver['requests'][number]) => {
    const wh = new Webhook(OPERATOR_SECRET);
    // Throws unless the signature verifies.
    const payload = wh.verify(r.body, {
      'webhook-id': String(r.headers['webhook-id']),
      'webhook-timestamp': String(r.headers['webhook-timestamp']),
      'webhook-signature': String(r.headers['webhook-signature']),
    }) as AlertNotice;
    notices.push({ ...payload, to });
    return { status: 204 };
  };
  const noticesOf = (destination: string, alert: string, type: AlertNotice['type'], to = 'operator') =>
    notices.filter(
      (n) => n.destination === destination && n.alert === alert && n.type === type && n.to === to,
    );

  before(async () => {
    healthy = await startReceiver(() => ({ status: 200 }));
    // 503 on one request in ten: retried and delivered, but under the 95 % success threshold.
    flaky = await startReceiver(() => ({ status: flaky.requests.length % 10 === 1 ? 503 : 200 }));
    locked = await startReceiver(() => ({ status: 401, body: 'bad credentials' }));
    operator = await startReceiver();
    owner = await startReceiver();
    operator.setBehaviour(verified('operator'));
    owner.setBehaviour(verified('owner'));
    failingPort = await freePort();
    trippedPort = await freePort();
    config = testConfig(
      [
        { id: 'healthy', url: healthy.url },
        { id: 'flaky', url: flaky.url },
        {
          id: 'failing',
          url: `http://127.0.0.1:${failingPort}/hook`,
          retry: { baseDelayMs: 50, maxDelayMs: 200, maxAttempts: 3, jitter: 0 },
          circuitBreaker: { volumeThreshold: 1000 },
          alerts: { url: owner.url },
        },
        { id: 'locked', url: locked.url, headers: { authorization: TOKEN }, concurrency: 2 },
        {
          // Refused connections open its circuit; budget enough that nothing is dead-lettered.
          id: 'tripped',
          url: `http://127.0.0.1:${trippedPort}/hook`,
          circuitBreaker: { volumeThreshold: 3, errorThresholdPercentage: 50, resetTimeoutMs: 1000 },
          retry: { baseDelayMs: 50, maxDelayMs: 400, maxAttempts: 500, maxAgeMs: 600_000, jitter: 0.25 },
        },
      ],
      {
        observability: { port: 0, statusPage: true, probeIntervalMs: 300 },
        alerts: {
          url: operator.url,
          secret: OPERATOR_SECRET,
          evaluateIntervalMs: 250,
          thresholds: {
            stalledMs: 1500,
            successWindowMs: 20_000,
            successMinAttempts: 3,
            circuitOpenMs: 1000,
            deadLetterWindowMs: 3000,
            oldestUndeliveredMs: 1500,
          },
        },
      },
    );
    await provision(config);
    ({ control, redis } = destinationControl(config));
    courier = await startCourier(config);
    // A second instance: it evaluates the same alerts, and must not send them again.
    second = new CourierApp({ config, logger: testLogger(), roles: ['retry'] }, { sessionTimeoutMs: 6000 });
    await second.start();
    port = courier.app.observability?.port as number;
    await produceRaw(
      config,
      ids.map((id, i) => ({ key: `k${i % 3}`, value: eventJson(id, 'user.created', { i }) })),
    );
  });

  after(async () => {
    await courier?.stop();
    await second?.stop();
    for (const r of [healthy, flaky, locked, operator, owner, failingRecovered, trippedRecovered])
      await r?.close();
    redis?.disconnect();
  });

  test('/healthz answers and /readyz reports Kafka and Redis reachable', async () => {
    assert.equal((await get(port, '/healthz')).status, 200);
    const ready = await get(port, '/readyz');
    assert.equal(ready.status, 200, ready.body);
    const body = JSON.parse(ready.body);
    assert.equal(body.ready, true);
    assert.equal(body.checks.redis.ok, true);
    assert.equal(body.checks.kafka.ok, true);
  });

  test('/metrics matches what the receivers counted', async () => {
    await waitFor(() => healthy.accepted.length >= N, { message: 'healthy deliveries', timeoutMs: 20_000 });
    await waitFor(
      () => courier.attempts.filter((a) => a.destination === 'failing' && a.outcome === 'dlq').length >= N,
      {
        message: 'failing dead letters',
        timeoutMs: 30_000,
      },
    );
    let m = new Map<string, number>();
    await waitFor(
      async () => {
        m = parseMetrics((await get(port, '/metrics')).body);
        return (
          (m.get('courier_dlq_depth_messages{destination="failing"}') ?? 0) >= N &&
          (m.get('courier_consumer_lag_messages{destination="locked"}') ?? 0) > 0
        );
      },
      { message: () => 'DLQ depth and lag gauges', timeoutMs: 15_000 },
    );
    assert.equal(
      m.get('courier_attempts_total{destination="healthy",outcome="delivered",status_class="2xx"}'),
      healthy.accepted.length,
    );
    assert.equal(m.get('courier_router_routed_total{destination="healthy"}'), N);
    assert.equal(m.get('courier_delivery_latency_seconds_count{destination="healthy"}'), N);
    assert.equal(m.get('courier_request_duration_seconds_count{destination="healthy"}'), N);
    assert.equal(
      m.get('courier_first_attempts_total{destination="healthy",event_type="user.created",result="success"}'),
      N,
    );
    // 503 then 200 for the same event: one retry, every event delivered once.
    await waitFor(() => flaky.accepted.length >= N, { message: 'flaky deliveries', timeoutMs: 20_000 });
    m = parseMetrics((await get(port, '/metrics')).body);
    assert.equal(
      m.get('courier_attempts_total{destination="flaky",outcome="retry",status_class="5xx"}'),
      flaky.requests.length - flaky.accepted.length,
    );
    assert.equal(
      m.get('courier_attempts_total{destination="flaky",outcome="delivered",status_class="2xx"}'),
      flaky.accepted.length,
    );
    // Connection refused: no status, N events × 3 attempts, the last of each dead-lettered.
    assert.equal(
      m.get('courier_attempts_total{destination="failing",outcome="retry",status_class="none"}'),
      2 * N,
    );
    assert.equal(m.get('courier_attempts_total{destination="failing",outcome="dlq",status_class="none"}'), N);
    assert.equal(m.get('courier_retries_scheduled_total{destination="failing"}'), 2 * N);
    assert.equal(m.get('courier_dead_letters_total{destination="failing",error_class="exhausted"}'), N);
    assert.equal(m.get('courier_dlq_depth_messages{destination="failing"}'), N);
    // 401: every request the receiver saw was one paused attempt.
    assert.equal(
      m.get('courier_attempts_total{destination="locked",outcome="paused",status_class="4xx"}'),
      locked.requests.length,
    );
    assert.equal(m.get('courier_destination_paused{destination="locked",reason="auth-rejected"}'), 1);
    assert.equal(m.get('courier_destination_paused{destination="healthy",reason=""}'), 0);
    assert.ok(
      (m.get('courier_consumer_lag_messages{destination="locked"}') ?? 0) >= N - locked.requests.length,
    );
    assert.ok((m.get('courier_oldest_undelivered_age_seconds{destination="locked"}') ?? 0) > 0);
  });

  test('each alert fires once, signed, to the operator and to the destination owner', async () => {
    const expected = ALERTS;
    await waitFor(() => expected.every(([d, a]) => noticesOf(d, a, 'courier.alert.firing').length > 0), {
      message: () =>
        `alerts ${JSON.stringify(expected)}; got ${JSON.stringify(notices.map((n) => [n.destination, n.alert, n.type]))}`,
      timeoutMs: 30_000,
    });
    // Both instances evaluate three more times, side by side (their sends awaited): still one
    // notice each.
    await evaluateBoth(3);
    for (const [d, a] of expected) {
      assert.equal(
        noticesOf(d, a, 'courier.alert.firing').length,
        1,
        `${d} ${a} fired once: ${JSON.stringify(notices.map((n) => [n.at, n.destination, n.alert, n.type, n.to, n.since, n.status?.state]))}`,
      );
    }
    // (Its backlog may briefly pass the 1.5 s test threshold while its consumer joins the group.)
    assert.deepEqual(
      notices.filter((n) => n.destination === 'healthy' && n.alert !== 'backlog-old').map((n) => n.alert),
      [],
      'nothing else about the healthy destination',
    );
    // The failing destination's owner hears about it; the locked one's alerts are not theirs.
    assert.equal(noticesOf('failing', 'dead-letters', 'courier.alert.firing', 'owner').length, 1);
    assert.ok(!notices.some((n) => n.to === 'owner' && n.destination !== 'failing'));
    const paused = noticesOf('locked', 'destination-paused', 'courier.alert.firing')[0] as AlertNotice;
    assert.equal(paused.status?.state, 'paused');
    assert.ok(!JSON.stringify(notices).includes('never-shown-token'), 'no header value in alerts');
  });

  test('courier status shows the three destinations from shared state', async () => {
    const lines: string[] = [];
    const { status } = await import('../src/cli/commands/status.ts');
    const code = await status(config, { json: true, print: (l) => lines.push(l) });
    assert.equal(code, 1, 'not every destination is healthy');
    const report = JSON.parse(lines.join('\n')) as StatusReport;
    const state = Object.fromEntries(report.destinations.map((d) => [d.destination, d]));
    assert.equal(state.healthy?.state, 'healthy');
    assert.equal(state.healthy?.successRate, 1);
    assert.equal(state.failing?.state, 'degraded');
    assert.equal(state.failing?.dlqDepth, N);
    assert.equal(state.failing?.lastError?.errorCode, 'CONNECTION_REFUSED');
    assert.equal(state.locked?.state, 'paused');
    assert.match(state.locked?.reason ?? '', /auth/);
    assert.ok((state.locked?.backlog ?? 0) > 0);

    // The same through the command line, as a table.
    const cli = await courierCli(['status', '--config', writeConfig(config)]);
    assert.equal(cli.code, 1, cli.stderr);
    assert.match(cli.stdout, /^DESTINATION\s+STATE/m);
    assert.match(cli.stdout, /^healthy\s+healthy/m);
    assert.match(cli.stdout, /^failing\s+degraded/m);
    assert.match(cli.stdout, /^locked\s+paused: auth/m);
    assert.ok(!cli.stdout.includes('never-shown-token'));
  });

  test('the status page shows the three destinations in a real browser, and looks up an event', async () => {
    const { context, close } = await launchBrowser();
    try {
      const page = await context.newPage();
      await page.goto(`http://127.0.0.1:${port}/`);
      const stateOf = (d: string) =>
        page.locator(`#destinations tr[data-destination="${d}"]`).getAttribute('data-state');
      assert.equal(await stateOf('healthy'), 'healthy');
      assert.equal(await stateOf('failing'), 'degraded');
      assert.equal(await stateOf('locked'), 'paused');
      assert.match(await page.locator('#destinations tr[data-destination="locked"]').innerText(), /auth/);
      assert.match(
        await page.locator('#destinations tr[data-destination="failing"]').innerText(),
        /CONNECTION_REFUSED/,
      );
      const refresh = await page.locator('meta[http-equiv="refresh"]').getAttribute('content');
      assert.ok(Number(refresh) > 0, 'the page refreshes itself');
      await page.screenshot({ path: '/tmp/courier-status-page.png', fullPage: true });
      const html = await page.content();
      for (const secret of [TOKEN, 'never-shown-token', SECRET, OPERATOR_SECRET, healthy.url, operator.url]) {
        assert.ok(!html.includes(secret), 'no secret, header value or URL on the page');
      }
      // The per-event lookup: what `courier inspect` shows.
      await page.fill('input[name="id"]', ids[0] as string);
      await Promise.all([page.waitForURL(/\/events/), page.click('button[type="submit"]')]);
      const eventState = (d: string) =>
        page.locator(`#event-destinations tr[data-destination="${d}"] .event-state`).innerText();
      assert.equal(await eventState('healthy'), 'delivered');
      assert.equal(await eventState('failing'), 'dead-lettered');
      assert.match(await eventState('locked'), /paused|pending/);
      assert.ok((await page.locator('#attempts tbody tr').count()) >= 4, 'the attempts are listed');
      await page.screenshot({ path: '/tmp/courier-status-event.png', fullPage: true });
      assert.ok(!(await page.content()).includes('v1,'), 'no signature shown');
      await page.goto(`http://127.0.0.1:${port}/events/unknown-event`);
      assert.match(await page.locator('#not-found').innerText(), /Not found/);
    } finally {
      await close();
    }
  });

  test('/readyz is false for an instance whose Redis is unreachable', async () => {
    const unreachable = { ...config, redis: { url: `redis://127.0.0.1:${await freePort()}` } };
    const app = new CourierApp({ config: unreachable, logger: testLogger(), roles: ['router'] });
    await app.start();
    try {
      const ready = await get(app.observability?.port as number, '/readyz');
      assert.equal(ready.status, 503);
      const body = JSON.parse(ready.body);
      assert.equal(body.ready, false);
      assert.equal(body.checks.redis.ok, false);
      assert.equal(body.checks.kafka.ok, true);
    } finally {
      await app.stop();
    }
  });

  test('/readyz is false when a role consumer reports it is not running', async () => {
    let crashed = false;
    const obs = new Observability({
      config,
      logger: testLogger(),
      events: new PipelineEmitter(),
      kafka: createKafkaForTest(config),
      groups: groupIds(config),
      consumers: () => ({
        ready: !crashed,
        checks: { 'deliver:healthy': crashed ? { ok: false, detail: 'consumer crashed' } : { ok: true } },
      }),
    });
    await obs.start();
    try {
      assert.equal((await get(obs.port as number, '/readyz')).status, 200);
      crashed = true;
      const ready = await get(obs.port as number, '/readyz');
      assert.equal(ready.status, 503);
      assert.equal(JSON.parse(ready.body).checks['deliver:healthy'].detail, 'consumer crashed');
    } finally {
      await obs.stop();
    }
  });

  test('alerts resolve once the destinations recover, one notice each', async () => {
    locked.setBehaviour(() => ({ status: 200 }));
    await control.resume('locked');
    failingRecovered = await startReceiver(() => ({ status: 200 }), failingPort);
    trippedRecovered = await startReceiver(() => ({ status: 200 }), trippedPort);
    const more = Array.from({ length: 3 }, (_, i) => `obs-more-${i}`);
    await produceRaw(
      config,
      more.map((id, i) => ({ key: `m${i}`, value: eventJson(id, 'user.created', { i }) })),
    );
    // Every one resolves, tripped's circuit-open too: a breaker that went half-open with nothing
    // in its window fetches again for its probe.
    const expected = ALERTS;
    const settled = ([d, a]: [string, string]) => {
      const resolved = noticesOf(d, a, 'courier.alert.resolved').length;
      return resolved > 0 && resolved === noticesOf(d, a, 'courier.alert.firing').length;
    };
    await waitFor(() => expected.every(settled), {
      message: () =>
        `resolved ${JSON.stringify(expected)}; got ${JSON.stringify(notices.map((n) => [n.destination, n.alert, n.type]))}`,
      timeoutMs: 60_000,
    });
    await evaluateBoth(3);
    const sequence = JSON.stringify(notices.map((n) => [n.at, n.destination, n.alert, n.type, n.to]));
    for (const [d, a] of expected) {
      // Each firing is resolved exactly once (under heavy load a condition may legitimately come
      // back, e.g. a backlog aging past the 1.5 s test threshold again: it then fires and resolves anew).
      const fired = noticesOf(d, a, 'courier.alert.firing').length;
      assert.ok(fired >= 1, `${d} ${a} fired`);
      assert.equal(
        noticesOf(d, a, 'courier.alert.resolved').length,
        fired,
        `${d} ${a} resolved once per firing: ${sequence}`,
      );
    }
    assert.equal(locked.accepted.length, N + more.length, 'the held events were delivered after resume');
  });
});
