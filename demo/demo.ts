// `npm run demo`: runs Courier (the real `courier` CLI) against two local receivers — one
// healthy, one that fails now and then — produces a few hundred events and prints, per
// destination, what was delivered, retried and dead-lettered.
import { spawn } from 'node:child_process';
import { mkdirSync, openSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { logLevel } from 'kafkajs';
import { stringify } from 'yaml';
import { parseConfig } from '../src/config/load.ts';
import { ensureTopics } from '../src/kafka/admin.ts';
import { createKafka } from '../src/kafka/client.ts';
import { topicNames, topicPlan } from '../src/kafka/topics.ts';
import type { AttemptRecord } from '../src/telemetry/events.ts';
import { createLogger } from '../src/telemetry/logger.ts';

const ROOT = new URL('..', import.meta.url).pathname;
const DIR = `${ROOT}.demo`;
const EVENTS = Number(process.env.DEMO_EVENTS ?? 300);

function receiver(port: number, answer: (body: { data?: { reject?: boolean } }) => number) {
  let requests = 0;
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => {
      requests += 1;
      let status = 200;
      try {
        status = answer(JSON.parse(body));
      } catch {
        status = 400;
      }
      res
        .writeHead(status, { 'content-type': 'text/plain' })
        .end(status === 200 ? 'ok' : `demo says ${status}`);
    });
  });
  return new Promise<{ close: () => void; requests: () => number }>((resolve) =>
    server.listen(port, '127.0.0.1', () =>
      resolve({ close: () => server.close(), requests: () => requests }),
    ),
  );
}

async function main() {
  mkdirSync(DIR, { recursive: true });
  const run = `demo${Date.now().toString(36)}`;
  const healthy = await receiver(4701, () => 200);
  // Fails a quarter of requests with 503 and rejects events flagged `reject` with 422.
  const flaky = await receiver(4702, (e) => (e.data?.reject ? 422 : Math.random() < 0.25 ? 503 : 200));
  const raw = {
    kafka: { brokers: ['127.0.0.1:9092'], eventsTopic: `${run}-events`, topicPrefix: run },
    redis: { url: 'redis://127.0.0.1:6379' },
    schemaRegistry: { url: 'http://127.0.0.1:8080/apis/ccompat/v7' },
    network: { allowPrivateAddresses: true },
    retryTiers: ['250ms', '1s', '5s'],
    destinations: [
      {
        id: 'analytics',
        url: 'http://127.0.0.1:4701/events',
        eventTypes: ['*'],
        secrets: ['whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'],
        concurrency: 16,
      },
      {
        id: 'billing',
        url: 'http://127.0.0.1:4702/hooks',
        eventTypes: ['order.*'],
        secrets: ['whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'],
        headers: { authorization: 'Bearer demo-token-not-logged' },
        rateLimit: { perSecond: 200, burst: 50 },
        retry: { baseDelayMs: 200, maxDelayMs: 2000, maxAttempts: 5 },
      },
    ],
  };
  const configPath = `${DIR}/courier.yaml`;
  writeFileSync(configPath, stringify(raw));
  const config = parseConfig(raw, { source: configPath });
  const logger = createLogger({ level: 'warn' });
  const kafka = createKafka(config, logger, { logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  await ensureTopics(admin, topicPlan(config));
  await admin.disconnect();
  console.log(`demo: config ${configPath}, topics prefixed ${run}`);

  const logFile = `${DIR}/courier.log`;
  const cli = (args: string[], stdio: 'inherit' | number = 'inherit') =>
    spawn(
      process.execPath,
      ['--disable-warning=TimeoutNegativeWarning', `${ROOT}src/cli/main.ts`, ...args, '--config', configPath],
      {
        stdio: ['ignore', stdio, stdio],
      },
    );
  const courier = cli(['run'], openSync(logFile, 'a'));
  console.log(`demo: courier run started (pid ${courier.pid}), logs in ${logFile}`);

  const orders = Math.round(EVENTS * 0.6);
  const rejects = Math.max(1, Math.round(orders / 20));
  const produce = (args: string[]) =>
    new Promise<void>((resolve, reject) =>
      cli(['produce', ...args]).on('exit', (code) =>
        code === 0 ? resolve() : reject(new Error(`produce exited ${code}`)),
      ),
    );
  await produce([
    '--type',
    'order.created',
    '--data',
    '{"amount":42}',
    '--count',
    String(orders - rejects),
    '--format',
    'avro',
  ]);
  await produce([
    '--type',
    'order.created',
    '--data',
    '{"reject":true}',
    '--count',
    String(rejects),
    '--format',
    'json',
  ]);
  await produce([
    '--type',
    'contact.updated',
    '--data',
    '{"name":"Ada"}',
    '--count',
    String(EVENTS - orders),
    '--format',
    'json',
  ]);

  const expected: Record<string, number> = { analytics: EVENTS, billing: orders };
  // Events, not records: each event counts once per final outcome (a record written twice, or
  // rebuilt after a crash, is still one delivery).
  const tally: Record<
    string,
    {
      delivered: Set<string>;
      retried: number;
      deadLettered: Set<string>;
      rejected: Set<string>;
      records: number;
    }
  > = {
    analytics: { delivered: new Set(), retried: 0, deadLettered: new Set(), rejected: new Set(), records: 0 },
    billing: { delivered: new Set(), retried: 0, deadLettered: new Set(), rejected: new Set(), records: 0 },
  };
  const done = () =>
    Object.entries(expected).every(
      ([d, n]) => (tally[d]?.delivered.size ?? 0) + (tally[d]?.deadLettered.size ?? 0) >= n,
    );
  const consumer = kafka.consumer({ groupId: `${run}-demo-report` });
  await consumer.connect();
  await consumer.subscribe({ topic: topicNames(config).attempts, fromBeginning: true });
  const finished = new Promise<void>((resolve) => {
    void consumer.run({
      eachMessage: async ({ message }) => {
        const a = JSON.parse(String(message.value)) as AttemptRecord;
        const t = tally[a.destination];
        if (!t) return;
        if (a.outcome === 'delivered') {
          t.records += 1;
          t.delivered.add(a.eventId);
        }
        if (a.outcome === 'retry') t.retried += 1;
        if (a.outcome === 'dlq') t.deadLettered.add(a.eventId);
        if (a.outcome === 'dlq' && a.status === 422) t.rejected.add(a.eventId);
        if (done()) resolve();
      },
    });
  });
  const timeout = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), 120_000).unref());
  const result = await Promise.race([finished, timeout]);
  await consumer.disconnect();

  courier.kill('SIGTERM');
  await new Promise((resolve) => courier.on('exit', resolve));
  healthy.close();
  flaky.close();

  console.log('\ndestination   events  delivered  retries  dead-lettered  http requests');
  const wrong: string[] = [];
  for (const [d, t] of Object.entries(tally)) {
    const requests = d === 'analytics' ? healthy.requests() : flaky.requests();
    const events = expected[d] ?? 0;
    console.log(
      `${d.padEnd(13)} ${String(events).padStart(6)}  ${String(t.delivered.size).padStart(9)}  ${String(t.retried).padStart(7)}  ${String(t.deadLettered.size).padStart(13)}  ${String(requests).padStart(13)}`,
    );
    // The table adds up, or the demo says where it does not.
    if (t.delivered.size + t.deadLettered.size !== events)
      wrong.push(
        `${d}: ${t.delivered.size} delivered + ${t.deadLettered.size} dead-lettered ≠ ${events} events`,
      );
    if (t.records !== t.delivered.size)
      wrong.push(`${d}: ${t.records} delivered records for ${t.delivered.size} events`);
    if (d === 'analytics' && requests !== t.delivered.size)
      wrong.push(
        `${d}: ${requests} HTTP requests for ${t.delivered.size} deliveries to a receiver that always answers 200`,
      );
  }
  // A 503 is retried up to maxAttempts (5) times; at a 25 % failure rate about one event in a
  // thousand fails all five and is dead-lettered as well, so the DLQ can hold a few more than
  // the events the receiver rejected on purpose.
  const billing = tally.billing ?? { deadLettered: new Set<string>(), rejected: new Set<string>() };
  const exhausted = billing.deadLettered.size - billing.rejected.size;
  console.log(
    `\nDead letters are on ${topicNames(config).dlq('billing')}: ${billing.rejected.size} of the ${rejects} events flagged \`reject\` were answered 422 and dead-lettered at once` +
      (exhausted > 0
        ? `, and ${exhausted} failed all 5 attempts with 503 (the receiver fails 25 % of requests).`
        : '.'),
  );
  console.log(`Inspect one: npm run courier -- inspect <event id> --config ${configPath}`);
  if (result === 'timeout') {
    console.error('demo: not every event reached a final state within 120 s; see the log');
    process.exitCode = 1;
  } else if (wrong.length > 0) {
    console.error(`demo: the numbers do not add up:\n  ${wrong.join('\n  ')}`);
    process.exitCode = 1;
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
