// A stop always stops: SIGTERM while a receiver and an OAuth2 token endpoint hang (their own
// timeouts far beyond the bound) ends `courier run` within `shutdownTimeoutMs`, one process or a
// supervisor with two workers; what was in flight is not lost — a restart delivers every event.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, test } from 'node:test';
import { CourierProcesses, type LogLine, writeConfig } from './helpers/cli.ts';
import { eventJson } from './helpers/measure.ts';
import { startReceiver } from './helpers/receiver.ts';
import { produceRaw, provision, testConfig, waitFor } from './helpers/stack.ts';

const processes = new CourierProcesses();
after(() => processes.killAll());

const BOUND_MS = 4_000;

/** An HTTP server that leaves every request unanswered while `hanging`, and otherwise calls `answer`. */
async function hangingServer(answer: (req: IncomingMessage, res: ServerResponse, body: string) => void) {
  const state = { hanging: true, seen: 0, open: new Set<ServerResponse>() };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      state.seen += 1;
      if (state.hanging) {
        state.open.add(res);
        res.on('close', () => state.open.delete(res));
        return;
      }
      answer(req, res, Buffer.concat(chunks).toString('utf8'));
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    state,
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    close: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

async function scenario(workers: number): Promise<void> {
  const delivered = new Set<string>();
  const seenOk = (body: string) => {
    try {
      delivered.add(`slow:${(JSON.parse(body) as { id: string }).id}`);
    } catch {}
  };
  // The slow receiver records what it finally accepts.
  const slow = await hangingServer((_req, res, body) => {
    seenOk(body);
    res.end('ok');
  });
  const tokens = await hangingServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ access_token: 'tok-1', token_type: 'Bearer', expires_in: 3600 }));
  });
  const tokReceiver = await startReceiver();
  const config = testConfig(
    [
      { id: 'slow', url: slow.url, timeoutMs: 120_000 },
      {
        id: 'tok',
        url: tokReceiver.url,
        auth: { type: 'oauth2', tokenUrl: tokens.url, clientId: 'c', clientSecret: 's', timeoutMs: 60_000 },
      },
    ],
    { shutdownTimeoutMs: BOUND_MS, kafka: { sessionTimeoutMs: 6000 } },
  );
  await provision(config);
  const path = writeConfig(config);
  const logs: LogLine[] = [];
  let child = processes.start(path, ['--workers', String(workers)], { logLevel: 'info', logs });
  try {
    await waitFor(() => logs.filter((l) => l.msg === 'courier started').length === workers, {
      message: 'courier started',
      timeoutMs: 60_000,
    });
    const ids = Array.from({ length: 6 }, (_, i) => `stop-${workers}-${i}`);
    await produceRaw(
      config,
      ids.map((id, i) => ({ key: `k${i}`, value: eventJson(id) })),
    );
    // Both hang now: requests open at the receiver, a token request open at the endpoint.
    await waitFor(() => slow.state.open.size > 0 && tokens.state.open.size > 0, {
      message: () =>
        `open requests: receiver ${slow.state.open.size}, token endpoint ${tokens.state.open.size}`,
      timeoutMs: 60_000,
    });

    const sentAt = Date.now();
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    const [code] = (await exited) as [number | null];
    const tookMs = Date.now() - sentAt;
    assert.equal(code, 0, 'a bounded stop is a clean exit');
    // The receiver's timeout is 120 s and the token endpoint's 60 s: only the bound ends this.
    assert.ok(tookMs < BOUND_MS + 10_000, `exited ${tookMs} ms after SIGTERM (bound ${BOUND_MS} ms)`);
    assert.ok(
      logs.some((l) => l.msg.startsWith('stop deadline reached')),
      'the stop says it cut what was under way',
    );
    assert.equal(slow.state.open.size, 0, 'the receiver requests were cut, not left open');

    // Nothing was lost: once both answer, a new courier run delivers every event to both.
    slow.state.hanging = false;
    tokens.state.hanging = false;
    child = processes.start(path, ['--workers', String(workers)], { logLevel: 'warn' });
    await waitFor(
      () =>
        ids.every((id) => delivered.has(`slow:${id}`)) &&
        ids.every((id) => tokReceiver.accepted.some((r) => r.json.id === id)),
      {
        message: () =>
          `every event at both after the restart: slow ${[...delivered].length}, tok ${tokReceiver.accepted.length}`,
        timeoutMs: 90_000,
      },
    );
  } finally {
    await processes.stop(child, 'SIGTERM').catch(() => {});
    await slow.close();
    await tokens.close();
    await tokReceiver.close();
  }
}

test('SIGTERM while a receiver and a token endpoint hang: one process exits within shutdownTimeoutMs', () =>
  scenario(1));

test('the same with --workers 2: the supervisor exits once its workers have, within the bound', () =>
  scenario(2));
