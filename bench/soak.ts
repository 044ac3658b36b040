// `npm run bench:soak`: memory over time under steady work. One `courier run --workers 1`
// delivers SOAK_RATE events/s (500) to SOAK_DESTINATIONS destinations (5) for SOAK_MINUTES (30),
// its file rewritten once a minute (a secret rotated, alternately, on the first destination: an
// in-place reload). RSS, V8 heap and event-loop delay are sampled every SOAK_SAMPLE_S s (10) from
// /proc and Courier's /metrics; the bench prints the RSS slope after warm-up (the first
// SOAK_WARMUP_MINUTES, 5) in MiB a minute, against the target of under 1, and checks at the end
// that every event was delivered to every destination.
import { once } from 'node:events';
import { mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { courierRunArgs, courierTopicsArgs, metricValue } from './lib/courier.ts';
import { runNode, startNode, stop, stopAll, treeCpuMs, treeRss } from './lib/procs.ts';
import { BROKERS, cleanupRun, closeClients, producePaced, REDIS_URL } from './lib/stack.ts';
import { round, slope } from './lib/stats.ts';

const env = process.env;
const MINUTES = Number(env.SOAK_MINUTES ?? 30);
const RATE = Number(env.SOAK_RATE ?? 500);
const DESTINATIONS = Number(env.SOAK_DESTINATIONS ?? 5);
const SAMPLE_S = Number(env.SOAK_SAMPLE_S ?? 10);
const WARMUP_MINUTES = Number(env.SOAK_WARMUP_MINUTES ?? Math.min(5, MINUTES / 3));
const SECRETS = ['whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 'whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD'];
const run = `soak${Date.now().toString(36)}`;
const dir = mkdtempSync(join(tmpdir(), `courier-${run}-`));
const log = (line: string) => console.error(`[soak ${new Date().toISOString().slice(11, 19)}] ${line}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let delivered = 0;
let duplicates = 0;
/** Per destination path, a bit per event number seen (event ids end in `-<n>`). */
const seen = new Map<string, Uint8Array>();
const server = createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    delivered += 1;
    const id = String(req.headers['webhook-id'] ?? '');
    const n = Number(id.slice(id.lastIndexOf('-') + 1));
    if (Number.isInteger(n) && n >= 0) {
      let bits = seen.get(req.url ?? '') ?? new Uint8Array(1 << 20);
      if (n >> 3 >= bits.length) {
        const grown = new Uint8Array(Math.max(bits.length * 2, (n >> 3) + 1));
        grown.set(bits);
        bits = grown;
      }
      seen.set(req.url ?? '', bits);
      const byte = bits[n >> 3] ?? 0;
      if (byte & (1 << (n & 7))) duplicates += 1;
      else bits[n >> 3] = byte | (1 << (n & 7));
    }
    res.end();
  });
});
server.listen(0, '127.0.0.1');
await once(server, 'listening');
const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
const metricsPort = 19000 + Math.floor(Math.random() * 1000);
const path = join(dir, 'courier.yaml');
const write = (secret: string) => {
  const doc = {
    kafka: { brokers: BROKERS, eventsTopic: `${run}-events`, topicPrefix: run },
    redis: { url: REDIS_URL },
    network: { allowPrivateAddresses: true },
    observability: { port: metricsPort },
    destinations: Array.from({ length: DESTINATIONS }, (_, i) => ({
      id: `d${i}`,
      url: `${url}/d${i}`,
      secrets: [i === 0 ? secret : (SECRETS[0] as string)],
    })),
  };
  writeFileSync(`${path}.tmp`, stringify(doc));
  renameSync(`${path}.tmp`, path);
};
write(SECRETS[0] as string);
await runNode({
  name: 'courier topics',
  args: courierTopicsArgs(path),
  log: join(dir, 'cli.log'),
  timeoutMs: 120_000,
});
const child = startNode({
  name: 'courier run',
  args: courierRunArgs(path),
  log: join(dir, 'run.log'),
  env: { LOG_LEVEL: 'warn' },
});

async function metric(names: string[]): Promise<Record<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  return Object.fromEntries(names.map((n) => [n, metricValue(text, n)]));
}

for (let i = 0; ; i++) {
  try {
    await metric([]);
    break;
  } catch {
    if (i > 240) throw new Error(`courier run did not serve /metrics within 2 minutes; see ${child.log}`);
    await sleep(500);
  }
}

interface Sample {
  minute: number;
  rssMiB: number;
  heapMiB: number;
  loopP99Ms: number;
  cpuPercent: number;
}
const samples: Sample[] = [];
let producing = true;
let produced = 0;
const started = Date.now();
log(`courier run up; ${RATE} events/s to ${DESTINATIONS} destinations for ${MINUTES} min, a reload a minute`);
const producer = (async () => {
  while (producing) {
    produced += await producePaced({
      topic: `${run}-events`,
      run,
      perSecond: RATE,
      seconds: 10,
      from: produced,
    });
  }
})();
let reloads = 0;
let lastCpu = treeCpuMs(child.pid);
let lastAt = performance.now();
let failure: string | undefined;
try {
  while (Date.now() - started < MINUTES * 60_000) {
    await sleep(SAMPLE_S * 1000);
    if (child.pid && (await Promise.race([child.exited.then(() => true), sleep(0).then(() => false)])))
      throw new Error(`courier run exited; see ${child.log}`);
    const minute = (Date.now() - started) / 60_000;
    if (Math.floor(minute) > reloads) {
      reloads += 1;
      write(SECRETS[reloads % 2] as string);
    }
    const m = await metric(['nodejs_heap_size_used_bytes', 'nodejs_eventloop_lag_p99_seconds']);
    const cpu = treeCpuMs(child.pid);
    const now = performance.now();
    const sample: Sample = {
      minute: round(minute, 2),
      rssMiB: round(treeRss(child.pid).totalMiB, 1),
      heapMiB: round((m.nodejs_heap_size_used_bytes ?? 0) / 2 ** 20, 1),
      // Beyond prom-client's 10 ms sampling interval (an idle loop reads 10 ms).
      loopP99Ms: round(Math.max(0, (m.nodejs_eventloop_lag_p99_seconds ?? 0) * 1000 - 10), 1),
      cpuPercent: round(((cpu - lastCpu) / (now - lastAt)) * 100, 1),
    };
    lastCpu = cpu;
    lastAt = now;
    samples.push(sample);
    if (samples.length % 6 === 0)
      log(`${JSON.stringify(sample)} delivered ${delivered} of ${produced * DESTINATIONS}`);
  }
  producing = false;
  await producer;
  const expected = produced * DESTINATIONS;
  const deadline = Date.now() + 120_000;
  while (delivered < expected && Date.now() < deadline) await sleep(200);
  if (delivered < expected) failure = `${delivered} of ${expected} deliveries after the soak`;
} catch (err) {
  failure = (err as Error).message;
} finally {
  producing = false;
  await stop(child, 30_000);
  await stopAll();
  server.close();
  await cleanupRun(run, log).catch(() => {});
  await closeClients();
}

const warm = samples.filter((s) => s.minute >= WARMUP_MINUTES);
const rssSlope = round(slope(warm.map((s) => [s.minute, s.rssMiB] as const)), 3);
const heapSlope = round(slope(warm.map((s) => [s.minute, s.heapMiB] as const)), 3);
const max = (k: keyof Sample) => Math.max(...warm.map((s) => s[k]));
const min = (k: keyof Sample) => Math.min(...warm.map((s) => s[k]));
const mean = (k: keyof Sample) => round(warm.reduce((a, s) => a + s[k], 0) / Math.max(1, warm.length), 1);
console.log(
  `\nSoak (${new Date().toISOString().slice(0, 10)}): ${MINUTES} min, ${RATE} events/s × ${DESTINATIONS} destinations, ${reloads} reloads, ${samples.length} samples`,
);
console.log(`after ${WARMUP_MINUTES} min warm-up (${warm.length} samples):`);
console.log(`  RSS ${min('rssMiB')}–${max('rssMiB')} MiB, slope ${rssSlope} MiB/min`);
console.log(`  heap ${min('heapMiB')}–${max('heapMiB')} MiB, slope ${heapSlope} MiB/min`);
console.log(
  `  event-loop delay p99 (per sample) mean ${mean('loopP99Ms')} ms, max ${max('loopP99Ms')} ms; CPU mean ${mean('cpuPercent')} % of a core`,
);
console.log(`  delivered ${delivered} of ${produced * DESTINATIONS} (${duplicates} a second time)`);
console.log(
  `target: RSS slope < 1 MiB/min after warm-up: ${rssSlope} — ${Math.abs(rssSlope) < 1 ? 'met' : 'NOT met'}`,
);
console.log(
  JSON.stringify({
    bench: 'soak',
    date: new Date().toISOString(),
    minutes: MINUTES,
    rate: RATE,
    destinations: DESTINATIONS,
    reloads,
    rssSlope,
    heapSlope,
    samples,
    delivered,
    produced,
    failure,
  }),
);
if (failure) console.log(`FAILED: ${failure}`);
process.exit(failure ? 1 : 0);
