// `npm run bench:destinations`: what a destination costs. For each count (10, 50 and 200 by
// default, BENCH_DESTINATION_COUNTS=a,b,c), one `courier run --workers 1` serving that many
// destinations, all to one receiver process (this one; Courier runs in its own):
//   start — one event produced before the start, routed to every destination: the time from spawn
//           until every destination has delivered it, and the group joins its log shows;
//   idle  — after a settle, RSS, CPU % of one core and Kafka connections over BENCH_IDLE_S s;
//   rate  — one event a second to every destination (N deliveries/s) for BENCH_RATE_S s: CPU %
//           and RSS while delivering.
// Then the cost of a destination from the difference between the largest count and the smallest,
// and the targets (200 idle destinations: ≤ 2 % of one core, ≤ 1 MiB RSS each) as met or
// NOT met. Prints a table and one JSON line. BENCH_COURIER_NODE_ARGS adds Node flags (a profile).
import { once } from 'node:events';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { courierRunArgs, courierTopicsArgs } from './lib/courier.ts';
import {
  type Child,
  processTree,
  runNode,
  startNode,
  stop,
  stopAll,
  treeConnectionsTo,
  treeCpuMs,
  treeRss,
} from './lib/procs.ts';
import { BROKERS, cleanupRun, closeClients, producePaced, REDIS_URL } from './lib/stack.ts';
import { round } from './lib/stats.ts';

const env = process.env;
const COUNTS = (env.BENCH_DESTINATION_COUNTS ?? '10,50,200')
  .split(',')
  .map(Number)
  .filter((n) => n > 0);
const IDLE_S = Number(env.BENCH_IDLE_S ?? 20);
const SETTLE_S = Number(env.BENCH_SETTLE_S ?? 10);
const RATE_S = Number(env.BENCH_RATE_S ?? 20);
const BROKER_PORT = Number(BROKERS[0]?.split(':')[1] ?? 9092);
const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const run = `dests${Date.now().toString(36)}`;
const dir = mkdtempSync(join(tmpdir(), `courier-${run}-`));
const log = (line: string) => console.error(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// The receiver: counts requests per path (one path per destination).
const perPath = new Map<string, number>();
let total = 0;
const server = createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    total += 1;
    perPath.set(req.url ?? '', (perPath.get(req.url ?? '') ?? 0) + 1);
    res.end();
  });
});
server.listen(0, '127.0.0.1');
await once(server, 'listening');
const receiverUrl = `http://127.0.0.1:${(server.address() as { port: number }).port}`;

async function until(what: string, check: () => boolean, timeoutMs: number, child: Child): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if ((await Promise.race([child.exited, sleep(100).then(() => 'running')])) !== 'running')
      throw new Error(`courier exited while waiting for ${what}; see ${child.log}`);
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; see ${child.log}`);
  }
}

/** CPU % of one core used by a process tree over `seconds`, and its RSS at the end. */
async function usage(pid: number, seconds: number): Promise<{ cpuPercent: number; rssMiB: number }> {
  const cpu0 = treeCpuMs(pid);
  const t0 = performance.now();
  await sleep(seconds * 1000);
  const cpu = treeCpuMs(pid) - cpu0;
  return {
    cpuPercent: round((cpu / (performance.now() - t0)) * 100, 2),
    rssMiB: round(treeRss(pid).totalMiB),
  };
}

interface CountResult {
  destinations: number;
  servesAfterMs: number;
  groupJoins: number;
  idleRssMiB: number;
  idleCpuPercent: number;
  kafkaConnections: number;
  processes: number;
  rateDeliveriesPerSecond: number;
  rateCpuPercent: number;
  rateRssMiB: number;
}

async function measure(count: number): Promise<CountResult> {
  const prefix = `${run}n${count}`;
  const config = {
    kafka: { brokers: BROKERS, eventsTopic: `${prefix}-events`, topicPrefix: prefix },
    redis: { url: REDIS_URL },
    network: { allowPrivateAddresses: true },
    observability: { port: 0 },
    destinations: Array.from({ length: count }, (_, i) => ({
      id: `d${i}`,
      url: `${receiverUrl}/${prefix}/d${i}`,
      secrets: [SECRET],
    })),
  };
  const configPath = join(dir, `${prefix}.yaml`);
  writeFileSync(configPath, JSON.stringify(config, null, 2));
  await runNode({
    name: 'courier topics',
    args: courierTopicsArgs(configPath),
    log: join(dir, `${prefix}-cli.log`),
    timeoutMs: 300_000,
  });
  // One event waiting before the start: every destination delivers it once it serves.
  await producePaced({ topic: `${prefix}-events`, run, perSecond: 10, seconds: 0.1, from: 0 });
  perPath.clear();
  total = 0;
  const spawnedAt = Date.now();
  const child = startNode({
    name: `courier run (${count} destinations)`,
    args: courierRunArgs(configPath, {
      nodeArgs: (env.BENCH_COURIER_NODE_ARGS ?? '').split(/\s+/).filter(Boolean),
    }),
    log: join(dir, `${prefix}-run.log`),
    env: { LOG_LEVEL: 'info' },
  });
  try {
    const served = () => [...perPath.keys()].filter((p) => p.startsWith(`/${prefix}/`)).length;
    await until(`all ${count} destinations to deliver`, () => served() >= count, 300_000, child);
    const servesAfterMs = Date.now() - spawnedAt;
    log(`${count}: every destination served after ${servesAfterMs} ms; settling ${SETTLE_S} s`);
    await sleep(SETTLE_S * 1000);
    const idle = await usage(child.pid, IDLE_S);
    const kafkaConnections = treeConnectionsTo(child.pid, BROKER_PORT);
    const groupJoins = readFileSync(child.log, 'utf8')
      .split('\n')
      .filter((l) => l.includes('"joined consumer group"')).length;
    log(`${count}: idle ${JSON.stringify(idle)}, ${kafkaConnections} Kafka connections, ${groupJoins} joins`);
    const before = total;
    const producing = producePaced({
      topic: `${prefix}-events`,
      run,
      perSecond: 1,
      seconds: RATE_S,
      from: 1,
    });
    const busy = await usage(child.pid, RATE_S);
    const produced = await producing;
    await until('the rate phase delivered', () => total - before >= produced * count, 120_000, child);
    return {
      destinations: count,
      servesAfterMs,
      groupJoins,
      idleRssMiB: idle.rssMiB,
      idleCpuPercent: idle.cpuPercent,
      kafkaConnections,
      processes: processTree(child.pid).length,
      rateDeliveriesPerSecond: count,
      rateCpuPercent: busy.cpuPercent,
      rateRssMiB: busy.rssMiB,
    };
  } finally {
    await stop(child, 30_000);
  }
}

const results: CountResult[] = [];
let failure: string | undefined;
try {
  for (const count of COUNTS) {
    log(`${count} destinations`);
    results.push(await measure(count));
  }
} catch (err) {
  failure = (err as Error).message;
  log(`FAILED: ${failure}`);
} finally {
  await stopAll();
  server.close();
  await cleanupRun(run, log).catch(() => {});
  await closeClients();
}

const cols: Array<[string, (r: CountResult) => unknown]> = [
  ['destinations', (r) => r.destinations],
  ['serves after', (r) => `${round(r.servesAfterMs / 1000, 1)} s`],
  ['group joins', (r) => r.groupJoins],
  ['idle RSS', (r) => `${r.idleRssMiB} MiB`],
  ['idle CPU', (r) => `${r.idleCpuPercent} %`],
  ['Kafka conns', (r) => r.kafkaConnections],
  ['at N/s: CPU', (r) => `${r.rateCpuPercent} %`],
  ['at N/s: RSS', (r) => `${r.rateRssMiB} MiB`],
];
console.log(`\nCost by destination count (one worker; ${new Date().toISOString().slice(0, 10)})`);
console.log(cols.map(([h]) => h.padEnd(14)).join(''));
for (const r of results) console.log(cols.map(([, f]) => String(f(r)).padEnd(14)).join(''));
const small = results[0];
const large = results.at(-1);
let targets: Record<string, unknown> = {};
if (small && large && large.destinations > small.destinations) {
  const n = large.destinations - small.destinations;
  const perDestinationMiB = round((large.idleRssMiB - small.idleRssMiB) / n, 2);
  const perDestinationCpu = round((large.idleCpuPercent - small.idleCpuPercent) / n, 4);
  const perDestinationConnections = round((large.kafkaConnections - small.kafkaConnections) / n, 2);
  console.log(
    `\nper destination (${small.destinations} → ${large.destinations}): ${perDestinationMiB} MiB RSS, ${perDestinationCpu} % of a core idle, ${perDestinationConnections} Kafka connections`,
  );
  targets = {
    idleCpuAtLargest: { figure: large.idleCpuPercent, target: 2, met: large.idleCpuPercent <= 2 },
    rssPerDestinationMiB: { figure: perDestinationMiB, target: 1, met: perDestinationMiB <= 1 },
  };
  console.log(
    `target: ${large.destinations} idle destinations ≤ 2 % of one core: ${large.idleCpuPercent} % — ${large.idleCpuPercent <= 2 ? 'met' : 'NOT met'}`,
  );
  console.log(
    `target: ≤ 1 MiB RSS per destination: ${perDestinationMiB} MiB — ${perDestinationMiB <= 1 ? 'met' : 'NOT met'}`,
  );
}
console.log(
  JSON.stringify({ bench: 'destinations', date: new Date().toISOString(), results, targets, failure }),
);
process.exit(failure ? 1 : 0);
