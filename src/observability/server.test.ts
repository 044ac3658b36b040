import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { test } from 'node:test';
import { createLogger } from '../telemetry/logger.ts';
import { ObservabilityServer, type Readiness } from './server.ts';

function server(port: number, readiness: Readiness = { ready: true, checks: {} }) {
  return new ObservabilityServer({
    host: '127.0.0.1',
    port,
    logger: createLogger({ level: 'silent' }),
    metrics: async () => ({ contentType: 'text/plain; version=0.0.4', body: 'courier_up 1\n' }),
    readiness: async () => readiness,
  });
}

test('serves metrics, health and readiness read-only; no status page unless enabled', async () => {
  const s = server(0, { ready: false, checks: { redis: { ok: false, detail: 'ECONNREFUSED' } } });
  await s.start();
  try {
    const base = `http://127.0.0.1:${s.port}`;
    assert.equal(await (await fetch(`${base}/metrics`)).text(), 'courier_up 1\n');
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
    const ready = await fetch(`${base}/readyz`);
    assert.equal(ready.status, 503);
    assert.equal(((await ready.json()) as Readiness).checks.redis?.detail, 'ECONNREFUSED');
    assert.equal((await fetch(`${base}/`)).status, 404);
    assert.equal((await fetch(`${base}/metrics`, { method: 'POST' })).status, 405);
  } finally {
    await s.stop();
  }
});

test('a port in use is a clear error with a stable code', async () => {
  const blocker = createServer();
  blocker.listen(0, '127.0.0.1');
  await once(blocker, 'listening');
  try {
    const { port } = blocker.address() as { port: number };
    await assert.rejects(server(port).start(), { code: 'OBSERVABILITY_LISTEN_FAILED' });
  } finally {
    blocker.close();
  }
});
