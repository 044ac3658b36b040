// `npm run bench`: Courier measured from outside, side by side with what the machine allows.
// Every system runs in its own process and delivers the same bodies to one receiver process:
//   ceiling — bare undici POSTs (64 connections), no Kafka;
//   plain   — a kafkajs eachBatch consumer with concurrent POSTs, no Redis, no safety;
//   courier — `courier run` (all safeties on, default workers) draining the same backlog;
// then fan-out to 10 destinations, produce→receiver latency at a fixed rate, RSS behind a paused
// destination holding a large backlog and a rate-limited drain, Redis bytes per delivery, and a
// scale-out: a second `courier run` joining one that serves 50 destinations mid-stream; and the
// router's cost of operators' expressions: `courier run --roles router` routing a backlog to 60
// destinations, 50 with filters and 10 with transforms, beside the same 60 without.
// Prints a table and one JSON line; asserts nothing (targets are printed, not enforced).
// Sizes come from the environment: BENCH_EVENTS, BENCH_FANOUT_EVENTS, BENCH_BACKLOG,
// BENCH_LATENCY_S, BENCH_HOLD_S, BENCH_DRAIN_S, BENCH_CONCURRENCY, BENCH_SCALEOUT_RATE,
// BENCH_ROUTER_EVENTS, BENCH_SKIP=a,b (phases: ceiling, plain, courier, memory, latency, fanout,
// backlog, scaleout, router).
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { COURIER_CLI, courierRunArgs, metricValue } from './lib/courier.ts';
import { eventBody, nowMs } from './lib/events.ts';
import {
  type Child,
  isRunning,
  killAllNow,
  RssSampler,
  runNode,
  startNode,
  stop,
  stopAll,
  treeCpuMs,
  treeHwmMiB,
} from './lib/procs.ts';
import {
  BROKERS,
  cleanupRun,
  closeClients,
  createTopic,
  getAdmin,
  produceBacklog,
  producePaced,
  REDIS_URL,
  raiseMaxMessageBytes,
  readTopic,
  redisCalls,
  redisCounters,
  redisFootprint,
  redisKeyCount,
  topicMessages,
} from './lib/stack.ts';
import { busiestCalendarSecond, busiestWindow, percentile, round, steadyRate } from './lib/stats.ts';

const env = process.env;
const EVENTS = Number(env.BENCH_EVENTS ?? 20_000);
// The ceiling is cheap: three times as many requests give it a steady span long enough to be
// less at the mercy of a busy neighbour on a shared machine.
const CEILING_EVENTS = Number(env.BENCH_CEILING_EVENTS ?? EVENTS * 3);
const FANOUT_EVENTS = Number(env.BENCH_FANOUT_EVENTS ?? 5_000);
const FANOUT_DESTINATIONS = 10;
const BACKLOG = Number(env.BENCH_BACKLOG ?? 200_000);
// Each rate is one latency run (the issue's targets: p99 ≤ 10 ms at 200/s, ≤ 25 ms at 1,000/s).
const LATENCY_RATES = (env.BENCH_LATENCY_RATES ?? env.BENCH_LATENCY_RATE ?? '200,1000')
  .split(',')
  .map(Number)
  .filter((r) => r > 0);
/** The p99 target at a rate: 10 ms up to 200/s, 25 ms above. */
const p99TargetMs = (rate: number) => (rate <= 200 ? 10 : 25);
const LATENCY_S = Number(env.BENCH_LATENCY_S ?? 12);
const HOLD_S = Number(env.BENCH_HOLD_S ?? 10);
const DRAIN_S = Number(env.BENCH_DRAIN_S ?? 10);
const CONCURRENCY = Number(env.BENCH_CONCURRENCY ?? 64);
const CONNECTIONS = 64;
const SCALEOUT_DESTINATIONS = 50;
const SCALEOUT_RATE = Number(env.BENCH_SCALEOUT_RATE ?? 10); // events/s, each to every destination
const SCALEOUT_S = 40;
const ROUTER_EVENTS = Number(env.BENCH_ROUTER_EVENTS ?? 20_000);
const ROUTER_FILTERS = 50;
const ROUTER_TRANSFORMS = 10;
/** The repository (for its tools). */
const ROOT_DIR = new URL('..', import.meta.url).pathname;
/** Destinations the router phase fans out to. */
const ROUTER_DESTINATIONS = 60;
/** The local stack's data (stack/stack.sh): segment sizes are read from its broker's log directory. */
const STACK_DATA = env.COURIER_STACK_DIR ?? new URL('../.stack', import.meta.url).pathname;
const ROUTER_ROUNDS = Number(env.BENCH_ROUTER_ROUNDS ?? 2);
const RATE = { perSecond: 500, burst: 50 };
// Opt-in workaround: a router that forwards a whole fetched batch in one produce request can
// exceed the broker's 1 MB batch limit when a backlog waits; raising the limit on the run's own
// topics lets the rest of the bench measure such a version (say so when quoting its figures).
const TOPIC_MAX_BYTES = Number(env.BENCH_TOPIC_MAX_BYTES ?? 0);
// Escape hatches for comparing versions: extra `courier run` arguments (e.g. `--workers 1`) and a
// JSON object merged into every generated configuration's top level.
const COURIER_ARGS = (env.BENCH_COURIER_ARGS ?? '').split(/\s+/).filter(Boolean);
// Node flags for every `courier run`, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` to profile it.
const COURIER_NODE_ARGS = (env.BENCH_COURIER_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);
const COURIER_CONFIG = JSON.parse(env.BENCH_COURIER_CONFIG_JSON ?? '{}') as Record<string, unknown>;
const SKIP = new Set((env.BENCH_SKIP ?? '').split(',').map((s) => s.trim()));
const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';

const ROOT = new URL('..', import.meta.url).pathname;
const run = `bench${randomBytes(3).toString('hex')}`;
const dir = mkdtempSync(join(tmpdir(), `courier-${run}-`));
const log = (line: string) => console.error(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------- receiver -------------------

let receiverUrl = '';
let receiverPid = 0;

async function receiver<T>(path: string): Promise<T> {
  const res = await request(`${receiverUrl}/_bench/${path}`, { method: path === 'reset' ? 'POST' : 'GET' });
  return (await res.body.json()) as T;
}

interface Report {
  arrivals: number[];
  latencies: number[];
  duplicates: number;
  perPath: Record<string, number>;
}

async function startReceiver(): Promise<Child> {
  const child = startNode({
    name: 'receiver',
    args: [join(ROOT, 'bench/receiver.ts')],
    log: join(dir, 'receiver.log'),
    ipc: true,
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.proc.once('message', (m) => resolve((m as { port: number }).port));
    child.exited.then(() => reject(new Error('receiver exited at start')));
  });
  receiverUrl = `http://127.0.0.1:${port}`;
  receiverPid = child.pid;
  // Warm the receiver's JIT up (every path: ids, produce times) so the first system measured does
  // not pay for it: with a few thousand requests only, the ceiling measured below the plain consumer.
  await Promise.all(
    Array.from({ length: 16 }, async (_, lane) => {
      for (let i = 0; i < 1250; i++) {
        const n = lane * 1250 + i;
        const res = await request(`${receiverUrl}/${run}/warm-up`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'webhook-id': `warm-${n}` },
          body: eventBody(run, n, nowMs()),
        });
        await res.body.dump();
      }
    }),
  );
  await receiver('reset');
  return child;
}

// ---------------------------------------------------------------- measuring ------------------

interface Drain {
  deliveries: number;
  perSecond: number;
  steadySeconds: number;
  cpuMsPerDelivery: number;
  /** The receiver's own CPU per request: tells whether the receiver bounds a figure. */
  receiverCpuMsPerDelivery: number;
  peakRssMiB: number;
  peakProcessRssMiB: number;
  hwmSumMiB: number;
  processes: number;
  duplicates: number;
  perPath: Record<string, number>;
}

/**
 * Waits until the receiver has `expected` requests, sampling the system's CPU when 10 % and 90 %
 * of them have arrived and its RSS all along. Fails fast when the system exits or stalls.
 */
async function measureDrain(system: Child, expected: number, options: { allowExit?: boolean } = {}) {
  const rss = new RssSampler(() => [system.pid]);
  let exited = false;
  system.exited.then(() => {
    exited = true;
  });
  let mark10: { cpu: number; receiverCpu: number; count: number } | undefined;
  let mark90: { cpu: number; receiverCpu: number; count: number } | undefined;
  let hwm = 0;
  let last = { count: -1, at: Date.now() };
  try {
    for (;;) {
      const { count } = await receiver<{ count: number }>('count');
      if (!mark10 && count >= expected * 0.1)
        mark10 = { cpu: treeCpuMs(system.pid), receiverCpu: treeCpuMs(receiverPid), count };
      if (!mark90 && count >= expected * 0.9) {
        mark90 = { cpu: treeCpuMs(system.pid), receiverCpu: treeCpuMs(receiverPid), count };
        hwm = treeHwmMiB(system.pid);
      }
      if (count >= expected) break;
      if (exited && !options.allowExit) throw new Error(`${system.name} exited; see ${system.log}`);
      if (count !== last.count) last = { count, at: Date.now() };
      else if (Date.now() - last.at > 60_000)
        throw new Error(`${system.name}: no delivery for 60 s at ${count}/${expected}; see ${system.log}`);
      await sleep(50);
    }
  } finally {
    rss.stop();
  }
  const report = await receiver<Report>('report');
  const steady = steadyRate(report.arrivals);
  const span = mark10 && mark90 && mark90.count > mark10.count ? { from: mark10, to: mark90 } : undefined;
  const perDelivery = (field: 'cpu' | 'receiverCpu') =>
    span ? (span.to[field] - span.from[field]) / (span.to.count - span.from.count) : Number.NaN;
  const cpu = perDelivery('cpu');
  const drain: Drain = {
    deliveries: report.arrivals.length,
    perSecond: round(steady.perSecond),
    steadySeconds: round(steady.seconds, 2),
    cpuMsPerDelivery: round(cpu, 3),
    receiverCpuMsPerDelivery: round(perDelivery('receiverCpu'), 3),
    peakRssMiB: round(rss.peakTotalMiB),
    peakProcessRssMiB: round(rss.peakProcessMiB),
    hwmSumMiB: round(hwm),
    processes: rss.maxProcesses,
    duplicates: report.duplicates,
    perPath: report.perPath,
  };
  return drain;
}

interface Hop {
  hop: string;
  p50Ms: number;
  p99Ms: number;
}

interface Latency {
  rate: number;
  events: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Courier only: where the milliseconds went, from its attempt records and the receiver. */
  hops?: Hop[];
  /** Courier only: its event loop's delay and its GC pauses over the timed run (its /metrics). */
  runtime?: Runtime;
}

interface Runtime {
  loopP99Ms: number;
  loopMaxMs: number;
  /** GC pauses by kind: how many, their total, and how many took 10 ms or more. */
  gc: Record<string, { count: number; totalMs: number; over10Ms: number }>;
}

/** prom-client's event-loop sampling interval (its `eventLoopMonitoringPrecision`, default 10 ms). */
const LOOP_SAMPLING_MS = 10;

/** Courier's /metrics (the default port: one Courier at a time in these phases). */
const COURIER_METRICS = 'http://127.0.0.1:9464/metrics';

interface GcCounters {
  [kind: string]: { count: number; sum: number; le10ms: number };
}

/**
 * Reads the event-loop delay (prom-client resets its histogram at each scrape, so a scrape before
 * a run starts the window) and the GC histograms (cumulative: the caller subtracts).
 */
async function scrapeRuntime(): Promise<{ loopP99Ms: number; loopMaxMs: number; gc: GcCounters }> {
  const text = await (await request(COURIER_METRICS)).body.text();
  const gc: GcCounters = {};
  for (const m of text.matchAll(/^nodejs_gc_duration_seconds_(count|sum|bucket)\{([^}]*)\} (\S+)$/gm)) {
    const labels = m[2] as string;
    const kind = /kind="([^"]+)"/.exec(labels)?.[1] ?? '?';
    const entry = gc[kind] ?? { count: 0, sum: 0, le10ms: 0 };
    gc[kind] = entry;
    const value = Number(m[3]);
    if (m[1] === 'count') entry.count = value;
    else if (m[1] === 'sum') entry.sum = value;
    else if (/le="0\.01"/.test(labels)) entry.le10ms = value;
  }
  // prom-client samples the loop with a 10 ms timer and records the time between its ticks: an
  // idle loop shows 10 ms. The delay is what lies beyond that.
  const beyondSampling = (seconds: number) => round(Math.max(0, seconds * 1000 - LOOP_SAMPLING_MS), 1);
  return {
    loopP99Ms: beyondSampling(metricValue(text, 'nodejs_eventloop_lag_p99_seconds')),
    loopMaxMs: beyondSampling(metricValue(text, 'nodejs_eventloop_lag_max_seconds')),
    gc,
  };
}

function runtimeBetween(
  before: GcCounters,
  after: { loopP99Ms: number; loopMaxMs: number; gc: GcCounters },
): Runtime {
  const gc: Runtime['gc'] = {};
  for (const [kind, a] of Object.entries(after.gc)) {
    const b = before[kind] ?? { count: 0, sum: 0, le10ms: 0 };
    const count = a.count - b.count;
    if (count > 0)
      gc[kind] = {
        count,
        totalMs: round((a.sum - b.sum) * 1000, 1),
        over10Ms: count - (a.le10ms - b.le10ms),
      };
  }
  return { loopP99Ms: after.loopP99Ms, loopMaxMs: after.loopMaxMs, gc };
}

/**
 * Warm-up, then `rate` events/s for `LATENCY_S` s; produce→receiver percentiles. Event numbers
 * start at `from`; returns the next free one.
 */
async function measureLatency(
  system: Child,
  topic: string,
  from: number,
  rate: number,
  attemptsTopic?: string,
): Promise<{ latency: Latency; next: number }> {
  await receiver('reset');
  await producePaced({ topic, run, perSecond: 200, seconds: 1, from });
  await waitForCount(system, 200, 60_000);
  await receiver('reset');
  const runtimeBefore = attemptsTopic ? await scrapeRuntime().catch(() => undefined) : undefined;
  const events = await producePaced({ topic, run, perSecond: rate, seconds: LATENCY_S, from: from + 200 });
  await waitForCount(system, events, 60_000);
  const runtimeAfter = runtimeBefore ? await scrapeRuntime().catch(() => undefined) : undefined;
  const { latencies } = await receiver<Report>('report');
  const latency: Latency = {
    rate,
    events,
    p50Ms: round(percentile(latencies, 50), 1),
    p99Ms: round(percentile(latencies, 99), 1),
    maxMs: round(Math.max(...latencies), 1),
  };
  if (runtimeBefore && runtimeAfter) latency.runtime = runtimeBetween(runtimeBefore.gc, runtimeAfter);
  if (attemptsTopic) latency.hops = await hopsOf(attemptsTopic, await receiver<Timed[]>('timed'));
  return { latency, next: from + 200 + events };
}

/** [webhook-id, produced at, arrived at] per timed request, from the receiver. */
type Timed = [string, number, number];

/**
 * The per-hop breakdown of the timed deliveries: each one's attempt record (read back from the
 * delivery log once all are written) holds when its destination record was written (routed), fetched,
 * admitted and answered; the receiver holds when it was produced and when it arrived.
 */
async function hopsOf(attemptsTopic: string, timed: Timed[]): Promise<Hop[]> {
  const byId = new Map(timed.map(([id, pt, at]) => [id, { pt, at }]));
  const spans = new Map<string, number[]>();
  const add = (hop: string, ms: number) => {
    if (!Number.isFinite(ms)) return;
    const list = spans.get(hop);
    if (list) list.push(ms);
    else spans.set(hop, [ms]);
  };
  let found = 0;
  // The attempt log flushes every 100 ms: wait until every timed delivery's record is there.
  const deadline = Date.now() + 30_000;
  while (found < byId.size && Date.now() < deadline) {
    found = 0;
    spans.clear();
    await readTopic(attemptsTopic, (message) => {
      const a = JSON.parse(message.value?.toString() ?? '{}') as {
        eventId: string;
        outcome: string;
        timings?: { routedAt: number; fetchedAt?: number; admittedAt: number; answeredAt: number };
      };
      const r = byId.get(a.eventId);
      if (!r || a.outcome !== 'delivered' || !a.timings) return;
      found += 1;
      const t = a.timings;
      add('produced → routed (destination record written)', t.routedAt - r.pt);
      add('routed → fetched by the deliverer', (t.fetchedAt ?? Number.NaN) - t.routedAt);
      add('fetched → admitted (Redis claim, rate limit)', t.admittedAt - (t.fetchedAt ?? Number.NaN));
      add('admitted → at the receiver (sign, POST)', r.at - t.admittedAt);
      add('at the receiver → answered', t.answeredAt - r.at);
      add('answered → attempt recorded (off the path)', Number(message.timestamp) - t.answeredAt);
      add('produced → at the receiver (total)', r.at - r.pt);
    });
    if (found < byId.size) await sleep(500);
  }
  if (found < byId.size) log(`hops: ${found} of ${byId.size} timed deliveries have an attempt record`);
  return [...spans].map(([hop, ms]) => ({
    hop,
    p50Ms: round(percentile(ms, 50), 2),
    p99Ms: round(percentile(ms, 99), 2),
  }));
}

async function waitForCount(system: Child, expected: number, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { count } = await receiver<{ count: number }>('count');
    if (count >= expected) return count;
    if (!isRunning(system)) throw new Error(`${system.name} exited; see ${system.log}`);
    if (Date.now() > deadline)
      throw new Error(
        `${system.name}: ${count}/${expected} deliveries after ${timeoutMs} ms; see ${system.log}`,
      );
    await sleep(50);
  }
}

async function waitUntil(
  what: string,
  check: () => Promise<boolean>,
  options: { timeoutMs: number; system?: Child },
): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  while (!(await check())) {
    if (options.system && !isRunning(options.system))
      throw new Error(`${options.system.name} exited while waiting for ${what}; see ${options.system.log}`);
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

// ---------------------------------------------------------------- Courier --------------------

interface CourierSetup {
  prefix: string;
  configPath: string;
  eventsTopic: string;
  destTopic: (id: string) => string;
}

/** Writes a courier.yaml (JSON is YAML) for a fresh prefix and creates its topics with the CLI. */
async function courierSetup(
  name: string,
  destinations: Array<{
    id: string;
    rateLimit?: { perSecond: number; burst: number };
    [field: string]: unknown;
  }>,
  overrides: Record<string, unknown> = {},
): Promise<CourierSetup> {
  const prefix = `${run}${name}`;
  const config = {
    kafka: { brokers: BROKERS, eventsTopic: `${prefix}-events`, topicPrefix: prefix },
    redis: { url: REDIS_URL },
    network: { allowPrivateAddresses: true },
    retryTiers: ['1s', '10s', '1m'],
    destinations: destinations.map((d) => ({
      url: `${receiverUrl}/${prefix}/${d.id}`,
      secrets: [SECRET],
      concurrency: CONCURRENCY,
      timeoutMs: 10_000,
      retry: { baseDelayMs: 1000, maxDelayMs: 60_000 },
      ...d,
    })),
    ...overrides,
    ...COURIER_CONFIG,
  };
  const configPath = join(dir, `${prefix}.yaml`);
  writeFileSync(configPath, JSON.stringify(config, null, 2));
  await courierCli(prefix, ['topics', '--config', configPath]);
  if (TOPIC_MAX_BYTES > 0) {
    const topics = await raiseMaxMessageBytes(prefix, TOPIC_MAX_BYTES);
    log(`workaround: max.message.bytes=${TOPIC_MAX_BYTES} on ${topics.length} topics of ${prefix}`);
  }
  return {
    prefix,
    configPath,
    eventsTopic: `${prefix}-events`,
    destTopic: (id) => `${prefix}.dest.${id}`,
  };
}

function courierCli(prefix: string, args: string[]): Promise<void> {
  return runNode({
    name: `courier ${args[0]}`,
    args: ['--disable-warning=TimeoutNegativeWarning', COURIER_CLI, ...args],
    log: join(dir, `${prefix}-cli.log`),
    timeoutMs: 120_000,
  });
}

/**
 * `courier run`, no --workers flag unless BENCH_COURIER_ARGS (or `args`) says so: the version's
 * default. `tag` names a second instance of the same setup (its own log).
 */
function startCourier(setup: CourierSetup, options: { args?: string[]; tag?: string } = {}): Child {
  const tag = options.tag ? `-${options.tag}` : '';
  return startNode({
    name: `courier run (${setup.prefix}${tag})`,
    args: courierRunArgs(setup.configPath, {
      nodeArgs: COURIER_NODE_ARGS,
      args: options.args ?? COURIER_ARGS,
    }),
    log: join(dir, `${setup.prefix}-run${tag}.log`),
  });
}

// ---------------------------------------------------------------- phases ---------------------

const results: Record<string, unknown> = {};

async function ceilingPhase(): Promise<void> {
  log(`ceiling: ${CEILING_EVENTS} bare POSTs over ${CONNECTIONS} connections`);
  await receiver('reset');
  const child = startNode({
    name: 'ceiling',
    args: [join(ROOT, 'bench/ceiling.ts')],
    log: join(dir, 'ceiling.log'),
    ipc: true,
    env: {
      BENCH_URL: `${receiverUrl}/${run}/ceiling`,
      BENCH_N: String(CEILING_EVENTS),
      BENCH_CONNECTIONS: String(CONNECTIONS),
      BENCH_RUN: run,
    },
  });
  try {
    results.ceiling = await measureDrain(child, CEILING_EVENTS, { allowExit: true });
  } finally {
    await stop(child);
  }
}

async function plainPhase(): Promise<void> {
  const topic = `${run}plain-events`;
  await createTopic(topic, 6);
  log(`plain: producing ${EVENTS} events to ${topic}`);
  await produceBacklog({ topic, run, count: EVENTS });
  await receiver('reset');
  const child = startNode({
    name: 'plain consumer',
    args: [join(ROOT, 'bench/plain.ts')],
    log: join(dir, 'plain.log'),
    env: {
      BENCH_URL: `${receiverUrl}/${run}/plain`,
      BENCH_TOPIC: topic,
      BENCH_GROUP: `${run}plain-group`,
      BENCH_BROKERS: BROKERS.join(','),
      BENCH_CONNECTIONS: String(CONNECTIONS),
    },
  });
  try {
    log('plain: draining');
    results.plain = await measureDrain(child, EVENTS);
    if (!SKIP.has('latency')) {
      const latencies: Latency[] = [];
      let from = EVENTS;
      for (const rate of LATENCY_RATES) {
        log(`plain: latency at ${rate}/s for ${LATENCY_S} s`);
        const { latency, next } = await measureLatency(child, topic, from, rate);
        latencies.push(latency);
        from = next;
      }
      results.plainLatency = latencies;
    }
  } finally {
    await stop(child);
  }
}

async function courierPhase(): Promise<void> {
  const setup = await courierSetup('c', [{ id: 'd0' }]);
  log(`courier: producing ${EVENTS} events to ${setup.eventsTopic}`);
  await produceBacklog({ topic: setup.eventsTopic, run, count: EVENTS });
  await receiver('reset');
  const child = startCourier(setup);
  try {
    log('courier: draining');
    results.courier = await measureDrain(child, EVENTS);
    // What one delivered event costs on the brokers' disks (the local stack's segment files):
    // the events topic, the destination topic, the attempt log.
    results.recordBytes = {
      event: round(segmentBytes(`${setup.eventsTopic}-`) / EVENTS, 0),
      destination: round(segmentBytes(`${setup.prefix}.dest.d0-`) / EVENTS, 0),
      attempt: round(segmentBytes(`${setup.prefix}.attempts-`) / EVENTS, 0),
    };
    if (!SKIP.has('memory')) {
      // The index and attempt records may land just after the delivery: wait until the key
      // count holds still for a second.
      let previous = -1;
      await waitUntil(
        'Redis keys to settle',
        async () => {
          const n = await redisKeyCount(setup.prefix);
          const settled = n === previous;
          previous = n;
          if (!settled) await sleep(1000);
          return settled;
        },
        { timeoutMs: 30_000 },
      );
      const footprint = await redisFootprint(setup.prefix, new RegExp(`${run}-\\d+`));
      const delivered = (results.courier as Drain).deliveries;
      results.redis = {
        prefix: `${setup.prefix}*`,
        deliveredEvents: delivered,
        keys: footprint.keys,
        bytes: footprint.bytes,
        bytesPerDelivery: round(footprint.bytes / delivered, 1),
        // The delivered-key set (marks, their index, in-flight locks), kept for the idempotency
        // window per (event, destination), apart from the attempt filters (per event, kept for the
        // attempt log's retention, allocated whole: a short run overstates them) and the rest.
        shares: (() => {
          const share = { deliveredKeySet: 0, attemptFilters: 0, other: 0 };
          for (const [kind, v] of Object.entries(footprint.byKind)) {
            const to = /:e:|:i:/.test(kind)
              ? 'deliveredKeySet'
              : kind.includes(':af}')
                ? 'attemptFilters'
                : 'other';
            share[to] += v.bytes;
          }
          return Object.fromEntries(Object.entries(share).map(([k, b]) => [k, round(b / delivered, 1)]));
        })(),
        byKind: Object.fromEntries(
          Object.entries(footprint.byKind).map(([k, v]) => [
            k,
            { keys: v.keys, bytesPerDelivery: round(v.bytes / delivered, 1) },
          ]),
        ),
      };
      if (footprint.keys === 0) log(`memory: no Redis key matches ${setup.prefix}* — key layout changed?`);
    }
    if (!SKIP.has('latency')) {
      const latencies: Latency[] = [];
      let from = EVENTS;
      for (const rate of LATENCY_RATES) {
        log(`courier: latency at ${rate}/s for ${LATENCY_S} s`);
        const { latency, next } = await measureLatency(
          child,
          setup.eventsTopic,
          from,
          rate,
          `${setup.prefix}.attempts`,
        );
        latencies.push(latency);
        from = next;
      }
      results.courierLatency = latencies;
    }
  } finally {
    await stop(child, 20_000);
  }
}

async function fanoutPhase(): Promise<void> {
  const ids = Array.from({ length: FANOUT_DESTINATIONS }, (_, i) => ({ id: `d${i}` }));
  const setup = await courierSetup('f', ids);
  log(`fan-out: producing ${FANOUT_EVENTS} events for ${FANOUT_DESTINATIONS} destinations`);
  await produceBacklog({ topic: setup.eventsTopic, run, count: FANOUT_EVENTS });
  await receiver('reset');
  const child = startCourier(setup);
  try {
    const drain = await measureDrain(child, FANOUT_EVENTS * FANOUT_DESTINATIONS);
    const counts = Object.values(drain.perPath);
    results.fanout = {
      destinations: FANOUT_DESTINATIONS,
      events: FANOUT_EVENTS,
      ...drain,
      perPath: undefined,
      perDestination: { min: Math.min(...counts), max: Math.max(...counts) },
    };
  } finally {
    await stop(child, 20_000);
  }
}

interface BacklogResult {
  events: number;
  deliveredWhilePaused: number;
  holdSeconds: number;
  holdRssMiB: number;
  holdProcessRssMiB: number;
  peakRssMiB: number;
  peakProcessRssMiB: number;
  processes: number;
  redisCallsPerSecondWhilePaused: number;
  rateLimit: { perSecond: number; burst: number };
  drainDeliveries: number;
  drainPerSecond: number;
  busiestSecond: number;
  busiestCalendarSecond: number;
  redisCalls: number;
  redisWindowSeconds: number;
  redisCallsPerDelivery: number;
  redisCallsPerDeliveryNet: number;
  /** Rate-limiter trips to Redis per delivery (its script's TIME calls). */
  limiterCallsPerDelivery: number;
  /** Script round trips (EVALSHA) per delivery, all of Courier's scripts. */
  scriptCallsPerDelivery: number;
}

async function backlogPhase(): Promise<void> {
  const setup = await courierSetup('r', [{ id: 'd0', rateLimit: RATE }]);
  await receiver('reset');
  const child = startCourier(setup);
  const whole = new RssSampler(() => [child.pid]);
  try {
    // Pause once Courier runs (one event delivered proves it), not before: the version this
    // bench was written against crashes at start when a destination is already paused.
    await producePaced({ topic: setup.eventsTopic, run, perSecond: 100, seconds: 0.1, from: BACKLOG });
    await waitForCount(child, 1, 120_000);
    await courierCli(setup.prefix, ['pause', '--config', setup.configPath, '--destination', 'd0']);
    await sleep(2000); // instances notice a pause within their poll interval
    await receiver('reset');
    log(`backlog: producing ${BACKLOG} events behind the paused destination`);
    let progress = { routed: -1, at: Date.now() };
    await produceBacklog({ topic: setup.eventsTopic, run, count: BACKLOG });
    await waitUntil(
      'the router to route the backlog',
      async () => {
        const routed = await topicMessages(setup.destTopic('d0'));
        if (routed !== progress.routed) progress = { routed, at: Date.now() };
        else if (Date.now() - progress.at > 60_000)
          throw new Error(`the router stalled at ${routed}/${BACKLOG} routed; see ${child.log}`);
        return routed >= BACKLOG;
      },
      { timeoutMs: 300_000, system: child },
    );
    log(`backlog: routed; holding ${HOLD_S} s`);
    const hold = new RssSampler(() => [child.pid]);
    const callsBeforeHold = await redisCalls();
    const holdStarted = Date.now();
    await sleep(HOLD_S * 1000);
    const heldCalls = (await redisCalls()) - callsBeforeHold;
    const heldSeconds = (Date.now() - holdStarted) / 1000;
    hold.stop();
    const early = (await receiver<{ count: number }>('count')).count;

    log(`backlog: resume, rate limit ${RATE.perSecond}/s burst ${RATE.burst}; draining ${DRAIN_S} s`);
    await receiver('reset');
    const callsBefore = await redisCalls();
    const countersBefore = await redisCounters();
    const drainStarted = Date.now();
    await courierCli(setup.prefix, ['resume', '--config', setup.configPath, '--destination', 'd0']);
    await waitForCount(child, 1, 60_000);
    await sleep(DRAIN_S * 1000);
    const calls = (await redisCalls()) - callsBefore;
    const countersAfter = await redisCounters();
    const drainSeconds = (Date.now() - drainStarted) / 1000;
    // INFO commandstats is server-wide: other clients of a shared Redis count too. The rate seen
    // while the destination was held (Courier nearly idle) estimates them.
    const background = (heldCalls / heldSeconds) * drainSeconds;
    const report = await receiver<Report>('report');
    const first = report.arrivals[0] ?? 0;
    const last = report.arrivals.at(-1) ?? 0;
    const backlog: BacklogResult = {
      events: BACKLOG,
      deliveredWhilePaused: early,
      holdSeconds: round(heldSeconds, 1),
      holdRssMiB: round(hold.peakTotalMiB),
      holdProcessRssMiB: round(hold.peakProcessMiB),
      peakRssMiB: round(whole.peakTotalMiB),
      peakProcessRssMiB: round(whole.peakProcessMiB),
      processes: whole.maxProcesses,
      redisCallsPerSecondWhilePaused: round(heldCalls / heldSeconds),
      rateLimit: RATE,
      drainDeliveries: report.arrivals.length,
      drainPerSecond: round(report.arrivals.length / Math.max(0.001, (last - first) / 1000), 1),
      busiestSecond: busiestWindow(report.arrivals, 1000),
      busiestCalendarSecond: busiestCalendarSecond(report.arrivals),
      redisCalls: calls,
      redisWindowSeconds: round(drainSeconds, 1),
      redisCallsPerDelivery: round(calls / Math.max(1, report.arrivals.length), 3),
      redisCallsPerDeliveryNet: round(
        Math.max(0, calls - background) / Math.max(1, report.arrivals.length),
        3,
      ),
      limiterCallsPerDelivery: round(
        (countersAfter.limiter - countersBefore.limiter) / Math.max(1, report.arrivals.length),
        3,
      ),
      scriptCallsPerDelivery: round(
        (countersAfter.scripts - countersBefore.scripts) / Math.max(1, report.arrivals.length),
        3,
      ),
    };
    results.backlog = backlog;
  } finally {
    whole.stop();
    await stop(child, 20_000);
  }
}

// ---------------------------------------------------------------- report ---------------------

function fmt(v: unknown, unit = ''): string {
  if (v === undefined || v === null || (typeof v === 'number' && !Number.isFinite(v))) return '—';
  return `${v}${unit}`;
}

function verdict(ok: boolean | undefined): string {
  return ok === undefined ? 'n/a' : ok ? 'met' : 'NOT met';
}

function gitDescribe(): string {
  try {
    return execFileSync('git', ['-C', ROOT, 'log', '-1', '--format=%h %s'], { encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

function printReport(failure?: string): void {
  const c = results.courier as Drain | undefined;
  const ceiling = results.ceiling as Drain | undefined;
  const plain = results.plain as Drain | undefined;
  const fan = results.fanout as
    | (Drain & { destinations: number; perDestination: { min: number; max: number } })
    | undefined;
  const cls = (results.courierLatency as Latency[] | undefined) ?? [];
  const pls = (results.plainLatency as Latency[] | undefined) ?? [];
  const bl = results.backlog as BacklogResult | undefined;
  const redis = results.redis as
    | {
        bytesPerDelivery: number;
        shares: { deliveredKeySet: number; attemptFilters: number; other: number };
        byKind: Record<string, unknown>;
      }
    | undefined;
  const ratio = (a?: number, b?: number) => (a && b ? round(a / b, 2) : undefined);
  const vsCeiling = ratio(c?.perSecond, ceiling?.perSecond);
  const vsPlain = ratio(c?.perSecond, plain?.perSecond);
  results.ratios = { courierOverCeiling: vsCeiling, courierOverPlain: vsPlain };

  const date = new Date().toISOString();
  const machine = `${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}), load ${loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')}`;
  const lines: string[] = [];
  lines.push('');
  lines.push(`Courier benchmark — ${date}`);
  lines.push(`commit: ${gitDescribe()}`);
  lines.push(`machine: ${machine}; node ${process.version}`);
  lines.push(
    `sizes: ${EVENTS} events (ceiling ${CEILING_EVENTS} requests), destination concurrency ${CONCURRENCY}, ${CONNECTIONS} connections for ceiling/plain`,
  );
  lines.push(`courier run --config <file>${COURIER_ARGS.length ? ` ${COURIER_ARGS.join(' ')}` : ''}`);
  lines.push('');
  const row = (cells: string[]) =>
    cells.map((cell, i) => (i === 0 ? cell.padEnd(22) : cell.padStart(14))).join('');
  lines.push(
    row([
      'system',
      'deliveries/s',
      'CPU ms/deliv',
      'peak RSS MiB',
      'processes',
      'duplicates',
      'receiver CPU',
    ]),
  );
  for (const [name, d] of [
    ['bare HTTP ceiling', ceiling],
    ['plain eachBatch', plain],
    ['courier run', c],
  ] as const) {
    lines.push(
      row([
        name,
        fmt(d?.perSecond),
        fmt(d?.cpuMsPerDelivery),
        fmt(d?.peakRssMiB),
        fmt(d?.processes),
        fmt(d?.duplicates),
        fmt(d?.receiverCpuMsPerDelivery),
      ]),
    );
  }
  if (fan) {
    lines.push(
      row([
        `courier, ${fan.destinations} dests`,
        fmt(fan.perSecond),
        fmt(fan.cpuMsPerDelivery),
        fmt(fan.peakRssMiB),
        fmt(fan.processes),
        fmt(fan.duplicates),
        fmt(fan.receiverCpuMsPerDelivery),
      ]),
    );
  }
  lines.push(
    '(deliveries/s between the 10 % and 90 % arrivals; CPU ms per delivery summed over the process tree in',
  );
  lines.push(' that span; receiver CPU: the receiver process’s own per request, same span)');
  lines.push('');
  for (const rate of LATENCY_RATES) {
    const cl = cls.find((l) => l.rate === rate);
    const pl = pls.find((l) => l.rate === rate);
    if (!cl && !pl) continue;
    lines.push(`latency produce→receiver at ${rate}/s for ${LATENCY_S} s:`);
    lines.push(
      `  courier  p50 ${fmt(cl?.p50Ms, ' ms')}  p99 ${fmt(cl?.p99Ms, ' ms')}  max ${fmt(cl?.maxMs, ' ms')}`,
    );
    lines.push(
      `  plain    p50 ${fmt(pl?.p50Ms, ' ms')}  p99 ${fmt(pl?.p99Ms, ' ms')}  max ${fmt(pl?.maxMs, ' ms')}`,
    );
    if (cl?.hops?.length) {
      lines.push('  courier per hop (from its attempt records and the receiver):        p50        p99');
      for (const h of cl.hops)
        lines.push(
          `    ${h.hop.padEnd(60)} ${fmt(h.p50Ms, ' ms').padStart(10)} ${fmt(h.p99Ms, ' ms').padStart(10)}`,
        );
    }
    if (cl?.runtime) {
      const r = cl.runtime;
      const gcs = Object.entries(r.gc)
        .map(([kind, g]) => `${kind} ${g.count} (${g.totalMs} ms, ${g.over10Ms} ≥ 10 ms)`)
        .join(', ');
      lines.push(
        `  courier runtime over the run: event-loop delay p99 ${fmt(r.loopP99Ms, ' ms')}, max ${fmt(r.loopMaxMs, ' ms')}; GC pauses: ${gcs || 'none'}`,
      );
    }
  }
  const so = results.scaleout as ScaleoutResult | undefined;
  if (so) {
    lines.push(
      `scale-out: a second courier run (--workers 1) beside one serving ${so.destinations} destinations at ${so.eventsPerSecond} events/s each:`,
    );
    lines.push(
      `  serving ${fmt(round(so.secondServesAfterMs / 1000, 1), ' s')} after it started (target ≤ 10 s: ${so.secondServesAfterMs <= 10_000 ? 'met' : 'not met'}); ` +
        `longest gap at the receiver ${fmt(so.longestGapMs, ' ms')} (${so.longestGapDestination}; median destination ${fmt(so.gapP50Ms, ' ms')}; target ≤ 5 s: ${so.longestGapMs <= 5_000 ? 'met' : 'not met'}); ` +
        `${so.delivered}/${so.expected} delivered`,
    );
  }
  if (bl) {
    lines.push(
      `backlog of ${bl.events} behind a paused destination: RSS ${bl.holdRssMiB} MiB total, ` +
        `${bl.holdProcessRssMiB} MiB largest process while held (peak while routing ${bl.peakRssMiB} MiB)`,
    );
    lines.push(
      `  rate-limited drain (${RATE.perSecond}/s, burst ${RATE.burst}): ${bl.drainDeliveries} in ~${DRAIN_S} s, ` +
        `busiest second ${bl.busiestSecond} sliding / ${bl.busiestCalendarSecond} calendar`,
    );
    lines.push(
      `  Redis calls/delivery ${bl.redisCallsPerDelivery} server-wide (INFO commandstats over ${bl.redisWindowSeconds} s), ` +
        `${bl.redisCallsPerDeliveryNet} net of the ${bl.redisCallsPerSecondWhilePaused}/s seen while the destination was held`,
    );
    lines.push(
      `  rate-limiter trips to Redis/delivery ${bl.limiterCallsPerDelivery}; script round trips/delivery ${bl.scriptCallsPerDelivery} (commands inside scripts count in the line above)`,
    );
  }
  const rt = results.router as
    | {
        plain: { eventsPerSecond: number | null; cpuMsPerEvent: number | null };
        expressions: { eventsPerSecond: number | null; cpuMsPerEvent: number | null };
        ratio: number | null;
      }
    | undefined;
  if (rt) {
    lines.push(
      `router alone (--roles router), ${ROUTER_EVENTS} events to 60 destinations: ` +
        `no expressions ${fmt(rt.plain.eventsPerSecond ?? undefined)} events/s (${fmt(rt.plain.cpuMsPerEvent ?? undefined, ' ms')} CPU each); ` +
        `${ROUTER_FILTERS} filters + ${ROUTER_TRANSFORMS} transforms ${fmt(rt.expressions.eventsPerSecond ?? undefined)} events/s (${fmt(rt.expressions.cpuMsPerEvent ?? undefined, ' ms')} CPU each, expression hosts included)`,
    );
  }
  if (redis) {
    lines.push(
      `Redis per delivered (event, destination): ${redis.bytesPerDelivery} B in all — the delivered-key set ${redis.shares.deliveredKeySet} B, ` +
        `attempt filters ${redis.shares.attemptFilters} B (per event, for the attempt log's retention; allocated whole, so a short run overstates them), other ${redis.shares.other} B`,
    );
    lines.push(`  by key shape: ${JSON.stringify(redis.byKind)}`);
  }
  lines.push('');
  lines.push('targets (the current ones: latency with one worker, BENCH_COURIER_ARGS="--workers 1"):');
  const target = (label: string, value: string, ok: boolean | undefined) =>
    lines.push(`  ${label.padEnd(46)} ${value.padStart(12)}  ${verdict(ok)}`);
  target(
    'throughput ≥ 0.5 × ceiling',
    fmt(vsCeiling),
    vsCeiling === undefined ? undefined : vsCeiling >= 0.5,
  );
  target('throughput ≥ 0.5 × plain', fmt(vsPlain), vsPlain === undefined ? undefined : vsPlain >= 0.5);
  target(
    'CPU ≤ 0.20 ms per delivery',
    fmt(c?.cpuMsPerDelivery, ' ms'),
    c && Number.isFinite(c.cpuMsPerDelivery) ? c.cpuMsPerDelivery <= 0.2 : undefined,
  );
  for (const rate of LATENCY_RATES) {
    const cl = cls.find((l) => l.rate === rate);
    target(
      `p99 ≤ ${p99TargetMs(rate)} ms at ${rate}/s`,
      fmt(cl?.p99Ms, ' ms'),
      cl ? cl.p99Ms <= p99TargetMs(rate) : undefined,
    );
  }
  target(
    'Redis ≤ 48 B per delivered pair, delivered-key set',
    fmt(redis?.shares.deliveredKeySet, ' B'),
    redis ? redis.shares.deliveredKeySet <= 48 : undefined,
  );
  target(
    'router: expressions ≥ 0.5 × none',
    fmt(rt?.ratio ?? undefined),
    rt?.ratio === null || rt?.ratio === undefined ? undefined : rt.ratio >= 0.5,
  );
  target(
    'scale-out: second instance serving ≤ 10 s',
    fmt(so ? round(so.secondServesAfterMs / 1000, 1) : undefined, ' s'),
    so ? so.secondServesAfterMs <= 10_000 : undefined,
  );
  target(
    'scale-out: no gap > 5 s at the receiver',
    fmt(so?.longestGapMs, ' ms'),
    so ? so.longestGapMs <= 5_000 : undefined,
  );
  target(
    'RSS ≤ 300 MiB per process, backlog held',
    fmt(bl?.holdProcessRssMiB, ' MiB'),
    bl ? bl.holdProcessRssMiB <= 300 : undefined,
  );
  // A lean worker (issue 29): ratios against the plain consumer of the same run.
  const fanout = results.fanout as Drain | undefined;
  target(
    'RSS ≤ 400 MiB per process, fan-out to 10',
    fmt(fanout?.peakProcessRssMiB, ' MiB'),
    fanout ? fanout.peakProcessRssMiB <= 400 : undefined,
  );
  const plainCpu = (results.plain as Drain | undefined)?.cpuMsPerDelivery;
  const cpuRatio = c && plainCpu ? round(c.cpuMsPerDelivery / plainCpu, 2) : undefined;
  target(
    'CPU per delivery ≤ 2.5 × plain',
    fmt(cpuRatio, ' ×'),
    cpuRatio === undefined ? undefined : cpuRatio <= 2.5,
  );
  for (const rate of LATENCY_RATES.filter((r) => r <= 200)) {
    const cl = cls.find((l) => l.rate === rate);
    const pl = pls.find((l) => l.rate === rate);
    const ratio = cl && pl && pl.p99Ms > 0 ? round(cl.p99Ms / pl.p99Ms, 2) : undefined;
    target(`p99 ≤ 3 × plain's at ${rate}/s`, fmt(ratio, ' ×'), ratio === undefined ? undefined : ratio <= 3);
  }
  target(
    'rate-limited drain ≤ 0.05 rate-limiter Redis calls/delivery',
    fmt(bl?.limiterCallsPerDelivery),
    bl ? bl.limiterCallsPerDelivery <= 0.05 : undefined,
  );
  target(
    `no second above R + burst (${RATE.perSecond + RATE.burst}), sliding`,
    fmt(bl?.busiestSecond),
    bl ? bl.busiestSecond <= RATE.perSecond + RATE.burst : undefined,
  );
  if (TOPIC_MAX_BYTES > 0)
    lines.push(`\nworkaround on: max.message.bytes=${TOPIC_MAX_BYTES} on the run's Courier topics`);
  if (failure) lines.push(`\nINCOMPLETE: ${failure}`);
  console.log(lines.join('\n'));
  console.log(
    `BENCH_JSON ${JSON.stringify({
      date,
      commit: gitDescribe(),
      machine,
      courierArgs: COURIER_ARGS,
      sizes: {
        ceilingEvents: CEILING_EVENTS,
        events: EVENTS,
        fanoutEvents: FANOUT_EVENTS,
        backlog: BACKLOG,
        concurrency: CONCURRENCY,
      },
      ...(TOPIC_MAX_BYTES > 0 ? { workaround: { topicMaxMessageBytes: TOPIC_MAX_BYTES } } : {}),
      ...results,
      ...(failure ? { failure } : {}),
    })}`,
  );
}

// ---------------------------------------------------------------- main -----------------------

let cleaned: Promise<void> | undefined;
function cleanup(): Promise<void> {
  cleaned ??= (async () => {
    await stopAll();
    if (!env.BENCH_KEEP) await cleanupRun(run, log);
    await closeClients();
  })();
  return cleaned;
}
process.on('exit', killAllNow);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    log(`${signal}: stopping every process and cleaning up`);
    cleanup().finally(() => process.exit(130));
  });
}

interface ScaleoutResult {
  destinations: number;
  eventsPerSecond: number;
  /** From spawning the second `courier run` to its "courier started" (every group joined). */
  secondServesAfterMs: number;
  /** The longest time between two deliveries to one destination, over the whole stream. */
  longestGapMs: number;
  longestGapDestination: string;
  gapP50Ms: number;
  delivered: number;
  expected: number;
}

/** Two instances, `--workers 1` each, as a user scales out: the second starts mid-stream. */
async function scaleoutPhase(): Promise<void> {
  const ids = Array.from({ length: SCALEOUT_DESTINATIONS }, (_, i) => ({ id: `s${i}` }));
  const setup = await courierSetup('s', ids);
  // Two instances on one machine: each serves /metrics on a port of its own.
  const config = JSON.parse(readFileSync(setup.configPath, 'utf8')) as Record<string, unknown>;
  writeFileSync(setup.configPath, JSON.stringify({ ...config, observability: { port: 0 } }, null, 2));
  await receiver('reset');
  const instance = (n: number) => startCourier(setup, { args: ['--workers', '1'], tag: String(n) });
  const first = instance(1);
  const started = (logFile: string) => {
    try {
      return readFileSync(logFile, 'utf8').includes('"courier started"');
    } catch {
      return false;
    }
  };
  let second: Child | undefined;
  try {
    await waitUntil('the first instance started', async () => started(first.log), {
      timeoutMs: 120_000,
      system: first,
    });
    log(
      `scaleout: ${SCALEOUT_RATE} events/s to ${SCALEOUT_DESTINATIONS} destinations for ${SCALEOUT_S} s; a second instance after 10 s`,
    );
    const producing = producePaced({
      topic: setup.eventsTopic,
      run,
      perSecond: SCALEOUT_RATE,
      seconds: SCALEOUT_S,
      from: 0,
    });
    await sleep(10_000);
    const spawnedAt = Date.now();
    second = instance(2);
    const secondLog = second.log;
    await waitUntil('the second instance started', async () => started(secondLog), {
      timeoutMs: 120_000,
      system: second,
    });
    const secondServesAfterMs = Date.now() - spawnedAt;
    const produced = await producing;
    const expected = produced * SCALEOUT_DESTINATIONS;
    const delivered = await waitForCount(first, expected, 120_000);
    const gaps = await receiver<Record<string, { longestMs: number }>>('gaps');
    const perDestination = Object.entries(gaps).map(
      ([path, g]) => [path.split('/').pop() ?? path, g.longestMs] as const,
    );
    const longest = perDestination.reduce((a, b) => (b[1] > a[1] ? b : a), ['', 0] as readonly [
      string,
      number,
    ]);
    results.scaleout = {
      destinations: SCALEOUT_DESTINATIONS,
      eventsPerSecond: SCALEOUT_RATE,
      secondServesAfterMs,
      longestGapMs: round(longest[1], 0),
      longestGapDestination: longest[0],
      gapP50Ms: round(
        percentile(
          perDestination.map(([, g]) => g),
          50,
        ),
        0,
      ),
      delivered,
      expected,
    } satisfies ScaleoutResult;
  } finally {
    if (second) await stop(second, 40_000);
    await stop(first, 40_000);
  }
}

/**
 * The router's cost of expressions: one backlog routed by `courier run --roles router` to 60
 * destinations without expressions, then the same to 60 where 50 have a filter and 10 a transform
 * (each holding for every event, so both write the same records). Rate = events routed per second
 * between the router group's first commit and its last (read from outside, with kafkajs).
 */
async function routerPhase(): Promise<void> {
  const runs: Array<{ name: string; destinations: Array<{ id: string; [f: string]: unknown }> }> = [
    { name: 'plain', destinations: Array.from({ length: ROUTER_DESTINATIONS }, (_, i) => ({ id: `d${i}` })) },
    {
      name: 'expressions',
      destinations: Array.from({ length: ROUTER_DESTINATIONS }, (_, i) =>
        i < ROUTER_FILTERS
          ? { id: `d${i}`, filter: `type.startsWith("bench") && data.n >= 0 && size(data.pad) > ${i}` }
          : i < ROUTER_FILTERS + ROUTER_TRANSFORMS
            ? {
                id: `d${i}`,
                transform: '{ "id": id, "n": data.n, "type": type, "pad": $substring(data.pad, 0, 20) }',
              }
            : { id: `d${i}` },
      ),
    },
  ];
  const rounds: Record<string, RouterRound[]> = { plain: [], expressions: [] };
  // Alternating rounds, medians: one run of either is at the mercy of the machine's neighbours.
  for (let round = 0; round < ROUTER_ROUNDS; round++) {
    for (const r of runs) {
      const tag = `x${r.name[0]}${round}`;
      // One partition per destination and DLQ topic: 120 topics per run, not 720.
      const setup = await courierSetup(tag, r.destinations, {
        kafka: {
          brokers: BROKERS,
          eventsTopic: `${run}${tag}-events`,
          topicPrefix: `${run}${tag}`,
          partitions: { events: 6, destination: 1, dlq: 1, retry: 1, attempts: 1, invalid: 1 },
        },
      });
      log(`router (${r.name}, round ${round + 1}): producing ${ROUTER_EVENTS} events for 60 destinations`);
      await produceBacklog({ topic: setup.eventsTopic, run, count: ROUTER_EVENTS });
      // One process unless told otherwise: a second router would only rebalance.
      const workers = COURIER_ARGS.includes('--workers') ? [] : ['--workers', '1'];
      const child = startCourier(setup, { args: [...COURIER_ARGS, ...workers, '--roles', 'router'] });
      try {
        const one = await measureRouting(setup, child, r.destinations[0]?.id ?? 'd0');
        rounds[r.name]?.push(one);
        log(`router (${r.name}, round ${round + 1}): ${JSON.stringify(one)}`);
      } finally {
        await stop(child, 20_000);
      }
    }
  }
  const median = (xs: Array<number | null>) => {
    const v = xs.filter((x): x is number => x !== null).sort((a, b) => a - b);
    return v.length ? (v[Math.floor((v.length - 1) / 2)] as number) : null;
  };
  const summary = (name: string) => ({
    eventsPerSecond: median((rounds[name] ?? []).map((x) => x.eventsPerSecond)),
    cpuMsPerEvent: median((rounds[name] ?? []).map((x) => x.cpuMsPerEvent)),
    rounds: rounds[name],
  });
  const plain = summary('plain');
  const expressions = summary('expressions');
  results.router = {
    plain,
    expressions,
    ratio:
      plain.eventsPerSecond && expressions.eventsPerSecond
        ? round(expressions.eventsPerSecond / plain.eventsPerSecond, 2)
        : null,
    target: 0.5,
  };
}

interface RouterRound {
  events: number;
  seconds: number;
  eventsPerSecond: number | null;
  cpuMsPerEvent: number | null;
  /** Records on the first destination topic (more than the events: some were routed twice). */
  records: number;
}

/** Events routed per second between the router group's first commit and its last, read from outside. */
async function measureRouting(
  setup: CourierSetup,
  child: Child,
  firstDestination: string,
): Promise<RouterRound> {
  const admin = await getAdmin();
  const group = `${setup.prefix}-router`;
  const committed = async () => {
    const [topic] = await admin.fetchOffsets({ groupId: group, topics: [setup.eventsTopic] });
    return (topic?.partitions ?? []).reduce((n, p) => n + Math.max(0, Number(p.offset)), 0);
  };
  let first: { at: number; n: number; cpuMs: number } | undefined;
  let last = { at: 0, n: 0, cpuMs: 0 };
  await waitUntil(
    `router committed ${ROUTER_EVENTS}`,
    async () => {
      const n = await committed();
      const sample = { at: nowMs(), n, cpuMs: treeCpuMs(child.pid) };
      if (n > 0 && !first) first = sample;
      last = sample;
      if (n < ROUTER_EVENTS) await sleep(100);
      return n >= ROUTER_EVENTS;
    },
    { timeoutMs: 600_000 },
  );
  const start = first ?? last;
  const events = last.n - start.n;
  const seconds = (last.at - start.at) / 1000;
  return {
    events,
    seconds: round(seconds, 2),
    eventsPerSecond: seconds > 0 ? round(events / seconds, 0) : null,
    cpuMsPerEvent: events > 0 ? round((last.cpuMs - start.cpuMs) / events, 3) : null,
    records: await topicMessages(setup.destTopic(firstDestination)),
  };
}

/** Bytes of the `.log` segments of every partition whose directory starts with `prefix`. */
function segmentBytes(prefix: string): number {
  const data = join(STACK_DATA, 'kafka-data');
  let total = 0;
  for (const d of readdirSync(data).filter((n) => n.startsWith(prefix))) {
    for (const f of readdirSync(join(data, d)).filter((n) => n.endsWith('.log')))
      total += statSync(join(data, d, f)).size;
  }
  return total;
}

/**
 * The per-delivery costs `courier capacity` plans with, from this run: written to
 * src/policy/capacityCosts.ts when the courier phase measured CPU, Redis and record sizes.
 */
function writeCosts(): void {
  const courier = results.courier as Drain | undefined;
  const redis = results.redis as { shares: Record<string, number> } | undefined;
  const records = results.recordBytes as Record<string, number> | undefined;
  if (!courier || !redis || !records || !Number.isFinite(courier.cpuMsPerDelivery)) return;
  const router = results.router as { plain: { cpuMsPerEvent: number | null } } | undefined;
  let commit = 'unknown';
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  } catch {
    // not a checkout
  }
  const costs: Record<string, unknown> & { routerCpuMsPerRecord: number | null } = {
    measured: new Date().toISOString(),
    commit,
    command: `${env.BENCH_COURIER_ARGS ? `BENCH_COURIER_ARGS="${env.BENCH_COURIER_ARGS}" ` : ''}${env.BENCH_SKIP ? `BENCH_SKIP=${env.BENCH_SKIP} ` : ''}npm run bench`,
    machine: `${cpus().length} cores, load ${loadavg()[0]?.toFixed(1)}`,
    workers: COURIER_ARGS.includes('--workers')
      ? Number(COURIER_ARGS[COURIER_ARGS.indexOf('--workers') + 1])
      : cpus().length,
    cpuMsPerDelivery: courier.cpuMsPerDelivery,
    routerCpuMsPerRecord:
      router?.plain.cpuMsPerEvent != null ? round(router.plain.cpuMsPerEvent / ROUTER_DESTINATIONS, 4) : null,
    redisBytesPerMark: redis.shares.deliveredKeySet,
    redisBytesPerAttemptFilter: redis.shares.attemptFilters,
    recordBytes: records,
  };
  const file = new URL('../src/policy/capacityCosts.ts', import.meta.url);
  const previous = readFileSync(file, 'utf8');
  // Kept from the last run that measured them when this one skipped the phase.
  const keep = (name: string) => Number(new RegExp(`${name}: ([\\d.]+)`).exec(previous)?.[1] ?? 0);
  const value = {
    ...costs,
    routerCpuMsPerRecord: costs.routerCpuMsPerRecord ?? keep('routerCpuMsPerRecord'),
    recordBytes: { ...records, eventValue: Buffer.byteLength(eventBody(run, 0)) },
  };
  const head = previous.slice(0, previous.indexOf('export const MEASURED_COSTS'));
  writeFileSync(
    file,
    `${head}export const MEASURED_COSTS: CapacityCosts = ${JSON.stringify(value, null, 2)};\n`,
  );
  try {
    // In the house style, so that `npm run lint` keeps passing.
    execFileSync(join(ROOT_DIR, 'node_modules/.bin/biome'), ['format', '--write', file.pathname], {
      stdio: 'ignore',
    });
  } catch {
    // formatted by the next `npx biome check --write`
  }
  log(`costs written to src/policy/capacityCosts.ts: ${JSON.stringify(value)}`);
}

const failures: string[] = [];

function reportFailure(phase: string, err: unknown): void {
  const message = (err as Error).message;
  failures.push(`${phase}: ${message}`);
  log(`${phase} FAILED: ${message}`);
  const logFile = /see (\S+)$/.exec(message)?.[1];
  if (!logFile) return;
  try {
    log(`last lines of ${logFile}:\n${readFileSync(logFile, 'utf8').split('\n').slice(-15).join('\n')}`);
  } catch {
    // no log
  }
}

log(`run ${run}; logs in ${dir}`);
try {
  await startReceiver();
  const phases: Array<[string, () => Promise<void>]> = [
    ['ceiling', ceilingPhase],
    ['plain', plainPhase],
    ['courier', courierPhase],
    ['fanout', fanoutPhase],
    ['backlog', backlogPhase],
    ['scaleout', scaleoutPhase],
    ['router', routerPhase],
  ];
  // A failed phase does not hide the others' figures: each stops its own processes on the way out.
  for (const [name, phase] of phases) {
    if (SKIP.has(name)) continue;
    const started = Date.now();
    try {
      await phase();
      log(`${name}: done in ${round((Date.now() - started) / 1000, 1)} s`);
    } catch (err) {
      reportFailure(name, err);
    }
  }
} catch (err) {
  reportFailure('receiver', err);
} finally {
  await cleanup();
}
writeCosts();
if (failures.length > 0) {
  process.exitCode = 1;
  log(`logs kept in ${dir}`);
} else if (!env.BENCH_KEEP) {
  rmSync(dir, { recursive: true, force: true }); // tens of MB of Courier logs per full run
}
printReport(failures.length > 0 ? failures.join('; ') : undefined);
