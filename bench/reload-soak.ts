// `node bench/reload-soak.ts`: memory under live reloads. One `courier run --workers 1` delivers a
// steady trickle to two receivers while its file is rewritten RELOADS times (default 300), about
// every 0.6 s: a destination added, then removed, a secret rotated, and every tenth time a file
// with a mistake (refused). Prints the process's RSS and V8 heap (from its /metrics) every 30
// reloads, and the spread after the first third (warm-up). With HEAP_SNAPSHOTS=dir, writes a heap
// snapshot of the worker after the warm-up and at the end (SIGUSR2), and prints the constructors
// whose object counts grew most between them.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { courierRunArgs, courierTopicsArgs, metricValue } from './lib/courier.ts';
import { BROKERS, closeClients, producePaced, REDIS_URL } from './lib/stack.ts';

const RELOADS = Number(process.env.RELOADS ?? 300);
const SNAPSHOTS = process.env.HEAP_SNAPSHOTS;
const SECRET_A = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const SECRET_B = 'whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD';
const run = `soak${Date.now().toString(36)}`;
const dir = mkdtempSync(join(tmpdir(), `courier-${run}-`));
const log = (line: string) => console.log(`[soak ${new Date().toISOString().slice(11, 19)}] ${line}`);

async function receiver(): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.end());
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}/hook`, server };
}

const [a, b] = await Promise.all([receiver(), receiver()]);
const metricsPort = 19000 + Math.floor(Math.random() * 1000);
const base = (destinations: unknown[], extra: Record<string, unknown> = {}) => ({
  kafka: { brokers: BROKERS, eventsTopic: `${run}-events`, topicPrefix: run },
  redis: { url: REDIS_URL },
  network: { allowPrivateAddresses: true },
  observability: { port: metricsPort },
  destinations,
  ...extra,
});
const one = (secret: string) => ({ id: 'one', url: a.url, secrets: [secret] });
const two = { id: 'two', url: b.url, secrets: [SECRET_A] };
const extra = { id: 'extra', url: b.url, secrets: [SECRET_A], filter: 'data.n >= 0' };
const path = join(dir, 'courier.yaml');
const write = (doc: unknown) => {
  writeFileSync(`${path}.tmp`, typeof doc === 'string' ? doc : stringify(doc));
  renameSync(`${path}.tmp`, path);
};
// Every topic any version of the file needs, created up front.
write(base([one(SECRET_A), two, extra]));
execFileSync(process.execPath, courierTopicsArgs(path), {
  stdio: 'inherit',
});
write(base([one(SECRET_A), two]));

const snapshotsDir = SNAPSHOTS ? mkdirSync(SNAPSHOTS, { recursive: true }) && SNAPSHOTS : undefined;
const child: ChildProcess = spawn(process.execPath, courierRunArgs(path), {
  // The refused files are logged at error level: not this script's output.
  stdio: 'ignore',
  env: {
    ...process.env,
    LOG_LEVEL: 'fatal',
    // In NODE_OPTIONS, so that the worker (a cluster child) takes them too.
    ...(snapshotsDir
      ? { NODE_OPTIONS: `--heapsnapshot-signal=SIGUSR2 --diagnostic-dir=${snapshotsDir}` }
      : {}),
  },
  cwd: snapshotsDir ?? dir,
});

async function metrics(): Promise<Record<string, number>> {
  const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
  const text = await res.text();
  const value = (name: string) => metricValue(text, name);
  return {
    rssMiB: Math.round(value('process_resident_memory_bytes') / 2 ** 20),
    heapMiB: Math.round((value('nodejs_heap_size_used_bytes') / 2 ** 20) * 10) / 10,
    externalMiB: Math.round((value('nodejs_external_memory_bytes') / 2 ** 20) * 10) / 10,
    handles: value('nodejs_active_handles_total'),
  };
}

for (let i = 0; ; i++) {
  try {
    await metrics();
    break;
  } catch {
    if (i > 120) throw new Error('courier run did not serve /metrics within a minute');
    await new Promise((r) => setTimeout(r, 500));
  }
}
log(`courier run up; reloading ${RELOADS} times`);
let stop = false;
const trickle = (async () => {
  let n = 0;
  while (!stop) {
    await producePaced({ topic: `${run}-events`, run, from: n, perSecond: 20, seconds: 1 });
    n += 20;
  }
})();

const snapshots = () =>
  snapshotsDir ? readdirSync(snapshotsDir).filter((f) => f.endsWith('.heapsnapshot')) : [];
/** `--workers 1` runs in this one process: the one to snapshot. */
const worker = () => child.pid as number;
const samples: Array<{ reload: number } & Record<string, number>> = [];
for (let r = 1; r <= RELOADS; r++) {
  const step = r % 3;
  if (r % 10 === 0) write('destinations: [ { id: "broken" ');
  else if (step === 0) write(base([one(SECRET_A), two, extra]));
  else if (step === 1) write(base([one(SECRET_B), two]));
  else write(base([one(SECRET_A), two]));
  await new Promise((res) => setTimeout(res, 600));
  if (r % 30 === 0) {
    const m = await metrics();
    samples.push({ reload: r, ...m });
    log(`after ${r} reloads: ${JSON.stringify(m)}`);
  }
  if (snapshotsDir && r === Math.floor(RELOADS / 3)) {
    process.kill(worker(), 'SIGUSR2');
    for (let i = 0; i < 120 && snapshots().length < 1; i++) await new Promise((res) => setTimeout(res, 1000));
  }
}
if (snapshotsDir) {
  process.kill(worker(), 'SIGUSR2');
  // Written synchronously by the worker: both are there once it answers again.
  for (let i = 0; i < 120 && snapshots().length < 2; i++) await new Promise((r) => setTimeout(r, 1000));
}
stop = true;
await trickle;
const warm = samples.filter((s) => s.reload > RELOADS / 3);
const spread = (k: string) =>
  Math.max(...warm.map((s) => s[k] as number)) - Math.min(...warm.map((s) => s[k] as number));
log(
  `after warm-up (${warm.length} samples): RSS spread ${spread('rssMiB')} MiB, heap spread ${spread('heapMiB')} MiB`,
);
child.kill('SIGTERM');
await once(child, 'exit');
a.server.close();
b.server.close();
await closeClients();

if (snapshotsDir) {
  // Two snapshots: object counts by constructor, before and after.
  const files = snapshots().sort();
  const counts = (file: string) => {
    const snap = JSON.parse(readFileSync(join(snapshotsDir, file), 'utf8'));
    const fields: string[] = snap.snapshot.meta.node_fields;
    const types: string[] = snap.snapshot.meta.node_types[0];
    const width = fields.length;
    const [typeAt, nameAt, sizeAt] = ['type', 'name', 'self_size'].map((f) => fields.indexOf(f));
    const out = new Map<string, { count: number; bytes: number }>();
    for (let i = 0; i < snap.nodes.length; i += width) {
      const type = types[snap.nodes[i + (typeAt as number)]];
      if (type !== 'object' && type !== 'closure') continue;
      const name = `${type === 'closure' ? 'closure ' : ''}${snap.strings[snap.nodes[i + (nameAt as number)]]}`;
      const e = out.get(name) ?? { count: 0, bytes: 0 };
      e.count += 1;
      e.bytes += snap.nodes[i + (sizeAt as number)];
      out.set(name, e);
    }
    return out;
  };
  const [first, last] = [files.at(-2), files.at(-1)];
  if (first && last) {
    const before = counts(first);
    const after = counts(last);
    const grown = [...after]
      .map(([name, e]) => ({
        name,
        count: e.count - (before.get(name)?.count ?? 0),
        bytes: e.bytes - (before.get(name)?.bytes ?? 0),
      }))
      .filter((g) => g.count > 0)
      .sort((x, y) => y.bytes - x.bytes)
      .slice(0, 25);
    log(`grown between ${first} and ${last}:`);
    for (const g of grown)
      console.log(`  ${g.name.padEnd(50)} +${g.count} objects, +${Math.round(g.bytes / 1024)} KiB`);
  }
}
