// `npm run bench:order-trace`: what strict ordering and tracing cost. Each round runs one
// `courier run --workers 1` (its own process) draining a backlog produced before it starts into
// receivers in this process, and reports the drain rate and Courier's CPU per delivery (its
// process tree, from /proc).
//   - tracing: the same 6,000-event backlog with `observability.tracing` off and on (spans
//     exported to an OTLP/HTTP sink here that accepts and counts them), alternating, two rounds
//     each; the ratio on/off of the medians.
//   - strict ordering with one failing key: 6,000 events over 2,000 keys to a `relaxed` and a
//     `strict` destination whose receiver answers 503 to every request of one key for its first
//     5 s; what the other keys paid (produce → receiver, p50/p99) and when the drain finished.

import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { eventKey, nowMs } from './lib/events.ts';
import { type Child, runNode, startNode, stop, stopAll, treeCpuMs } from './lib/procs.ts';
import { BROKERS, closeClients, produceBacklog, REDIS_URL } from './lib/stack.ts';

const ROOT = new URL('..', import.meta.url).pathname;
const CLI = join(ROOT, 'src/cli/main.ts');
const N = Number(process.env.EVENTS ?? 6000);
const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const dir = mkdtempSync(join(tmpdir(), 'courier-order-trace-'));
const log = (line: string) => console.log(`[order-trace ${new Date().toISOString().slice(11, 19)}] ${line}`);

interface Sink {
  url: string;
  server: Server;
  /** Per event id: when it was first answered 2xx (epoch ms). */
  delivered: Map<string, number>;
  requests: number;
}

/** A receiver: 2xx unless `fail` says 503 for this key, given ms since its first request. */
async function receiver(fail: (key: string, sinceFirstMs: number) => boolean = () => false): Promise<Sink> {
  let first: number | undefined;
  const sink: Sink = { url: '', server: createServer(), delivered: new Map(), requests: 0 };
  sink.server.on('request', (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      sink.requests++;
      first ??= nowMs();
      const event = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { id: string; data: { n: number } };
      if (fail(eventKey(event.data.n), nowMs() - first)) {
        res.writeHead(503).end();
        return;
      }
      if (!sink.delivered.has(event.id)) sink.delivered.set(event.id, nowMs());
      res.writeHead(200).end();
    });
  });
  sink.server.listen(0, '127.0.0.1');
  await once(sink.server, 'listening');
  sink.url = `http://127.0.0.1:${(sink.server.address() as { port: number }).port}/hook`;
  return sink;
}

/** An OTLP/HTTP sink: accepts every export, counts the bytes. */
async function otlpSink(): Promise<{ url: string; server: Server; bytes: () => number }> {
  let bytes = 0;
  const server = createServer((req, res) => {
    req.on('data', (c: Buffer) => {
      bytes += c.length;
    });
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    server,
    bytes: () => bytes,
  };
}

/** One drain: topics, a backlog, then `courier run` until every sink has every event. */
async function drain(name: string, destinations: Array<Record<string, unknown>>, sinks: Sink[], extra = {}) {
  const run = `ot${Date.now().toString(36)}${Math.floor(Math.random() * 1e4)}`;
  const config = {
    kafka: {
      brokers: BROKERS,
      eventsTopic: `${run}-events`,
      topicPrefix: run,
      partitions: { events: 6, destination: 6 },
    },
    redis: { url: REDIS_URL },
    network: { allowPrivateAddresses: true },
    retryTiers: ['1s', '5s', '30s'],
    observability: { port: 0, ...extra },
    destinations: destinations.map((d) => ({ secrets: [SECRET], concurrency: 64, ...d })),
  };
  const path = join(dir, `${run}.yaml`);
  writeFileSync(path, stringify(config));
  await runNode({
    name: 'topics',
    args: [CLI, 'topics', '--config', path],
    log: join(dir, `${run}-topics.log`),
  });
  const producedAt = nowMs();
  await produceBacklog({ topic: `${run}-events`, run, count: N });
  const courier: Child = startNode({
    name,
    args: ['--disable-warning=TimeoutNegativeWarning', CLI, 'run', '--workers', '1', '--config', path],
    log: join(dir, `${run}.log`),
    env: { LOG_LEVEL: 'warn' },
  });
  const started = nowMs();
  for (;;) {
    if (sinks.every((s) => s.delivered.size >= N)) break;
    if (nowMs() - started > 300_000) throw new Error(`${name}: not drained in 5 min; see ${courier.log}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const drainedAt = nowMs();
  const cpuMs = treeCpuMs(courier.pid);
  await stop(courier);
  return { producedAt, started, drainedAt, cpuMs, seconds: (drainedAt - started) / 1000 };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] as number;
};

try {
  // --- tracing off and on -----------------------------------------------------------------
  const otlp = await otlpSink();
  const rounds: Record<'off' | 'on', Array<{ perSecond: number; cpuPerDelivery: number }>> = {
    off: [],
    on: [],
  };
  for (const mode of ['off', 'on', 'off', 'on'] as const) {
    const sink = await receiver();
    const tracing = mode === 'on' ? { tracing: { endpoint: otlp.url } } : {};
    const r = await drain(`tracing-${mode}`, [{ id: 'd', url: sink.url }], [sink], tracing);
    const round = { perSecond: N / r.seconds, cpuPerDelivery: r.cpuMs / N };
    rounds[mode].push(round);
    log(
      `tracing ${mode}: ${Math.round(round.perSecond)} deliveries/s, ${round.cpuPerDelivery.toFixed(3)} ms CPU per delivery`,
    );
    sink.server.close();
  }
  const off = {
    rate: median(rounds.off.map((r) => r.perSecond)),
    cpu: median(rounds.off.map((r) => r.cpuPerDelivery)),
  };
  const on = {
    rate: median(rounds.on.map((r) => r.perSecond)),
    cpu: median(rounds.on.map((r) => r.cpuPerDelivery)),
  };
  log(
    `tracing: off ${Math.round(off.rate)}/s at ${off.cpu.toFixed(3)} ms CPU; on ${Math.round(on.rate)}/s at ${on.cpu.toFixed(3)} ms CPU (${(on.rate / off.rate).toFixed(2)} × the rate, +${(on.cpu - off.cpu).toFixed(3)} ms CPU per delivery); ${Math.round(otlp.bytes() / 1024)} KiB of spans exported`,
  );
  otlp.server.close();

  // --- strict ordering with one failing key ----------------------------------------------------
  const FAILING_KEY = eventKey(7);
  const failing5s = (key: string, sinceFirstMs: number) => key === FAILING_KEY && sinceFirstMs < 5000;
  for (const ordering of ['relaxed', 'strict'] as const) {
    const sink = await receiver(failing5s);
    const r = await drain(`ordering-${ordering}`, [{ id: 'd', url: sink.url, ordering }], [sink]);
    // The others: from when Courier started (the backlog was there) to each event's delivery.
    const others = [...sink.delivered]
      .filter(([id]) => eventKey(Number(id.split('-').pop())) !== FAILING_KEY)
      .map(([, at]) => at - r.started);
    const failing = [...sink.delivered]
      .filter(([id]) => eventKey(Number(id.split('-').pop())) === FAILING_KEY)
      .map(([, at]) => at - r.started);
    log(
      `${ordering}: drained ${N} in ${r.seconds.toFixed(1)} s (${Math.round(N / r.seconds)}/s, ${(r.cpuMs / N).toFixed(3)} ms CPU per delivery); other keys delivered p50 ${Math.round(median(others))} ms, p99 ${Math.round(quantile(others, 0.99))} ms after the start; the failing key's ${failing.length} events done at ${Math.round(Math.max(...failing))} ms; ${sink.requests - N} requests answered 503`,
    );
    sink.server.close();
  }
} finally {
  await stopAll();
  await closeClients();
}
