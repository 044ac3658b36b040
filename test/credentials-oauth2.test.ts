// OAuth2 client credentials against a real token endpoint and a receiver that accepts only a
// current bearer token (issue 9): a token expiring mid-stream is refreshed with nothing paused,
// lost or duplicated; a revoked client pauses `auth-revoked` with one alert and delivers all after
// the fix and a resume; an unreachable token endpoint retries without a pause and without tripping
// the breaker; two instances share one token fetch per expiry; a second 401 with a fresh token
// pauses `auth-rejected`; a 403 pauses `forbidden`.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { CourierConfig } from '../src/config/schema.ts';
import { topicNames } from '../src/kafka/topics.ts';
import type { CourierRedis } from '../src/redis/client.ts';
import type { DestinationControl } from '../src/redis/destinationControl.ts';
import { type RunningCourier, startCourier } from './helpers/courier.ts';
import { destinationControl, retryTopics, topicMessageCount } from './helpers/dlq.ts';
import { eventJson } from './helpers/measure.ts';
import { type Receiver, startReceiver } from './helpers/receiver.ts';
import { produceRaw, provision, testConfig, uniqueName, waitFor } from './helpers/stack.ts';
import { bearerOf, startTokenServer, type TokenServer } from './helpers/tokenServer.ts';

const DEST = 'api';
const CLIENT = { clientId: 'courier-client', clientSecret: 'cs_9f3b1e0c7d2a4b6e8f10' };

function oauthDestination(token: TokenServer, receiver: Receiver, extra: Record<string, unknown> = {}) {
  return {
    id: DEST,
    url: receiver.url,
    concurrency: 4,
    auth: { type: 'oauth2', tokenUrl: token.url, ...CLIENT, scope: 'webhooks', ...(extra.auth as object) },
    ...Object.fromEntries(Object.entries(extra).filter(([k]) => k !== 'auth')),
  };
}

/** A receiver that answers 200 only to a current token of `token`, 401 otherwise. */
function bearerReceiver(token: TokenServer): Promise<Receiver> {
  return startReceiver((req) => (token.valid(bearerOf(req.headers)) ? { status: 200 } : { status: 401 }));
}

function produceIds(config: CourierConfig, ids: string[]): Promise<void> {
  return produceRaw(
    config,
    ids.map((id) => ({ key: id, value: eventJson(id, 'user.created') })),
  );
}

function acceptedIds(receiver: Receiver): string[] {
  return receiver.accepted.map((r) => String(r.headers['webhook-id'])).sort();
}

interface Setup {
  token: TokenServer;
  receiver: Receiver;
  config: CourierConfig;
  control: DestinationControl;
  redis: CourierRedis;
  couriers: RunningCourier[];
}

async function teardown(s: Setup | undefined): Promise<void> {
  if (!s) return;
  for (const c of s.couriers) await c.stop();
  await s.receiver.close();
  await s.token.close();
  s.redis.disconnect();
}

describe('an access token that expires mid-stream (client_secret_basic)', () => {
  let s: Setup;
  const first = Array.from({ length: 10 }, () => uniqueName('evt-'));
  const second = Array.from({ length: 10 }, () => uniqueName('evt-'));

  before(async () => {
    const token = await startTokenServer(CLIENT);
    const receiver = await bearerReceiver(token);
    const config = testConfig([
      oauthDestination(token, receiver, { auth: { authMethod: 'client_secret_basic' } }),
    ]);
    await provision(config);
    s = { token, receiver, config, ...destinationControl(config), couriers: [await startCourier(config)] };
  });
  after(() => teardown(s));

  test('is refreshed at once: nothing paused, nothing lost, no duplicate, no retry', async () => {
    await produceIds(s.config, first);
    await waitFor(() => s.receiver.accepted.length >= first.length, { message: 'first half delivered' });
    assert.equal(s.token.requests.length, 1, 'one token for the first half');
    assert.equal(s.token.requests[0]?.clientAuth, 'client_secret_basic');
    assert.equal(s.token.requests[0]?.form.scope, 'webhooks');
    s.token.expireAll();
    await produceIds(s.config, second);
    await waitFor(() => s.receiver.accepted.length >= first.length + second.length, {
      message: () => `all delivered (${s.receiver.accepted.length})`,
    });
    await waitFor(() => s.receiver.accepted.length > first.length + second.length, {
      timeoutMs: 1000,
      soft: true,
    });
    const attempts = s.couriers[0]!.attempts;
    assert.deepEqual(acceptedIds(s.receiver), [...first, ...second].sort(), 'each event exactly once');
    assert.ok(
      attempts.some((a) => a.authCase === 'expired' && a.outcome === 'delivered'),
      'a delivery after a refresh says so',
    );
    assert.equal(s.token.requests.length, 2, 'one refresh for the whole in-flight window');
    assert.equal(attempts.filter((a) => a.outcome === 'paused').length, 0, 'nothing paused');
    assert.equal(
      attempts.filter((a) => a.outcome === 'retry').length,
      0,
      'the refreshed request went at once',
    );
    assert.equal((await s.control.state(DEST)).paused, false);
  });
});

describe('a revoked client (client_secret_post)', () => {
  let s: Setup;
  const ids = Array.from({ length: 8 }, () => uniqueName('evt-'));

  before(async () => {
    const token = await startTokenServer(CLIENT);
    token.setRevoked(true);
    const receiver = await bearerReceiver(token);
    const config = testConfig([
      oauthDestination(token, receiver, { auth: { authMethod: 'client_secret_post' } }),
    ]);
    await provision(config);
    s = { token, receiver, config, ...destinationControl(config), couriers: [await startCourier(config)] };
    await produceIds(config, ids);
  });
  after(() => teardown(s));

  test('pauses auth-revoked with one alert; no request, retry or dead letter', async () => {
    const attempts = s.couriers[0]!.attempts;
    await waitFor(() => attempts.some((a) => a.alert), { message: 'an alert' });
    const state = await s.control.state(DEST);
    assert.equal(state.paused && state.reason, 'auth-revoked');
    const alert = attempts.find((a) => a.alert)!;
    assert.equal(alert.outcome, 'paused');
    assert.equal(alert.authCase, 'revoked');
    assert.equal(alert.errorCode, 'AUTH_REVOKED');
    assert.equal(s.token.requests[0]?.clientAuth, 'client_secret_post');
    // Give a second alert or a stray request the chance to show up.
    await waitFor(() => attempts.filter((a) => a.alert).length > 1, { timeoutMs: 1500, soft: true });
    assert.equal(attempts.filter((a) => a.alert).length, 1, 'one alert');
    assert.equal(s.receiver.requests.length, 0, 'nothing sent without a token');
    assert.equal(attempts.filter((a) => a.outcome === 'retry' || a.outcome === 'dlq').length, 0);
    assert.equal(await topicMessageCount(s.config, retryTopics(s.config)), 0);
    assert.equal(await topicMessageCount(s.config, [topicNames(s.config).dlq(DEST)]), 0);
  });

  test('after the client is restored and the destination resumed, every event arrives once', async () => {
    s.token.setRevoked(false);
    assert.equal(await s.control.resume(DEST), true);
    await waitFor(() => s.receiver.accepted.length >= ids.length, { message: 'all delivered after resume' });
    await waitFor(() => s.receiver.accepted.length > ids.length, { timeoutMs: 1000, soft: true });
    assert.deepEqual(acceptedIds(s.receiver), [...ids].sort());
    assert.equal((await s.control.state(DEST)).paused, false);
  });
});

describe('a token endpoint that is down for a while (503)', () => {
  let s: Setup;
  const ids = Array.from({ length: 6 }, () => uniqueName('evt-'));
  const opened: string[] = [];

  before(async () => {
    const token = await startTokenServer(CLIENT);
    token.setDown(true);
    const receiver = await bearerReceiver(token);
    const config = testConfig([
      oauthDestination(token, receiver, {
        retry: { baseDelayMs: 50, maxDelayMs: 200, maxAttempts: 200, jitter: 0.25 },
        circuitBreaker: { volumeThreshold: 2, errorThresholdPercentage: 10, resetTimeoutMs: 60_000 },
      }),
    ]);
    await provision(config);
    s = { token, receiver, config, ...destinationControl(config), couriers: [await startCourier(config)] };
    s.couriers[0]!.app.events.on('breaker-open', (e) => opened.push(e.destination));
    await produceIds(config, ids);
  });
  after(() => teardown(s));

  test('retries the deliveries (TOKEN_ENDPOINT_UNAVAILABLE), no pause, breaker untouched; all arrive once it is back', async () => {
    const attempts = s.couriers[0]!.attempts;
    // A short outage (not the 30 s): long enough for every event to be retried a few times.
    const downSince = Date.now();
    await waitFor(
      () =>
        attempts.filter((a) => a.errorCode === 'TOKEN_ENDPOINT_UNAVAILABLE').length >= 3 * ids.length &&
        Date.now() - downSince >= 2000,
      { message: 'retries while the token endpoint is down', timeoutMs: 30_000 },
    );
    const failed = attempts.filter((a) => a.errorCode === 'TOKEN_ENDPOINT_UNAVAILABLE');
    assert.ok(failed.every((a) => a.outcome === 'retry' && a.authCase === 'token-unavailable'));
    assert.equal((await s.control.state(DEST)).paused, false, 'not paused');
    assert.deepEqual(opened, [], 'the breaker counts destination failures only');
    s.token.setDown(false);
    await waitFor(() => new Set(acceptedIds(s.receiver)).size >= ids.length, { message: 'all delivered' });
    await waitFor(() => s.receiver.accepted.length > ids.length, { timeoutMs: 1000, soft: true });
    assert.deepEqual(acceptedIds(s.receiver), [...ids].sort());
    assert.equal(attempts.filter((a) => a.outcome === 'paused' || a.outcome === 'dlq').length, 0);
  });
});

describe('two Courier instances sharing a destination', () => {
  let s: Setup;
  const LIFETIME_S = 2;

  before(async () => {
    const token = await startTokenServer({ ...CLIENT, lifetimeSeconds: LIFETIME_S });
    const receiver = await bearerReceiver(token);
    const config = testConfig([oauthDestination(token, receiver)]);
    await provision(config);
    s = { token, receiver, config, ...destinationControl(config), couriers: [] };
    s.couriers.push(await startCourier(config), await startCourier(config));
  });
  after(() => teardown(s));

  test('fetch one token per expiry between them, never one each', async (t) => {
    const ids: string[] = [];
    const started = Date.now();
    // Traffic through several token lifetimes, in waves paced by the deliveries themselves.
    while (Date.now() - started < 3 * LIFETIME_S * 1000) {
      const wave = Array.from({ length: 6 }, () => uniqueName('evt-'));
      ids.push(...wave);
      await produceIds(s.config, wave);
      await waitFor(() => new Set(acceptedIds(s.receiver)).size >= ids.length, { message: 'wave delivered' });
    }
    const elapsed = Date.now() - started;
    await waitFor(() => s.receiver.accepted.length > ids.length, { timeoutMs: 1000, soft: true });
    assert.deepEqual(acceptedIds(s.receiver), [...ids].sort(), 'each event exactly once');
    for (const c of s.couriers) {
      assert.ok(
        c.attempts.some((a) => a.outcome === 'delivered'),
        'both instances delivered',
      );
    }
    const fetches = s.token.requests.map((r) => r.at);
    // A token is replaced after half its lifetime: at most one fetch per half-lifetime, plus the first.
    const bound = Math.floor(elapsed / ((LIFETIME_S * 1000) / 2)) + 1;
    assert.ok(fetches.length <= bound, `${fetches.length} token fetches in ${elapsed} ms (at most ${bound})`);
    const gaps = fetches.slice(1).map((at, i) => at - (fetches[i] as number));
    t.diagnostic(
      `${ids.length} events, ${fetches.length} token fetches in ${elapsed} ms, gaps ${gaps.join(', ')} ms`,
    );
    assert.ok(
      gaps.every((g) => g >= 500),
      `no two fetches for the same expiry (gaps ${gaps.join(', ')} ms; refresh period 1000 ms)`,
    );
  });
});

describe('a receiver that refuses even a fresh token (401 twice)', () => {
  let s: Setup;
  const ids = Array.from({ length: 4 }, () => uniqueName('evt-'));

  before(async () => {
    const token = await startTokenServer(CLIENT);
    const receiver = await startReceiver(() => ({ status: 401 }));
    const config = testConfig([oauthDestination(token, receiver)]);
    await provision(config);
    s = { token, receiver, config, ...destinationControl(config), couriers: [await startCourier(config)] };
    await produceIds(config, ids);
  });
  after(() => teardown(s));

  test('pauses auth-rejected after exactly one refresh, one alert', async () => {
    const attempts = s.couriers[0]!.attempts;
    await waitFor(() => attempts.some((a) => a.alert), { message: 'an alert' });
    await waitFor(() => attempts.filter((a) => a.alert).length > 1, { timeoutMs: 1000, soft: true });
    const state = await s.control.state(DEST);
    assert.equal(state.paused && state.reason, 'auth-rejected');
    const alerts = attempts.filter((a) => a.alert);
    assert.equal(alerts.length, 1);
    assert.equal(alerts[0]?.authCase, 'rejected');
    assert.equal(alerts[0]?.status, 401);
    // Requests in flight together share the one refresh.
    assert.equal(s.token.requests.length, 2, 'the first token and one refresh');
    const tokens = new Set(s.receiver.requests.map((r) => bearerOf(r.headers)));
    assert.equal(tokens.size, 2, 'the same request was sent with the old and with the fresh token');
  });
});

describe('a destination answering 403 (Basic auth)', () => {
  let receiver: Receiver;
  let courier: RunningCourier;
  let control: DestinationControl;
  let redis: CourierRedis;

  before(async () => {
    receiver = await startReceiver(() => ({ status: 403 }));
    const config = testConfig([
      { id: DEST, url: receiver.url, auth: { type: 'basic', username: 'courier', password: 'pw_7c1d9e2f' } },
    ]);
    await provision(config);
    ({ control, redis } = destinationControl(config));
    courier = await startCourier(config);
    await produceIds(config, [uniqueName('evt-'), uniqueName('evt-')]);
  });
  after(async () => {
    await courier.stop();
    await receiver.close();
    redis.disconnect();
  });

  test('sends Basic credentials and pauses forbidden with an alert', async () => {
    await waitFor(() => courier.attempts.some((a) => a.alert), { message: 'an alert' });
    const state = await control.state(DEST);
    assert.equal(state.paused && state.reason, 'forbidden');
    assert.equal(courier.attempts.find((a) => a.alert)?.authCase, 'forbidden');
    const expected = `Basic ${Buffer.from('courier:pw_7c1d9e2f').toString('base64')}`;
    assert.equal(receiver.requests[0]?.headers.authorization, expected);
  });
});
