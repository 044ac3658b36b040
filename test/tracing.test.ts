// OpenTelemetry tracing end to end: an event produced with a W3C `traceparent` Kafka header (and
// one carrying it as its CloudEvents extension) is routed and delivered under that trace. A
// loopback OTLP/HTTP collector receives the routing span (messaging conventions) and one span per
// attempt (HTTP client conventions), all with the producer's trace id; the receiver's
// `traceparent` carries it too, on the retry after a 503 and on a replay of a dead letter; the
// attempt records keep it for `courier inspect`.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, test } from 'node:test';
import { courierCli, writeConfig } from './helpers/cli.ts';
import { type RunningCourier, startCourier } from './helpers/courier.ts';
import { readDlq } from './helpers/dlq.ts';
import { type ReceivedRequest, startReceiver } from './helpers/receiver.ts';
import { produceRaw, provision, testConfig, waitFor } from './helpers/stack.ts';

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes: Array<{ key: string; value: Record<string, unknown> }>;
}

/** A loopback OTLP/HTTP (JSON) collector: every span posted to /v1/traces. */
async function collector() {
  const spans: OtlpSpan[] = [];
  const paths: string[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      paths.push(`${req.method} ${req.url} ${req.headers['content-type']}`);
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
        resourceSpans: Array<{ scopeSpans: Array<{ spans: OtlpSpan[] }> }>;
      };
      for (const r of body.resourceSpans) for (const s of r.scopeSpans) spans.push(...s.spans);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, spans, paths, server };
}

const attr = (s: OtlpSpan, key: string) => {
  const v = s.attributes.find((a) => a.key === key)?.value;
  return v ? Object.values(v)[0] : undefined;
};

let courier: RunningCourier | undefined;
after(async () => {
  await courier?.stop();
});

test("routing and every attempt join the producer's trace; the receiver gets it, after a retry and a replay too", async () => {
  const otlp = await collector();
  const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
  const FROM_EXTENSION = '0af7651916cd43dd8448eb211c80319c';
  // trace-retry: 503 once; trace-dead: 422 once (dead-lettered, then replayed); trace-ext: fine.
  let rejected = false;
  const receiver = await startReceiver((r: ReceivedRequest) => {
    if (r.json.id === 'trace-retry' && r.nth === 1) return { status: 503 };
    if (r.json.id === 'trace-dead' && !rejected) {
      rejected = true;
      return { status: 422 };
    }
    return { status: 200 };
  });
  const config = testConfig([{ id: 'traced', url: receiver.url }], {
    observability: { tracing: { endpoint: otlp.url, serviceName: 'courier-test' } },
  });
  await provision(config);
  courier = await startCourier(config);
  const event = (id: string, extra: Record<string, unknown> = {}) =>
    JSON.stringify({ specversion: '1.0', id, type: 'order.updated', source: 'test', data: {}, ...extra });
  await produceRaw(config, [
    { key: 'a', value: event('trace-retry'), headers: { traceparent: `00-${TRACE}-00f067aa0ba902b7-01` } },
    { key: 'b', value: event('trace-dead'), headers: { traceparent: `00-${TRACE}-00f067aa0ba902b8-01` } },
    { key: 'c', value: event('trace-ext', { traceparent: `00-${FROM_EXTENSION}-b7ad6b7169203331-01` }) },
  ]);
  await readDlq(config, 'traced', 1, 20_000);
  const replay = await courierCli([
    'replay',
    '--destination',
    'traced',
    '--event',
    'trace-dead',
    '--config',
    writeConfig(config),
  ]);
  assert.equal(replay.code, 0, replay.stdout + replay.stderr);
  await waitFor(() => new Set(receiver.accepted.map((r) => r.json.id)).size === 3, {
    message: 'all three delivered',
  });

  // The receiver: every request carries a traceparent of its event's trace.
  const traceOf = (r: ReceivedRequest) => String(r.headers.traceparent ?? '').split('-')[1];
  for (const r of receiver.requests) {
    assert.equal(traceOf(r), r.json.id === 'trace-ext' ? FROM_EXTENSION : TRACE, `${r.json.id} #${r.nth}`);
  }
  assert.equal(receiver.requests.filter((r) => r.json.id === 'trace-retry').length, 2, 'the retry');
  assert.equal(receiver.requests.filter((r) => r.json.id === 'trace-dead').length, 2, 'the replay');

  // The collector: a routing span per event and a span per attempt, in the producer's trace.
  await waitFor(() => otlp.spans.filter((s) => s.kind === 3).length >= 5, {
    message: () => `attempt spans exported (${otlp.spans.map((s) => `${s.name}/${s.kind}`).join(', ')})`,
    timeoutMs: 20_000,
  });
  assert.ok(
    otlp.paths.every((p) => p.startsWith('POST /v1/traces')),
    otlp.paths.join('; '),
  );
  const routing = otlp.spans.filter((s) => s.kind === 5);
  const attempts = otlp.spans.filter((s) => s.kind === 3);
  assert.deepEqual(routing.map((s) => s.traceId).sort(), [TRACE, TRACE, FROM_EXTENSION].sort());
  for (const s of routing) {
    assert.equal(attr(s, 'messaging.system'), 'kafka');
    assert.equal(attr(s, 'messaging.destination.name'), config.kafka.eventsTopic);
    assert.ok(s.parentSpanId, 'under the producer span');
  }
  assert.equal(
    attempts.filter((s) => s.traceId === TRACE).length,
    4,
    'two for the retried event, two for the replayed one',
  );
  for (const s of attempts) {
    assert.equal(attr(s, 'http.request.method'), 'POST');
    assert.equal(attr(s, 'url.full'), receiver.url);
    assert.ok(
      routing.some((r) => r.spanId === s.parentSpanId),
      `${s.name}: a child of its routing span`,
    );
  }
  const statuses = attempts.map((s) => Number(attr(s, 'http.response.status_code'))).sort((a, b) => a - b);
  assert.deepEqual(statuses, [200, 200, 200, 422, 503]);
  const resent = attempts.filter((s) => attr(s, 'http.request.resend_count') !== undefined);
  assert.ok(resent.length >= 1, 'the retry says it resends');

  // The delivery log keeps the trace id of each attempt.
  await waitFor(
    () => courier?.attempts.some((a) => a.eventId === 'trace-ext' && a.outcome === 'delivered') ?? false,
    {
      message: 'records',
    },
  );
  for (const a of courier.attempts.filter((x) => x.attempt > 0 && x.outcome !== 'duplicate-skipped')) {
    assert.equal(
      a.traceId,
      a.eventId === 'trace-ext' ? FROM_EXTENSION : TRACE,
      `${a.eventId} #${a.attempt} ${a.outcome}`,
    );
  }
  await receiver.close();
  otlp.server.close();
});
