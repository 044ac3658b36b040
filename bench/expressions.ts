// `node bench/expressions.ts`: what isolating operators' expressions costs, measured on Courier's
// own modules (unlike bench.ts, which measures `courier run` from outside). Prints, for 1,000
// events × 60 destinations (50 filters, 10 transforms): microseconds per event evaluated
// in-process, on an expression thread, and through an expression host (with this process's
// share of CPU); then the hosts' start time and RSS, one event's round trip, and what a breach
// costs (a transform stopped between its steps, one stopped from outside in one step).
import { execFileSync } from 'node:child_process';
import { compileShape, type ShapeSource, shapeEvent } from '../src/cloudevents/shape.ts';
import { ExpressionPool } from '../src/shaping/expressionPool.ts';
import { ExpressionThread } from '../src/shaping/expressionThread.ts';
import { createLogger } from '../src/telemetry/logger.ts';
import { eventBody } from './lib/events.ts';

const logger = createLogger({ level: 'silent' });
const limits = { cpuMs: 100, outputBytes: 1_000_000, headerBytes: 8192 };
const sources: ShapeSource[] = Array.from({ length: 60 }, (_, i) =>
  i < 50
    ? {
        id: `d${i}`,
        filter: `type.startsWith("bench") && data.n >= 0 && size(data.pad) > ${i}`,
        headers: [],
        limits,
      }
    : {
        id: `d${i}`,
        transform: '{ "id": id, "n": data.n, "type": type, "pad": $substring(data.pad, 0, 20) }',
        headers: [],
        limits,
      },
);
const EVENTS = 1000;
const events = Array.from({ length: EVENTS }, (_, n) => eventBody('x', n));
const pairs = events.flatMap((_, e) => sources.flatMap((_, d) => [e, d]));
const perEvent = (ms: number) => Math.round((ms / EVENTS) * 1000);
/** RSS (MiB) of this process's node children: the expression hosts. */
const hostRss = () =>
  execFileSync('ps', ['-o', 'comm=,rss=', '--ppid', String(process.pid)])
    .toString()
    .trim()
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .filter(([comm]) => comm !== 'ps')
    .map(([, rss]) => Math.round(Number(rss) / 1024));

// In-process: what the expressions themselves cost.
const shapes = sources.map(compileShape);
let t = performance.now();
for (const text of events) {
  const event = JSON.parse(text);
  for (const s of shapes) await shapeEvent(s, event);
}
const inProcess = perEvent(performance.now() - t);

// On an expression thread (as inside a host).
const thread = new ExpressionThread({ memoryMb: 128, sourcesOf: () => sources, logger });
await thread.run({ version: 'v', events: events.slice(0, 10), pairs: pairs.slice(0, 20) });
t = performance.now();
await thread.run({ version: 'v', events, pairs });
const onThread = perEvent(performance.now() - t);
await thread.close();

// Through a host (a child process), as Courier's router uses them.
t = performance.now();
const pool = new ExpressionPool({ hosts: 2, memoryMb: 128, logger });
await pool.start();
const startMs = Math.round(performance.now() - t);
pool.configure('v', [
  ...sources,
  { id: 'loop', transform: '($f := function($n) { $f($n + 1) }; $f(0))', headers: [], limits },
  { id: 'step', transform: '[1..9000000]', headers: [], limits },
]);
await pool.run('shared', { version: 'v', events: events.slice(0, 10), pairs: pairs.slice(0, 20) });
const restingRss = hostRss();
const cpu0 = process.cpuUsage();
t = performance.now();
await pool.run('shared', { version: 'v', events, pairs });
const viaHost = perEvent(performance.now() - t);
const cpu = process.cpuUsage(cpu0);
const ownCpu = Math.round((cpu.user + cpu.system) / EVENTS);
const times = async (lane: 'shared' | 'own', destination: number, n: number) => {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const start = performance.now();
    await pool.run(lane, { version: 'v', events: events.slice(0, 1), pairs: [0, destination] });
    out.push(Math.round(performance.now() - start));
  }
  return out;
};
const roundTrip = await times('shared', 0, 5);
const cooperative = await times('own', 60, 3);
const oneStep = await times('own', 61, 3);
const afterRss = hostRss();
await pool.close();

console.log(`expressions: ${EVENTS} events × ${sources.length} destinations (50 filters, 10 transforms)`);
console.log(
  `  in-process ${inProcess} µs/event; on a thread ${onThread} µs/event; through a host ${viaHost} µs/event wall (${ownCpu} µs of this process's CPU)`,
);
console.log(
  `  2 hosts started in ${startMs} ms; RSS ${restingRss.join(', ')} MiB at rest, ${afterRss.join(', ')} MiB after the breaches`,
);
console.log(`  one event through a host: ${roundTrip.join(', ')} ms`);
console.log(`  breach, stopped between steps at 100 ms of CPU: ${cooperative.join(', ')} ms`);
console.log(`  breach, one step stopped from outside (thread replaced): ${oneStep.join(', ')} ms`);
