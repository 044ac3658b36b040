// The shared OAuth2 token in Redis (issue 9) with many instances at once, against the real token
// endpoint and Redis: concurrent first uses, concurrent refreshes after a 401 and a token due
// for refresh each cost exactly one token request across every instance.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { OAuth2Credentials } from '../src/credentials/oauth2.ts';
import { TokenEndpoint } from '../src/credentials/tokenEndpoint.ts';
import { type CourierRedis, createRedis } from '../src/redis/client.ts';
import { REDIS_URL, uniqueName } from './helpers/stack.ts';
import { startTokenServer, type TokenServer } from './helpers/tokenServer.ts';

const CLIENT = { clientId: 'shared', clientSecret: 'cs_shared_77a1' };
const INSTANCES = 6;

let server: TokenServer;
let redis: CourierRedis[];
let instances: OAuth2Credentials[];
/** The instances' clock runs this far ahead of the wall clock (injected: no waiting for time). */
let skewMs = 0;
const now = () => Date.now() + skewMs;

before(async () => {
  server = await startTokenServer({ ...CLIENT, lifetimeSeconds: 2 });
  const prefix = uniqueName('c');
  // One Redis connection per instance, as separate processes would have.
  redis = Array.from({ length: INSTANCES }, () => createRedis({ url: REDIS_URL }));
  instances = redis.map(
    (r) =>
      new OAuth2Credentials({
        destination: 'api',
        redis: r,
        keyPrefix: prefix,
        refreshBeforeMs: 60_000,
        lockMs: 5000,
        now,
        endpoint: new TokenEndpoint({
          tokenUrl: server.url,
          ...CLIENT,
          authMethod: 'client_secret_basic',
          timeoutMs: 2000,
          allowPrivateAddresses: true,
          userAgent: 'courier/test',
          now,
        }),
      }),
  );
});

after(async () => {
  for (const i of instances) await i.close();
  for (const r of redis) r.disconnect();
  await server.close();
});

const headersOf = async (o?: Parameters<OAuth2Credentials['authorize']>[0]) =>
  Promise.all(
    instances.flatMap((i) =>
      Array.from({ length: 4 }, async () => {
        const r = await i.authorize(o);
        assert.ok(r.ok, JSON.stringify(r));
        return r.headers.authorization as string;
      }),
    ),
  );

test('first use by every instance at once: one token request, one token for all', async () => {
  const headers = await headersOf();
  assert.equal(server.requests.length, 1);
  assert.equal(new Set(headers).size, 1);
});

test('a 401 seen by every instance at once: one refresh, one new token for all', async () => {
  const before = server.requests.length;
  const [old] = await headersOf();
  server.expireAll();
  const headers = await headersOf({ forceRefresh: true, rejectedHeaders: { authorization: old as string } });
  assert.equal(server.requests.length, before + 1);
  assert.equal(new Set(headers).size, 1);
  assert.notEqual(headers[0], old);
  assert.ok(server.valid(headers[0]?.replace('Bearer ', '')));
});

test('a token due for refresh: one request across instances, the old token serves meanwhile', async () => {
  const before = server.requests.length;
  const [current] = await headersOf();
  // Past half of its 2 s lifetime the token is due; then everyone asks at once.
  skewMs = 1100;
  const headers = await headersOf();
  assert.equal(server.requests.length, before + 1, 'one refresh');
  assert.ok(headers.every((h) => h === current || server.valid(h.replace('Bearer ', ''))));
  const after = await headersOf();
  assert.equal(new Set(after).size, 1, 'then everyone uses the new token');
  assert.notEqual(after[0], current);
});
