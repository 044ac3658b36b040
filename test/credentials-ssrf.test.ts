// The token endpoint call honours the SSRF guard like deliveries (issue 9): a token URL on a
// loopback or private address — literal or resolved — is refused unless
// network.allowPrivateAddresses, and that refusal is a configuration problem (pause), not a retry.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { TokenEndpoint } from '../src/credentials/tokenEndpoint.ts';
import { startTokenServer, type TokenServer } from './helpers/tokenServer.ts';

let server: TokenServer;
const client = { clientId: 'c', clientSecret: 'cs_ssrf_1' };

before(async () => {
  server = await startTokenServer(client);
});
after(() => server.close());

function endpoint(tokenUrl: string, allowPrivateAddresses: boolean): TokenEndpoint {
  return new TokenEndpoint({
    tokenUrl,
    ...client,
    authMethod: 'client_secret_basic',
    timeoutMs: 2000,
    allowPrivateAddresses,
    userAgent: 'courier/test',
  });
}

test('a loopback token URL is refused without allowPrivateAddresses, literal or by name', async () => {
  const port = new URL(server.url).port;
  for (const url of [server.url, `http://localhost:${port}/oauth/token`]) {
    const e = endpoint(url, false);
    const result = await e.fetchToken();
    await e.close();
    assert.equal(result.ok, false, url);
    assert.equal(!result.ok && result.code, 'TOKEN_URL_FORBIDDEN', url);
    assert.equal(!result.ok && result.kind, 'revoked', 'a human must fix the configuration');
  }
  assert.equal(server.requests.length, 0, 'no request reached the endpoint');
});

test('with allowPrivateAddresses the same endpoint issues a token', async () => {
  const e = endpoint(server.url, true);
  const result = await e.fetchToken();
  await e.close();
  assert.equal(result.ok, true);
  assert.equal(server.requests.length, 1);
});

test('an unreachable token endpoint is transient', async () => {
  const port = new URL(server.url).port;
  await server.close();
  const e = endpoint(`http://127.0.0.1:${port}/oauth/token`, true);
  const result = await e.fetchToken();
  await e.close();
  assert.equal(!result.ok && result.code, 'TOKEN_ENDPOINT_UNAVAILABLE');
  assert.equal(!result.ok && result.kind, 'transient');
  server = await startTokenServer(client);
});
