// Crash safety, as a ledger: thousands of events fan out to three destinations (one healthy, one
// failing 30 % of requests with 503, one that sometimes processes a request and then stalls past
// Courier's timeout) while two `courier run` processes are killed with SIGKILL, restarted, and
// rebalanced (one also leaves gracefully). At the end every (event, destination) pair was
// received by the destination or sits in its DLQ with a reason; none is missing; every pair
// delivered has its `delivered` record in the delivery log; and every duplicate a receiver
// processed carries the first copy's webhook-id and is explained by what Courier itself recorded
// of the earlier copy (matched by its signed headers): an attempt whose outcome was unknown (a
// timeout), or no record at all because its process was SIGKILLed before writing one. A duplicate
// after a copy Courier recorded as delivered is a defect.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { after, test } from 'node:test';
import type { CourierConfig } from '../src/config/schema.ts';
import { stringHeaders } from '../src/kafka/headers.ts';
import { topicNames } from '../src/kafka/topics.ts';
import type { AttemptRecord } from '../src/telemetry/events.ts';
import { CourierProcesses, writeConfig } from './helpers/cli.ts';
import { eventJson } from './helpers/measure.ts';
import { type Behaviour, type Receiver, startReceiver } from './helpers/receiver.ts';
import {
  createKafkaForTest,
  produceRaw,
  provision,
  testConfig,
  uniqueName,
  waitFor,
} from './helpers/stack.ts';

const N = Number(process.env.LEDGER_EVENTS ?? 3000);
const STALL_TIMEOUT_MS = 400;
/** A request written just before the SIGKILL still reaches the receiver a moment after it. */
const KILL_ARRIVAL_MS = 1_000;

const courier = new CourierProcesses();
const receivers: Receiver[] = [];
after(async () => {
  courier.killAll();
  for (const r of receivers) await r.close();
});

interface Processed {
  webhookId: string;
  eventId: string;
  at: number;
  stalled: boolean;
  /** The signed headers, by which the attempt record of this very send is found. */
  sent: string;
}

/** One send's identity: its webhook-id, timestamp and signature (what the attempt record keeps). */
const sendKey = (id: string, timestamp: string, signature: string) => `${id}|${timestamp}|${signature}`;

/** A receiver that remembers what it processed (answered 2xx, or processed and then stalled). */
async function ledgerReceiver(decide: (nth: number) => 'ok' | 'fail' | 'stall') {
  const processed: Processed[] = [];
  let requests = 0;
  const behaviour: Behaviour = (req) => {
    requests++;
    const verdict = decide(req.nth);
    if (verdict === 'fail') return { status: 503, body: 'try later' };
    processed.push({
      webhookId: String(req.headers['webhook-id']),
      eventId: req.json.id,
      at: req.at,
      stalled: verdict === 'stall',
      sent: sendKey(
        String(req.headers['webhook-id']),
        String(req.headers['webhook-timestamp']),
        String(req.headers['webhook-signature']),
      ),
    });
    return verdict === 'stall' ? { status: 200, delayMs: STALL_TIMEOUT_MS + 600 } : { status: 200 };
  };
  const receiver = await startReceiver(behaviour);
  receivers.push(receiver);
  return { receiver, processed, requests: () => requests };
}

test(`ledger: ${N} events x 3 destinations survive kills, restarts and rebalances`, {
  timeout: 420_000,
}, async () => {
  const ok = await ledgerReceiver(() => 'ok');
  const flaky = await ledgerReceiver(() => (Math.random() < 0.3 ? 'fail' : 'ok'));
  const stall = await ledgerReceiver((nth) => (nth === 1 && Math.random() < 0.05 ? 'stall' : 'ok'));
  const sinks = { ok, flaky, stall };
  const config = testConfig(
    [
      { id: 'ok', url: ok.receiver.url, concurrency: 8 },
      // Three attempts: about 0.3^3 = 2.7 % of its events exhaust the budget and are dead-lettered.
      {
        id: 'flaky',
        url: flaky.receiver.url,
        concurrency: 8,
        retry: { baseDelayMs: 50, maxDelayMs: 400, maxAttempts: 3, jitter: 0.25 },
      },
      { id: 'stall', url: stall.receiver.url, concurrency: 8, timeoutMs: STALL_TIMEOUT_MS },
    ],
    {
      kafka: {
        brokers: ['127.0.0.1:9092'],
        sessionTimeoutMs: 6000,
        partitions: { events: 4, destination: 4 },
      },
    },
  );
  await provision(config);
  const path = writeConfig(config);
  const ids = Array.from({ length: N }, (_, i) => `ledger-${i}`);

  // Dead letters, collected as they arrive: destination -> event id -> error class.
  const names = topicNames(config);
  const dead = new Map<string, Map<string, string>>(Object.keys(sinks).map((d) => [d, new Map()]));
  const dlqReader = createKafkaForTest(config).consumer({
    groupId: uniqueName('ledger-dlq'),
    maxWaitTimeInMs: 200,
  });
  await dlqReader.connect();
  try {
    await ledger();
  } finally {
    courier.killAll();
    await dlqReader.disconnect();
  }

  async function ledger(): Promise<void> {
    await dlqReader.subscribe({ topics: Object.keys(sinks).map((d) => names.dlq(d)), fromBeginning: true });
    await dlqReader.run({
      eachMessage: async ({ message }) => {
        const h = stringHeaders(message.headers);
        dead
          .get(h['courier-destination'] ?? '')
          ?.set(h['courier-event-id'] ?? '', h['courier-error-class'] ?? '');
      },
    });

    const progress = () =>
      Object.entries(sinks)
        .map(
          ([d, s]) =>
            `${d} ${new Set(s.processed.map((p) => p.eventId)).size} received + ${dead.get(d)?.size} DLQ`,
        )
        .join(', ') + `; instances alive: ${courier.alive()}`;
    const uniqueProcessed = () =>
      Object.values(sinks).reduce((n, s) => n + new Set(s.processed.map((p) => p.eventId)).size, 0);
    const started = Date.now();
    let a: ChildProcess = courier.start(path);
    let b: ChildProcess = courier.start(path);
    await produceRaw(
      config,
      ids.map((id, i) => ({
        key: `customer-${i % 200}`,
        value: eventJson(id, 'order.updated', { i }),
      })),
    );

    // Each step waits until a share of the 3N pairs was processed, then disturbs one instance.
    const kills: number[] = [];
    const disturbances: string[] = [];
    const steps: Array<[number, 'a' | 'b', 'SIGKILL' | 'SIGTERM']> = [
      [0.15, 'a', 'SIGKILL'],
      [0.3, 'b', 'SIGKILL'],
      [0.45, 'a', 'SIGTERM'],
      [0.6, 'a', 'SIGKILL'],
      [0.75, 'b', 'SIGKILL'],
    ];
    for (const [share, which, signal] of steps) {
      await waitFor(() => uniqueProcessed() >= share * 3 * N, {
        timeoutMs: 120_000,
        intervalMs: 50,
        message: () => `${Math.round(share * 100)} % of the pairs processed (${progress()})`,
      });
      const victim = which === 'a' ? a : b;
      if (signal === 'SIGKILL') kills.push(Date.now());
      disturbances.push(`${signal} ${which} at ${Date.now()}`);
      await courier.stop(victim, signal);
      if (which === 'a') a = courier.start(path);
      else b = courier.start(path);
    }

    const missing = (dest: keyof typeof sinks) => {
      const got = new Set(sinks[dest].processed.map((p) => p.eventId));
      const dlq = dead.get(dest) ?? new Map();
      return ids.filter((id) => !got.has(id) && !dlq.has(id));
    };
    await waitFor(() => (['ok', 'flaky', 'stall'] as const).every((d) => missing(d).length === 0), {
      timeoutMs: 180_000,
      intervalMs: 200,
      message: () => `every pair received or dead-lettered (${progress()})`,
    });
    const elapsedS = (Date.now() - started) / 1000;
    await Promise.all([courier.stop(a, 'SIGTERM'), courier.stop(b, 'SIGTERM')]);

    // The delivery log, whole: what Courier recorded of every send.
    const attempts = await readAttempts(config);
    const recordsOf = new Map<string, AttemptRecord[]>();
    const deliveredPairs = new Set<string>();
    for (const r of attempts) {
      if (r.outcome === 'delivered') deliveredPairs.add(`${r.destination}|${r.eventId}`);
      if (!r.request) continue;
      const key = `${r.destination}|${sendKey(r.request.webhookId, r.request.webhookTimestamp, r.request.webhookSignature)}`;
      const list = recordsOf.get(key);
      if (list) list.push(r);
      else recordsOf.set(key, [r]);
    }
    /**
     * Why a copy was sent again, from Courier's own records of the earlier copies: one whose
     * outcome Courier did not know (a timeout, a reset) or whose process died before recording it
     * (no record, and a SIGKILL after it reached the receiver). Undefined: an earlier copy was
     * recorded as delivered, and it was sent again anyway.
     */
    const cause = (dest: string, earlier: Processed[]): 'unknown-outcome' | 'kill' | undefined => {
      let why: 'unknown-outcome' | 'kill' | undefined;
      for (const e of earlier) {
        const records = recordsOf.get(`${dest}|${e.sent}`) ?? [];
        if (records.length === 0) {
          if (kills.some((k) => k >= e.at - KILL_ARRIVAL_MS)) why ??= 'kill';
          else return undefined;
        } else if (records.some((r) => r.unknownOutcome)) {
          why = 'unknown-outcome';
        } else return undefined;
      }
      return why;
    };
    const lines: string[] = [];
    let unexplained = 0;
    for (const [dest, sink] of Object.entries(sinks)) {
      const byId = new Map<string, Processed[]>();
      for (const p of sink.processed) {
        const copies = byId.get(p.eventId);
        if (copies) copies.push(p);
        else byId.set(p.eventId, [p]);
      }
      const causes = { 'unknown-outcome': 0, kill: 0 };
      for (const [id, copies] of byId) {
        for (const [n, copy] of copies.entries()) {
          assert.equal(copy.webhookId, id, `${dest}: a copy of ${id} has another webhook-id`);
          if (n === 0) continue;
          const why = cause(dest, copies.slice(0, n));
          if (why) causes[why]++;
          else {
            unexplained++;
            const seen = copies
              .slice(0, n + 1)
              .map(
                (c) =>
                  `${c.at} ${JSON.stringify((recordsOf.get(`${dest}|${c.sent}`) ?? []).map((r) => [r.attempt, r.outcome, r.at]))}`,
              );
            console.log(
              `${dest}: unexplained duplicate of ${id}: copies ${seen.join(' · ')}; ${disturbances.join(', ')}`,
            );
          }
        }
      }
      const dlq = dead.get(dest) ?? new Map<string, string>();
      for (const [id, reason] of dlq) assert.ok(reason, `${dest}: dead letter ${id} has an error class`);
      // Every pair delivered (answered 2xx in time, not dead-lettered) has its delivered record.
      // (A pair whose only copies stalled past the timeout is, for Courier, a retry under way.)
      const answered = new Set(sink.processed.filter((p) => !p.stalled).map((p) => p.eventId));
      const unrecorded = [...answered].filter((id) => !dlq.has(id) && !deliveredPairs.has(`${dest}|${id}`));
      for (const id of unrecorded.slice(0, 5)) {
        console.log(
          `${dest}: ${id} copies ${JSON.stringify(byId.get(id)?.map((c) => [c.at, c.stalled, c.sent.split('|')[1]]))} records ${JSON.stringify(attempts.filter((r) => r.eventId === id && r.destination === dest).map((r) => [r.attempt, r.outcome, r.at, r.request?.webhookTimestamp, r.unknownOutcome, r.rebuilt]))}; kills ${kills.join(',')}`,
        );
      }
      assert.deepEqual(
        unrecorded.slice(0, 20),
        [],
        `${dest}: ${unrecorded.length} deliveries without a delivered record`,
      );
      const both = [...dlq.keys()].filter((id) => byId.has(id)).length;
      lines.push(
        `${dest}: ${sink.requests()} requests, ${byId.size} received, ${dlq.size} dead-lettered ` +
          `(${[...new Set(dlq.values())].join(', ') || 'none'}; ${both} of them also received), ` +
          `${sink.processed.length - byId.size} duplicates (${causes['unknown-outcome']} after an unknown outcome, ${causes.kill} after a kill)`,
      );
    }
    console.log(
      `ledger: ${N} events x 3 destinations in ${elapsedS.toFixed(1)} s; ${kills.length} SIGKILLs, 1 graceful leave, ` +
        `5 restarts; missing 0\n  ${lines.join('\n  ')}`,
    );
    assert.equal(unexplained, 0, 'every duplicate follows an unknown outcome');
  }
});

/** Every attempt record of the run, from the attempts topic. */
async function readAttempts(config: CourierConfig): Promise<AttemptRecord[]> {
  const kafka = createKafkaForTest(config);
  const admin = kafka.admin();
  await admin.connect();
  const ends = await admin.fetchTopicOffsets(topicNames(config).attempts);
  await admin.disconnect();
  const total = ends.reduce((n, p) => n + Number(p.high), 0);
  const out: AttemptRecord[] = [];
  const consumer = kafka.consumer({ groupId: uniqueName('ledger-attempts'), maxWaitTimeInMs: 100 });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic: topicNames(config).attempts, fromBeginning: true });
    let read = 0;
    await consumer.run({
      eachMessage: async ({ message }) => {
        read++;
        if (message.value) out.push(JSON.parse(message.value.toString('utf8')) as AttemptRecord);
      },
    });
    await waitFor(() => read >= total, {
      timeoutMs: 60_000,
      message: () => `${total} attempt records (${read})`,
    });
  } finally {
    await consumer.disconnect();
  }
  return out;
}
